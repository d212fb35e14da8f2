"""Dillavou Fig. 1C–H on the hardware-sized CLLN (models/clln_fig1.toml) with the update bias of App. C.

    python analysis/fig1_clln.py            # run the three sweeps (complete runs are kept), draw, print the tables
    python analysis/fig1_clln.py --no-run   # draw from the sweep stores as they are
    python analysis/fig1_clln.py --seeds    # App. C's size with seeds 0-4 at tau = 0.2 s (~5 min on free cores)
    python analysis/fig1_clln.py --cycles   # sweeps/fig1_clln_tau_cycles.toml (every run to its limit cycle,
                                            # shooting or direct per run): docs/fig1_clln_cycles.png and its table
                                            # (with --no-run: draw from the store as it is)

Sweeps (full RC, Rosenbrock; runs/fig1_clln_bias.toml with the grid classification or the two-point
regression, each run until its cycle converges or its period cap):
  sweeps/fig1_clln_tau_sweep.toml        App. C's bias: a seeded B per edge, std 2.3 V/s (Eq. C4)
  sweeps/fig1_clln_tau_sweep_seed2.toml  the same size drawn with seed 2 (seed 0's draw does not learn)
  sweeps/fig1_clln_tau_sweep_small.toml  seed 0's B scaled by 1/10 (0.23 V/s): NOT the paper's size,
                                         a size at which seed 0's draw learns (a separate curve)
Then, for tau = 0.2 s and 3 s of each sweep, one more period from the run's last gates, recorded
every tau/200 (Fig. 1D/F: E_alpha, E_beta through the period), once with full RC and once
quasi-static (the integrator check). Writes
  docs/fig1_clln_tau.png    Fig. 1G/H: E_bar and D against tau, classification and regression, both sizes
  docs/fig1_clln_bias.png   Fig. 1C-F: maps at tau/2 and tau, regression lines, E over the last period
                            (and docs/fig1_clln_bias_seed2.png, docs/fig1_clln_bias_small.png)
and prints the tables of docs/results/fig1-clln.md ("With the bias of App. C").
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from tdsim.analysis import classify  # noqa: E402
from tdsim.analysis import plots_classify as plots  # noqa: E402
from tdsim.analysis import stats as an  # noqa: E402
from tdsim.compile.build import build  # noqa: E402
from tdsim.errors import SimulationError  # noqa: E402
from tdsim.io.spec import read  # noqa: E402
from tdsim.model.library import V_MINUS, V_PLUS  # noqa: E402
from tdsim.runs.jobs import run_from_dict  # noqa: E402
from tdsim.runs.runner import run_spec  # noqa: E402
from tdsim.runs.store import open_run  # noqa: E402
from tdsim.runs.sweep import load_sweep, open_sweep, run_sweep  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs"
OUT = RUNS / "out"
SWEEPS = {"App. C, B std 2.3 V/s, seed 0": "fig1_clln_tau_sweep",
          "App. C, B std 2.3 V/s, seed 2": "fig1_clln_tau_sweep_seed2",
          "B / 10 (0.23 V/s, seed 0), not the paper's": "fig1_clln_tau_sweep_small"}
FIGURES = dict(zip(SWEEPS, ("fig1_clln_bias.png", "fig1_clln_bias_seed2.png", "fig1_clln_bias_small.png")))
TASKS = {"classification": "fig1c_grid_two_task", "regression": "fig1e_regression_two_task"}
EXAMPLES = (0.2, 3.0)          # the example periods of Fig. 1C-F
MAP_N = 41
G_MAX = 5.14                   # models/clln_fig1.toml
SAMPLES = 200                  # samples per period in the extra recorded period
# the authors' makeFig1.m axis ranges of Fig. 1G/H (their data are only in binary files)
PAPER_E = (10 ** -5.2, 1.3e-2)
PAPER_D = (10 ** -2.5, 10 ** 1.45)


def tables(names):
    """{sweep label: {task: (tau_table, tree, sweep spec)}} for the sweeps' complete runs."""
    out = {}
    for label, name in names.items():
        sweep = load_sweep(ROOT / "sweeps" / f"{name}.toml")
        tree = open_sweep(sweep.output)
        tab = an.tau_table(tree)
        out[label] = {}
        for task, proto in TASKS.items():
            sel = np.array([proto in str(p) for p in tab["protocol"].values])
            if sel.any():
                out[label][task] = (tab.isel(run=np.flatnonzero(sel)), tree, sweep)
    return out


