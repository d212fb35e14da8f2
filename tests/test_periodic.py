"""Periodic segment tables: one period plus a repeat count must run bit for bit like the unrolled
table (one row per segment of the whole run, built as protocols did before), with every
integrator, noise streams, overclamping passes, limit-cycle stops and resume from a mid-run state;
and a long protocol must stay small (Dillavou Fig. 3 at τ = 50 s, 1500 periods)."""
from pathlib import Path

import numpy as np
import pytest

from tdsim import Options, Segment, SpecError

from tdsim import build

from tdsim import simulate
from tdsim.core.records import I_NEWSEG, I_SEG
from tdsim.model.imperfections import Imperfections
from tdsim.model.library import clln_hardware, ring_task
from tdsim.model.protocols import Cycling, DataPoint, Nudge, Task, TwoTask
from tdsim.model.schedule import Schedule
from tdsim.compile.table import table

from helpers import two_plus_one

ROOT = Path(__file__).resolve().parent.parent
# Dillavou Fig. 3 (App. B): task α two points, task β one point
ALPHA = Task("alpha", [DataPoint({"V1": 0.02}, {"O": 0.143}), DataPoint({"V1": 0.435}, {"O": 0.268})])
BETA = Task("beta", [DataPoint({"V1": 0.02}, {"O": 0.156})])
FIELDS = ("t", "V", "theta", "event_t", "event_seg", "event_V", "event_theta")


def unrolled(schedule: Schedule) -> list:
    """The whole run as one list of distinct segments, as the protocols built it before."""
    return [Segment(**vars(s)) for _ in range(schedule.repeat) for s in schedule.segments]


def assert_identical(a, b):
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.stats == b.stats


def fig3(integrator, periods=4, tau=1.05e-3, **opt):
    comp = build(two_plus_one(), imperfections=Imperfections(bias={"G1": -1.79, "G2": 0.68}, noise_update=2e-3,
                                                             noise_read=1e-3), seed=7)
    sched = TwoTask(ALPHA, BETA, tau=tau, t_h=1e-4, periods=periods).segments()
    return comp, sched, Options(integrator=integrator, rtol=1e-7, atol=1e-10, **opt)


@pytest.mark.parametrize("integrator", ["explicit", "rosenbrock", "quasistatic"])
def test_two_task_with_noise_is_bit_identical_to_the_unrolled_table(integrator):
    comp, sched, opt = fig3(integrator, record_interval=2e-4)
    tab = table(sched, comp)
    assert len(tab.dur) == len(sched.segments) == 7 and tab.repeat == 4    # 5 + ¼ holds of α, one of β
    ref = simulate(comp, table(unrolled(sched), comp), opt)
    per = simulate(comp, tab, opt)
    assert_identical(per, ref)
    # the global segment counter indexes the events: two records per period, at the half-period ends
    np.testing.assert_array_equal(per.event_seg, [p * 7 + k for p in range(4) for k in (5, 6)])


def test_limit_cycle_stop_is_identical():
    """The biased Fig. 3 pair reaches its limit cycle after ~74 of 300 periods (τ = 20 ms)."""
    comp = build(two_plus_one(), imperfections=Imperfections(bias={"G1": -1.79, "G2": 0.68}))
    sched = TwoTask(ALPHA, BETA, tau=20e-3, t_h=1e-4, periods=300).segments()
    opt = Options(integrator="quasistatic", rtol=1e-7, atol=1e-10, cycle_tol=1e-9)
    ref = simulate(comp, table(unrolled(sched), comp), opt)
    per = simulate(comp, table(sched, comp), opt)
    assert per.stats["converged"] and 2 < per.stats["periods"] < 300
    assert_identical(per, ref)


