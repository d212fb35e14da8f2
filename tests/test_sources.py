"""PULSE and PWL sources, switching ramps and a prologue: against the exact solution of a linear
RC circuit, numpy's interpolation, and ngspice."""
import shutil

import numpy as np
import pytest

from tdsim import Circuit, Mosfet, Options, Resistor, Segment, build, simulate
from tdsim.compile.table import table
from tdsim.core.kernels import knot_value, next_knot
from tdsim.errors import SpecError
from tdsim.model.schedule import PiecewiseLinear, Pulse, Schedule

R, C = 1e3, 1e-9
TAU = R * C


def single_rc():
    c = Circuit()
    c.add_node("out", C).add_voltage_source("in", 0.0).add_edge("r", "in", "out", Resistor(R))
    return build(c, twins=("free",))


def exact_rc(knots_t, knots_v, ts, v0=0.0):
    """The exact response of dV/dt = (u − V)/τ to a piecewise-linear u (held before the first and
    after the last knot), V(0) = v0: on a piece u = a + b s, V = u − bτ + (V0 − a + bτ) e^(−s/τ)."""
    edges = np.concatenate([[0.0], [t for t in knots_t if t > 0], [np.inf]])
    u = lambda t: np.interp(t, knots_t, knots_v)                      # noqa: E731
    out, v, t0 = np.empty(len(ts)), v0, 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        b = 0.0 if not np.isfinite(hi) else (u(hi) - u(lo)) / (hi - lo)
        a = u(lo)
        sel = (ts >= lo) & (ts <= hi)
        s = ts[sel] - lo
        out[sel] = a + b * s - b * TAU + (v - a + b * TAU) * np.exp(-s / TAU)
        if np.isfinite(hi):
            s = hi - lo
            v = a + b * s - b * TAU + (v - a + b * TAU) * np.exp(-s / TAU)
    return out


KT = (0.0, 1 * TAU, 2 * TAU, 2.5 * TAU, 4 * TAU)
KV = (0.0, 1.0, 1.0, -0.5, 0.3)


@pytest.mark.parametrize("integrator", ["explicit", "rosenbrock", "ros2", "rodas4"])
def test_pwl_source_drives_rc_as_the_exact_solution(integrator):
    """A PWL source across two segments (one waveform object, absolute time): every integrator
    within 1e-6 V of the exact response (as the step and sine tests), steps landing on the knots."""
    comp = single_rc()
    w = PiecewiseLinear(KT, KV)
    tab = table([Segment(2.2 * TAU, waveforms={"in": w}), Segment(3.8 * TAU, waveforms={"in": w})], comp)
    ts = np.linspace(0, 6 * TAU, 121)
    tr = simulate(comp, tab, Options(integrator=integrator, initial="zero", rtol=1e-10, atol=1e-13,
                                     save_at=tuple(ts)))
    v = tr.V[:, 0, comp.node_names.index("out")]
    assert np.max(np.abs(v - exact_rc(KT, KV, ts))) <= 1e-6


def test_quasistatic_follows_a_pwl_divider_exactly():
    """Quasi-static: no RC, the divider output is u(t)·R2/(R1+R2) at every chosen time."""
    c = Circuit()
    c.add_node("out", C).add_voltage_source("in", 0.0).add_edge("r1", "in", "out", Resistor(1e3))  # C unused
    c.add_edge("r2", "out", "gnd", Resistor(3e3))           # gnd: the circuit's ground
    comp = build(c, twins=("free",))
    w = Pulse(0.1, 0.9, delay=1e-6, rise=2e-6, fall=1e-6, width=3e-6, period=10e-6)
    tab = table([Segment(35e-6, waveforms={"in": w})], comp)
    ts = np.linspace(0, 35e-6, 351)
    tr = simulate(comp, tab, Options(integrator="quasistatic", save_at=tuple(ts)))
    t_k, v_k, rep = w.knots("w")
    per = t_k[-1] - t_k[rep]
    u = np.interp(np.where(ts > t_k[-1], t_k[rep] + (ts - t_k[rep]) % per, ts), t_k, v_k)
    np.testing.assert_allclose(tr.V[:, 0, comp.node_names.index("out")], 0.75 * u, atol=1e-12)


