"""Iris by frequency propagation over seeds: untrained (epoch 0) against trained (last epoch) test
accuracy, per seed and as mean ± sd (issue 17: the untrained network of seed 0 already scores 0.840).
Runs the sweep's missing points (`tdsim sweep`: one stored training per seed), then reads them back.

    python analysis/freqprop_iris_seeds.py sweeps/freqprop_iris_seeds.toml [--workers=N]
"""
import sys
import time

import numpy as np

from tdsim.runs.sweep import load_sweep, open_sweep, run_sweep


def main(spec_path, *opts):
    workers = next((int(o.split("=", 1)[1]) for o in opts if o.startswith("--workers=")), 1)
    spec = load_sweep(spec_path)
    t0 = time.time()
    index = run_sweep(spec, workers=workers, progress=False)
    failed = [r for r, rec in index.items() if rec["status"] != "complete"]
    if failed:
        raise SystemExit(f"runs not complete: {failed} ({index[failed[0]].get('error')})")
    tree = open_sweep(spec.output)
    rows = []
    for rid in sorted(index, key=lambda r: int(index[r]["params"]["seed"])):
        ds = tree[f"runs/{rid}"].to_dataset()
        te, tp, trn = (ds[k].values for k in ("test_acc", "test_acc_test_prototypes", "train_acc"))
        rows.append((int(index[rid]["params"]["seed"]), len(te) - 1, te[0], te[-1], tp[0], tp[-1], trn[0], trn[-1],
                     float(index[rid].get("wall_s", np.nan))))
    R = np.array(rows, dtype=float)
    print(f"{len(rows)} trainings ({time.time() - t0:.0f} s here; stored in {spec.output})")
    print("seed  epochs  test untrained -> trained   (test prototypes)   train            wall s")
    for r in R:
        print(f"{int(r[0]):4d}  {int(r[1]):6d}  {r[2]:.3f} -> {r[3]:.3f}          ({r[4]:.3f} -> {r[5]:.3f})     "
              f"{r[6]:.3f} -> {r[7]:.3f}   {r[8]:.0f}")
    for j, name in ((2, "test, untrained"), (3, "test, trained"), (4, "test prototypes, untrained"),
                    (5, "test prototypes, trained"), (6, "train, untrained"), (7, "train, trained")):
        print(f"{name:28s} mean {R[:, j].mean():.3f}  sd {R[:, j].std(ddof=1):.3f}  "
              f"min {R[:, j].min():.3f}  max {R[:, j].max():.3f}")
    d = R[:, 3] - R[:, 2]
    print(f"gain (trained - untrained, test): mean {d.mean():.3f}  sd {d.std(ddof=1):.3f}  "
          f"min {d.min():.3f}  max {d.max():.3f}; seeds improved {int((d > 0).sum())}, "
          f"unchanged {int((d == 0).sum())}, worse {int((d < 0).sum())}")


if __name__ == "__main__":
    main(*sys.argv[1:])
