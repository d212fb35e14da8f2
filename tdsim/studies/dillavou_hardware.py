"""The measured 2+1-edge hardware of Dillavou et al. 2025 (Figs. 2, 3; App. E): readers for the
authors' data in ``data/hardware/dillavou2025`` (see its README), with units, and App. E's inference
of the update bias B from the drift tests.

App. E: training one single-point task, the gates run quickly onto the task's solution line and then
drift along it, dG/dt ≈ N B (Eq. D5; N projects on the line, the null space of the task's
curvature M). The drift rate is not constant along the line, so App. E measures it "at the point
along the solution line closest to a predetermined central point" ([3.0, 3.5] V in Fig. 2F,
[3.1, 4.3] V in Fig. 2G). Each task gives B's projection on its own line; the two lines fix B.

Everything here is model-free: the line direction is the measured drift direction itself, so no
circuit model, curvature or solution point enters. Gate order is the paper's (G1, G2) =
(GMINUS, GPLUS): G1 is the edge to V-, G2 the edge to V+ (README of the data).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

DATA = Path(__file__).resolve().parents[2] / "data" / "hardware" / "dillavou2025"

# App. E, per experiment: which drift-test file trains which task (found from the records: each
# drifts along that task's solution line), the central point [G1, G2] (V) and the bias B (V/s) the
# paper states. App. E prints B "in Fig. 1F, Fig. 1G and Fig. 2" next to central points of
# "Fig. 2F, Fig. 2G and Fig. 3"; the drift tests confirm the shift by one figure number.
EXPERIMENTS = {
    "exp1": {"figure": "Fig. 2B/F", "tests": {"alpha": 2, "beta": 1}, "centre": (3.0, 3.5),
             "paper_B": (2.97, 4.41)},
    "exp2": {"figure": "Fig. 2C/G", "tests": {"alpha": 2, "beta": 1}, "centre": (3.1, 4.3),
             "paper_B": (-0.16, 1.98)},
}
GATES = ("G1", "G2")          # = (GMINUS, GPLUS): edges to V- and to V+


# ---- Ē(τ), D²(τ) ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TauCurve:
    """One measured curve against the period τ: ``tau`` in s, ``value`` in ``unit``."""
    experiment: str
    quantity: str             # "E" (combined error Ē, Eq. A4) or "D2" (squared cycle span, Eq. 4)
    unit: str
    tau: np.ndarray
    value: np.ndarray


_CURVE_FILES = {"E": ("measured-MSE-{}.csv", "V^2"), "D2": ("measured-DG2-{}.csv", "V^2")}


def load_curve(experiment: str, quantity: str, data: Path = DATA) -> TauCurve:
    """Measured Ē(τ) (``quantity="E"``) or D²(τ) (``"D2"``) of exp1, exp2 or exp3."""
    if quantity not in _CURVE_FILES:
        raise ValueError(f"quantity {quantity!r}: one of {sorted(_CURVE_FILES)}")
    name, unit = _CURVE_FILES[quantity]
    raw = np.loadtxt(Path(data) / name.format(experiment), delimiter=",", ndmin=2)
    if raw.shape[1] != 2:
        raise ValueError(f"{name.format(experiment)}: {raw.shape[1]} columns, expected 2 (tau, value)")
    return TauCurve(experiment, quantity, unit, raw[:, 0].copy(), raw[:, 1].copy())


def cycle_span(experiment: str, data: Path = DATA) -> TauCurve:
    """The measured cycle span D(τ) = √(D²) in V."""
    d2 = load_curve(experiment, "D2", data)
    return TauCurve(experiment, "D", "V", d2.tau, np.sqrt(d2.value))


# ---- drift tests --------------------------------------------------------------------------------
@dataclass(frozen=True)
class DriftTest:
    """A single-task drift test: times ``t`` (s) and gates ``G`` (V), shape (n, 2), columns G1, G2."""
    name: str
    t: np.ndarray
    G: np.ndarray


def load_drift_test(experiment: str, number: int, data: Path = DATA) -> DriftTest:
    name = f"{experiment}DriftTest_{number}"
    m = scipy.io.loadmat(Path(data) / f"{name}.mat")
    t = np.ravel(m["time"]).astype(float)
    G = np.column_stack([np.ravel(m["GMINUS"]), np.ravel(m["GPLUS"])]).astype(float)
    if G.shape[0] != t.size:
        raise ValueError(f"{name}: {t.size} times but {G.shape[0]} gate samples")
    return DriftTest(name, t, G)


def gate_noise(test: DriftTest, t_from: float = 5.0) -> np.ndarray:
    """σ of each gate's reading (V): scatter about a straight line over the record's tail
    (t ≥ ``t_from``), where the gates sit at a limit and only the reading moves."""
    m = test.t >= t_from
    if m.sum() < 10:
        raise ValueError(f"{test.name}: {int(m.sum())} samples after t = {t_from} s; need ≥ 10")
    A = np.column_stack([test.t[m] - test.t[m].mean(), np.ones(m.sum())])
    res = test.G[m] - A @ np.linalg.lstsq(A, test.G[m], rcond=None)[0]
    return np.sqrt((res ** 2).sum(axis=0) / (m.sum() - 2))


@dataclass(frozen=True)
class DriftRate:
    """dG/dt (V/s) of a drift test at one sample, with its standard error from the gate noise."""
    test: str
    index: int
    t: float
    G: np.ndarray
    rate: np.ndarray
    rate_err: np.ndarray


def drift_rate(test: DriftTest, centre, half_window: int = 1, shift: int = 0,
               noise: np.ndarray | None = None) -> DriftRate:
    """The drift rate where the track comes closest to ``centre`` (App. E's point on the solution
    line closest to the central point: on a straight track the nearest sample), from a straight-line
    fit of G(t) over the 2·half_window + 1 samples centred there (half_window = 1: the central
    difference, the rate at that point). ``shift`` moves the point by whole samples along the track
    (to see how much the choice of point matters). Errors: the gate noise (``gate_noise``)
    propagated through the fit."""
    if half_window < 1:
        raise ValueError(f"half_window = {half_window}: need ≥ 1")
    i = int(np.argmin(np.linalg.norm(test.G - np.asarray(centre, float), axis=1))) + shift
    lo, hi = i - half_window, i + half_window + 1
    if lo < 1 or hi > test.t.size:
        raise ValueError(f"{test.name}: window {lo}..{hi - 1} leaves the record (sample 0 is the "
                         "starting state, 0.9 s before the next)")
    dt = np.diff(test.t[lo:hi])
    if dt.max() > 1.5 * dt.min():
        raise ValueError(f"{test.name}: samples {lo}..{hi - 1} are not evenly spaced ({dt.min():.4g}"
                         f"..{dt.max():.4g} s)")
    tt = test.t[lo:hi] - test.t[i]
    A = np.column_stack([tt, np.ones(tt.size)])
    slope = np.linalg.lstsq(A, test.G[lo:hi], rcond=None)[0][0]
    sigma = gate_noise(test) if noise is None else np.asarray(noise, float)
    err = sigma / np.sqrt(((tt - tt.mean()) ** 2).sum())
    return DriftRate(test.name, i, float(test.t[i]), test.G[i].copy(), slope, err)


@dataclass(frozen=True)
class BiasEstimate:
    """B (V/s) per gate (G1, G2) from the drift rates of two tasks, with its covariance."""
    B: np.ndarray
    cov: np.ndarray
    rates: tuple

    @property
    def err(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))


def bias_from_rates(rates) -> np.ndarray:
    """B with n̂_μ · B = |v_μ| for each task μ, n̂_μ = v_μ/|v_μ| the measured drift direction
    (dG/dt = N_μ B = (n̂_μ · B) n̂_μ with N_μ the projector on μ's solution line)."""
    v = np.asarray(rates, float)
    speed = np.linalg.norm(v, axis=1)
    return np.linalg.solve(v / speed[:, None], speed)


def infer_bias(rates: list[DriftRate]) -> BiasEstimate:
    """App. E's B from two single-task drift rates; the covariance propagates the rates' errors
    (independent, per gate) to first order."""
    if len(rates) != 2:
        raise ValueError(f"{len(rates)} drift rates: two tasks fix the two components of B")
    v = np.array([r.rate for r in rates])
    B = bias_from_rates(v)
    J = np.empty((2, v.size))
    for k in range(v.size):
        h = 1e-6 * max(1.0, abs(v.flat[k]))
        vp, vm = v.copy(), v.copy()
        vp.flat[k] += h
        vm.flat[k] -= h
        J[:, k] = (bias_from_rates(vp) - bias_from_rates(vm)) / (2 * h)
    var = np.concatenate([r.rate_err for r in rates]) ** 2
    return BiasEstimate(B, J @ np.diag(var) @ J.T, tuple(rates))


def app_e_bias(experiment: str, half_window: int = 1, shift: dict | None = None,
               data: Path = DATA) -> BiasEstimate:
    """B of exp1 or exp2 from its two drift tests, measured at App. E's points. ``shift`` =
    {task: samples} moves a task's point along its track."""
    spec = EXPERIMENTS[experiment]
    rates = [drift_rate(load_drift_test(experiment, spec["tests"][task], data), spec["centre"],
                        half_window, (shift or {}).get(task, 0))
             for task in ("alpha", "beta")]
    return infer_bias(rates)