def test_pulse_knots_against_numpy_interp():
    """The compiled PULSE/PWL evaluation and its next-knot search against numpy on a random grid:
    PULSE(v1 v2 td tr tf pw per) repeats with its period after the delay (SPICE)."""
    w = Pulse(-0.2, 0.7, delay=3.0, rise=0.5, fall=0.25, width=1.0, period=4.0)
    t_k, v_k, rep = w.knots("w")
    assert rep == 0 and t_k[-1] - t_k[0] == 4.0
    ts = np.random.default_rng(1).uniform(0, 40, 2000)
    phase = np.where(ts > 3.0, 3.0 + (ts - 3.0) % 4.0, ts)
    ref = np.interp(phase, [0, 3.0, 3.5, 4.5, 4.75, 7.0], [-0.2, -0.2, 0.7, 0.7, -0.2, -0.2])
    got = np.array([knot_value(t_k, v_k, 0, len(t_k), rep, t) for t in ts])
    np.testing.assert_allclose(got, ref, atol=1e-12)
    corners = np.sort(np.concatenate([[3.0 + 4 * n + d for d in (0, 0.5, 1.5, 1.75)] for n in range(12)]))
    for t in ts[:200]:
        assert next_knot(t_k, 0, len(t_k), rep, t, t) == pytest.approx(corners[corners > t][0], abs=1e-12)


@pytest.mark.parametrize("integrator", ["rosenbrock", "rodas4", "explicit"])
def test_switching_ramp_equals_the_exact_ramped_response(integrator):
    """A segment with ``rise``: its sources ramp linearly from their values at the switch, the
    same as the PWL (3τ, 1) → (3.5τ, 0) under the exact solution; the first segment starts at its
    own values (no ramp at t = 0)."""
    comp = single_rc()
    tab = table([Segment(3 * TAU, {"in": 1.0}, rise=0.3 * TAU), Segment(4 * TAU, {"in": 0.0}, rise=0.5 * TAU)], comp)
    ts = np.linspace(0, 7 * TAU, 141)
    tr = simulate(comp, tab, Options(integrator=integrator, initial="zero", rtol=1e-10, atol=1e-13,
                                     save_at=tuple(ts)))
    v = tr.V[:, 0, comp.node_names.index("out")]
    ref = exact_rc((0.0, 3 * TAU, 3.5 * TAU), (1.0, 1.0, 0.0), ts)
    assert np.max(np.abs(v - ref)) <= 1e-6
    # resumed in the middle of a ramp (buffers of 3 samples): the same numbers
    chunked = simulate(comp, tab, Options(integrator=integrator, initial="zero", rtol=1e-10, atol=1e-13,
                                          save_at=tuple(ts), chunk=3))
    np.testing.assert_array_equal(chunked.V, tr.V)


def test_prologue_runs_once_before_the_periods():
    """A schedule with a prologue equals the same segments written out (bit for bit), and the
    periodic part repeats after it."""
    comp = single_rc()
    pro = [Segment(2 * TAU, {"in": 0.5})]
    per = [Segment(TAU, {"in": 1.0}), Segment(TAU, {"in": 0.0})]
    sched = Schedule(per, 3, pro)
    assert len(sched) == 7 and sched[0] is pro[0] and sched[1] is per[0] and sched[6] is per[1]
    tab = table(sched, comp)
    assert tab.segments == 7 and tab.duration == pytest.approx(8 * TAU)
    opt = Options(integrator="rosenbrock", initial="zero", rtol=1e-10, atol=1e-13, record_interval=TAU / 4)
    a = simulate(comp, tab, opt)
    b = simulate(comp, table(pro + per * 3, comp), opt)
    np.testing.assert_array_equal(a.t, b.t)
    np.testing.assert_array_equal(a.V, b.V)
    np.testing.assert_array_equal(a.event_seg, np.arange(7))


