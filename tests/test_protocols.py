"""Coupled-learning protocols against the behaviour Dillavou et al. report and derive:
fixed points without bias, biased limit cycles, incompatible tasks, hinge gating, overclamping."""
import numpy as np
import pytest

from tdsim import Options

from tdsim import build

from tdsim import simulate
from tdsim.model.imperfections import Imperfections
from tdsim.model.library import clln_hardware, ring_task
from tdsim.simulation.measure import TaskMeter
from tdsim.model.protocols import Cycling, DataPoint, Nudge, Task, TwoTask
from tdsim.compile.table import table

from helpers import two_plus_one

ALPHA = Task("alpha", [DataPoint({"V1": 0.435}, {"O": 0.31})])       # Fig. 2B (App. B)
BETA = Task("beta", [DataPoint({"V1": 0.02}, {"O": 0.14})])
PAPER_BIAS = {"G1": -1.79, "G2": 0.68}                                  # V/s, App. E


def two_task_run(integrator, *, capacitance=1e-9, bias=None, G=(3.0, 3.5), tau=20e-3, periods=300,
                 alpha=ALPHA, beta=BETA, cycle_tol=1e-10, record=None):
    comp = build(two_plus_one(capacitance=capacitance, G=(G[0], G[1], 3.0)),
                 imperfections=Imperfections(bias=bias or {}))
    prot = TwoTask(alpha, beta, tau=tau, periods=periods)
    tab = table(prot.segments(), comp)
    opt = Options(integrator=integrator, rtol=1e-8, atol=1e-11, cycle_tol=cycle_tol,
                  record_interval=record or 0.0)
    return comp, simulate(comp, tab, opt), TaskMeter(comp, prot.tasks)


def span(tr):
    """Cycle span D = |G(τ/2) − G(τ)| in the limit cycle (Dillavou Eq. 4)."""
    return float(np.linalg.norm(tr.event_theta[-1, :2] - tr.event_theta[-2, :2]))


@pytest.fixture(scope="module")
def joint_solution():
    comp, tr, meter = two_task_run("quasistatic")
    return comp, tr, meter


def test_no_bias_quasistatic_reaches_the_joint_solution(joint_solution):
    comp, tr, meter = joint_solution
    assert tr.stats["converged"]
    errors = meter.errors(tr.event_theta[-1])
    assert np.all(errors < 1e-16), errors          # V²: |δ| < 1e-8 V on both tasks
    assert span(tr) < 1e-8


def test_no_bias_full_rc_orbits_near_the_solution_and_shrinks_with_capacitance(joint_solution):
    """Learning goes on while the free output settles after each switch: a small orbit around G*
    whose size is set by the RC time (∝ C), invisible to a steady-state simulator."""
    _, qs, _ = joint_solution
    G_star = qs.event_theta[-1, :2]
    spans = {}
    for C in (1e-9, 1e-10):
        _, tr, meter = two_task_run("rosenbrock", capacitance=C)
        assert tr.stats["converged"]
        spans[C] = span(tr)
        assert np.linalg.norm(tr.event_theta[-1, :2] - G_star) < 1e-3       # near G* ...
        assert spans[C] > 1e-3 * np.linalg.norm(tr.event_theta[-1, :2] - G_star)  # ... not on a point
    assert spans[1e-9] > 1e-7
    assert 5 < spans[1e-9] / spans[1e-10] < 20, spans                         # ∝ C


def test_paper_bias_gives_one_periodic_orbit_that_avoids_the_joint_solution(joint_solution):
    _, qs, _ = joint_solution
    G_star = qs.event_theta[-1, :2]
    ends = []
    for G0 in ((3.0, 3.5), (4.5, 2.5)):
        _, tr, meter = two_task_run("quasistatic", bias=PAPER_BIAS, G=G0, record=1e-4)
        assert tr.stats["converged"]
        ends.append(tr.event_theta[-2:, :2])
        last = tr.t >= tr.event_t[-3]                         # the last full period
        dist = np.linalg.norm(tr.theta[last][:, :2] - G_star, axis=1)
        assert dist.min() > 0.05                              # the orbit never comes near G*
        assert span(tr) > 1e-3
    np.testing.assert_allclose(ends[0], ends[1], atol=1e-6)  # same orbit from both starts


