"""Integrators against analytic solutions: exponential charging, DC Laplacian solves, and the
convergence order against the matrix-exponential solution of a linear RC network."""
import functools

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg

from tdsim import Circuit, Options, Resistor, Segment

from tdsim import build

from tdsim import simulate
from tdsim.compile.table import table

from helpers import rc_ladder


def single_rc(R=1e3, C=1e-9):
    c = Circuit()
    c.add_node("out", C).add_voltage_source("in", 0.0).add_edge("r", "in", "out", Resistor(R))
    return c


@pytest.mark.parametrize("integrator, rtol", [("explicit", 1e-10), ("rosenbrock", 1e-10), ("ros2", 1e-10),
                                              ("rodas4", 1e-10)])
def test_rc_charging_matches_exponential(integrator, rtol):
    R, C = 1e3, 1e-9
    comp = build(single_rc(R, C), twins=("free",))
    tab = table([Segment(5 * R * C, {"in": 1.0})], comp)
    tr = simulate(comp, tab, Options(integrator=integrator, initial="zero", rtol=rtol, atol=1e-13,
                                     record_interval=R * C / 20))
    v = tr.V[:, 0, comp.node_names.index("out")]
    exact = 1.0 - np.exp(-tr.t / (R * C))
    # relative to the step amplitude (1 V): the 1e-6 bound
    assert np.max(np.abs(v - exact)) <= 1e-6


def random_linear_network(n=50, seed=3):
    rng = np.random.default_rng(seed)
    c = Circuit(capacitance=1e-9)
    c.add_voltage_source("a", 1.0).add_voltage_source("b", -0.5)
    names = [f"n{i}" for i in range(n)]
    for name in names:
        c.add_node(name)
    k = 0
    for i in range(1, n):                       # random spanning tree keeps it connected
        j = int(rng.integers(0, i))
        c.add_edge(f"e{k}", names[i], names[j], Resistor(float(rng.uniform(1e2, 1e4)))); k += 1
    for _ in range(2 * n):
        i, j = rng.choice(n, 2, replace=False)
        c.add_edge(f"e{k}", names[i], names[j], Resistor(float(rng.uniform(1e2, 1e4)))); k += 1
    for src in ("a", "b", "gnd"):
        for i in rng.choice(n, 3, replace=False):
            c.add_edge(f"e{k}", src, names[i], Resistor(float(rng.uniform(1e2, 1e4)))); k += 1
    return c


def laplacian_solution(c):
    """Direct sparse solve of the node equations L_ff v_f = -L_fs v_s (independent of tdsim)."""
    held = {"gnd": 0.0, "a": 1.0, "b": -0.5}
    free = [n for n in c.nodes if n not in held]
    idx = {n: i for i, n in enumerate(free)}
    rows, cols, vals = [], [], []
    rhs = np.zeros(len(free))
    for e in c.edges:
        g = 1.0 / e.element.R
        for p, q in ((e.a, e.b), (e.b, e.a)):
            if p in idx:
                rows.append(idx[p]); cols.append(idx[p]); vals.append(g)
                if q in idx:
                    rows.append(idx[p]); cols.append(idx[q]); vals.append(-g)
                else:
                    rhs[idx[p]] += g * held[q]
    L = scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(len(free), len(free)))
    return dict(zip(free, scipy.sparse.linalg.spsolve(L, rhs)))


@pytest.mark.parametrize("integrator", ["quasistatic", "rosenbrock"])
def test_dc_steady_state_matches_sparse_laplacian(integrator):
    c = random_linear_network()
    ref = laplacian_solution(c)
    comp = build(c, twins=("free",))
    # rosenbrock: start from zero and relax for many RC times (the slowest mode here is < 1 ms)
    duration = 1e-3 if integrator == "quasistatic" else 0.2
    tab = table([Segment(duration)], comp)
    tr = simulate(comp, tab, Options(integrator=integrator, initial="zero", rtol=1e-8, atol=1e-13))
    v = tr.event_V[-1, 0]
    got = np.array([v[comp.node_names.index(n)] for n in ref])
    want = np.array(list(ref.values()))
    assert np.max(np.abs(got - want)) / np.max(np.abs(want)) <= 1e-9


