"""Lin 2026 Fig. 5: test accuracy against the probability p_freeze that an edge is frozen, for the
Ω-projector and two-phase estimators, mean ± standard deviation over independent trials.

    PYTHONPATH=$PWD python analysis/omega_pfreeze.py runs/omega_pfreeze.toml

Writes docs/omega_pfreeze.png and prints the table of accuracies."""
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

from tdsim.omega_train import load_protocol, train  # noqa: E402

_PROTO = None


def _one(args):
    path, est, p, seed = args
    global _PROTO
    if _PROTO is None:
        _PROTO = load_protocol(path)
    cfg = dataclasses.replace(_PROTO["training"], estimator=est, p_freeze=p, seed=seed)
    h = train(_PROTO["network"], _PROTO["data"], cfg)
    return est, p, seed, h.test_accuracy[-1], int(h.mask.sum())


def main(spec_path, out="docs/omega_pfreeze.png"):
    spec_path = pathlib.Path(spec_path)
    spec = tomllib.loads(spec_path.read_text())
    proto_path = str(spec_path.parent / spec["protocol"])
    ps, trials = [float(p) for p in spec["p_freeze"]], int(spec["trials"])
    if trials < 1:
        raise SystemExit("trials must be >= 1")
    jobs = [(proto_path, est, p, s) for est in spec["estimators"] for p in ps for s in range(trials)]
    t0 = time.time()
    with ProcessPoolExecutor(int(spec.get("workers", 1))) as ex:
        res = list(ex.map(_one, jobs))
    acc = {(e, p): np.array([a for e2, p2, _, a, _ in res if (e2, p2) == (e, p)]) for e in spec["estimators"] for p in ps}
    print(f"{len(jobs)} trainings in {time.time() - t0:.0f} s; test accuracy mean ± std (min) over {trials} trials")
    print("p_freeze  " + "  ".join(f"{e:>22s}" for e in spec["estimators"]))
    for p in ps:
        print(f"{p:8.2f}  " + "  ".join(f"{acc[e, p].mean():8.3f} ± {acc[e, p].std():.3f} ({acc[e, p].min():.3f})"
                                       for e in spec["estimators"]))
    fig, ax = plt.subplots(figsize=(5.5, 4))
    label = {"omega": "Ω projector", "two_phase": "two-phase"}
    for k, e in enumerate(spec["estimators"]):
        m = np.array([acc[e, p].mean() for p in ps])
        s = np.array([acc[e, p].std() for p in ps])
        ax.errorbar(np.array(ps) + 0.008 * (k - 0.5), m, s, capsize=3, marker="o", label=label.get(e, e))
    ax.set_xlabel("p_freeze (probability an edge is frozen)")
    ax.set_ylabel(f"test accuracy (mean ± std, {trials} trials)")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("Breast cancer, 4x4 mesh (Lin Fig. 5)")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print("wrote", out)


if __name__ == "__main__":
    main(*sys.argv[1:])
