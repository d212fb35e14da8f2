"""Reuse of the Rosenbrock matrix W = C − γhJ across steps (Options.w_reuse): ROS34PW2 and ROS2 are
W-methods, so a stale W keeps their order; checked against an independent solve_ivp reference on
a nonlinear MOSFET network, plus accuracy under step control and exact resumption."""
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from tdsim import Circuit, Mosfet, Options, Segment

from tdsim import build

from tdsim import simulate
from tdsim.model.library import clln_lattice
from tdsim.compile.table import table

S, VT, W, GOFF = 8e-4, 0.7, 1e-3, 1e-12           # Mosfet defaults (tdsim/elements.py)


def mosfet_ladder(n=4, C=1e-9):
    """s1 - n0 - ... - n(n-1) - s2 through MOSFETs with fixed gates, a cross link and a leak to
    ground: a small stiff nonlinear network (K depends on the node voltages through V̄)."""
    c = Circuit(capacitance=C)
    c.add_voltage_source("s1", 0.0).add_voltage_source("s2", 0.0)
    names = [f"n{i}" for i in range(n)]
    for i, name in enumerate(names):
        c.add_node(name, C * (1.0 + 0.3 * i))
    chain = ["s1", *names, "s2"]
    gates = [2.0, 2.4, 1.9, 2.7, 2.2, 2.5, 2.1][: len(chain) - 1]
    for i in range(len(chain) - 1):
        c.add_edge(f"m{i}", chain[i], chain[i + 1], Mosfet(G=gates[i], learn=False))
    c.add_edge("x", names[0], names[2], Mosfet(G=2.3, learn=False))
    c.add_edge("g", names[1], "gnd", Mosfet(G=1.6, learn=False))
    return c


def reference(c, src, T):
    """solve_ivp (Radau, rtol 1e-12) on C dV/dt = Σ K(V) ΔV, the MOSFET law written out here:
    K = S w softplus((G − V_T − V̄)/w) + g_off (Dillavou Eq. 2, smoothed)."""
    free = [n for n in c.nodes if n not in src and n != "gnd"]
    idx = {n: i for i, n in enumerate(free)}
    cap = np.array([c.nodes[n] for n in free])

    def rhs(_t, v):
        V = dict(src, gnd=0.0)
        V.update(zip(free, v))
        dv = np.zeros(len(free))
        for e in c.edges:
            x = (e.element.G - VT - 0.5 * (V[e.a] + V[e.b])) / W
            k = S * W * np.logaddexp(0.0, x) + GOFF
            i = k * (V[e.a] - V[e.b])             # a -> b
            if e.a in idx:
                dv[idx[e.a]] -= i
            if e.b in idx:
                dv[idx[e.b]] += i
        return dv / cap

    sol = solve_ivp(rhs, (0.0, T), np.zeros(len(free)), method="Radau", rtol=1e-12, atol=1e-15)
    return free, sol.y[:, -1]


@pytest.mark.parametrize("integrator, order", [("rosenbrock", 3), ("ros2", 2)])
def test_stale_w_keeps_the_order(integrator, order):
    """Fixed steps with one W for the whole run (factored at V = 0, far from the later state):
    the error still falls at the method's order (a W-method's order holds for any W)."""
    circ = mosfet_ladder()
    comp = build(circ, twins=("free",))
    src = {"s1": 0.6, "s2": 0.1}
    T = 1e-6
    free, ref = reference(circ, src, T)
    cols = [comp.node_names.index(n) for n in free]
    tab = table([Segment(T, src)], comp)
    # steps in the asymptotic range (measured slopes 2.93 / 2.92 fresh / stale for ROS34PW2)
    hs = [1e-7, 5e-8, 2.5e-8, 1.25e-8] if order == 3 else [5e-8, 2.5e-8, 1.25e-8, 6.25e-9]
    errs = {}
    for reuse in (1, 10**6):
        e = []
        for h in hs:
            tr = simulate(comp, tab, Options(integrator=integrator, initial="zero", dt=h, w_reuse=reuse))
            assert tr.stats["factorizations"] == (1 if reuse > 1 else round(T / h))
            e.append(np.max(np.abs(tr.event_V[-1, 0, cols] - ref)))
        errs[reuse] = e
        slope = np.polyfit(np.log(hs), np.log(e), 1)[0]
        assert abs(slope - order) < 0.3, (reuse, slope, e)
    # the stale W changes the answer (it is used), by less than the error itself at these steps
    assert errs[1] != errs[10**6]


