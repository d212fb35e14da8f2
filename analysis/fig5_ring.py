"""Dillavou Fig. 5: ring classification, overclamping against standard clamping.

Runs the sweep sweeps/fig5_ring_sweep.toml (5 ring diameters x 8 splits x 2 rules on one biased CLLN;
complete runs are skipped on a rerun) into sweeps/out/fig5_ring_sweep.zarr, then writes
  docs/fig5_ring.png   accuracy and hinge loss (Eq. A2) against eps, mean ± s.e. over the 8 splits
                       (Fig. 5B/C)
  docs/fig5_maps.png   output maps with the training points for two splits, three radii and both
                       rules (Fig. 5A)
and prints the table of docs/results/fig5-ring.md.

    python analysis/fig5_ring.py [--workers 2]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import tdsim
from tdsim.analysis import classify
from tdsim.analysis import plots_classify as plots
from tdsim.runs.sweep import load_sweep, run_sweep, summary

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "sweeps" / "fig5_ring_sweep.toml"
NAMES = {"parameters.nudge.rule": "rule", "parameters.task.diameter": "eps", "parameters.task.split": "split"}
MAP_SPLITS = (0, 2)            # two of the eight divisions, as in Fig. 5A
MAP_HALF_WIDTH = 0.25          # V around the ring centre: the largest ring (417 mV diameter) fits
WINDOW, SAMPLES = 0.25, 32     # the stationary part of a run: its last quarter


def sweep_metrics(workers: int | None, window: float = 0.0):
    spec = load_sweep(SWEEP)
    index = run_sweep(spec, workers=workers)
    print(summary(index))
    tree = tdsim.open_sweep(spec.output)
    metrics = classify.sweep_classification(tree, spec, window=window, samples=SAMPLES).rename(NAMES)
    return spec, tree, metrics


def table(summ) -> str:
    rows = ["| ε (mV) | rule | accuracy | hinge loss (mV²) |", "|---:|---|---|---|"]
    for e in summ["eps"].values:
        for r in summ["rule"].values:
            s = summ.sel(eps=e, rule=r)
            rows.append(f"| {e * 1e3:.1f} | {r} | {float(s.accuracy_mean):.3f} ± {float(s.accuracy_sem):.3f} | "
                        f"{_g(float(s.hinge_loss_mean) * 1e6)} ± {_g(float(s.hinge_loss_sem) * 1e6)} |")
    return "\n".join(rows)


def _g(x: float) -> str:
    return "0" if x == 0 else f"{x:.3g}"


def maps_figure(spec, tree, metrics, out: Path):
    eps = np.unique(metrics["eps"].values)
    cols = [eps[0], eps[len(eps) // 2], eps[-1]]
    rows = [(r, s) for r in ("standard", "overclamp") for s in MAP_SPLITS]
    maps, classes = {}, {}
    for r, s in rows:
        for e in cols:
            rid = str(metrics.run.where((metrics.rule == r) & (metrics.split == s) & np.isclose(metrics.eps, e),
                                        drop=True).values[0])
            ds = tree[f"runs/{rid}"].ds
            rs = classify.run_spec_of(ds, spec.base_dir)
            meter = classify.meter_for(rs)
            cls = classify.run_classification(ds, rs, meter=meter)
            c1, c2 = float(cls["V1"].mean()), float(cls["V2"].mean())
            v1 = np.linspace(c1 - MAP_HALF_WIDTH, c1 + MAP_HALF_WIDTH, 61)
            v2 = np.linspace(c2 - MAP_HALF_WIDTH, c2 + MAP_HALF_WIDTH, 61)
            maps[((r, s), e)] = classify.run_output_map(ds, rs, v1, v2, meter=meter)
            classes[((r, s), e)] = cls
    label = float(np.abs(classes[(rows[0], cols[0])]["label"]).max())
    fig = plots.plot_maps(maps, classes, rows, cols, row_label=lambda rs: f"{rs[0]}\nsplit {rs[1]}",
                          col_label=lambda e: f"ε = {e * 1e3:.0f} mV", vlim=3 * label)
    fig.savefig(out, dpi=100)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=None, help="LocalCluster worker processes (default: one per core)")
    args = ap.parse_args()
    spec, tree, metrics = sweep_metrics(args.workers)
    summ = classify.summarize(metrics, by=("rule", "eps"), over="split")
    print("at the end of training:")
    print(table(summ))
    _, _, late = sweep_metrics(args.workers, window=WINDOW)
    print(f"\nmean over the last {WINDOW:.0%} of training ({SAMPLES} pass ends each):")
    print(table(classify.summarize(late, by=("rule", "eps"), over="split")))
    fig = plots.plot_accuracy_hinge(summ)
    fig.savefig(ROOT / "docs" / "fig5_ring.png", dpi=100)
    maps_figure(spec, tree, metrics, ROOT / "docs" / "fig5_maps.png")
    print("wrote docs/fig5_ring.png, docs/fig5_maps.png")


if __name__ == "__main__":
    main()
