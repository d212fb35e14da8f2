"""Analysis of stored runs and sweeps (Dillavou et al. App. A and Eq. 4).

A two-task run records one event per half period, alternating the end of task α (t = τ/2 of a
period) and the end of task β (t = τ); each event holds G and each task's error E_μ (Eq. A1, or
A2 for classification tasks) of the settled free network. From these:

- ``error``: E(t) = ½(E_α + E_β) (Eq. A3) at every half-period end;
- ``combined_error``: Ē = ½(E(τ/2) + E(τ)) over the last period(s) (Eq. A4);
- ``cycle_span``: D = ‖G(τ/2) − G(τ)‖ over the learning edges (Eq. 4);
- ``limit_cycle``: whether the period-to-period change of G fell below a tolerance;
- ``tau_table`` / ``loglog_fit`` / ``plateau``: τ-sweep tables, fitted slopes and plateau levels;
- ``floquet``: the Floquet multipliers of a cycle found by shooting (largest modulus first);
- ``cycle_stable``: whether every mode of that cycle contracts (else no direct run reaches it);
- ``gate_path``: the G-space trajectory of the last periods;
- ``conserved_mass``: K = ½Σκ² (½Σρ², Σ log κ) of McGinnis Thm 3.3/3.4, Ex. 3.5.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import xarray as xr

from tdsim.errors import SpecError


def run_spec_of(ds):
    """The RunSpec a stored run was made from (model and protocol are stored inline)."""
    from tdsim.runs.jobs import run_from_dict
    res = ds.attrs.get("resolved_spec")
    if not res:
        raise SpecError("resolved_spec", "this store predates inline specs; rerun it to analyse it")
    return run_from_dict(res)


def _two_task(ds):
    """Event indices of the α ends and β ends of the complete periods of a two-task run."""
    if "task" not in ds.coords or ds.sizes.get("task", 0) != 2:
        raise SpecError("protocol", "needs a two-task run (two tasks, one event per half period)")
    n = ds.sizes["event"] // 2
    if n < 1:
        raise SpecError("event", "the run recorded no complete period")
    return np.arange(0, 2 * n, 2), np.arange(1, 2 * n, 2)


def learning_gates(ds) -> xr.DataArray:
    """Event-time G of the learning edges (event, edge)."""
    return ds["event_theta"].sel(edge=ds["edge"][ds["edge_learns"].values])


def error(ds) -> xr.DataArray:
    """E(t) = ½(E_α + E_β) at every recorded event (Eq. A3)."""
    return ds["event_task_error"].mean("task").assign_coords(event_time=ds["event_time"])


def combined_error(ds, periods: int = 1) -> float:
    """Ē = ½(E(τ/2) + E(τ)) (Eq. A4), averaged over the last ``periods`` periods."""
    a, b = _two_task(ds)
    E = error(ds).values
    k = slice(-min(periods, len(a)), None)
    return float(np.mean(0.5 * (E[a[k]] + E[b[k]])))


def cycle_span(ds, periods: int = 1) -> float:
    """D = ‖G(τ/2) − G(τ)‖ over the learning edges (Eq. 4), averaged over the last periods."""
    a, b = _two_task(ds)
    G = learning_gates(ds).values
    k = slice(-min(periods, len(a)), None)
    return float(np.mean(np.linalg.norm(G[a[k]] - G[b[k]], axis=1)))


@dataclass
class LimitCycle:
    reached: bool          # the last period-to-period change is below tol
    periods: int           # complete periods recorded
    change: float          # max |G(nτ) − G((n−1)τ)| over learning edges at the last period, V
    tol: float             # V
    engine_converged: bool | None   # the engine's own cycle_tol stop (stats.converged)


def limit_cycle(ds, tol: float | None = None) -> LimitCycle:
    """Has the run reached its limit cycle: G at consecutive period ends within ``tol`` (default:
    the run's ``cycle_tol``, else 1 µV)?"""
    _, b = _two_task(ds)
    if tol is None:
        tol = ds.attrs.get("integrator", {}).get("cycle_tol") or 1e-6
    G = learning_gates(ds).values[b]
    change = float(np.max(np.abs(G[-1] - G[-2]))) if len(G) > 1 else float("inf")
    return LimitCycle(bool(change < tol), int(len(b)), change, float(tol),
                      ds.attrs.get("stats", {}).get("converged"))


def summary(ds, periods: int = 1) -> dict:
    """Ē, D, the last task errors and the limit-cycle test of one two-task run; for a cycle found
    by shooting also |μ₁|, the modulus of its leading Floquet multiplier (``floquet_leading``), and
    whether the cycle is stable (``stable``: cycle_stable)."""
    a, b = _two_task(ds)
    Et = ds["event_task_error"].values
    lc = limit_cycle(ds)
    mult = floquet(ds)
    return {"E_bar": combined_error(ds, periods), "D": cycle_span(ds, periods),
            "E_alpha_end": float(Et[a[-1], 0]), "E_beta_end": float(Et[b[-1], 1]),
            **{k: v for k, v in asdict(lc).items() if k != "engine_converged"},
            "converged": bool(lc.engine_converged) if lc.engine_converged is not None else False,
            **({"floquet_leading": float(abs(mult[0])), "stable": cycle_stable(ds)}
               if mult is not None and len(mult) else {})}


def cycle_stable(ds) -> bool:
    """Does every mode of a shooting run's cycle contract (|μ| < 1 off a family of cycles, whose own
    multipliers are 1)? An unstable cycle solves P(x) = x but no direct run, and no hardware, reaches
    it. From the run's stats (``stable``; older stores: its contracting multiplier)."""
    st = ds.attrs.get("stats", {})
    if "stable" in st:
        return bool(st["stable"])
    return bool(st.get("contracting_multiplier_abs", abs(floquet(ds)[0])) < 1.0)


def floquet(ds):
    """The Floquet multipliers of a run found by shooting (complex, largest modulus first), or
    None for a direct run (docs/storage.md: variable ``floquet``, dimension ``mode``)."""
    return np.asarray(ds["floquet"].values, dtype=complex) if "floquet" in ds else None


def tau_table(tree, x: str = "parameters.tau", periods: int = 1) -> xr.Dataset:
    """One row per completed run of a sweep (an ``open_sweep`` DataTree or its path), sorted by the
    swept parameter ``x``: Ē, D, limit-cycle test, and every swept parameter as a coordinate."""
    from tdsim.runs.sweep import open_sweep
    if not isinstance(tree, xr.DataTree):
        tree = open_sweep(tree)
    index = tree.to_dataset() if hasattr(tree, "to_dataset") else tree.ds
    if x not in index.coords:
        raise SpecError(x, f"not a swept parameter (have {sorted(k for k in index.coords if k != 'run')})")
    runs = [r for r in index["run"].values if "runs" in tree and str(r) in tree["runs"].children]
    if not runs:
        raise SpecError("runs", "the sweep has no completed run")
    rows = [summary(tree["runs"][str(r)].to_dataset(), periods) for r in runs]
    keys = list(dict.fromkeys(k for row in rows for k in row))    # shooting runs add floquet_leading, stable
    data = {k: ("run", np.array([row.get(k, np.nan) for row in rows])) for k in keys}
    out = xr.Dataset(data, coords={"run": runs})
    for k, v in index.coords.items():
        if k != "run":
            out = out.assign_coords({k: ("run", index[k].sel(run=runs).values)})
    return out.sortby(x)


@dataclass
class Fit:
    slope: float
    intercept: float       # log10 y at log10 x = 0
    stderr: float          # standard error of the slope
    x_min: float
    x_max: float
    n: int


def loglog_fit(x, y, x_min: float | None = None, x_max: float | None = None) -> Fit:
    """Least-squares line through (log10 x, log10 y) over x_min ≤ x ≤ x_max (positive y only)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    m = (x > 0) & (y > 0) & np.isfinite(y)
    if x_min is not None:
        m &= x >= x_min
    if x_max is not None:
        m &= x <= x_max
    if m.sum() < 3:
        raise ValueError(f"need at least 3 positive points in the fit range, have {int(m.sum())}")
    lx, ly = np.log10(x[m]), np.log10(y[m])
    A = np.vstack([lx, np.ones_like(lx)]).T
    (s, c), res, *_ = np.linalg.lstsq(A, ly, rcond=None)
    dof = max(len(lx) - 2, 1)
    r = ly - A @ np.array([s, c])
    se = float(np.sqrt((r @ r) / dof / np.sum((lx - lx.mean()) ** 2)))
    return Fit(float(s), float(c), se, float(x[m].min()), float(x[m].max()), int(m.sum()))


@dataclass
class Plateau:
    level: float           # mean y over the plateau
    x_min: float
    x_max: float
    n: int


def plateau(x, y, end: str = "low", rel: float = 0.1) -> Plateau:
    """The plateau at the ``low`` or ``high`` end of x: the points, from that end, whose y stays
    within ``rel`` (relative) of the end point's value."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    o = np.argsort(x)
    x, y = x[o], y[o]
    if end == "high":
        x, y = x[::-1], y[::-1]
    elif end != "low":
        raise ValueError("end must be 'low' or 'high'")
    ref = y[0]
    n = 1
    while n < len(y) and abs(y[n] - ref) <= rel * abs(ref):
        n += 1
    return Plateau(float(np.mean(y[:n])), float(min(x[:n])), float(max(x[:n])), n)


def gate_path(ds, periods: int = 2) -> xr.DataArray:
    """G of the learning edges over the last ``periods`` periods (time, edge): the limit cycle."""
    th = ds["theta"].sel(edge=ds["edge"][ds["edge_learns"].values])
    tau = _tau(ds)
    t = ds["time"].values
    if tau is None or not len(t):
        return th
    return th.isel(time=t >= t[-1] - periods * tau - 1e-12 * tau)


def _tau(ds):
    res = ds.attrs.get("resolved_spec") or {}
    proto = {**(res.get("protocol") or {}), **(res.get("parameters") or {})}
    if proto.get("kind") != "two_task":
        return None
    from tdsim.model.units import quantity
    return quantity(proto["tau"], "time", "tau")


def conserved_mass(theta, parametrization="kappa") -> np.ndarray:
    """K of McGinnis Lemma 3.2 over the last axis: ½Σκ² (θ = κ, Thm 3.3), ½Σρ² (θ = ρ, Thm 3.4),
    Σ k (θ = log κ, Ex. 3.5). ``parametrization`` is one name or one per edge."""
    theta = np.asarray(theta, float)
    p = np.broadcast_to(np.asarray(parametrization, dtype=object), theta.shape[-1:])
    bad = [q for q in set(p) if q not in ("kappa", "rho", "logkappa")]
    if bad:
        raise SpecError("parametrization", f"unknown {bad[0]!r} (kappa, rho or logkappa)")
    sq = np.array([q != "logkappa" for q in p])
    return 0.5 * np.sum(theta[..., sq] ** 2, axis=-1) + np.sum(theta[..., ~sq], axis=-1)


def to_json(obj) -> str:
    """A Fit, Plateau or LimitCycle (or a dict of them) as JSON, for closing notes and tables."""
    return json.dumps(obj, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__") else str(o))