def run_of(tree, table, tau):
    """The stored run of a tau_table row at period tau (None if that run is not complete)."""
    rows = np.flatnonzero(np.isclose(table["parameters.tau"].values, tau))
    if not rows.size:
        return None
    rid = str(table["run"].values[rows[0]])
    return tree["runs"][rid].to_dataset()


def extra_period(ds, sweep, integrator="rosenbrock"):
    """One more period of a stored sweep run, from its last gates, recorded every tau/SAMPLES;
    returns (spec, dataset). Same model, protocol, bias (same seed and edges: same B) and tolerances."""
    import json
    d = json.loads(ds.attrs["spec"]) if isinstance(ds.attrs["spec"], str) else dict(ds.attrs["spec"])
    base = Path(sweep.base_dir)
    model = read((base / d["model"]).resolve()) if isinstance(d["model"], str) else d["model"]
    model = {**model, "edges": [dict(e) for e in model["edges"]]}
    for e, g in zip(model["edges"], classify.final_theta(ds)):
        e["G"] = f"{g:.9f} V"
    tau = an._tau(ds)
    d = {**d, "model": model, "parameters": {**d.get("parameters", {}), "periods": 1},
         "simulation": {**d.get("simulation", {}), "record_interval": f"{tau / SAMPLES} s", "cycle_tol": "0 V",
                        "integrator": integrator}}
    if isinstance(d.get("protocol"), str):
        d["protocol"] = str((base / d["protocol"]).resolve())
    spec = run_from_dict(d, RUNS, "fig1_clln_bias_extra")
    out = OUT / f"fig1_clln_bias_extra_{integrator}.zarr"
    run_spec(spec, out, overwrite=True)
    return spec, open_run(out)


def errors_over_time(meter, ds):
    """E_alpha, E_beta (Eqs. A1/A2) at every recorded time of a run: (t, E[t, task])."""
    th = ds["theta"].values
    return ds["time"].values, np.array([meter.errors(np.asarray(g, float)) for g in th])