def clln_errors(reuse, tol):
    comp = build(clln_lattice(4, 4), ("free", "clamped"))
    x4 = [(0.1, 0.1), (0.3, 0.1), (0.1, 0.3), (0.3, 0.3)]
    segs = [Segment(1e-4, {"V1": v1, "V2": v2}, {"O+": 0.15 + 0.3 * v1 + 0.1 * v2, "O-": 0.15 + 0.1 * v1 + 0.3 * v2},
                    1.0, True) for v1, v2 in x4 * 5]
    tab = table(segs, comp)
    ref = simulate(comp, tab, Options(integrator="explicit", rtol=1e-10, atol=1e-12))
    tr = simulate(comp, tab, Options(integrator="rosenbrock", w_reuse=reuse, **tol))
    return np.abs(tr.event_theta - ref.event_theta)[:, comp.learn].max(), tr.stats


def test_step_control_with_w_reuse_on_the_clln():
    """Twin CLLN 4x4, 20 data points of 100 µs, learning on: with W reused the gate error against a
    tight explicit reference stays at the fresh-W level (measured 1.2e-8 vs 1.4e-8 V at rtol 1e-6;
    the bound allows for a different step sequence),
    while far fewer factorizations are made."""
    tol = dict(rtol=1e-6, atol=1e-9)
    e1, s1 = clln_errors(1, tol)
    e16, s16 = clln_errors(16, tol)
    assert e16 < 2.0 * e1 + 1e-9 and e16 < 2e-7, (e1, e16)
    assert s16["factorizations"] < 0.5 * s1["factorizations"]


def test_resume_is_exact_with_w_reuse():
    """A held W is dropped at every recorded sample, where a full buffer may end a call: a run
    flushed every 7 samples equals one uninterrupted run bit for bit."""
    comp = build(mosfet_ladder(), twins=("free",))
    tab = table([Segment(2e-6, {"s1": 0.6, "s2": 0.1}), Segment(2e-6, {"s1": 0.2, "s2": 0.5})], comp)
    runs = [simulate(comp, tab, Options(integrator="rosenbrock", initial="zero", w_reuse=16, record_interval=5e-8,
                                        chunk=k)) for k in (7, 4096)]
    np.testing.assert_array_equal(runs[0].V, runs[1].V)
    assert runs[0].stats == runs[1].stats


def test_w_reuse_in_a_run_spec_and_validation():
    from pathlib import Path

    from tdsim.errors import SpecError
    from tdsim.simulation.simulate import w_reuse
    from tdsim.runs.jobs import run_from_dict
    root = Path(__file__).resolve().parent.parent
    sched = {"segments": [{"duration": "1 ms", "sources": {"V1": "0.4 V"}}]}
    base = {"model": str(root / "models" / "two_plus_one.toml"), "schedule": sched}
    assert run_from_dict({**base, "simulation": {"w_reuse": 8}}, root).options.w_reuse == 8
    for bad in (0, 2.5):
        with pytest.raises(SpecError) as exc:
            run_from_dict({**base, "simulation": {"w_reuse": bad}}, root)
        assert exc.value.key == "w_reuse"
    # auto: off where the LU is trivial (one unknown node), on for a 10x20 lattice
    small = build(run_from_dict(base, root).circuit, ("free",))
    assert w_reuse(small, Options()) == 1 and w_reuse(small, Options(w_reuse=4)) == 4
    assert w_reuse(build(clln_lattice(10, 20), ("free",)), Options()) > 1
