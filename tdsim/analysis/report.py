"""``tdsim analyze STORE``: the table, fits and figures of a stored run or sweep."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tdsim.analysis import stats as an
from tdsim.errors import SpecError


def analyze(store, output=None, x: str = "parameters.tau", theory: bool = True) -> int:
    import zarr
    store = Path(store)
    if not store.exists():
        raise SpecError(str(store), "no such store")
    from tdsim.runs.claim import is_store, open_existing
    root = open_existing(store) if store.is_dir() else None
    if root is None or not (is_store(root) or "index" in root.attrs):
        raise SpecError(str(store), "not a tdsim store (a run store of tdsim run or a sweep store of tdsim sweep)")
    out = Path(output) if output else store.parent
    out.mkdir(parents=True, exist_ok=True)
    attrs = root.attrs
    if "trainer" in attrs:
        raise SpecError(str(store), f"a trainer store ({attrs['trainer']}): read it with tdsim.open_run "
                                    "(layout: docs/storage.md); analyze takes engine runs and sweeps")
    if "index" in attrs:
        return _sweep(store, out, x, theory)
    return _run(store, out, theory)


def _theories(spec):
    from tdsim.analysis.theory import BiasTheory
    return {"theory at G*": BiasTheory(spec, linearize="solution"),
            "theory at orbit centre": BiasTheory(spec, linearize="center")}


def _sweep(store, out, x, theory) -> int:
    from tdsim.analysis.plots import tau_figure
    from tdsim.runs.sweep import open_sweep
    tree = open_sweep(store)
    table = an.tau_table(tree, x)
    swept = [k for k in table.coords if k not in ("run", x) and len(set(table[k].values.tolist())) > 1]
    keys = sorted({tuple(table[k].values[i] for k in swept) for i in range(table.sizes["run"])})
    cols = [x, *swept, "E_bar", "D", "reached", "periods"]
    print(table.to_dataframe()[cols].to_string(float_format=lambda v: f"{v:.4g}"))
    groups = {}
    for key in keys:
        m = np.ones(table.sizes["run"], bool)
        for k, v in zip(swept, key):
            m &= table[k].values == v
        sub = table.isel(run=np.flatnonzero(m))
        label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in zip(swept, key)) or "all runs"
        preds = {}
        xs = sub[x].values
        if theory and x == "parameters.tau":
            try:
                spec = an.run_spec_of(tree["runs"][str(sub["run"].values[0])].to_dataset())
                grid = np.logspace(np.log10(xs.min()) - 0.3, np.log10(xs.max()), 60)
                preds = {k: t.predict(grid) for k, t in _theories(spec).items()}
            except Exception as exc:                      # theory needs a two-task spec near a solution
                print(f"[{label}] theory not drawn: {exc}")
        groups[label] = (sub, preds)
        _fits(label, xs, sub["E_bar"].values, sub["D"].values)
    path = tau_figure(groups, out / f"{store.stem}_tau.png", store.stem, x)
    print(f"wrote {path}")
    failed = int((tree.to_dataset()["status"] != "complete").sum()) if "status" in tree.to_dataset() else 0
    return 1 if failed else 0


def _fits(label, xs, E, D):
    """Log-log slope of D over the first two decades of x, and the plateaus of Ē and D."""
    lo = xs.min()
    try:
        fit = an.loglog_fit(xs, D, x_max=lo * 100 * (1 + 1e-9))
        print(f"[{label}] D ∝ x^{fit.slope:.3f} ± {fit.stderr:.3f} over {fit.x_min:.3g}..{fit.x_max:.3g} ({fit.n} runs)")
    except ValueError as exc:
        print(f"[{label}] no slope: {exc}")
    for name, y in (("E_bar", E), ("D", D)):
        for end in ("low", "high"):
            p = an.plateau(xs, y, end, 0.1)
            if p.n >= 2:
                print(f"[{label}] {name} {end} plateau {p.level:.4g} over {p.x_min:.3g}..{p.x_max:.3g} ({p.n} runs)")


def _run(store, out, theory) -> int:
    from tdsim.analysis.plots import cycles_figure, run_figures
    from tdsim.runs.store import open_run
    ds = open_run(store)
    st = ds.attrs.get("stats", {})
    print(f"{store}: complete={ds.attrs.get('complete')}  t_end={st.get('t_end')}  steps={st.get('steps')}")
    written = run_figures(store)
    try:
        s = an.summary(ds)
    except SpecError:
        s = None
    if s is not None:
        for k, v in s.items():
            print(f"  {k:14} {v}")
    mult = an.floquet(ds)
    if mult is not None:
        print(f"  cycle          shooting: {st.get('newton_iterations')} Newton iterations, residual "
              f"{st.get('residual', float('nan')):.3g} V, {st.get('periods_simulated')} periods simulated")
        print("  floquet        " + "  ".join(f"{m.real:.6g}{m.imag:+.3g}j (|μ| {abs(m):.6g})" for m in mult))
        if not an.cycle_stable(ds):
            print("  UNSTABLE cycle: a mode grows by |μ| > 1 per period; no direct run (nor the circuit) reaches it")
        if theory and int(ds["edge_learns"].sum()) == 2:
            try:
                th = _theories(an.run_spec_of(ds))["theory at G*"]
                written.append(cycles_figure({store.stem: (th, {"last period": ds})},
                                             out / f"{store.stem}_cycle.png", "limit cycle, theory at G* (black)"))
            except Exception as exc:
                print(f"theory not drawn: {exc}")
    for f in written:
        print(f"wrote {f}")
    return 0


def two_task_study(sweep_file, group: str, labels: dict, cycle_taus=(), solution: str = "joint",
                   name: str = "study", title: str = "", docs=None, small_tau: float = 0.02,
                   slope_max: float = 0.25) -> dict:
    """Run a τ sweep of a 2-learning-edge two-task circuit, compare it with the linear theory
    (App. D; linearized at G* as in the paper and at the orbit centre), run the recorded limit
    cycles at ``cycle_taus`` (e.g. "20 ms"), and draw <docs>/<name>_tau.png and _cycles.png.
    ``group``: the swept key whose values (keys of ``labels``) separate the curves."""
    import copy

    from tdsim.analysis.plots import cycles_figure, tau_figure
    from tdsim.runs.runner import run_spec
    from tdsim.runs.jobs import run_from_dict
    from tdsim.runs.store import open_run
    from tdsim.runs.sweep import load_sweep, open_sweep, point_spec, run_id, run_sweep
    from tdsim.analysis.theory import BiasTheory
    from tdsim.model.units import quantity
    sweep = load_sweep(sweep_file)
    run_sweep(sweep, workers=2, progress=False)
    table = an.tau_table(open_sweep(sweep.output))
    out = Path(sweep.output).parent
    docs = Path(docs) if docs else out
    tv = table["parameters.tau"].values
    taus = np.logspace(np.log10(tv.min()) - 0.3, np.log10(tv.max()), 80)
    groups, panels, report = {}, {}, {}
    for value, label in labels.items():
        ids = {run_id(i) for i, p in enumerate(sweep.points) if p[group] == value}
        sub = table.isel(run=np.flatnonzero(np.isin(table["run"].values, list(ids))))
        if sub.sizes["run"] == 0:
            raise SpecError(group, f"no completed run has {group} = {value!r}")
        spec = point_spec(sweep, next(p for p in sweep.points if p[group] == value))
        paper = BiasTheory(spec, solution=solution, linearize="solution")
        centre = BiasTheory(spec, solution=solution, linearize="center")
        groups[label] = (sub, {"theory at G*": paper.predict(taus), "theory at orbit centre": centre.predict(taus)})
        tau, E, D = sub["parameters.tau"].values, sub["E_bar"].values, sub["D"].values
        small = tau <= small_tau
        report[label] = {"D_slope": an.loglog_fit(tau, D, x_max=slope_max),
                         "E_low_plateau": an.plateau(tau, E, "low", 0.1),
                         "E_high_plateau": an.plateau(tau, E, "high", 0.1),
                         "D_high_plateau": an.plateau(tau, D, "high", 0.05),
                         "reached": f"{int(sub['reached'].sum())}/{sub.sizes['run']}",
                         "G_star": [g.tolist() for g in paper.G_star], "G_centre": centre.G_center.tolist()}
        for tname, th in (("theory_at_Gstar", paper), ("theory_at_centre", centre)):
            p = th.predict(tau[small])
            report[label][f"{tname}_max_rel_err_tau_le_{small_tau:g}s"] = {
                k: float(np.max(np.abs(y[small] / p[k] - 1))) for k, y in (("E_bar", E), ("D", D))}
        runs = {}
        for tau_s in cycle_taus:
            d = copy.deepcopy(spec.resolved)
            d["parameters"] = {**d.get("parameters", {}), "tau": tau_s}
            t = quantity(tau_s, "time", "tau")
            d["simulation"] = {**d.get("simulation", {}), "record_interval": f"{t / 400:g} s"}
            key = re.sub(r"[^\w.+-]+", "", Path(value).stem if str(value).endswith(".toml") else str(value))
            path, _ = run_spec(run_from_dict(d), out / f"{name}_cycle_{key}_{tau_s.replace(' ', '')}.zarr",
                               overwrite=True, progress=False)
            runs[tau_s] = open_run(path)
        if runs:
            panels[label] = (paper, runs)
    tau_figure(groups, docs / f"{name}_tau.png", title or name)
    if panels:
        cycles_figure(panels, docs / f"{name}_cycles.png", "Limit cycles: simulation (colour), theory at G* (black)")
    print(table.to_dataframe()[[group, "parameters.tau", "E_bar", "D", "reached", "periods"]].to_string())
    print(an.to_json(report))
    (out / f"{name}_summary.json").write_text(an.to_json(report))
    return report
