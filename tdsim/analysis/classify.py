"""Binary classification by a trained network (Dillavou Figs. 1C, 5): the free network's settled
output over a grid of inputs (the classification map), the accuracy and the hinge loss of a task.

Everything is measured as ``TaskMeter`` measures it: the free twin alone, settled (Kirchhoff
solution, or a full-RC relaxation past a fold) for each input point from zero, at given gates θ,
its output read as O+ − O− for a differential pair, without the clamp's measurement offset.

- accuracy: the fraction of points whose output has the sign of their label, sign(d) = sign(L);
- hinge loss: Dillavou Eq. A2, E = (1/N) Σ_i δ_i² Θ(L_i δ_i) with δ_i = L_i − d_i — the squared
  error of the points that have not passed their label in the label's direction (App. A,
  "Training for Binary Classification": a shifted hinge, zero once every output is beyond its
  label). In V².

Functions on stored runs take the run's Dataset (``tdsim.open_run``, or ``tree["runs/<id>"].ds`` of
a sweep) and its RunSpec (``run_spec_of`` rebuilds it from the run's stored spec) and return xarray
objects.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tdsim.compile.build import build
from tdsim.simulation.measure import TaskMeter
from tdsim.model.protocols import DataPoint, Task


def accuracy(d: np.ndarray, L: np.ndarray) -> float:
    """Fraction of points classified correctly: sign(d) = sign(L) (an output of exactly 0 is wrong)."""
    d, L = np.asarray(d, dtype=float), np.asarray(L, dtype=float)
    return float(np.mean(np.sign(d) == np.sign(L)))


def hinge_loss(d: np.ndarray, L: np.ndarray) -> float:
    """Dillavou Eq. A2: mean over points of δ² Θ(L δ), δ = L − d (V²)."""
    d, L = np.asarray(d, dtype=float), np.asarray(L, dtype=float)
    delta = L - d
    return float(np.mean(delta ** 2 * (L * delta > 0)))


def meter_for(spec) -> TaskMeter:
    """A TaskMeter for the run spec's tasks on the free twin's devices (as the runner builds it)."""
    c = build(spec.circuit, spec.twins, spec.imperfections, spec.seed)
    return TaskMeter(c, spec.tasks, spec.differential)


def _first_output(meter: TaskMeter) -> int:
    """The output column read: the first output (O+ of a differential pair, which reads O+ − O−)."""
    return next(q for q, (j, s) in sorted(meter.pairs.items()) if j < 0 or s > 0)


def task_outputs(meter: TaskMeter, theta, k: int = 0):
    """Measured outputs d and labels L (1-D, one per point) of task k at gates θ."""
    d, L = meter.outputs(np.asarray(theta, dtype=float), k)
    q = _first_output(meter)
    return d[:, q].copy(), L[:, q].copy()


def grid_task(meter: TaskMeter, v1, v2, x: str = "V1", y: str = "V2", k: int = 0) -> Task:
    """Unlabelled points on the grid v1 x v2 of sources x, y. The task's other inputs keep task k's
    first point's values, except inversions x', y' (Dillavou's CLLN feeds V1' = V+ − V1): where the
    task holds x + x' constant, the grid does too."""
    pts0 = meter.tasks[k].points
    fixed = dict(pts0[0].inputs)
    sums = {}
    for name in (x, y):
        inv = name + "'"
        if inv in fixed:
            s = {round(p.inputs[name] + p.inputs[inv], 12) for p in pts0}
            if len(s) == 1:
                sums[name] = s.pop()
    pts = []
    for b in np.asarray(v2, dtype=float):
        for a in np.asarray(v1, dtype=float):
            inputs = dict(fixed)
            inputs[x], inputs[y] = float(a), float(b)
            for name, total in sums.items():
                inputs[name + "'"] = total - inputs[name]
            pts.append(DataPoint(inputs, {}))
    return Task("map", pts)


def output_map(meter: TaskMeter, theta, v1, v2, x: str = "V1", y: str = "V2", k: int = 0):
    """The free network's settled output d(x, y) at gates θ over the grid v1 x v2 (a DataArray over
    (y, x) in V): the background of Dillavou Figs. 1C and 5A."""
    import xarray as xr
    v1, v2 = np.asarray(v1, dtype=float), np.asarray(v2, dtype=float)
    grid = TaskMeter(meter.free, [grid_task(meter, v1, v2, x, y, k)], meter.differential)
    d, _ = task_outputs(grid, theta, 0)
    return xr.DataArray(d.reshape(len(v2), len(v1)), dims=(y, x), coords={x: v1, y: v2}, name="output",
                        attrs={"units": "V", "long_name": "settled free output"})