def test_bad_sources_are_refused_naming_the_field():
    comp = single_rc()
    with pytest.raises(SpecError, match=r"rise"):
        table([Segment(TAU, waveforms={"in": Pulse(0, 1, rise=0.0, fall=1e-9)})], comp)
    with pytest.raises(SpecError, match=r"period"):
        table([Segment(TAU, waveforms={"in": Pulse(0, 1, rise=1e-9, fall=1e-9, width=1e-6, period=1e-7)})], comp)
    with pytest.raises(SpecError, match=r"times"):
        table([Segment(TAU, waveforms={"in": PiecewiseLinear((0.0, 2e-9, 1e-9), (0, 1, 0))})], comp)
    with pytest.raises(SpecError, match=r"repeat"):
        table([Segment(TAU, waveforms={"in": PiecewiseLinear((0.0, 1e-9), (0, 1), repeat=5e-9)})], comp)
    with pytest.raises(SpecError, match=r"sources\.in"):
        table([Segment(TAU, {"in": 1.0}, waveforms={"in": PiecewiseLinear((0.0, 1e-9), (0, 1))})], comp)
    with pytest.raises(SpecError, match=r"segments\[0\]\.rise"):
        table([Segment(TAU, {"in": 1.0}, rise=-1.0)], comp)


# ---------------------------------------------------------------------------------------------
# ngspice: a learning MOSFET edge driven by a PULSE source, and by ramped switching

needs_ngspice = pytest.mark.skipif(shutil.which("ngspice") is None, reason="ngspice not installed")


def _learning_pair():
    c = Circuit(name="pulse_pair", A0=2.8e3)
    c.add_node("O", 1e-9)
    c.add_voltage_source("V1", 0.435)
    c.add_voltage_source("Vm", 0.02)
    c.add_edge("e1", "V1", "O", Mosfet(3.0, S=8e-4, VT=0.7, C0=2.2e-6))
    c.add_edge("e2", "Vm", "O", Mosfet(3.2, S=8e-4, VT=0.7, C0=2.2e-6, learn=False))
    c.add_output("O")
    return build(c, twins=("free", "clamped"))


@needs_ngspice
@pytest.mark.ngspice
@pytest.mark.parametrize("how", ["pulse", "ramp"])
def test_pulse_and_ramps_against_ngspice(how):
    """The gate and node trajectories under a PULSE input (exported as a PWL with r=) and under
    1 us switching ramps (exported as ramps from each boundary) agree with ngspice. Tolerance as
    the 2+1-edge ngspice test: 1e-4 of the gate's excursion."""
    from tdsim.io import spice
    comp = _learning_pair()
    if how == "pulse":
        w = Pulse(0.05, 0.435, delay=0.2e-3, rise=20e-6, fall=50e-6, width=0.4e-3, period=1e-3)
        segs = [Segment(1.5e-3, labels={"O": 0.25}, eta=1.0, learn=True, waveforms={"V1": w}),
                Segment(1.5e-3, labels={"O": 0.15}, eta=1.0, learn=True, waveforms={"V1": w})]
    else:
        segs = [Segment(1e-3, {"V1": 0.435 if i % 2 == 0 else 0.05}, {"O": 0.25 if i % 2 == 0 else 0.15}, 1.0,
                        True, rise=1e-6) for i in range(4)]
    tab = table(segs, comp)
    t = np.linspace(0, tab.duration, 301)
    traj = simulate(comp, tab, Options(integrator="rodas4", rtol=1e-8, atol=1e-11, save_at=tuple(t)))
    # ngspice converged: at a 1 us max step its gates were 2e-5 V off its own 0.1 us, reltol 1e-9 run
    # (and tdsim's 3e-7 V from it): the ramps need the finer step
    V_ng, th_ng = spice.ngspice_trajectory(comp, tab, t, tstep=1e-7, reltol=1e-8, tmax=1e-7)
    g = comp.learn
    exc = np.ptp(th_ng[:, g], axis=0)
    assert np.all(exc > 1e-3)                           # the gate learns
    diff = np.abs(traj.theta[:, g] - th_ng[:, g]).max(axis=0)
    print(f"{how}: max|dG| {diff} V of an excursion {exc} V")
    assert np.all(diff <= 1e-4 * exc)
    o = comp.node_names.index("O")
    assert np.abs(traj.V[:, 0, o] - V_ng[:, 0, o]).max() <= 1e-4


