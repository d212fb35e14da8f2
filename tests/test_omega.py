"""Lin's Ω-projector gradient and two-phase estimate from tdsim runs, against the cycle-space
numpy reference (Eq. 10) and central finite differences of the loss on random circuits:

- the Ω gradient (Algorithm 2, Eq. 14) is the loss gradient to solver tolerance (squared and
  hinge losses, batches), from quasi-static and from settled full-RC runs;
- the two-phase estimate (Algorithm 1, Eq. 12) tends to the gradient of Φ = εᵀ P_o i(r) (App. F)
  with error O(β) (symmetric ±β: exact); Φ's gradient is r_o ∂L/∂r off the output edge and
  misses (ŷ − y) i_o on it;
- under zero-mean label noise the Ω gradient is unbiased and the two-phase one is biased by
  (β/2)(Qξ)² (App. L, Eq. 144)."""
import numpy as np
import pytest

from tdsim.errors import SpecError
from tdsim.rules.omega import EdgeNetwork, EdgeSimulator, hinge_loss, omega_gradient, squared_loss, two_phase_gradient

from tdsim.testing.cycles import (drops, fd_gradient, mean_hinge_loss, mean_squared_loss, omega, outputs, phi,
                       random_edge_net)

BETAS = np.array([1e-1, 3e-2, 1e-2, 3e-3])


def batch(net, seed, n=4):
    rng = np.random.default_rng(100 + seed)
    X = rng.normal(size=(n, len(net.inputs)))
    Y = rng.normal(size=(n, len(net.outputs))) * 0.3
    return X, Y


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_voltage_mode_run_is_minus_omega_s(seed):
    net, r = random_edge_net(seed)
    X, _ = batch(net, seed)
    res = EdgeSimulator(net).run(r, net.sources(X))
    np.testing.assert_allclose(res.v, drops(net, r, X), atol=1e-12)
    Om = omega(net, r)
    np.testing.assert_allclose(Om @ Om, Om, atol=1e-12)          # an oblique projector (Eq. 106)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_current_mode_run_gives_the_adjoint(seed):
    """Currents u across the edges: resistor currents (I − Ωᵀ) u (Algorithm 2, steps 6–7)."""
    net, r = random_edge_net(seed)
    u = np.random.default_rng(seed).normal(size=(3, net.E))
    res = EdgeSimulator(net).run(r, u=u)
    ref = u @ (np.eye(net.E) - omega(net, r))             # rows: ((I − Ωᵀ) u)ᵀ
    np.testing.assert_allclose(res.dV / r, ref, atol=1e-11)


