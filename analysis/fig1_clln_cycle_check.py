"""Independent checks of sweeps/fig1_clln_tau_cycles.toml (docs/results/fig1-clln.md, "Converged cycles").

    python analysis/fig1_clln_cycle_check.py      # needs the sweep's store (python analysis/fig1_clln.py --cycles)

1. Shooting where the sweep steps directly: the same point (seed 2, same model, protocol and
   tolerances) solved by Newton shooting with rodas4 into /tmp stores, its Ē and D against the
   sweep's direct run. tdsim run's shooting uses shoot()'s default max_iter = 50, which the
   classification below 0.1 s needs more than (67-185 iterations), so here shoot() is called with
   max_iter = 300 through the runner (the store is the one `tdsim run` would write).
2. Direct stepping where the sweep shoots: for every shooting run, the change between its two
   stored periods (a direct rodas4 period from the cycle state) against cycle_tol; and a direct
   rodas4 run of 20 more periods from the stored cycle's end state (simulate, not the period map):
   its largest period-to-period change and its total drift.
3. Where a first run of the sweep (kept as sweeps/out/fig1_clln_tau_cycles_first.zarr, if present)
   stepped a point that the sweep now shoots (classification, 30 ms), the two against each other.
"""
from __future__ import annotations

import functools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tdsim.analysis import stats as an
from tdsim.runs import runner
from tdsim.runs.jobs import run_from_dict
from tdsim.runs.store import open_run
from tdsim.runs.sweep import load_sweep, open_sweep
from tdsim.simulation.shooting import shoot

ROOT = Path(__file__).resolve().parent.parent
SHOOT = [("classification", 0.003), ("classification", 0.01), ("regression", 0.1), ("regression", 1.0),
         ("regression", 3.0)]


def spec_of(ds, **sim):
    d = json.loads(ds.attrs["resolved_spec"]) if isinstance(ds.attrs["resolved_spec"], str) else dict(ds.attrs["resolved_spec"])
    d = {**d, "simulation": {**d["simulation"], **sim}}
    return d


def main(which=None):
    sweep = load_sweep(ROOT / "sweeps" / "fig1_clln_tau_cycles.toml")
    tree = open_sweep(sweep.output)
    tab = an.tau_table(tree)
    task_of = lambda r: "classification" if "fig1c" in str(r["protocol"].values) else "regression"  # noqa: E731
    rows = {(task_of(tab.isel(run=i)), float(tab.isel(run=i)["parameters.tau"])): tab.isel(run=i)
            for i in range(tab.sizes["run"])}
    runner.shoot = functools.partial(shoot, max_iter=300)
    tmp = Path(tempfile.mkdtemp(prefix="fig1_cycles_check_"))
    print("| task | τ (s) | sweep: method, Ē (V²), D (V) | shooting (rodas4): Ē (V²), D (V) | Newton iterations, periods, "
          "wall (s) | relative difference Ē, D | max \\|ΔG\\| at τ (V) |")
    print("|---|---|---|---|---|---|---|")
    for task, tau in SHOOT:
        if which and f"{task[0]}{tau:g}" not in which:
            continue
        r = rows[(task, tau)]
        ds = tree["runs"][str(r["run"].values)].to_dataset()
        d = spec_of(ds, integrator="rodas4", cycle="shooting")
        spec = run_from_dict(d)
        t0 = time.perf_counter()
        try:
            runner.run_engine(spec, tmp / f"{task}_{tau:g}.zarr", progress=False)
        except Exception as err:      # noqa: BLE001 - report and go on
            print(f"| {task} | {tau:g} | shooting failed: {err} |")
            continue
        sh = open_run(tmp / f"{task}_{tau:g}.zarr")
        s = an.summary(sh)
        st = sh.attrs["stats"]
        G_sw = an.learning_gates(ds).values[-1]
        G_sh = an.learning_gates(sh).values[-1]
        print(f"| {task} | {tau:g} | direct, {float(r['E_bar']):.4e}, {float(r['D']):.4e} | {s['E_bar']:.4e}, {s['D']:.4e} | "
              f"{st['newton_iterations']}, {st['periods_simulated']}, {time.perf_counter() - t0:.0f} | "
              f"{s['E_bar'] / float(r['E_bar']) - 1:+.1e}, {s['D'] / float(r['D']) - 1:+.1e} | "
              f"{np.max(np.abs(G_sw - G_sh)):.1e} |", flush=True)

    print("\n| task | τ (s) | \\|μ₁\\| | change between the 2 stored periods (V) | 20 direct periods: max change per period (V), "
          "drift over 20 (V) | D of the 20th period relative to the cycle's | wall (s) |")
    print("|---|---|---|---|---|---|---|")
    import dataclasses
    from tdsim import build, table
    from tdsim.simulation.simulate import simulate
    for (task, tau), r in rows.items():
        ds = tree["runs"][str(r["run"].values)].to_dataset()
        st = ds.attrs["stats"]
        if st.get("cycle") != "shooting" or (which and f"d{task[0]}{tau:g}" not in which):
            continue
        spec = run_from_dict(spec_of(ds, cycle="direct", cycle_tol="0 V"))
        c = build(spec.circuit, spec.twins, spec.imperfections, spec.seed, force_nudge=spec.force_nudge)
        tab1 = table(spec.segments, c, differential=spec.differential)
        t0 = time.perf_counter()
        tr = simulate(c, dataclasses.replace(tab1, repeat=20), spec.options, theta0=ds["event_theta"].values[-1],
                      V0=ds["event_V"].values[-1])
        ends = np.vstack([ds["event_theta"].values[-1][c.learn], tr.event_theta[1::2][:, c.learn]])
        steps = np.abs(np.diff(ends, axis=0)).max(axis=1)
        G = tr.event_theta[:, c.learn]
        D20 = float(np.linalg.norm(G[-2] - G[-1]))
        print(f"| {task} | {tau:g} | {st['leading_multiplier_abs']:.6f} | {float(r['change']):.1e} | {steps.max():.1e}, "
              f"{np.abs(ends[-1] - ends[0]).max():.1e} | {D20 / float(r['D']) - 1:+.1e} | "
              f"{time.perf_counter() - t0:.0f} |", flush=True)

    first = ROOT / "sweeps" / "out" / "fig1_clln_tau_cycles_first.zarr"
    if first.exists():
        ftab = an.tau_table(open_sweep(first))
        ftree = open_sweep(first)
        for i in range(ftab.sizes["run"]):
            f = ftab.isel(run=i)
            key = (task_of(f), float(f["parameters.tau"]))
            fds = ftree["runs"][str(f["run"].values)].to_dataset()
            ds = tree["runs"][str(rows[key]["run"].values)].to_dataset()
            a, b = fds.attrs["stats"].get("cycle", "direct"), ds.attrs["stats"].get("cycle", "direct")
            if a != b:
                r = rows[key]
                dG = np.max(np.abs(an.learning_gates(fds).values[-1] - an.learning_gates(ds).values[-1]))
                print(f"\n{key}: first run {a} Ē {float(f['E_bar']):.4e} D {float(f['D']):.4e} "
                      f"({int(f['periods'])} periods); this sweep {b} Ē {float(r['E_bar']):.4e} D {float(r['D']):.4e}; "
                      f"relative {float(r['E_bar']) / float(f['E_bar']) - 1:+.1e}, {float(r['D']) / float(f['D']) - 1:+.1e}; "
                      f"max |ΔG| at τ {dG:.1e} V")


if __name__ == "__main__":
    main(sys.argv[1:])