def linear_rc_system(comp, src):
    """dV/dt = A V + b on the free nodes, assembled independently from the circuit."""
    c = comp.circuit
    free = [n for n in range(comp.N) if comp.hold[0, n] == 0]
    idx = {n: i for i, n in enumerate(free)}
    A = np.zeros((len(free), len(free)))
    b = np.zeros(len(free))
    held = {comp.node_names.index(n): src[j] for j, n in enumerate(comp.source_nodes)}
    held[0] = 0.0
    for e in range(comp.E):
        g = comp.par[0, e, 0]
        for p, q in ((comp.ea[e], comp.eb[e]), (comp.eb[e], comp.ea[e])):
            if p in idx:
                A[idx[p], idx[p]] -= g
                if q in idx:
                    A[idx[p], idx[q]] += g
                else:
                    b[idx[p]] += g * held[q]
    Cinv = 1.0 / comp.cap[0, free]
    return Cinv[:, None] * A, Cinv * b, free


@pytest.mark.parametrize("integrator, tableau, order", [("explicit", "dopri5", 5), ("explicit", "heun21", 2),
                                                       ("rosenbrock", "dopri5", 3), ("ros2", "dopri5", 2),
                                                       ("rodas4", "dopri5", 4)])
def test_convergence_order_against_expm(integrator, tableau, order):
    comp = build(rc_ladder(8), twins=("free",))
    src = np.array([1.0, -0.5])
    T = 2e-6
    A, b, free = linear_rc_system(comp, src)
    x_inf = -np.linalg.solve(A, b)
    exact = x_inf + scipy.linalg.expm(A * T) @ (0 - x_inf)
    tab = table([Segment(T, {"s1": 1.0, "s2": -0.5})], comp)
    hs, errs = [], []
    # step range: inside the stability region (explicit) and above round-off
    # (Heun's steps: inside its stability interval |hλ| < 2)
    steps = {"explicit": [1.2e-7, 8e-8, 6e-8, 4e-8], "rosenbrock": [1e-7, 5e-8, 2.5e-8, 1.25e-8],
             "ros2": [5e-8, 2.5e-8, 1.25e-8, 6.25e-9], "heun21": [8e-8, 4e-8, 2e-8, 1e-8],
             "rodas4": [2e-7, 1e-7, 5e-8, 2.5e-8]}[
        "heun21" if tableau == "heun21" else integrator]
    for h in steps:
        tr = simulate(comp, tab, Options(integrator=integrator, initial="zero", dt=h, tableau=tableau))
        errs.append(np.max(np.abs(tr.event_V[-1, 0, free] - exact)))
        hs.append(h)
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.3, (slope, errs)


@pytest.mark.parametrize("tableau, order", [("dopri5", 5), ("bs3", 3)])
def test_quasistatic_gate_integration_converges_at_the_pair_order(tableau, order):
    """Quasi-static mode integrates only the gates: self-convergence of the gate trajectory."""
    from helpers import two_plus_one, two_task_segments
    comp = build(two_plus_one(G=(2.0, 4.5, 3.0)))      # start far from the solution: gates move ~1 V
    tab = table(two_task_segments(5e-3, 1), comp)
    ref = simulate(comp, tab, Options(integrator="quasistatic", dt=2e-5)).event_theta[-1, :2]
    hs = [2.5e-3, 1.25e-3, 5e-4, 2.5e-4]             # DOPRI5 errors 5e-8 .. 3e-13: above round-off
    errs = [np.max(np.abs(simulate(comp, tab, Options(integrator="quasistatic", dt=h, tableau=tableau))
                          .event_theta[-1, :2] - ref)) for h in hs]
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.6, (slope, errs)


def _quasistatic_gate_reference(comp, tab):
    """θ at the end of ``tab`` by scipy's DOP853 at rtol 1e-12 on the quasi-static gate ODE
    dθ/dt = r(V(θ), θ), V(θ) the Kirchhoff solution (kirchhoff_solve) with each segment's sources,
    restarted at every segment boundary: an integrator independent of tdsim's."""
    from scipy.integrate import solve_ivp
    from tdsim.simulation import gate_rates
    from tdsim.simulation.probes import kirchhoff_solve
    learn = np.flatnonzero(comp.learn)
    theta = comp.theta0.astype(float).copy()
    t0 = 0.0
    for i, t1 in enumerate(tab.t_end):
        def rate(_t, g, i=i):
            th = theta.copy()
            th[learn] = g
            return gate_rates(comp, kirchhoff_solve(comp, th, tab, seg=i), th, bool(tab.learn[i]))[learn]
        sol = solve_ivp(rate, (t0, float(t1)), theta[learn], method="DOP853", rtol=1e-12, atol=1e-14)
        theta[learn] = sol.y[:, -1]
        t0 = float(t1)
    return theta


