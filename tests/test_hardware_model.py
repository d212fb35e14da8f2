"""The hardware model of the 2+1-edge circuit (models/dillavou_hardware.toml, runs/hardware_exp*.toml)
against the authors' measurements (data/hardware/dillavou2025): its solution lines against the
measured drift directions, and exp1's Ē at a short and a mid period against the measured points.
Nothing in the model is fitted to these data (docs/hardware.md, "The hardware model")."""
import copy
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq

from tdsim.analysis.stats import combined_error
from tdsim.analysis.theory import BiasTheory
from tdsim.io.spec import read
from tdsim.runs.jobs import load_run, run_from_dict
from tdsim.runs.store import open_run
from tdsim.runs.sweep import apply_point, load_sweep
from tdsim.studies.dillavou_hardware import EXPERIMENTS, drift_rate, load_curve, load_drift_test

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs"


# ---- the set-up is the hardware's -----------------------------------------------------------------
def test_hardware_wiring_and_values():
    """G1 joins O to V-, G2 to V+, both learn; V1 reaches O through a fixed 500 Ohm resistor; the
    rails are the notebook's; A_exp = 2 A0(C1) for Fig. 2 and 1.5 A0(C2) for Fig. 3."""
    for name, a0 in (("dillavou_hardware", 2 / (0.33 * 100 * 22e-6)), ("dillavou_hardware_fig3", 1.5 / (0.33 * 1e3 * 2.2e-6))):
        c = load_run(RUNS / ("hardware_exp1.toml" if name == "dillavou_hardware" else "hardware_exp3.toml")).circuit
        edges = {e.name: e for e in c.edges}
        assert {frozenset((e.a, e.b)) for n, e in edges.items() if getattr(e.element, "learn", False)} == \
            {frozenset(("V-", "O")), frozenset(("V+", "O"))}
        assert (edges["G1"].a, edges["G2"].a) == ("V-", "V+")
        fixed = edges["fixed"]
        assert {fixed.a, fixed.b} == {"V1", "O"} and fixed.element.kind == "resistor" and fixed.element.R == 500.0
        assert edges["G1"].element.S == pytest.approx(8.5e-4) and edges["G1"].element.VT == 0.7
        assert c.A0 == pytest.approx(a0, rel=2e-3)          # the toml rounds to 4 digits
    src = {s["node"]: s["value"] for s in read(ROOT / "models" / "dillavou_hardware.toml")["sources"]}
    assert src == {"V1": "0.4351 V", "V+": "0.4351 V", "V-": "0.0181 V"}


@pytest.mark.parametrize("exp", ["exp1", "exp2", "exp3"])
def test_sweeps_run_at_the_measured_periods(exp):
    """Each sweep holds exactly the measured periods, and its run carries App. E's bias for the pair."""
    spec = load_sweep(ROOT / "sweeps" / f"hardware_{exp}.toml")
    taus = [float(p["parameters.tau"].split()[0]) for p in spec.points]
    np.testing.assert_allclose(taus, load_curve(exp, "E").tau, rtol=1e-12)
    B = load_run(RUNS / f"hardware_{exp}.toml").imperfections.bias
    paper = {"exp1": (2.97, 4.41), "exp2": (-0.16, 1.98), "exp3": (-1.79, 0.68)}[exp]
    assert (B["G1"], B["G2"]) == pytest.approx(paper)


def test_job_work_is_one_period_times_repeat():
    """A sweep orders its points by their scheduled time; for exp3 at 63 s (630 000 holds per
    period, 200 000 periods) that must not unroll the run."""
    spec = load_sweep(ROOT / "sweeps" / "hardware_exp3.toml")
    point = max(spec.points, key=lambda p: float(p["parameters.tau"].split()[0]))
    t0 = time.perf_counter()
    job = run_from_dict(apply_point(spec.base, point, spec.base_dir), spec.base_dir)
    assert job.work == pytest.approx(200000 * 63.3956, rel=1e-9)
    assert time.perf_counter() - t0 < 10.0


# ---- solution lines against the measured drift directions ----------------------------------------
def _theory(spec_path):
    return BiasTheory(load_run(spec_path), solution="joint", center=(3.0, 3.5))


def _line_angle(theory, task: int, g1: float, h: float = 0.05) -> float:
    """Direction (deg) in the (G1, G2) plane of task ``task``'s solution line (settled free output
    = label) at G1 = g1, from the model's own free network."""
    def g2(x):
        def resid(y):
            th = theory.theta.copy()
            th[theory.idx] = (x, y)
            d, L = theory.meter.outputs(th, task)
            return float((d - L)[0, 0])
        return brentq(resid, 0.5, 15.0)
    return float(np.degrees(np.arctan2(g2(g1 + h) - g2(g1 - h), 2 * h)))


def _measured(exp, task):
    """The measured drift direction at App. E's point (deg), and the chord of the whole drift (deg)."""
    test = load_drift_test(exp, EXPERIMENTS[exp]["tests"][task])
    r = drift_rate(test, EXPERIMENTS[exp]["centre"])
    moving = [i for i in range(2, test.t.size - 1)
              if np.linalg.norm(test.G[i + 1] - test.G[i - 1]) / (test.t[i + 1] - test.t[i - 1]) > 0.5]
    chord = test.G[moving[-1]] - test.G[moving[0]]
    return (float(np.degrees(np.arctan2(r.rate[1], r.rate[0]))), float(np.degrees(np.arctan2(chord[1], chord[0]))),
            float(r.G[0]))