def classification(meter: TaskMeter, theta, k: int = 0, x: str = "V1", y: str = "V2"):
    """Task k at gates θ as a Dataset over ``point``: the inputs x, y, label, output d; and the
    scalars accuracy and hinge_loss (Eq. A2)."""
    import xarray as xr
    d, L = task_outputs(meter, theta, k)
    pts = meter.tasks[k].points
    return xr.Dataset(
        {"output": ("point", d, {"units": "V"}), "label": ("point", L, {"units": "V"}),
         "accuracy": ((), accuracy(d, L)), "hinge_loss": ((), hinge_loss(d, L), {"units": "V^2", "equation": "Dillavou A2"})},
        coords={"point": np.arange(len(pts)), x: ("point", [p.inputs[x] for p in pts], {"units": "V"}),
                y: ("point", [p.inputs[y] for p in pts], {"units": "V"})})


# --- stored runs and sweeps -------------------------------------------------------------------

def run_spec_of(ds, base="."):
    """The RunSpec a stored run was made from (its ``spec`` attribute), paths relative to ``base``
    (the folder of the run spec; for a sweep, ``SweepSpec.base_dir``)."""
    import json
    from tdsim.runs.jobs import run_from_dict
    d = ds.attrs["spec"]
    return run_from_dict(json.loads(d) if isinstance(d, str) else d, Path(base))


def final_theta(ds, event: int = -1) -> np.ndarray:
    """Edge states at a recorded event (default: the last one, the end of training)."""
    return np.asarray(ds["event_theta"][event].values, dtype=float)


def run_classification(ds, spec, event: int = -1, k: int = 0, meter: TaskMeter | None = None):
    """``classification`` of a stored run's task k at its recorded event (default: the last)."""
    meter = meter or meter_for(spec)
    out = classification(meter, final_theta(ds, event), k)
    return out.assign_attrs(task=meter.tasks[k].name, event_time=float(ds["event_time"][event].values))


def run_output_map(ds, spec, v1, v2, event: int = -1, k: int = 0, meter: TaskMeter | None = None):
    """``output_map`` of a stored run at its recorded event (default: the last)."""
    meter = meter or meter_for(spec)
    return output_map(meter, final_theta(ds, event), v1, v2, k=k)


def sweep_classification(tree, sweep, event: int = -1, window: float = 0.0, samples: int = 32):
    """Accuracy and hinge loss (Eq. A2) at the end of every complete run of a sweep: a Dataset over
    ``run`` carrying the sweep index's parameter coordinates (``tdsim.open_sweep``); ``sweep`` is
    the SweepSpec (``tdsim.sweep.load_sweep``), whose base folder resolves the stored specs.
    ``window`` > 0: instead the mean over ``samples`` recorded events evenly spaced in the last
    ``window`` fraction of each run (a biased run's accuracy wanders: its stationary value)."""
    import xarray as xr
    index = tree["/"].ds
    acc = np.full(index.sizes["run"], np.nan)
    hinge = np.full(index.sizes["run"], np.nan)
    runs = tree["runs"] if "runs" in tree else {}
    for i, rid in enumerate(index["run"].values):
        if str(rid) not in runs:                 # failed or unfinished: NaN
            continue
        ds = runs[str(rid)].ds
        spec = run_spec_of(ds, sweep.base_dir)
        n = ds.sizes["event"]
        events = [event] if window <= 0 else \
            np.unique(np.linspace(n - 1 - int(window * (n - 1)), n - 1, samples).round().astype(int))
        meter = meter_for(spec)
        cs = [run_classification(ds, spec, int(k), meter=meter) for k in events]
        acc[i] = np.mean([float(c["accuracy"]) for c in cs])
        hinge[i] = np.mean([float(c["hinge_loss"]) for c in cs])
    return xr.Dataset({"accuracy": ("run", acc), "hinge_loss": ("run", hinge, {"units": "V^2", "equation": "Dillavou A2"})},
                      coords=index.coords)


def summarize(metrics, by=("rule", "eps"), over: str = "split"):
    """Mean and standard error (std with ddof=1 over √n) of accuracy and hinge loss over the runs
    that differ only in ``over`` (Fig. 5B/C: the 8 rotations of the split), as a Dataset over the
    ``by`` coordinates (``metrics``: a Dataset over ``run`` with those coordinates, e.g. from
    ``sweep_classification`` after renaming the sweep's dotted parameter names)."""
    import xarray as xr
    df = metrics[["accuracy", "hinge_loss"]].to_dataframe().reset_index()
    for k in (*by, over):
        df[k] = metrics[k].values
    g = df.groupby(list(by))[["accuracy", "hinge_loss"]]
    mean, sem, n = g.mean(), g.sem(ddof=1), g.count()["accuracy"]
    out = xr.Dataset({f"{v}_{s}": frame[v].to_xarray() for v in ("accuracy", "hinge_loss")
                      for s, frame in (("mean", mean), ("sem", sem))})
    out["n"] = n.to_xarray()
    for v in ("hinge_loss_mean", "hinge_loss_sem"):
        out[v].attrs["units"] = "V^2"
    return out
