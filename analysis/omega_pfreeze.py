"""Lin 2026 Fig. 5: test accuracy against the probability p_freeze that an edge is frozen, for the
Ω-projector and two-phase estimators, mean ± standard deviation over independent trials (40 trials
of 1000 steps from the homogeneous start, output edges trainable like the rest: Lin's caption).

    python analysis/omega_pfreeze.py sweeps/omega_pfreeze_sweep.toml [--workers=N]

Runs the sweep's missing points (`tdsim sweep`: one stored training per estimator, p_freeze and
trial seed; a rerun reads the finished ones back), then reads the final test accuracies from the
sweep store, prints the table and writes docs/omega_pfreeze.png."""
import sys
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tdsim.runs.sweep import load_sweep, open_sweep, run_sweep  # noqa: E402


def main(spec_path, *opts, out="docs/omega_pfreeze.png"):
    workers = next((int(o.split("=", 1)[1]) for o in opts if o.startswith("--workers=")), 2)
    spec = load_sweep(spec_path)
    t0 = time.time()
    index = run_sweep(spec, workers=workers, progress=False)
    failed = [r for r, rec in index.items() if rec["status"] != "complete"]
    if failed:
        raise SystemExit(f"runs not complete: {failed} ({index[failed[0]].get('error')})")
    tree = open_sweep(spec.output)
    acc, ests, ps, by_out = {}, [], [], {}
    for rid in sorted(index):
        ds = tree[f"runs/{rid}"].to_dataset()
        e, p = str(ds["estimator"].values[0]), float(index[rid]["params"]["parameters.training.p_freeze"])
        ests += [e] if e not in ests else []
        ps += [p] if p not in ps else []
        acc.setdefault((e, p), []).append(float(ds["test_accuracy"].values[0, -1]))
        n_out = int(ds["edge_trained"].values[0][ds["edge_role"].values == "output"].sum())
        by_out.setdefault((e, p, n_out), []).append(acc[e, p][-1])
    acc = {k: np.array(v) for k, v in acc.items()}
    trials = len(next(iter(acc.values())))
    print(f"{len(index)} trainings ({time.time() - t0:.0f} s here; stored in {spec.output}); "
          f"test accuracy mean ± std (min) over {trials} trials")
    print("p_freeze  " + "  ".join(f"{e:>22s}" for e in ests) + "   std ratio two-phase / Ω")
    for p in ps:
        print(f"{p:8.2f}  " + "  ".join(f"{acc[e, p].mean():8.3f} ± {acc[e, p].std():.3f} ({acc[e, p].min():.3f})"
                                       for e in ests)
              + (f"   {acc[ests[1], p].std() / max(acc[ests[0], p].std(), 1e-12):.2f}" if len(ests) == 2 else ""))
    for e in ests:
        m = [acc[e, p].mean() for p in ps]
        print(f"{e}: mean accuracy drop from p_freeze {ps[0]:g} to {ps[-1]:g}: {m[0] - m[-1]:.3f}; "
              f"standard error of a mean: {max(acc[e, p].std() for p in ps) / np.sqrt(trials):.3f} at most")
    print("by the number of output (voltmeter) edges left learning by the mask: trials, mean ± std")
    print("p_freeze  " + "  ".join(f"{e} {n} out".rjust(24) for e in ests for n in (0, 1, 2)))
    for p in ps:
        cells = []
        for e in ests:
            for n in (0, 1, 2):
                a = np.array(by_out.get((e, p, n), []))
                cells.append(f"{len(a):2d}: {a.mean():.3f} ± {a.std():.3f}" if len(a) else "-")
        print(f"{p:8.2f}  " + "  ".join(c.rjust(24) for c in cells))
    fig, ax = plt.subplots(figsize=(5.5, 4))
    label = {"omega": "Ω projector", "two_phase": "two-phase"}
    for k, e in enumerate(ests):
        m = np.array([acc[e, p].mean() for p in ps])
        s = np.array([acc[e, p].std() for p in ps])
        x = np.array(ps) + 0.016 * (k - 0.5)
        for p, xx in zip(ps, x):
            ax.plot(np.full(trials, xx + 0.004 * (k - 0.5)), acc[e, p], ".", ms=2, alpha=0.35,
                    color=f"C{k}")
        ax.errorbar(x, m, s, capsize=3, marker="o", color=f"C{k}", label=label.get(e, e))
    ax.set_xlabel("p_freeze (probability an edge is frozen)")
    ax.set_ylabel(f"test accuracy (mean ± std, {trials} trials)")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.axhline(0.5, color="0.6", lw=0.8)
    ax.set_title("Breast cancer, 4x4 mesh, outputs trainable (Lin Fig. 5)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print("wrote", out)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--out=")]
    outs = [a[6:] for a in sys.argv[1:] if a.startswith("--out=")]
    main(*args, **({"out": outs[0]} if outs else {}))