def test_large_drives_are_run_scaled_and_stay_exact():
    """Sources of 100 V and probes of 50 A (node jumps far beyond the engine's damped Newton:
    0.5 V per iteration, 50 iterations): EdgeSimulator.run makes them at 10 V and scales back."""
    net, r = random_edge_net(4)
    X = np.random.default_rng(4).normal(size=(6, len(net.inputs))) * 100.0
    res = EdgeSimulator(net).run(r, net.sources(X))
    ref = drops(net, r, X)
    assert np.abs(ref).max() > 50.0
    np.testing.assert_allclose(res.v, ref, atol=1e-12 * np.abs(ref).max())   # rounding, scaled
    u = np.random.default_rng(5).normal(size=(6, net.E)) * 50.0
    res = EdgeSimulator(net).run(r, u=u)
    ref = u @ (np.eye(net.E) - omega(net, r))
    np.testing.assert_allclose(res.dV / r, ref, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_omega_gradient_is_the_squared_loss_gradient(seed):
    net, r = random_edge_net(seed)
    X, Y = batch(net, seed)
    g, yhat = omega_gradient(EdgeSimulator(net), r, X, lambda yh: squared_loss(yh, Y)[1], eta=0.3)
    fd = fd_gradient(lambda rr: mean_squared_loss(net, rr, X, Y), r)
    # central differences at rel. step 1e-5: error ~1e-10; the solve is direct
    assert rel(g, fd) < 1e-7, rel(g, fd)
    np.testing.assert_allclose(yhat, outputs(net, r, X), atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_omega_gradient_is_the_hinge_subgradient(seed):
    net, r = random_edge_net(seed, n_out=2)
    X, _ = batch(net, seed, n=6)
    y = np.array([1, -1, 1, -1, 1, -1.0])
    f = outputs(net, r, X) @ [1, -1]
    margin = float(np.median(y * f))                       # about half the samples violate it
    err = lambda yh: hinge_loss(yh, y, [1, -1], margin)[1]           # noqa: E731
    g, _ = omega_gradient(EdgeSimulator(net), r, X, err)
    fd = fd_gradient(lambda rr: mean_hinge_loss(net, rr, X, y, [1, -1], margin), r)
    assert 0 < np.sum(margin - y * f > 0) < len(y)
    assert rel(g, fd) < 1e-6, rel(g, fd)


@pytest.mark.parametrize("integrator", ["explicit", "rosenbrock"])
def test_full_rc_runs_give_the_gradient_once_settled(integrator):
    """Full-RC runs from 0 V: the error falls as the runs settle (≤ ~e^−settle), to the FD level."""
    net, r = random_edge_net(5)
    X, Y = batch(net, 5, n=2)
    err = lambda yh: squared_loss(yh, Y)[1]              # noqa: E731
    fd = fd_gradient(lambda rr: mean_squared_loss(net, rr, X, Y), r)
    short = rel(omega_gradient(EdgeSimulator(net, integrator, settle=4), r, X, err)[0], fd)
    full = rel(omega_gradient(EdgeSimulator(net, integrator, settle=30), r, X, err)[0], fd)
    assert 1e-4 < short < np.exp(-4), short                # unsettled: visibly off
    assert full < 1e-8, full


def order(err):
    return np.polyfit(np.log(BETAS), np.log(err), 1)[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_phase_is_first_order_in_beta_towards_phi(seed):
    net, r = random_edge_net(seed)
    X, Y = batch(net, seed)
    sim = EdgeSimulator(net)
    err = lambda yh: squared_loss(yh, Y)[1]              # noqa: E731
    eps = outputs(net, r, X) - Y
    fd = fd_gradient(lambda rr: phi(net, rr, X, eps), r)
    e1 = np.array([rel(two_phase_gradient(sim, r, X, err, b)[0], fd) for b in BETAS])
    assert 0.95 < order(e1) < 1.05, e1
    assert e1[-1] < 10 * BETAS[-1], e1           # measured 7.36 β, 0.36 β, 1.18 β (seeds 0–2)
    sym = rel(two_phase_gradient(sim, r, X, err, 0.1, symmetric=True)[0], fd)
    assert sym < 1e-7, sym


def test_two_phase_limit_is_not_the_loss_gradient_on_the_output_edge():
    """App. F: Φ's gradient = r_o ∂L/∂r off the output edge; on it ∂L/∂r_o adds mean (ŷ − y) i_o."""
    net, r = random_edge_net(7, n_out=1)
    X, Y = batch(net, 7)
    sim = EdgeSimulator(net)
    err = lambda yh: squared_loss(yh, Y)[1]              # noqa: E731
    limit, yhat = two_phase_gradient(sim, r, X, err, 0.1, symmetric=True)
    g = fd_gradient(lambda rr: mean_squared_loss(net, rr, X, Y), r)
    o = net.outputs[0]
    off = np.arange(net.E) != o
    assert rel(r[o] * limit[off], g[off]) < 1e-7
    i_o = drops(net, r, X)[:, o] / r[o]
    direct = np.mean((yhat[:, 0] - Y[:, 0]) * i_o)
    assert abs(r[o] * limit[o] + direct - g[o]) < 1e-8 * np.abs(g).max()
    assert abs(direct) > 0.05 * abs(g[o])                 # the missing term is not small here
    # r_o ∂i_o/∂r_o = −Ω_oo i_o and ∂v_o/∂r_o = (1 − Ω_oo) i_o: opposite signs, 0 < Ω_oo < 1
    assert np.sign(limit[o]) == -np.sign(g[o])


def test_label_noise_biases_two_phase_but_not_omega():
    """Antithetic noise ±ξ on the labels: Ω's mean equals its noiseless value exactly (it is linear
    in ε); the two-phase mean is off by (β/2) mean((Q ξ)²), Q = −G Ω P_oᵀ (App. L, Eq. 144)."""
    net, r = random_edge_net(3)
    X, Y = batch(net, 3, n=3)
    xi = np.random.default_rng(9).normal(size=Y.shape) * 0.5
    sim = EdgeSimulator(net)
    beta = 0.2

    def est(fn, y, **kw):
        return fn(sim, r, X, lambda yh: squared_loss(yh, y)[1], **kw)[0]
    for fn, kw in ((omega_gradient, {}), (two_phase_gradient, {"beta": beta})):
        noisy = 0.5 * (est(fn, Y + xi, **kw) + est(fn, Y - xi, **kw))
        bias = noisy - est(fn, Y, **kw)
        if fn is omega_gradient:
            assert np.abs(bias).max() < 1e-12 * np.abs(noisy).max()
        else:
            Q = -(omega(net, r) / r[:, None])[:, net.outputs]         # i response to output sources
            theory = 0.5 * beta * np.mean((xi @ Q.T) ** 2, axis=0)
            np.testing.assert_allclose(bias, theory, rtol=1e-8, atol=1e-14)
            assert np.all(theory >= 0) and theory.max() > 1e-3


def test_bad_networks_are_refused_naming_the_field():
    edges = [(0, 1), (1, 2), (2, 0)]
    with pytest.raises(SpecError, match="outputs"):
        EdgeNetwork(3, edges, [0], [0])
    with pytest.raises(SpecError, match="edges"):
        EdgeNetwork(3, [(0, 1), (1, 1)], [0], [1])
    net = EdgeNetwork(3, edges, [0], [1])
    with pytest.raises(SpecError, match=r"^r: "):
        EdgeSimulator(net).run(np.array([1.0, -1.0, 1.0]), net.sources([[1.0]]))
    with pytest.raises(SpecError, match="beta"):
        two_phase_gradient(EdgeSimulator(net), np.ones(3), [[1.0]], lambda yh: yh, 0.0)
