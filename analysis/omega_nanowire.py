"""Lin 2026 Fig. 6: Ω-projector and two-phase training of nanowire-deposition networks on linear
regression y = M x + ε, without and with label noise: training loss (Fig. 6a/c), test loss on
noiseless targets, and the Frobenius distance ‖W_R − M‖ between the learned input-output map
(Eq. 121, measured with voltage-mode runs from the stored resistances) and M (Fig. 6b/d).

    python analysis/omega_nanowire.py sweeps/omega_nanowire_sweep.toml      # Lin's 160 deposits
    python analysis/omega_nanowire.py sweeps/omega_nanowire_sweep_48.toml   # 48, on 2 shared cores

Runs the sweep's missing points (`tdsim sweep`: one stored training per deposit, noise level and
estimator), keeps the 25 % of deposits with the lowest test loss at step 20 averaged over both
estimators and both noise levels (App. L: "the average of the losses of Ω learning and vanilla
two-phase learning at Epoch 20"; the same deposits in both columns), prints the table and writes
docs/omega_nanowire.png."""
import pathlib
import sys
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tdsim.io.spec import read  # noqa: E402
from tdsim.rules.omega import EdgeSimulator  # noqa: E402
from tdsim.runs.sweep import load_sweep, open_sweep, run_sweep  # noqa: E402
from tdsim.studies.omega_train import network_from, transfer_matrix  # noqa: E402

KEEP_FRACTION, SELECT_STEP = 0.25, 20
LABEL = {"omega": "Ω projector", "two_phase": "two-phase"}


def main(spec_path, *opts, out="docs/omega_nanowire.png"):
    workers = next((int(o.split("=", 1)[1]) for o in opts if o.startswith("--workers=")), 1)
    spec = load_sweep(spec_path)
    t0 = time.time()
    index = run_sweep(spec, workers=workers, progress=False)
    failed = [r for r, rec in index.items() if rec["status"] != "complete"]
    dropped = sorted({int(index[r]["params"]["parameters.network.seed"]) for r in failed})
    for r in failed:                # a deposit with a failed training is left out whole (both estimators, both noises)
        print(f"left out: deposit {index[r]['params']['parameters.network.seed']} (run {r}: {index[r].get('error')})")
    t_sweep = time.time() - t0
    run_spec = read(pathlib.Path(spec_path).parent / spec.source["run"])
    proto = read(pathlib.Path(spec_path).parent / pathlib.Path(spec.source["run"]).parent / run_spec["protocol"])
    tree = open_sweep(spec.output)
    res, sims = {}, {}
    for rid in sorted(index):
        p = index[rid]["params"]
        if int(p["parameters.network.seed"]) in dropped:
            continue
        ds = tree[f"runs/{rid}"].to_dataset()
        seed, noise, est = int(p["parameters.network.seed"]), float(p["parameters.task.noise"]), str(p["estimator"])
        if seed not in sims:
            sims[seed] = EdgeSimulator(network_from(proto["network"], seed=seed))
        M = ds["M"].values
        frob = np.array([np.linalg.norm(transfer_matrix(sims[seed], r) - M) for r in ds["theta"].values[0]])
        res[est, noise, seed] = (ds["step"].values, ds["train_loss"].values[0], ds["test_loss"].values[0], frob,
                                 float(ds.attrs["stats"]["wall_s"]))
    ests = list(dict.fromkeys(k[0] for k in res))
    noises = sorted({k[1] for k in res})
    seeds = sorted({k[2] for k in res})
    step = res[ests[0], noises[0], seeds[0]][0]
    k = int(np.searchsorted(step, SELECT_STEP))
    early = np.array([np.mean([res[e, s2, seed][2][k] for e in ests for s2 in noises]) for seed in seeds])
    keep = np.array(seeds)[np.argsort(early)[:max(1, int(round(KEEP_FRACTION * len(seeds))))]]
    wall = np.array([v[4] for v in res.values()])
    print(f"{len(res)} trainings ({t_sweep:.0f} s for the missing ones here; stored {wall.sum():.0f} s of training, "
          f"{wall.mean():.1f} s each); {len(seeds)} deposits, kept {len(keep)}: {sorted(keep.tolist())} "
          f"(lowest mean test loss at step {step[k]})")
    fig, axes = plt.subplots(3, len(noises), figsize=(5 * len(noises), 9), squeeze=False, sharex=True)
    for c, s2 in enumerate(noises):
        for e in ests:
            tr = np.array([res[e, s2, seed][1] for seed in keep])
            tl = np.array([res[e, s2, seed][2] for seed in keep])
            fr = np.array([res[e, s2, seed][3] for seed in keep])
            sem = lambda a: a.std(ddof=1) / np.sqrt(len(a))          # noqa: E731
            print(f"noise σ = {s2:g} {e:9s}: final train loss {tr[:, -1].mean():.3f} ± {sem(tr[:, -1]):.3f}, "
                  f"test loss {tl[:, -1].mean():.3f} ± {sem(tl[:, -1]):.3f} (start {tl[:, 0].mean():.3f}), "
                  f"‖W_R − M‖_F {fr[:, -1].mean():.3f} ± {sem(fr[:, -1]):.3f} (start {fr[:, 0].mean():.3f}) "
                  f"(mean ± s.e.m. over {len(keep)} deposits)")
            for row, a in enumerate((tr, tl, fr)):
                axes[row, c].plot(step, a.mean(0), label=LABEL[e])
                axes[row, c].fill_between(step, np.percentile(a, 25, 0), np.percentile(a, 75, 0), alpha=0.2)
        for e in ests:              # paired: the same deposits, M and batches for both estimators
            d = np.array([res[e, s2, seed][3][-1] for seed in keep])
            if e != ests[0]:
                d0 = np.array([res[ests[0], s2, seed][3][-1] for seed in keep])
                print(f"noise σ = {s2:g}: ‖W_R − M‖_F {e} − {ests[0]} = {np.mean(d - d0):.3f} ± "
                      f"{np.std(d - d0, ddof=1) / np.sqrt(len(d)):.3f} (paired), {ests[0]} lower on "
                      f"{np.sum(d0 < d)} of {len(d)}")
        axes[0, c].set_title(f"label noise σ = {s2:g}")
        axes[0, c].set_ylabel("train loss (noisy labels)")
        axes[1, c].set_ylabel("test loss (noiseless targets)")
        axes[2, c].set_ylabel("‖W_R − M‖_F")
        axes[2, c].set_xlabel("training step (batch of 16)")
        axes[0, c].legend()
    fig.suptitle(f"Nanowire networks, y = M x + ε, M ~ U[0, 10]: mean and quartiles over the best {len(keep)} "
                 f"of {len(seeds)} deposits (Lin Fig. 6)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print("wrote", out)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--out=")]
    outs = [a[6:] for a in sys.argv[1:] if a.startswith("--out=")]
    main(*args, **({"out": outs[0]} if outs else {}))
