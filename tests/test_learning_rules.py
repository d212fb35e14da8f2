"""Every learning rule's update against finite differences of its loss on random linear networks
(numpy Laplacian solves as the reference), with its order in the nudge amplitude:

- EP, force nudge (McGinnis Eq. 2.2): −ΔθΔ/(2 A0 β) → dC/dθ, C = ½|L − O|²; error O(β) one-sided,
  O(β²) symmetric (±β twins, Eq. 4.4); with the force read from the free twin ("force_from_free")
  the nudged state is linear in β and the symmetric estimate is exact;
- CL, clamping (Dillavou Eq. 1): → d/dθ ½ δᵀ M δ with M = (QᵀRQ)⁻¹ frozen (McGinnis Eq. 3.15);
  error O(η) one-sided, exact for symmetric clamping in a linear network (§4).
The rate is the engine's own (kernels.gate_rates on kirchhoff_solve states), for κ, ρ and log κ edges."""
import numpy as np
import pytest

from tdsim import Options, Segment

from tdsim import build

from tdsim import simulate
from tdsim.compile.table import table
from tdsim.simulation import gate_rates
from tdsim.simulation.probes import kirchhoff_solve

from tdsim.testing.laplacian import fd_gradient, loss, output_resistance, random_net, solve

ONE_SIDED, SYMMETRIC = ("free", "nudged"), ("free", "plus", "minus")
AMPLITUDES = np.array([3e-2, 1e-2, 3e-3, 1e-3])     # η, or β in S (κ ~ 1 S)


def rule_estimate(net, rule, twins, amp):
    """The engine's gradient estimate −θ̇ / (2 A0 amp) at the DC state of every twin."""
    force = rule.startswith("force")
    comp = build(net.circuit, twins, force_nudge=force)
    seg = Segment(1e-3, net.sources, net.labels, eta=0.0 if force else amp, learn=True, nudge=rule,
                  beta=amp if force else 0.0)
    tab = table([seg], comp)
    V = kirchhoff_solve(comp, comp.theta0, tab)
    rate = gate_rates(comp, V, comp.theta0)
    return -rate / (2 * comp.A0 * amp), comp.theta0.copy()


def reference_gradient(net, rule, theta):
    if rule.startswith("force"):
        return fd_gradient(lambda t: loss(net, t), theta)
    M = np.linalg.inv(output_resistance(net, theta))          # frozen at θ

    def weighted(t):
        r = solve(net, t)[net.outputs] - net.label_values
        return 0.5 * r @ M @ r
    return fd_gradient(weighted, theta)


def errors(net, rule, twins):
    out = []
    for amp in AMPLITUDES:
        est, theta = rule_estimate(net, rule, twins, amp)
        g = reference_gradient(net, rule, theta)
        out.append(np.linalg.norm(est - g) / np.linalg.norm(g))
    return np.array(out)


def order(err):
    return np.polyfit(np.log(AMPLITUDES), np.log(err), 1)[0]


@pytest.mark.parametrize("param", ["kappa", "rho", "logkappa"])
@pytest.mark.parametrize("rule", ["force", "force_from_free", "standard"])
def test_one_sided_update_is_the_gradient_to_first_order(rule, param):
    err = errors(random_net(3, param), rule, ONE_SIDED)
    # FD error ~1e-10; the bias is first order: measured slope 1.00 on these networks
    assert 0.9 < order(err) < 1.1, err
    assert err[-1] < 1e-2, err


@pytest.mark.parametrize("param", ["kappa", "rho", "logkappa"])
def test_symmetric_force_nudge_is_second_order(param):
    err = errors(random_net(4, param), "force", SYMMETRIC)
    assert 1.9 < order(err) < 2.1, err
    assert err[-1] < 1e-5, err


@pytest.mark.parametrize("param", ["kappa", "rho", "logkappa", "mixed"])
@pytest.mark.parametrize("rule", ["force_from_free", "standard"])
def test_symmetric_nudge_with_a_linear_response_is_exact(rule, param):
    """x_{±η} = x0 ± η y exactly, so the central difference removes the whole bias (McGinnis §4)."""
    err = errors(random_net(5, param), rule, SYMMETRIC)
    assert np.all(err < 1e-7), err        # the FD reference's own error is ~1e-10


def test_cl_weight_matrix_matters_with_two_outputs():
    """CL is not the gradient of ½|δ|² but of ½δᵀMδ (McGinnis Eq. 3.15): with two outputs the two
    differ by far more than the rule's bias, so the test above can tell them apart."""
    net = random_net(5, "kappa")
    est, theta = rule_estimate(net, "standard", SYMMETRIC, 1e-2)
    plain = fd_gradient(lambda t: loss(net, t), theta)
    M = np.linalg.inv(output_resistance(net, theta))
    cos = est @ plain / np.linalg.norm(est) / np.linalg.norm(plain)
    assert cos < 0.999 and not np.allclose(M, M[0, 0] * np.eye(2), rtol=0.1)


@pytest.mark.parametrize("integrator", ["explicit", "rosenbrock", "quasistatic"])
@pytest.mark.parametrize("rule", ["force", "force_from_free"])
def test_force_nudged_twins_settle_to_the_kirchhoff_solution(rule, integrator):
    """From zero volts, after ~100 RC every twin sits at its Laplacian solution: the own-output force
    is a conductance ±β to a source at L; the force from the free twin is the current ±β (L − O_F)."""
    net = random_net(6, "kappa")
    beta = 0.2
    comp = build(net.circuit, SYMMETRIC, force_nudge=True)
    tab = table([Segment(1e-4, net.sources, net.labels, learn=False, nudge=rule, beta=beta)], comp)
    tr = simulate(comp, tab, Options(integrator=integrator, initial="zero", rtol=1e-9, atol=1e-12))
    theta = comp.theta0
    x0 = solve(net, theta)
    for t, s in enumerate((0.0, 1.0, -1.0)):
        if rule == "force":
            ref = solve(net, theta, beta_out=s * beta)
        else:
            ref = solve(net, theta, inject={o: s * beta * (lab - x0[o]) for o, lab in zip(net.outputs, net.label_values)})
        assert np.max(np.abs(tr.event_V[-1, t, :net.n_nodes] - ref)) < 1e-7
        if s:
            assert np.max(np.abs(ref[net.outputs] - x0[net.outputs])) > 1e-3     # the nudge is visible
