"""Twin learning: quasi-static and full-RC runs agree when RC << segment, and the gap shrinks
with RC/segment (the settling transient after each task switch is the only difference)."""
import numpy as np

from tdsim import Options

from tdsim import build

from tdsim import simulate
from tdsim.compile.table import table

from helpers import two_plus_one, two_task_segments


def gate_gap(capacitance, half=2e-3, periods=3):
    comp = build(two_plus_one(capacitance=capacitance))
    tab = table(two_task_segments(half, periods), comp)
    qs = simulate(comp, tab, Options(integrator="quasistatic", rtol=1e-10, atol=1e-12))
    rc = simulate(comp, tab, Options(integrator="explicit", rtol=1e-9, atol=1e-12))
    excursion = np.ptp(qs.event_theta[:, :2], axis=0).max()
    return np.max(np.abs(qs.event_theta[:, :2] - rc.event_theta[:, :2])) / excursion


def test_quasistatic_and_full_rc_agree_and_gap_shrinks_with_rc():
    # RC ~ C / (3 K), K ~ 2 mS: 1 nF -> ~0.2 µs, i.e. RC/segment ~ 1e-4 .. 1e-6 for these caps
    gaps = [gate_gap(c) for c in (1e-8, 1e-9, 1e-10)]
    assert gaps[-1] < 1e-4          # agreement when RC/segment ~ 1e-5
    # the settling transient contributes ∝ RC: each tenfold smaller C shrinks the gap ~tenfold
    assert gaps[0] > 5 * gaps[1] > 25 * gaps[2], gaps


def test_clamped_output_follows_free_output_at_every_instant():
    """O_C = O_F + η (L - O_F) (Dillavou Eq. 1), checked on every recorded sample."""
    comp = build(two_plus_one())
    tab = table(two_task_segments(1e-3, 1, eta=0.5), comp)
    tr = simulate(comp, tab, Options(integrator="rosenbrock", record_interval=1e-5, rtol=1e-6, atol=1e-9))
    o = comp.node_names.index("O")
    seg = np.searchsorted(tab.t_end, tr.t, side="left").clip(max=len(tab.t_end) - 1)
    label = tab.labels[seg, 0]
    of = tr.V[:, 0, o]
    assert np.allclose(tr.V[:, 1, o], of + 0.5 * (label - of), atol=1e-15, rtol=0)


def test_twin_mismatch_is_seeded_and_perturbs_only_nudged_twins():
    mm = {"S": 0.02, "VT": 1e-3, "capacitance": 0.05}
    a = build(two_plus_one(), imperfections=mm, seed=4)
    b = build(two_plus_one(), imperfections=mm, seed=4)
    c = build(two_plus_one(), imperfections=mm, seed=5)
    assert np.array_equal(a.par, b.par) and not np.array_equal(a.par, c.par)
    assert np.array_equal(a.par[0], build(two_plus_one()).par[0])   # free twin untouched
    rel = a.par[1, :, 0] / a.par[0, :, 0] - 1
    assert np.all(np.abs(rel) < 5 * 0.02) and np.any(rel != 0)


def test_same_spec_same_result():
    comp = build(two_plus_one())
    tab = table(two_task_segments(1e-3, 2), comp)
    r1 = simulate(comp, tab, Options(integrator="rosenbrock", rtol=1e-5))
    r2 = simulate(comp, tab, Options(integrator="rosenbrock", rtol=1e-5))
    assert np.array_equal(r1.event_theta, r2.event_theta) and np.array_equal(r1.event_V, r2.event_V)