def _old_wiring_spec(tmp_path):
    """runs/hardware_exp1.toml on the old model (models/two_plus_one.toml: G1 on V1 learns)."""
    d = read(RUNS / "hardware_exp1.toml")
    d["model"] = str(ROOT / "models" / "two_plus_one.toml")
    d["protocol"] = str(ROOT / "protocols" / "hardware_exp1.toml")
    return run_from_dict(d, RUNS)


@pytest.mark.parametrize("exp", ["exp1", "exp2"])
def test_solution_lines_tell_the_tasks_apart(exp, tmp_path):
    """Each model line points within half the angle between the two measured lines of its measured
    drift: closer to its own task's track than to the other's (44 deg apart in exp1, 31 in exp2), the
    resolution at which the model identifies the tasks. The old wiring fails it: its alpha line keeps
    G1 + G2 fixed (slope -1: 66 deg from the measured +69 deg even modulo 180)."""
    th = _theory(RUNS / f"hardware_{exp}.toml")
    meas = {t: _measured(exp, t) for t in ("alpha", "beta")}
    half = abs(meas["alpha"][0] - meas["beta"][0]) / 2
    for k, task in enumerate(("alpha", "beta")):
        local, _, g1 = meas[task]
        assert abs(_line_angle(th, k, g1) - local) < half, (task, _line_angle(th, k, g1), local)
    if exp == "exp1":
        old = BiasTheory(_old_wiring_spec(tmp_path), solution="joint", center=(3.0, 3.5))
        a = _line_angle(old, 0, meas["alpha"][2])
        assert min(abs(a - meas["alpha"][0]), abs(a + 180 - meas["alpha"][0])) > half


# Measured (this model): exp1 alpha 66.80 vs 69.34 deg, beta 22.44 vs 25.00; exp2 alpha 66.80 vs 68.74,
# beta 32.41 vs 37.52. Eq. 2's slope is (L - V-)/(V+ - L) whatever S, V_T and the fixed edge are.
GAPS = {("exp1", "alpha"): 2.5, ("exp1", "beta"): 2.6, ("exp2", "alpha"): 1.9, ("exp2", "beta"): 5.1}


@pytest.mark.parametrize("exp,task", list(GAPS), ids=lambda v: v)
@pytest.mark.xfail(strict=True, raises=AssertionError, reason="Eq. 2's lines run 1.9-5.1 deg below the measured drift (all four the same "
                                       "way; slope 12-17 % low), beyond the measurement's own 0.2-1.9 deg; "
                                       "docs/results/hardware.md")
def test_solution_lines_match_the_measured_drift(exp, task):
    """Tolerance, per track: the measurement's own ambiguity in the line's direction (the rate at
    App. E's point against the chord of the whole drift: 0.2-1.9 deg) plus what App. C's 1 mV
    free/clamped discrepancy moves a line (d slope / dL = (V+ - V-)/(V+ - L)^2: 0.3 deg)."""
    th = _theory(RUNS / f"hardware_{exp}.toml")
    local, chord, g1 = _measured(exp, task)
    tol = abs(local - chord) + 0.3
    assert abs(_line_angle(th, ("alpha", "beta").index(task), g1) - local) < tol


# ---- exp1's Ē at a short and a mid period --------------------------------------------------------
_RATIO = {}


def _ratio(tau: str, tmp_path) -> float:
    """tdsim's Ē over the measured one for exp1 at period ``tau``, run to its limit cycle (cached)."""
    if tau not in _RATIO:
        from tdsim.model.units import quantity
        d = copy.deepcopy(read(RUNS / "hardware_exp1.toml"))
        d["parameters"]["tau"] = tau
        path, result = run_from_dict(d, RUNS).run(tmp_path / "run.zarr", progress=False)
        assert result.stats["converged"]
        E = load_curve("exp1", "E")
        t = quantity(tau, "time", "tau")
        _RATIO[tau] = combined_error(open_run(path)) / float(E.value[np.argmin(abs(E.tau - t))])
    return _RATIO[tau]


# The measured scatter: exp1's four points at 0.6-2 ms, where Ē is flat (theory and data), spread
# by 1.3 % (sample standard deviation / mean); three of it is 4 %, so a prediction within a factor
# 1.05 is one the measurement cannot tell from the hardware.
FACTOR = 1.05
RATIOS = {"2 ms": 1.51, "20 ms": 1.27}       # tdsim / measured now (docs/results/hardware.md)


@pytest.mark.parametrize("tau", list(RATIOS))
def test_exp1_E_bar_gap_is_the_documented_one(tau, tmp_path):
    """The gap the docs report (to 0.03) is the gap the model has: a change of the model shows."""
    assert _ratio(tau, tmp_path) == pytest.approx(RATIOS[tau], abs=0.03)


@pytest.mark.parametrize("tau", list(RATIOS))
@pytest.mark.xfail(strict=True, raises=AssertionError, reason="tdsim's Ē is above the measured: 1.51x at 2 ms (the low plateau, "
                                       "6.9e-5 vs 4.6e-5 V^2) and 1.27x at 20 ms; docs/results/hardware.md")
def test_exp1_E_bar_within_the_measured_scatter(tau, tmp_path):
    assert 1 / FACTOR < _ratio(tau, tmp_path) < FACTOR


def test_exp1_measured_scatter_is_what_the_tolerance_says():
    E = load_curve("exp1", "E")
    low = E.value[E.tau <= 2e-3]
    assert len(low) == 4 and np.std(low, ddof=1) / np.mean(low) == pytest.approx(0.013, abs=0.002)
