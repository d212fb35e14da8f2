"""Dillavou Fig. 1 on the hardware-sized CLLN with B = 0 (no imperfection): does it learn?

Runs (full RC, Rosenbrock; stores under runs/out/, rerun each time):
  runs/fig1_clln.toml             the square-grid classification (Fig. 1C/D), tau = 0.2 s, 100 periods
  runs/fig1_clln_regression.toml  the two-point regression with V2 = V+/2 (Fig. 1E/F), tau = 0.2 s
and each again at tau = 3 s (10 periods), the long period of Fig. 1C/E; the classification once more
with the quasi-static integrator, to show how far it is from full RC here. Then writes
  docs/fig1_clln_learning.png   error against time (E_alpha, E_beta at every half period, Eqs. A1/A2),
                                training accuracy against time, the decision maps (Fig. 1C) at
                                t = tau/2 and tau of the last period for both periods, and the
                                regression's output line (Fig. 1E)
and prints the numbers of docs/results/fig1-clln.md: training accuracy, hinge loss, test accuracy
on points of a finer grid (not trained on), time to 100 %, final errors; and the classification
run again from five other draws of the initial gates.

    python analysis/fig1_clln_learning.py
"""
from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tdsim.analysis import classify  # noqa: E402
from tdsim.analysis.stats import cycle_span  # noqa: E402
from tdsim.analysis import plots_classify as plots  # noqa: E402
from tdsim.io.spec import read  # noqa: E402
from tdsim.model.library import V_MINUS, V_PLUS, grid_tasks  # noqa: E402
from tdsim.model.protocols import Task  # noqa: E402
from tdsim.runs.jobs import run_from_dict  # noqa: E402
from tdsim.runs.runner import run_spec  # noqa: E402
from tdsim.runs.store import open_run  # noqa: E402
from tdsim.simulation.measure import TaskMeter  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs"
OUT = RUNS / "out"
TEST_GRID = 8           # test points: an 8 x 8 grid over the same square, diagonal split, minus training points
MAP_N = 61              # map resolution per axis


def run(name: str, tag: str, **over):
    """Run runs/<name>.toml with [parameters]/[simulation] overrides; returns (spec, dataset, wall s)."""
    d = read(RUNS / f"{name}.toml")
    for key, v in over.items():
        table, k = key.split("__")
        d.setdefault(table, {})[k] = v
    spec = run_from_dict(d, RUNS, name)
    out = OUT / f"{name}_{tag}.zarr"
    t0 = time.perf_counter()
    run_spec(spec, out, overwrite=True)
    return spec, open_run(out), time.perf_counter() - t0


def other_starts(seeds=(1, 2, 3, 4, 5)):
    """The classification run from other initial gates (uniform in [3, 4] V, as the model's, drawn
    with each seed): training accuracy at the start and after the run spec's 30 periods."""
    print("\n| initial gates (seed) | accuracy at start | after 30 periods (6 s) | E_α, E_β (V²) | gates (V) |")
    print("|---|---|---|---|---|")
    base = read(RUNS / "fig1_clln.toml")
    model = read(RUNS / base["model"])
    for seed in seeds:
        m = {**model, "edges": [dict(e) for e in model["edges"]]}
        for e, g in zip(m["edges"], np.random.default_rng(seed).uniform(3.0, 4.0, len(m["edges"]))):
            e["G"] = f"{g:.6f} V"
        d = {**base, "model": m}
        spec = run_from_dict(d, RUNS, "fig1_clln")
        out = OUT / f"fig1_clln_seed{seed}.zarr"
        run_spec(spec, out, overwrite=True)
        ds = open_run(out)
        meter = classify.meter_for(spec)
        start = np.array([e.element.G for e in spec.circuit.edges])
        a0, a1 = (float(both(meter, th).accuracy) for th in (start, classify.final_theta(ds)))
        th = classify.final_theta(ds)
        E = ds.event_task_error.values[-1]
        print(f"| {seed} | {a0:.3f} | {a1:.3f} | {E[0]:.1e}, {E[1]:.1e} | {th.min():.2f} to {th.max():.2f} |")