def test_overclamp_cycling_is_identical():
    """Overclamping: step times r0|δ| from the settled output, r0 rescaled at every pass end,
    correctly classified points skipped — all keyed to the period's rows."""
    comp = build(clln_hardware())
    prot = Cycling(ring_task(0.083, 0), t_h=25e-6, passes=12, nudge=Nudge("overclamp", 0.25, 0.435),
                   differential=[("O+", "O-")])
    sched = prot.segments()
    opt = Options(integrator="quasistatic", r0=1e-3)
    ref = simulate(comp, table(unrolled(sched), comp, differential=prot.differential), opt)
    per = simulate(comp, table(sched, comp, differential=prot.differential), opt)
    assert per.stats["r0"] != 1e-3                   # the pass-time rule acted
    assert_identical(per, ref)


def test_resume_mid_segment_in_a_later_period_is_identical():
    comp, sched, opt = fig3("rosenbrock", periods=5, record_interval=1e-4, chunk=7)
    ref = simulate(comp, table(unrolled(sched), comp), opt)
    tab = table(sched, comp)
    states = []
    simulate(comp, tab, opt, on_chunk=lambda *a: states.append(a[-1].copy()))
    P = len(sched.segments)
    mid = [s for s in states if s.istate[I_SEG] >= 2 * P + 1 and s.istate[I_NEWSEG] == 0][0]
    res = simulate(comp, tab, opt, state=mid)         # read noise is redrawn for the open segment
    n, m = len(res.t), len(res.event_t)
    assert 0 < n < len(ref.t) and 0 < m < len(ref.event_t)
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(res, name), getattr(ref, name)[-(m if "event" in name else n):],
                                      err_msg=name)
    np.testing.assert_array_equal(res.state.theta, ref.state.theta)


def test_schedule_reads_as_the_unrolled_sequence():
    one = TwoTask(ALPHA, BETA, tau=1.05e-3, t_h=1e-4).segments().segments
    s = Schedule(one, 3)
    flat = one * 3
    assert len(s) == 21 and list(s) == flat and s[:9] == flat[:9] and s[-1] is flat[-1] and s[15] is flat[15]
    with pytest.raises(IndexError):
        s[21]
    with pytest.raises(SpecError) as e:
        Schedule(one, 0)
    assert e.value.key == "repeat"


def test_fig3_at_50_s_is_one_period_of_shared_holds():
    """375 million segments as ~250 000 list entries over four Segment objects; the sweep that
    contains that point validates all its points."""
    from tdsim.runs.sweep import load_sweep, point_spec
    from tdsim.model.units import quantity
    sweep = load_sweep(ROOT / "sweeps" / "fig3_tau_sweep.toml")
    taus = [quantity(p["parameters.tau"], "time", "tau") for p in sweep.points]
    spec = point_spec(sweep, sweep.points[int(np.argmax(taus))])
    sched = spec.segments
    S = len(sched.segments)              # τ/2 over t_h = 100 µs holds of α (the last one cut), one of β
    assert sched.repeat == 1500 and abs(S - 250_001) <= 1
    assert len({id(s) for s in sched.segments}) == 4
    tab = table(sched, build(spec.circuit))
    assert tab.segments == S * 1500 and len(tab.dur) == S
    dur = np.array([s.duration for s in sched.segments])
    assert dur[:-1].sum() == pytest.approx(25.0, rel=1e-12) and dur[-1] == pytest.approx(25.0)   # τ/2 each
    assert tab.duration == pytest.approx(50.0 * 1500, rel=1e-12)
    np.testing.assert_array_equal(tab.dur, dur)
    np.testing.assert_array_equal(np.flatnonzero(tab.record), [S - 2, S - 1])     # the half-period ends
    with pytest.raises(SpecError, match="too many to unroll"):
        tab.t_end


def test_spice_export_unrolls_and_refuses_long_schedules():
    from tdsim.io.spice import MAX_SEGMENTS, netlist
    comp = build(two_plus_one())
    sched = TwoTask(ALPHA, BETA, tau=1.05e-3, t_h=1e-4, periods=3).segments()
    assert netlist(comp, table(sched, comp), tstep=1e-6) == netlist(comp, table(unrolled(sched), comp), tstep=1e-6)
    with pytest.raises(SpecError) as e:
        netlist(comp, table(Schedule(sched.segments, MAX_SEGMENTS), comp), tstep=1e-6)
    assert e.value.key == "export-spice" and "periods" in str(e.value)
