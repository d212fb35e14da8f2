"""Lin 2026 Fig. 6: Ω-projector and two-phase training of nanowire-deposition networks on linear
regression, without and with label noise: test loss (noiseless targets) and the Frobenius distance
‖W_R − M‖ between the learned input-output map (Eq. 121, measured with voltage-mode runs) and M.

    python analysis/omega_nanowire.py analysis/omega_nanowire.toml

Writes docs/omega_nanowire.png and prints the final losses and distances."""
import dataclasses
import pathlib
import sys
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tdsim.errors import SimulationError, SpecError  # noqa: E402
from tdsim.rules.omega import EdgeSimulator  # noqa: E402
from tdsim.studies.omega_train import TrainConfig, data_from, network_from, train, transfer_matrix  # noqa: E402


def _one(args):
    raw, est, noise, seed = args
    try:
        net = network_from(raw["network"], seed=seed)
    except (SpecError, SimulationError) as err:            # a deposit without enough loops: no network
        return est, noise, seed, str(err), None, None
    task = dict(raw["task"], noise=noise)
    data = data_from(task, seed=seed)
    cfg = dataclasses.replace(TrainConfig.from_dict(raw["training"]), estimator=est, seed=seed)
    sim = EdgeSimulator(net)
    h = train(net, data, cfg, sim=sim)
    frob = [float(np.linalg.norm(transfer_matrix(sim, r) - data["M"])) for r in h.r]
    return est, noise, seed, np.array(h.step), np.array(h.test_loss), np.array(frob)


def main(spec_path, out="docs/omega_nanowire.png"):
    spec_path = pathlib.Path(spec_path)
    spec = tomllib.loads(spec_path.read_text())
    raw = tomllib.loads((spec_path.parent / spec["protocol"]).read_text())
    n, noises, ests = int(spec["networks"]), [float(x) for x in spec["noise"]], spec["estimators"]
    jobs = [(raw, e, s2, seed) for seed in range(n) for e in ests for s2 in noises]
    t0 = time.time()
    with ProcessPoolExecutor(int(spec.get("workers", 1))) as ex:
        res = {(e, s2, seed): (st, tl, fr) for e, s2, seed, st, tl, fr in ex.map(_one, jobs)}
    bad = sorted({seed for (e, s2, seed), v in res.items() if v[1] is None})
    if bad:
        print(f"seeds without a usable network: {bad} ({res[ests[0], noises[0], bad[0]][0]})")
    seeds = [s for s in range(n) if s not in bad]
    step = res[ests[0], noises[0], seeds[0]][0]
    k = int(np.searchsorted(step, spec["select_step"]))
    early = np.array([np.mean([res[e, s2, seed][1][k] for e in ests for s2 in noises]) for seed in seeds])
    keep = np.array(seeds)[np.argsort(early)[:max(1, int(round(spec["keep_fraction"] * len(seeds))))]]
    print(f"{len(jobs)} trainings in {time.time() - t0:.0f} s; kept networks {sorted(keep.tolist())} "
          f"(lowest mean test loss at step {step[k]})")
    fig, axes = plt.subplots(2, len(noises), figsize=(5 * len(noises), 6.4), squeeze=False, sharex=True)
    label = {"omega": "Ω projector", "two_phase": "two-phase"}
    for c, s2 in enumerate(noises):
        for e in ests:
            tl = np.array([res[e, s2, seed][1] for seed in keep])
            fr = np.array([res[e, s2, seed][2] for seed in keep])
            print(f"noise {s2:.2f} {e:9s}: final test loss {tl[:, -1].mean():.4f} ± {tl[:, -1].std():.4f}, "
                  f"‖W_R − M‖_F {fr[:, -1].mean():.4f} ± {fr[:, -1].std():.4f} (mean ± std over {len(keep)} networks)")
            axes[0, c].plot(step, tl.mean(0), label=label[e])
            axes[0, c].fill_between(step, np.percentile(tl, 25, 0), np.percentile(tl, 75, 0), alpha=0.2)
            axes[1, c].plot(step, fr.mean(0), label=label[e])
            axes[1, c].fill_between(step, np.percentile(fr, 25, 0), np.percentile(fr, 75, 0), alpha=0.2)
        axes[0, c].set_title(f"label noise σ = {s2:g}")
        axes[0, c].set_yscale("log")
        axes[1, c].set_yscale("log")
        axes[0, c].set_ylabel("test loss (noiseless targets)")
        axes[1, c].set_ylabel("‖W_R − M‖_F")
        axes[1, c].set_xlabel("training step (batch of 16)")
        axes[0, c].legend()
    fig.suptitle(f"Nanowire networks, linear regression: mean and quartiles over {len(keep)} of {len(seeds)} networks (Lin Fig. 6)")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print("wrote", out)


if __name__ == "__main__":
    main(*sys.argv[1:])