@functools.lru_cache(maxsize=1)
def _two_task_reference():
    from helpers import two_plus_one, two_task_segments
    comp = build(two_plus_one(G=(2.0, 4.5, 3.0)))      # start far from the solution: gates move ~1 V
    tab = table(two_task_segments(5e-3, 1), comp)
    return comp, tab, _quasistatic_gate_reference(comp, tab)[:2]


@pytest.mark.parametrize("tableau, order", [("bs3", 3), ("heun21", 2)])
def test_quasistatic_gate_order_against_solve_ivp(tableau, order):
    """Quasi-static gates with fixed steps against an independent tight reference (DOP853)."""
    comp, tab, ref = _two_task_reference()
    hs = [2.5e-3, 1.25e-3, 6.25e-4, 3.125e-4]
    errs = [np.max(np.abs(simulate(comp, tab, Options(integrator="quasistatic", dt=h, tableau=tableau))
                          .event_theta[-1, :2] - ref)) for h in hs]
    assert min(errs) > 1e-10, errs                      # the reference's own error stays far below
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.3, (slope, errs)


@pytest.mark.parametrize("integrator", ["explicit", "rosenbrock", "rodas4"])
def test_samples_at_chosen_times_match_the_exact_solution(integrator):
    """``save_at``: samples at irregular chosen times, across segment boundaries, independent of
    step control: the RC response to a step up then down, against its exact solution there."""
    R, C = 1e3, 1e-9
    tau = R * C
    comp = build(single_rc(R, C), twins=("free",))
    tab = table([Segment(3 * tau, {"in": 1.0}), Segment(4 * tau, {"in": 0.0})], comp)
    rng = np.random.default_rng(0)
    ts = np.sort(np.concatenate([rng.uniform(0, 7 * tau, 37), [0.0, 3 * tau, 7 * tau]]))
    tr = simulate(comp, tab, Options(integrator=integrator, initial="zero", rtol=1e-10, atol=1e-13,
                                     save_at=tuple(ts)))
    np.testing.assert_array_equal(tr.t, ts)                     # exactly the chosen times, no others
    v = tr.V[:, 0, comp.node_names.index("out")]
    exact = np.where(ts <= 3 * tau, 1.0 - np.exp(-ts / tau), (1 - np.exp(-3.0)) * np.exp(-(ts - 3 * tau) / tau))
    assert np.max(np.abs(v - exact)) <= 1e-6                    # as the record_interval test above
    chunked = simulate(comp, tab, Options(integrator=integrator, initial="zero", rtol=1e-10, atol=1e-13,
                                          save_at=tuple(ts), chunk=4))     # buffers fill, the loop resumes
    np.testing.assert_array_equal(chunked.t, tr.t)
    np.testing.assert_array_equal(chunked.V, tr.V)


def test_save_at_is_checked_and_read_from_a_spec():
    from tdsim import SpecError
    from tdsim.io.spec import options_from_dict
    with pytest.raises(SpecError, match="save_at"):
        Options(save_at=(1e-3, 5e-4)).validate()
    with pytest.raises(SpecError, match="save_at"):
        Options(save_at=(1e-3,), record_interval=1e-3).validate()
    opt = options_from_dict({"save_at": ["1 ms", "2.5 ms"]})
    assert opt.save_at == (1e-3, 2.5e-3)
    opt = options_from_dict({"save_at": {"start": "0 s", "stop": "1 ms", "num": 5}})
    np.testing.assert_allclose(opt.save_at, [0, 2.5e-4, 5e-4, 7.5e-4, 1e-3], rtol=1e-15)
    with pytest.raises(SpecError, match=r"simulation.save_at\[1\]"):
        options_from_dict({"save_at": ["1 ms", "2 V"]})