def tau_fig(res, path):
    fig, (axE, axD) = plt.subplots(1, 2, figsize=(11, 4.2))
    for g, (label, by_task) in enumerate(res.items()):
        for task, (tab, _, _) in by_task.items():
            tag = f"{task}, {label}"
            an_plot = dict(marker="o" if task == "classification" else "s", color=f"C{g}",
                           ls="-" if task == "classification" else "--")
            an_tau = tab["parameters.tau"].values
            ok = tab["reached"].values.astype(bool)
            for ax, key in ((axE, "E_bar"), (axD, "D")):
                y = tab[key].values
                ax.loglog(an_tau, y, an_plot["ls"], color=an_plot["color"], lw=0.8, alpha=0.6)
                ax.loglog(an_tau[ok], y[ok], an_plot["marker"], color=an_plot["color"], ms=6, ls="none",
                          label=tag if ok.any() else None)
                ax.loglog(an_tau[~ok], y[~ok], an_plot["marker"], mfc="none", color=an_plot["color"], ms=6, ls="none",
                          label=f"{tag} (open: cycle not converged)" if (~ok).any() else None)
    for level, what in ((0.063 ** 2, "classification"), ((0.021 ** 2 + 0.063 ** 2) / 2, "regression")):
        axE.axhline(level, color="k", lw=0.7, ls="--" if what == "regression" else "-.")
        axE.text(2.2e-3, level * 1.08, f"O = 0 at every point, {what}", fontsize=6)
    for ax, (lo, hi), name in ((axE, PAPER_E, "Ē (V²)"), (axD, PAPER_D, "D (V)")):
        for v in EXAMPLES:
            ax.axvline(v, color="0.7", lw=0.8, ls=":")
        ax.axhspan(lo, hi, color="0.92", zorder=-1)
        ax.set_xlabel("τ (s)")
        ax.set_ylabel(name)
    axE.text(0.02, 0.02, "grey band: the y range of the paper's Fig. 1G/H (makeFig1.m)", transform=axE.transAxes,
             fontsize=7)
    axE.set_title("combined error Ē (Fig. 1G)", fontsize=9)
    axD.set_title("cycle span D (Fig. 1H)", fontsize=9)
    axD.legend(fontsize=6.5, loc="lower right")
    fig.suptitle("Hardware-sized CLLN with update bias, full RC (Dillavou Fig. 1G/H); dotted: τ = 0.2 s, 3 s",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def seed_probe(seeds=(0, 1, 2, 3, 4), tau="0.2 s"):
    """App. C's size drawn with other seeds, at tau = 0.2 s: classification 150 periods (30 s, as the
    sweep), regression 500 periods (100 s); the seed table of docs/results/fig1-clln.md."""
    print("\n| seed | mean, std of B (V/s) | classification: accuracy at τ/2, τ | Ē (V²) | converged? | "
          "gates at 0 V, G_max | regression: Ē (V²) | converged? |")
    print("|---|---|---|---|---|---|---|---|")
    for seed in seeds:
        row = []
        for name, periods, rtol, atol in (("fig1_clln_bias", 150, 1e-4, "1 uV"),
                                          ("fig1_clln_regression_bias", 500, 1e-6, "1 nV")):
            d = read(RUNS / f"{name}.toml")
            d = {**d, "seed": seed, "parameters": {**d["parameters"], "tau": tau, "periods": periods},
                 "simulation": {**d["simulation"], "rtol": rtol, "atol": atol}}
            spec = run_from_dict(d, RUNS, name)
            out = OUT / f"{name}_seed{seed}.zarr"
            run_spec(spec, out, overwrite=True)
            row.append((spec, open_run(out)))
        (spec, ds), (_, rg) = row
        meter = classify.meter_for(spec)
        a, b = an._two_task(ds)
        acc = []
        for ev in (a[-1], b[-1]):
            th = classify.final_theta(ds, ev)
            right = [np.sign(c.output.values) == np.sign(c.label.values)
                     for c in (classify.classification(meter, th, k) for k in (0, 1))]
            acc.append(float(np.mean(np.concatenate(right))))
        B = np.asarray(build(spec.circuit, spec.twins, spec.imperfections, spec.seed).B)
        s, r = an.summary(ds), an.summary(rg)
        th = classify.final_theta(ds)
        conv = lambda x: f"yes ({int(x['periods'])})" if x["reached"] else "no"   # noqa: E731
        print(f"| {seed} | {B.mean():+.2f}, {B.std():.2f} | {acc[0]:.2f}, {acc[1]:.2f} | {s['E_bar']:.1e} | {conv(s)} | "
              f"{int(np.sum(th <= 1e-6))}, {int(np.sum(th >= G_MAX - 1e-6))} | {r['E_bar']:.1e} | {conv(r)} |")


def main(run=True):
    OUT.mkdir(parents=True, exist_ok=True)
    if run:
        for name in SWEEPS.values():
            sweep = load_sweep(ROOT / "sweeps" / f"{name}.toml")
            t0 = time.perf_counter()
            run_sweep(sweep, workers=2, progress=False)
            print(f"{name}: {time.perf_counter() - t0:.0f} s wall")
    res = tables(SWEEPS)
    tau_fig(res, ROOT / "docs" / "fig1_clln_tau.png")

    # --- the tables ------------------------------------------------------------------------------
    for label, by_task in res.items():
        for task, (tab, tree, sweep) in by_task.items():
            print(f"\n### {task}, {label}\n")
            print("| τ (s) | Ē (V²) | D (V) | converged? | periods run (cap) | last change (V) | drift = change/τ (V/s) | E_α at τ/2, E_β at τ (V²) | wall (s) |")
            print("|---|---|---|---|---|---|---|---|---|")
            idx = tree.to_dataset()
            for i in range(tab.sizes["run"]):
                r = tab.isel(run=i)
                wall = float(idx["wall_s"].sel(run=r["run"].values))
                print(f"| {float(r['parameters.tau']):g} | {float(r['E_bar']):.2e} | {float(r['D']):.2e} | "
                      f"{'yes' if bool(r['reached']) else 'NO'} | {int(r['periods'])} ({int(r['parameters.periods'])}) | "
                      f"{float(r['change']):.1e} | {float(r['change']) / float(r['parameters.tau']):.1e} | {float(r['E_alpha_end']):.1e}, {float(r['E_beta_end']):.1e} | {wall:.0f} |")
            tau, D, E = tab["parameters.tau"].values, tab["D"].values, tab["E_bar"].values
            if len(tau) >= 3:
                for lo, hi in ((None, 0.1), (None, 1.0)):
                    try:
                        print(f"D fit (tau <= {hi} s):", an.to_json(an.loglog_fit(tau, D, lo, hi)))
                    except ValueError as err:
                        print("D fit:", err)
                print("E_bar low plateau (within 50 %):", an.to_json(an.plateau(tau, E, "low", 0.5)),
                      "high plateau:", an.to_json(an.plateau(tau, E, "high", 0.5)))
                print("D high plateau (within 50 %):", an.to_json(an.plateau(tau, D, "high", 0.5)))

    # --- Fig. 1C-F and the integrator check --------------------------------------------------------
    v = np.linspace(V_MINUS, V_PLUS, MAP_N)
    for label, by_task in res.items():
        fig = plt.figure(figsize=(14, 6.6))
        rows = fig.add_gridspec(2, 1, hspace=0.35)
        top = rows[0].subgridspec(1, 8, width_ratios=[1, 1, 1, 1, 0.07, 0.75, 1.4, 1.4], wspace=0.12)
        bot = rows[1].subgridspec(1, 4, wspace=0.3)
        col, mesh = 0, None
        print(f"\n### Fig. 1C-F, {label}\n")
        print("| task | τ (s) | E_α, E_β at τ/2 (V²) | E_α, E_β at τ (V²) | accuracy at τ/2, τ | gates at 0 V, at G_max | "
              "quasi-static − full RC after one period: max |ΔG| (mV), max |ΔE| (V²) |")
        print("|---|---|---|---|---|---|---|")
        for j, task in enumerate(TASKS):
            if task not in by_task:
                continue
            tab, tree, sweep = by_task[task]
            for i, tau in enumerate(EXAMPLES):
                ds = run_of(tree, tab, tau)
                if ds is None:
                    continue
                a, b = an._two_task(ds)
                spec = classify.run_spec_of(ds, sweep.base_dir)
                meter = classify.meter_for(spec)
                espec, extra = extra_period(ds, sweep)
                t, Et = errors_over_time(meter, extra)
                try:
                    _, qs = extra_period(ds, sweep, "quasistatic")
                    _, Eq = errors_over_time(meter, qs)
                    dG = np.max(np.abs(classify.final_theta(extra) - classify.final_theta(qs)))
                    check = f"{dG * 1e3:.2f}, {np.max(np.abs(Et - Eq)):.1e}"
                except SimulationError as err:          # the quasi-static branch ends at a fold
                    Eq, check = None, f"quasi-static fails: {str(err)[:60]}… {str(err).split(' at ')[-1]}"
                Ea, Eb = ds["event_task_error"].values[a[-1]], ds["event_task_error"].values[b[-1]]
                th_end = classify.final_theta(ds, b[-1])
                acc = ""
                if task == "classification":
                    accs = []
                    for ev in (a[-1], b[-1]):
                        right = [np.sign(c.output.values) == np.sign(c.label.values) for c in
                                 (classify.run_classification(ds, spec, event=ev, k=k, meter=meter) for k in (0, 1))]
                        accs.append(float(np.mean(np.concatenate(right))))
                    acc = f"{accs[0]:.2f}, {accs[1]:.2f}"
                print(f"| {task} | {tau:g} | {Ea[0]:.1e}, {Ea[1]:.1e} | {Eb[0]:.1e}, {Eb[1]:.1e} | {acc or '–'} | "
                      f"{int(np.sum(th_end <= 1e-6))}, {int(np.sum(th_end >= G_MAX - 1e-6))} | "
                      f"{check} |")
                ax = fig.add_subplot(bot[0, 2 * j + i])
                for k, c in ((0, "#1f4e9c"), (1, "#c0282d")):
                    ax.semilogy(t / tau, np.maximum(Et[:, k], 1e-12), "-", color=c, label=f"E_{'αβ'[k]}, full RC")
                    if Eq is not None:
                        ax.semilogy(t / tau, np.maximum(Eq[:, k], 1e-12), ":", color=c, lw=1.5,
                                    label=f"E_{'αβ'[k]}, quasi-static")
                ax.axvline(0.5, color="0.6", lw=0.8)
                conv = "converged" if bool(an.limit_cycle(ds).reached) else "NOT converged"
                ax.set_title(f"{task}, τ = {tau:g} s ({conv})", fontsize=8)
                ax.set_xlabel("t / τ in the last period (α, then β)")
                if j == 0 and i == 0:
                    ax.set_ylabel("task error (V²)")
                    ax.legend(fontsize=6)
                if task == "classification":
                    for ev, when in ((a[-1], "τ/2"), (b[-1], "τ")):
                        th = classify.final_theta(ds, ev)
                        axm = fig.add_subplot(top[0, col])
                        col += 1
                        omap = classify.output_map(meter, th, v, v)
                        pts = classify.classification(meter, th, 0)
                        pts2 = classify.classification(meter, th, 1)
                        both = xr.concat([p.drop_vars(["accuracy", "hinge_loss"]) for p in (pts, pts2)], "point")
                        mesh = plots.plot_map(axm, omap, both, vlim=0.063, title=f"τ = {tau:g} s, t = {when}")
                else:
                    axl = fig.add_subplot(top[0, 6 + i])
                    for ev, when, ls in ((a[-1], "τ/2", "-"), (b[-1], "τ", "--")):
                        line = classify.output_map(meter, classify.final_theta(ds, ev), v, np.array([V_PLUS / 2]))
                        axl.plot(v, line.values[0] * 1e3, ls, color="k", label=f"t = {when}")
                    for k, c in ((0, "#1f4e9c"), (1, "#c0282d")):
                        p = spec.tasks[k].points[0]
                        axl.plot(p.inputs["V1"], p.labels["O+"] * 1e3, "s", mfc="none", mec=c, ms=9, mew=2)
                    axl.axhline(0, color="0.7", lw=0.6)
                    axl.set_title(f"regression, τ = {tau:g} s", fontsize=8)
                    axl.set_xlabel("V1 (V), V2 = V+/2")
                    if i == 0:
                        axl.set_ylabel("O (mV)")
                    axl.legend(fontsize=6)
        if mesh is not None:
            fig.colorbar(mesh, cax=fig.add_subplot(top[0, 4]), label="O (mV)")
        fig.suptitle(f"Hardware-sized CLLN, {label}, full RC: Dillavou Fig. 1C (maps), 1E (lines), 1D/F (errors)",
                     fontsize=10)
        name = FIGURES[label]
        fig.savefig(ROOT / "docs" / name, dpi=80, bbox_inches="tight")
        plt.close(fig)
        print(f"wrote docs/{name}")
    print("wrote docs/fig1_clln_tau.png")


CYCLES = "fig1_clln_tau_cycles"


def run_stats(ds) -> dict:
    st = ds.attrs.get("stats", {})
    if isinstance(st, str):
        import json
        st = json.loads(st)
    return st


def cycles(run=True):
    """sweeps/fig1_clln_tau_cycles.toml: seed 2's draw, both tasks, every run to its limit cycle
    (rodas4 + Newton shooting or direct stepping, chosen per run: see the sweep's comments).
    Draws docs/fig1_clln_cycles.png (Ē and D against τ) and prints the table of
    docs/results/fig1-clln.md ("Converged cycles") with the D ∝ τ^k fits."""
    sweep = load_sweep(ROOT / "sweeps" / f"{CYCLES}.toml")
    if run:
        t0 = time.perf_counter()
        run_sweep(sweep, workers=2, progress=False)
        print(f"{CYCLES}: {time.perf_counter() - t0:.0f} s wall")
    tree = open_sweep(sweep.output)
    tab = an.tau_table(tree)
    idx = tree.to_dataset()
    rows = []
    for i in range(tab.sizes["run"]):
        r = tab.isel(run=i)
        rid = str(r["run"].values)
        ds = tree["runs"][rid].to_dataset()
        st = run_stats(ds)
        shooting = st.get("cycle") == "shooting"
        task = next(t for t, proto in TASKS.items() if proto in str(r["protocol"].values))
        rows.append(dict(tau=float(r["parameters.tau"]), task=task, method="shooting" if shooting else "direct",
                         converged=bool(st.get("converged")), change=float(r["change"]),
                         E=float(r["E_bar"]), D=float(r["D"]),
                         periods=int(st["periods_simulated"]) if shooting else int(r["periods"]),
                         newton=int(st["newton_iterations"]) if shooting else None,
                         mu=float(st["leading_multiplier_abs"]) if shooting else None,
                         residual=float(st["residual"]) if shooting else None,
                         wall=float(idx["wall_s"].sel(run=rid))))
    print("\n| τ (s) | task | method | converged? | Ē (V²) | D (V) | periods simulated | Newton iterations | "
          "\\|μ₁\\| | residual or last change (V) | wall (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for task in TASKS:
        for w in (w for w in rows if w["task"] == task):
            print(f"| {w['tau']:g} | {task} | {w['method']} | {'yes' if w['converged'] else 'NO'} | {w['E']:.4e} | "
                  f"{w['D']:.4e} | {w['periods']} | {w['newton'] if w['newton'] is not None else '–'} | "
                  f"{'%.5f' % w['mu'] if w['mu'] is not None else '–'} | "
                  f"{(w['residual'] if w['residual'] is not None else w['change']):.1e} | {w['wall']:.0f} |")
    print(f"\n{sum(w['converged'] for w in rows)} of {len(rows)} runs converged; sum of run walls "
          f"{sum(w['wall'] for w in rows):.0f} s")
    fits = {}
    for task in TASKS:
        sel = [w for w in rows if w["task"] == task and w["converged"]]
        tau, D = np.array([w["tau"] for w in sel]), np.array([w["D"] for w in sel])
        for hi in (0.1, 1.0, 30.0):
            try:
                f = an.loglog_fit(tau, D, None, hi)
                fits[(task, hi)] = f
                print(f"{task}: D ∝ τ^k over {f.x_min:g}–{f.x_max:g} s ({f.n} points): k = {f.slope:.4f} ± {f.stderr:.4f}")
            except ValueError as err:
                print(f"{task}: D fit to {hi} s: {err}")

    fig, (axE, axD) = plt.subplots(1, 2, figsize=(11, 4.2))
    for g, task in enumerate(TASKS):
        sel = [w for w in rows if w["task"] == task]
        tau = np.array([w["tau"] for w in sel])
        for ax, key in ((axE, "E"), (axD, "D")):
            y = np.array([w[key] for w in sel])
            ax.loglog(tau, y, "-", color=f"C{g}", lw=0.8, alpha=0.6)
            for method, mk in (("shooting", "o"), ("direct", "s")):
                m = np.array([w["method"] == method and w["converged"] for w in sel], bool)
                ax.loglog(tau[m], y[m], mk, color=f"C{g}", ms=6, ls="none", label=f"{task}, {method}" if m.any() else None)
                m = np.array([w["method"] == method and not w["converged"] for w in sel], bool)
                ax.loglog(tau[m], y[m], mk, mfc="none", color=f"C{g}", ms=8, ls="none",
                          label=f"{task}, {method}: NOT converged" if m.any() else None)
    for ax, (lo, hi), name in ((axE, PAPER_E, "Ē (V²)"), (axD, PAPER_D, "D (V)")):
        ax.axhspan(lo, hi, color="0.92", zorder=-1)
        ax.set_xlabel("τ (s)")
        ax.set_ylabel(name)
    axE.text(0.02, 0.02, "grey band: the y range of the paper's Fig. 1G/H (makeFig1.m)", transform=axE.transAxes,
             fontsize=7)
    for g, task in enumerate(TASKS):
        f = fits.get((task, 0.1))
        if f is not None:
            axD.text(0.03, 0.93 - 0.07 * g, f"{task}: D ∝ τ^{f.slope:.3f} (τ ≤ 0.1 s)", color=f"C{g}",
                     transform=axD.transAxes, fontsize=7)
    axE.set_title("combined error Ē (Fig. 1G)", fontsize=9)
    axD.set_title("cycle span D (Fig. 1H)", fontsize=9)
    axD.legend(fontsize=6.5, loc="lower right")
    fig.suptitle("Fig. 1 CLLN, App. C's bias (seed 2), full RC: every run at its limit cycle "
                 "(filled: converged to cycle_tol = 10 µV)", fontsize=10)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "fig1_clln_cycles.png", dpi=90)
    plt.close(fig)
    print("wrote docs/fig1_clln_cycles.png")
    return rows


if __name__ == "__main__":
    if "--cycles" in sys.argv:
        cycles(run="--no-run" not in sys.argv)
    elif "--seeds" in sys.argv:
        seed_probe()
    else:
        main(run="--no-run" not in sys.argv)