def test_runaway_stops_within_the_segment_where_it_happens():
    """in (1 V) —κ1— o —κ2— gnd, κ2 driven through zero by an update bias of −1000 S/s
    (at_zero = "cross"): V_o = κ1/(κ1 + κ2) = 1/(2 − 1000 t) passes the bound of 10x the sources
    at t = 1.9 ms. The run stops there (not at the end of its single 5 ms segment), names κ2,
    and keeps what it recorded up to then."""
    from tdsim import Conductance, SimulationError
    c = Circuit(capacitance=1e-9, A0=1.0)          # eta = 0: the clamped twin equals the free one
    c.add_voltage_source("in", 1.0).add_node("o").add_output("o")
    c.add_edge("k1", "in", "o", Conductance(1.0, learn=False))
    c.add_edge("k2", "o", "gnd", Conductance(1.0, at_zero="cross"), B=-1000.0)
    comp = build(c)
    tab = table([Segment(5e-3, {}, {"o": 0.0}, 0.0, True)], comp)
    with pytest.raises(SimulationError) as e:
        simulate(comp, tab, Options(record_interval=1e-5))
    assert 1.89e-3 < e.value.time < 1.91e-3, e.value.time
    assert "k2" in str(e.value)
    kept = e.value.trajectory
    assert kept.t[-1] <= e.value.time and kept.t[-1] > 1.85e-3


# ---------------------------------------------------------------------------------------------
# specs: PULSE/PWL and ramps in TOML, a prologue, and a custom schedule that keeps task errors

def _divider_model():
    import tomllib
    from pathlib import Path
    return tomllib.loads((Path(__file__).parents[1] / "models" / "voltage_divider.toml").read_text())


def test_custom_schedule_with_prologue_keeps_task_errors(tmp_path):
    """A ``[schedule]`` with a ``prologue`` (learning off, 2 ms), ``rise`` ramps, a PULSE source and
    ``[[schedule.tasks]]``: the store holds task errors at every event, equal to the task error
    E = (L − O)² (Dillavou Eq. A1, one point) of the settled free output at the recorded gates; the
    prologue runs once."""
    from tdsim import open_run
    from tdsim.runs.jobs import run_from_dict
    from tdsim.runs.runner import run_spec
    from tdsim.simulation.probes import kirchhoff_solve
    d = {"name": "divider", "model": _divider_model(), "twins": ["free", "clamped"],
         "schedule": {"repeat": 3,
                      "prologue": [{"duration": "2 ms", "sources": {"v": "0.5 V"}}],
                      "segments": [{"duration": "1 ms", "sources": {"v": "1 V"}, "labels": {"w": "0.3 V"},
                                    "eta": 1.0, "learn": True, "rise": "10 us"},
                                   {"duration": "1 ms", "labels": {"w": "0.3 V"}, "eta": 1.0, "learn": True,
                                    "waveforms": {"v": {"kind": "pulse", "v1": "0.2 V", "v2": "1 V", "delay": "0.1 ms",
                                                        "rise": "20 us", "fall": "20 us", "width": "0.2 ms",
                                                        "period": "0.5 ms"}}}],
                      "tasks": [{"name": "one", "points": [{"inputs": {"v": "1 V"}, "labels": {"w": "0.3 V"}}]}]},
         "simulation": {"integrator": "rodas4"}}
    job = run_from_dict(d, tmp_path)
    path, _ = run_spec(job, tmp_path / "x.zarr", progress=False)
    ds = open_run(path)
    assert ds.sizes["event"] == 7 and list(ds["event_segment"].values) == list(range(7))
    assert float(ds["event_time"][0]) == pytest.approx(2e-3) and float(ds["event_time"][-1]) == pytest.approx(8e-3)
    err = ds["event_task_error"].values[:, 0]
    th = ds["event_theta"].values
    comp = build(job.circuit, job.twins)
    np.testing.assert_array_equal(th[0], comp.theta0)         # the prologue does not learn
    probe = table([Segment(1.0, {"v": 1.0})], comp)
    w = comp.node_names.index("w")
    for k in (0, 3, 6):
        V = kirchhoff_solve(comp, th[k], probe)
        assert err[k] == pytest.approx((0.3 - V[0, w]) ** 2, rel=1e-9, abs=1e-15)
    assert err[6] < err[0]                                     # it learns the task


