"""The untrained Iris network's accuracy and its spread over seeds (issue 17, item 5): what the
frequency-propagation training of analysis/freqprop_iris.py must beat. Per seed (the seed draws the
Barabási–Albert network, its κ ~ U(κ_init) and the 25 + 25 per class split), the free DC readouts
of the untrained network classified by the nearest class target, as the trainer scores epoch 0.
Beside it, two references that use no network: nearest class mean in the scaled 4-feature input
space, and chance (1/3). DC solves only: ~1 s a seed.

    python analysis/freqprop_iris_baseline.py runs/freqprop_iris.toml [seeds=20] [key=value ...]

key=value overrides protocol keys as in analysis/freqprop_iris.py (e.g. model keys via the spec).
"""
import sys
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np

from tdsim.studies.freqprop_iris import IrisTrainer, load_config

ROOT = Path(__file__).resolve().parents[1]


def nearest_mean(Xtr, ytr, Xte, yte) -> float:
    M = np.array([Xtr[ytr == c].mean(axis=0) for c in range(3)])
    return float(np.mean(np.argmin(((Xte[:, None] - M[None]) ** 2).sum(axis=2), axis=1) == yte))


def baseline(cfg, seeds):
    rows = []
    for s in seeds:
        tr = IrisTrainer(replace(cfg, seed=int(s), epochs=0))
        sc = tr.scores()
        rows.append((s, sc["train_acc"], sc["test_acc"], sc["test_acc_test_prototypes"],
                     nearest_mean(tr.Xtr, tr.ytr, tr.Xte, tr.yte)))
    return np.array(rows)


def main(argv):
    args, seeds, params = [], 20, {}
    for a in argv:
        if a.startswith("seeds="):
            seeds = int(a[6:])
        elif "=" in a:
            k, _, v = a.partition("=")
            params[k] = tomllib.loads(f"x = {v}")["x"]
        else:
            args.append(a)
    cfg = load_config(Path(args[0]) if args else ROOT / "runs" / "freqprop_iris.toml", params)
    R = baseline(cfg, range(seeds))
    print(f"# untrained Iris network, {cfg.nodes} nodes, {cfg.edges} edges, {seeds} seeds")
    print("seed  train_acc  test_acc  test_acc(test prototypes)  nearest-mean(inputs)")
    for r in R:
        print(f"{int(r[0]):4d}  {r[1]:9.3f}  {r[2]:8.3f}  {r[3]:25.3f}  {r[4]:20.3f}")
    for j, name in ((1, "train_acc"), (2, "test_acc"), (3, "test_acc (test prototypes)"), (4, "nearest mean, inputs")):
        x = R[:, j]
        print(f"{name:28s} mean {x.mean():.3f}  sd {x.std(ddof=1):.3f}  min {x.min():.3f}  max {x.max():.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