def test_incompatible_pair_cycles_without_bias():
    alpha = Task("alpha", [DataPoint({"V1": 0.02}, {"O": 0.143}), DataPoint({"V1": 0.435}, {"O": 0.268})])
    beta = Task("beta", [DataPoint({"V1": 0.02}, {"O": 0.156})])
    _, tr, meter = two_task_run("quasistatic", alpha=alpha, beta=beta, tau=20e-3, periods=200, cycle_tol=1e-9)
    assert tr.stats["converged"]
    assert span(tr) > 1e-3                                    # a genuine cycle, not a fixed point
    assert np.all(meter.errors(tr.event_theta[-1]) > 1e-8)   # no state solves both tasks


@pytest.mark.parametrize("label, moves", [(0.10, False), (0.40, True)])
def test_hinge_leaves_correctly_classified_points_alone(label, moves):
    """The free output is ~0.25 V here. A +0.10 V label is already exceeded in the desired
    direction ((O_F − L) L > 0): App. A sets η = 0, so O_C = O_F and the gates must not move at
    all. A +0.40 V label is not reached: the gates learn."""
    comp = build(two_plus_one())
    task = Task("t", [DataPoint({"V1": 0.435}, {"O": label})], classification=True)
    tab = table(Cycling(task, t_h=1e-3, passes=5).segments(), comp)
    tr = simulate(comp, tab, Options(integrator="quasistatic"))
    change = np.abs(tr.event_theta[-1, :2] - comp.theta0[:2]).max()
    if moves:
        assert change > 1e-4
    else:
        assert change == 0.0


@pytest.fixture(scope="module")
def biased_clln():
    c = clln_hardware()
    rng = np.random.default_rng(1)
    bias = {e.name: float(b) for e, b in zip(c.edges, rng.normal(0.0, 2.0, len(c.edges)))}   # ~2 V/s (App. C)
    return build(c, imperfections=Imperfections(bias=bias))


def ring_accuracy(comp, eps, rule, passes=500):
    task = ring_task(eps, 0)
    nudge = Nudge("standard", 1.0) if rule == "standard" else Nudge("overclamp", 0.25, 0.435)
    prot = Cycling(task, t_h=25e-6, passes=passes, nudge=nudge, differential=[("O+", "O-")])
    tab = table(prot.segments(), comp, differential=prot.differential)
    tr = simulate(comp, tab, Options(integrator="quasistatic", r0=1e-3))
    d, L = TaskMeter(comp, [task], prot.differential).outputs(tr.event_theta[-1], 0)
    return float(np.mean(np.sign(d[:, 0]) == np.sign(L[:, 0]))), tr


def test_overclamping_holds_the_pass_time():
    comp = build(clln_hardware())
    _, tr = ring_accuracy(comp, 0.083, "overclamp", passes=400)
    T = np.diff(np.concatenate([[0.0], tr.event_t]))[200:]      # pass times after adaptation
    T = T[T > 0]
    assert abs(T.mean() / 200e-6 - 1) < 0.05, T.mean()


def test_overclamping_beats_standard_clamping_under_bias(biased_clln):
    acc = {(eps, rule): ring_accuracy(biased_clln, eps, rule)[0]
           for eps in (0.083, 0.25, 0.417) for rule in ("standard", "overclamp")}
    print("ring accuracies (eps, rule): ", acc)
    assert all(acc[(eps, "overclamp")] == 1.0 for eps in (0.083, 0.25, 0.417))
    assert min(acc[(eps, "standard")] for eps in (0.083, 0.25, 0.417)) < 1.0


def test_meter_is_the_kirchhoff_solution_from_zero_at_every_state(joint_solution):
    """The task meter's cached solve is kirchhoff_solve on the same inputs, bit for bit, in any order of
    states (a measurement does not depend on the previous one)."""
    from tdsim.simulation.probes import kirchhoff_solve
    comp, tr, meter = joint_solution
    states = tr.event_theta[[0, -1, 3, 0]]
    for th in states:
        for k, tab in enumerate(meter.tables):
            np.testing.assert_array_equal(meter._settle(th, k, 0), kirchhoff_solve(meter.free, th, tab, seg=0))
    np.testing.assert_array_equal(meter.errors(states[0]), meter.errors(states[-1]))