def test_protocol_rise_and_waveforms_from_toml():
    """A protocol's ``rise`` ramps every segment's sources; ``pwl`` and ``pulse`` waveforms read
    with units; bad fields are named."""
    from tdsim.io.spec import protocol_from_dict
    proto = {"kind": "cycling", "passes": 2, "t_h": "1 ms", "rise": "100 ns",
             "task": {"points": [{"inputs": {"v": "1 V"}, "labels": {"w": "0.3 V"}},
                                 {"inputs": {"v": "0.5 V"}, "labels": {"w": "0.2 V"}}]},
             "prologue": [{"duration": "1 ms", "sources": {"v": "0 V"}}]}
    sched = protocol_from_dict(proto).segments()
    assert len(sched.prologue) == 1 and len(sched) == 1 + 2 * 2
    assert all(s.rise == pytest.approx(1e-7) for s in sched.segments) and sched.prologue[0].rise == 0.0
    pw = protocol_from_dict({**proto, "waveforms": {"v": {"kind": "pwl", "times": ["0 s", "1 ms", "2 ms"],
                                                          "values": ["0 V", "1 V", "0 V"], "repeat": "0 s"}}})
    w = pw.segments().segments[0].waveforms["v"]
    assert isinstance(w, PiecewiseLinear) and w.times == (0.0, 1e-3, 2e-3) and w.repeat == 0.0
    for bad, needle in [({"rise": "-1 ms"}, "rise"), ({"rise": "1 V"}, "rise"),
                        ({"waveforms": {"v": {"kind": "pulse", "v1": "0 V", "v2": "1 V", "rise": "1 us"}}}, "fall"),
                        ({"waveforms": {"v": {"kind": "pwl", "times": ["0 s"], "values": []}}}, "values"),
                        ({"waveforms": {"v": {"kind": "pulse", "v1": "0 V", "v2": "1 V", "rise": "1 us",
                                              "fall": "1 us", "slope": 3}}}, "slope"),
                        ({"prologue": [{"sources": {"v": "1 V"}}]}, "prologue[0].duration")]:
        with pytest.raises(SpecError, match=needle.replace("[", r"\[").replace("]", r"\]")):
            protocol_from_dict({**proto, **bad}).segments()


@needs_ngspice
@pytest.mark.ngspice
def test_export_spice_prints_at_the_chosen_times(tmp_path):
    """A run spec's even ``save_at`` grid becomes ``.tran tstep tstop tstart`` with ``interp``:
    ngspice prints at exactly those times (to rounding) and its divider output there agrees with
    tdsim's samples (to 1e-5 V: ngspice at reltol 1e-7 over a 1 ms ramp); an irregular list has no
    SPICE form and is refused, naming the key."""
    from tdsim.io import spice
    from tdsim.runs.jobs import run_from_dict
    d = {"name": "divider", "model": _divider_model(), "twins": ["free", "clamped"],
         "schedule": {"segments": [{"duration": "1 ms", "sources": {"v": "1 V"}, "labels": {"w": "0.3 V"},
                                    "eta": 0.5, "learn": True},
                                   {"duration": "1 ms", "sources": {"v": "0.2 V"}, "labels": {"w": "0.1 V"},
                                    "eta": 0.5, "learn": True, "rise": "50 us"}]},
         "simulation": {"integrator": "rodas4", "rtol": 1e-9, "atol": "1 pV",
                        "save_at": {"start": "0.5 ms", "stop": "2 ms", "num": 16}}}
    job = run_from_dict(d, tmp_path)
    deck = job.netlist()
    assert " interp" in deck and ".tran 0.0001 0.002 0.0004 5e-06" in deck
    t_ng, vals = spice.run_ngspice(deck, ["time", "v(w_free)"])
    grid = np.linspace(0.5e-3, 2e-3, 16)
    np.testing.assert_allclose(t_ng[:16], grid, rtol=0, atol=1e-12)
    comp = build(job.circuit, job.twins)
    tr = simulate(comp, table(job.segments, comp), job.options)
    diff = np.abs(vals[:16, 1] - tr.V[:, 0, comp.node_names.index("w")]).max()
    print(f"save_at export: max|dV| {diff:.3g} V")
    assert diff <= 1e-5
    d["simulation"]["save_at"] = ["1 ms", "1.3 ms", "2 ms"]
    with pytest.raises(SpecError, match="save_at"):
        run_from_dict(d, tmp_path).netlist()