def test_meter(spec) -> TaskMeter:
    """Points of a TEST_GRID x TEST_GRID grid over the training square, split by the same diagonal
    rule, none of them a training point: the classes the trained network was never shown."""
    train = {(round(p.inputs["V1"], 9), round(p.inputs["V2"], 9)) for t in spec.tasks for p in t.points}
    tasks = [Task(t.name, [p for p in t.points if (round(p.inputs["V1"], 9), round(p.inputs["V2"], 9)) not in train],
                  True) for t in grid_tasks(TEST_GRID, abs(spec.tasks[0].points[0].labels["O+"]))]
    return TaskMeter(classify.meter_for(spec).free, tasks, spec.differential)


def accuracies(ds, spec, meter):
    """Training accuracy of both classes together at every recorded event."""
    out = []
    for e in range(ds.sizes["event"]):
        right = [np.sign(c.output.values) == np.sign(c.label.values)
                 for c in (classify.run_classification(ds, spec, event=e, k=k, meter=meter) for k in (0, 1))]
        out.append(float(np.mean(np.concatenate(right))))
    return np.array(out)


def both(meter, theta):
    """classify.classification of both tasks joined into one Dataset of points."""
    import xarray as xr
    cs = [classify.classification(meter, theta, k) for k in range(len(meter.tasks))]
    pts = xr.concat([c.drop_vars(["accuracy", "hinge_loss"]) for c in cs], "point")
    d, L = pts.output.values, pts.label.values
    return pts.assign(accuracy=classify.accuracy(d, L), hinge_loss=classify.hinge_loss(d, L))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    runs = {}
    for tau, periods in (("0.2 s", 100), ("3 s", 10)):
        for name in ("fig1_clln", "fig1_clln_regression"):
            runs[(name, tau)] = run(name, tau.replace(" ", ""), parameters__tau=tau, parameters__periods=periods)
    runs[("fig1_clln", "qs")] = run("fig1_clln", "quasistatic", simulation__integrator="quasistatic",
                                  parameters__tau="0.2 s", parameters__periods=100)

    v = np.linspace(V_MINUS, V_PLUS, MAP_N)
    fig = plt.figure(figsize=(12, 7))
    rows = fig.add_gridspec(2, 1, hspace=0.4)
    gt = rows[0].subgridspec(1, 3, wspace=0.3)
    gb = rows[1].subgridspec(1, 7, width_ratios=[1, 1, 1, 1, 0.08, 1.0, 2.2], wspace=0.15)
    print("| run | τ | periods | wall (s) | training accuracy | E (V²) at τ/2, τ of the last period | D (V), last period | "
          "test accuracy | 100 % from t (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    ax_e, ax_r, ax_a = (fig.add_subplot(gt[0, i]) for i in range(3))
    map_axes, col = [], 0
    for key in (("fig1_clln", "0.2 s"), ("fig1_clln", "3 s"), ("fig1_clln_regression", "0.2 s"),
                ("fig1_clln_regression", "3 s")):
        spec, ds, wall = runs[key]
        name, tau = key
        t, E = ds.event_time.values, ds.event_task_error.values
        ax = ax_e if name == "fig1_clln" else ax_r
        ls = "-" if tau == "0.2 s" else ":"
        for k, c in ((0, "#1f4e9c"), (1, "#c0282d")):
            ax.semilogy(t, np.maximum(E[:, k], 1e-14), ls, color=c, marker=".", ms=3,
                        label=f"E_{'αβ'[k]}, τ = {tau}")
        meter = classify.meter_for(spec)
        if name == "fig1_clln":
            acc = accuracies(ds, spec, meter)
            ax_a.plot(t, acc, ls, marker=".", ms=3, color="k", label=f"τ = {tau}")
            tm = test_meter(spec)
            test = both(tm, classify.final_theta(ds))
            below = np.flatnonzero(acc < 1.0)                      # 100 % from the event after the last miss
            first = np.nan if acc[-1] < 1.0 else (t[below[-1] + 1] if below.size else t[0])
            print(f"| classification | {tau} | {len(t) // 2} | {wall:.0f} | {acc[-1]:.3f} | {E[-2].mean():.2e}, "
                  f"{E[-1].mean():.2e} | {cycle_span(ds):.2e} | {float(test.accuracy):.3f} ({test.sizes['point']} points) | "
                  f"{first:.2f} |")
            for j, ev in enumerate((-2, -1)):                     # t = τ/2 and τ of the last period
                th = classify.final_theta(ds, ev)
                ax_m = fig.add_subplot(gb[0, col])
                col += 1
                omap = classify.output_map(meter, th, v, v)
                mesh = plots.plot_map(ax_m, omap, both(meter, th), vlim=0.063,
                                      title=f"τ = {tau}, t = {'τ/2' if j == 0 else 'τ'}")
                ax_m.set_xlabel("V1")
                if col == 1:
                    ax_m.set_ylabel("V2")
                map_axes.append(ax_m)
        else:
            print(f"| regression | {tau} | {len(t) // 2} | {wall:.0f} | – | {E[-2].mean():.2e}, {E[-1].mean():.2e} | "
                  f"{cycle_span(ds):.2e} | – | – |")
            if tau == "0.2 s":
                ax_l = fig.add_subplot(gb[0, 6])
                d_line = classify.output_map(meter, classify.final_theta(ds), v, np.array([V_PLUS / 2]))
                ax_l.plot(v, d_line.values[0] * 1e3, "k-", lw=2, label="output, end of training")
                for k, c in ((0, "#1f4e9c"), (1, "#c0282d")):
                    p = spec.tasks[k].points[0]
                    ax_l.plot(p.inputs["V1"], p.labels["O+"] * 1e3, "s", mfc="none", mec=c, ms=10, mew=2,
                              label=f"label {'αβ'[k]}")
                ax_l.axhline(0, color="0.6", ls="--", lw=0.8)
                ax_l.set_xlabel("V1 (V), V2 = V+/2")
                ax_l.set_ylabel("O = O+ − O− (mV)")
                ax_l.set_title("regression (Fig. 1E), τ = 0.2 s", fontsize=8)
                ax_l.legend(fontsize=7)
    fig.colorbar(mesh, cax=fig.add_subplot(gb[0, 4]), label="O = O+ − O− (mV)")
    for ax, title in ((ax_e, "classification (Fig. 1C/D), hinge error Eq. A2"),
                      (ax_r, "regression (Fig. 1E/F), squared error Eq. A1")):
        ax.set_xlabel("t (s)")
        ax.set_ylabel("E (V²)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, ncol=2)
    ax_a.set_xlabel("t (s)")
    ax_a.set_ylabel("training accuracy")
    ax_a.set_title("classification, training accuracy", fontsize=9)
    ax_a.legend(fontsize=7)
    ax_a.set_ylim(-0.05, 1.05)
    fig.suptitle("Hardware-sized CLLN, B = 0, full RC (Dillavou Fig. 1C–F set-up)", fontsize=10)
    fig.savefig(ROOT / "docs" / "fig1_clln_learning.png", dpi=90, bbox_inches="tight")

    (spec, ds, _), (_, qs, _) = runs[("fig1_clln", "0.2 s")], runs[("fig1_clln", "qs")]
    meter = classify.meter_for(spec)
    full, quasi = both(meter, classify.final_theta(ds)), both(meter, classify.final_theta(qs))
    print(f"\nquasi-static against full RC, tau = 0.2 s, end of training: max |Δ output| = "
          f"{np.max(np.abs(full.output.values - quasi.output.values)) * 1e3:.3f} mV, max |ΔG| = "
          f"{np.max(np.abs(classify.final_theta(ds) - classify.final_theta(qs))) * 1e3:.3f} mV, "
          f"accuracy {float(quasi.accuracy):.3f}")
    print("final outputs (mV), full RC:", np.round(full.output.values * 1e3, 2))
    th = classify.final_theta(ds)
    print(f"final gates: {th.min():.3f} to {th.max():.3f} V; at G_max (5.14 V): {int(np.sum(th > 5.14 - 1e-6))}")
    other_starts()
    print("wrote docs/fig1_clln_learning.png")


if __name__ == "__main__":
    main()
