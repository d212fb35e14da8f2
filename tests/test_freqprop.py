"""Frequency propagation (Anisetti et al.) against independent references:

- the update's gradient estimate against central finite differences of the loss (numpy Kirchhoff
  solves: Laplacian for linear networks, Newton for networks with Shockley diodes), with its order
  in the nudge amplitude γ: O(γ²) relative for the sine lock-in (Theorem 2, Eq. 3.6), O(γ) for the
  clock-free |sin| readout (Eq. 5.1), exact in γ for a linear network (the nudge amplitude is fixed
  by the free phase, so the response is linear in γ);
- the full-RC lock-in against the phasor solution Re[(G + iωC)⁻¹ J] (the ω·RC lag);
- the |sin| readout's independence of the delay (Sec. 5) on synthetic signals;
- the Iris demonstration on a tiny subset: the training error falls and the test accuracy is far
  above chance."""
import math
from pathlib import Path

import numpy as np
import pytest

from tdsim import Circuit, Conductance, Mosfet, Options, SpecError
from tdsim.rules.freqprop import Evaluator, FreqProp, extract_abs_sin, lockin_sin
from tdsim.studies.freqprop_iris import IrisConfig, IrisTrainer, load_config

from tdsim.testing import nonlinear as nr
from tdsim.testing.laplacian import fd_gradient, laplacian, kappa, loss, random_net, solve

GAMMAS = np.array([1.6, 0.8, 0.4, 0.2])          # S (κ ~ 1 S)
QS = Options(integrator="quasistatic")
ROOT = Path(__file__).resolve().parents[1]


def rel_errors(net, ref_loss, waveform, samples, gammas=GAMMAS, options=QS):
    out = []
    for g in gammas:
        ev = Evaluator(net.circuit, FreqProp(g, 1e3, waveform, periods=2, settle=1, samples=samples), options)
        th = ev.comp.theta0.copy()
        E = len(net.edges)
        est = ev.gradient(th, ev.evaluate(th, net.sources, net.labels))
        ref = fd_gradient(lambda t: ref_loss(t), th[:E])
        assert np.all(est[E:] == 0.0)                     # diodes do not learn
        out.append(np.linalg.norm(est[:E] - ref) / np.linalg.norm(ref))
    return np.array(out)


def slope(err, gammas=GAMMAS):
    return np.polyfit(np.log(gammas), np.log(err), 1)[0]


@pytest.mark.parametrize("seed", [3, 7])
def test_sine_nudge_gradient_is_second_order_in_gamma(seed):
    """Theorem 2: Δθ = −αγ ∂L/∂θ + O(γ³) on a nonlinear (diode) network; measured slope 2.00."""
    net = nr.diode_net(seed)
    err = rel_errors(net, lambda t: nr.loss(net, t), "sin", 64)
    assert 1.9 < slope(err) < 2.1, err           # FD reference error ~1e-10, errors here 1e-7..1e-4
    assert err[-1] < 1e-3, err                   # 2.6e-7 (seed 3), 1.6e-4 (seed 7) at γ = 0.2 S


def test_abs_sin_readout_is_first_order_in_gamma():
    """Eq. 5.1: the |sin| nudge's response carries b to O(γ²), a relative gradient error O(γ)
    (the f² term of v = a + bf + cf² biases the smooth extremum); measured slope 1.00. 1024
    samples/period keep the sampled kink's O(1/samples²) floor (1e-5) below the γ term."""
    net = nr.diode_net(3)
    err = rel_errors(net, lambda t: nr.loss(net, t), "abs_sin", 1024)
    assert 0.9 < slope(err) < 1.1, err
    assert err[-1] < 3e-4, err


@pytest.mark.parametrize("param", ["kappa", "rho", "logkappa", "mixed"])
def test_linear_network_estimate_is_exact_in_gamma(param):
    """Linear network, amplitude fixed by the free phase: v(t) = v0 + γ sin(ωt) u exactly, so the
    lock-in gives the gradient (times g'(θ) for ρ, log κ) to the FD reference's own error."""
    net = random_net(5, param)
    err = rel_errors(net, lambda t: loss(net, t), "sin", 32, gammas=np.array([2.0, 0.02]))
    assert np.all(err < 1e-8), err


def test_full_rc_lockin_is_the_phasor_in_phase_part():
    """With node capacitance C the periodic response is v0 + Im[u e^{iωt}], u = (G + iωC)⁻¹ J
    (J the nudge current amplitudes): the lock-in's b is Re u, the lag shrinks it by O((ωτ)²)."""
    net = random_net(3, "kappa", C=1e-6)
    theta = np.array([e.element.kappa for e in net.circuit.edges])
    Lf = laplacian(net, kappa(theta, net.param))
    free = [n for n in range(net.n_nodes) if n not in net.held]
    G = Lf[np.ix_(free, free)]
    tau = 1e-6 / np.linalg.eigvalsh(G)[0]                      # slowest relaxation time
    f = 0.5 / (2 * np.pi * tau)                                 # ωτ = 0.5
    gam = 0.1
    ev = Evaluator(net.circuit, FreqProp(gam, f, "sin", periods=2, settle=4, samples=64),
                   Options(integrator="rosenbrock", rtol=1e-9, atol=1e-13))
    r = ev.evaluate(ev.comp.theta0, net.sources, net.labels)
    x0 = solve(net, theta)
    J = np.zeros(net.n_nodes)
    J[net.outputs] = gam * (net.label_values - x0[net.outputs])
    u = np.linalg.solve(G + 1j * 2 * np.pi * f * 1e-6 * np.eye(len(free)), J[free])
    np.testing.assert_allclose(r.a[free], x0[free], atol=1e-9)
    assert np.max(np.abs(r.b[free] - u.real)) < 1e-5 * np.max(np.abs(u))
    dc = np.linalg.solve(G, J[free])
    assert np.max(np.abs(dc - u.real)) > 0.05 * np.max(np.abs(dc))    # the lag is real and visible


@pytest.mark.parametrize("delay", [0.0, 0.137, 0.5, 0.81])
@pytest.mark.parametrize("b", [0.3, -0.3])
def test_abs_sin_readout_ignores_the_delay(delay, b):
    """Sec. 5: v = a + b|sin(ω(t + t_j))| gives a and b whatever t_j; the sine lock-in does not:
    a delay of half a period flips the sign of its b (Remark 3)."""
    M, w, a = 256, 2 * np.pi, 0.7
    t = np.arange(2 * M) / M
    v = (a + b * np.abs(np.sin(w * (t + delay))))[:, None]
    ae, be = extract_abs_sin(v)
    assert abs(be[0] - b) < 1e-4 * abs(b) and abs(ae[0] - a) < 1e-4 * abs(b)   # sampled kink: π²/(3M²) ≈ 5e-5
    s = (a + b * np.sin(w * (t + 0.5)))[:, None]
    assert lockin_sin(t, s, w)[1][0] == pytest.approx(-b, abs=1e-12)


def test_bad_settings_name_the_field():
    net = random_net(3)
    with pytest.raises(SpecError, match="freqprop.gamma"):
        Evaluator(net.circuit, FreqProp(0.0, 1e3))
    with pytest.raises(SpecError, match="freqprop.waveform"):
        Evaluator(net.circuit, FreqProp(0.1, 1e3, "square"))
    with pytest.raises(SpecError, match="freqprop.samples"):
        Evaluator(net.circuit, FreqProp(0.1, 1e3, samples=4))
    ev = Evaluator(net.circuit, FreqProp(0.1, 1e3))
    with pytest.raises(SpecError, match="labels.o1"):
        ev.evaluate(ev.comp.theta0, net.sources, {"o0": 0.1})
    with pytest.raises(SpecError, match="labels.o7"):
        ev.evaluate(ev.comp.theta0, net.sources, {"o0": 0.1, "o1": 0.2, "o7": 0.0})
    c = Circuit(capacitance=1e-9)
    c.add_voltage_source("v", 1.0).add_node("o").add_output("o")
    c.add_edge("m", "v", "o", Mosfet(G=3.0)).add_edge("k", "o", "gnd", Conductance(1.0))
    with pytest.raises(SpecError, match="edge 'm'"):
        Evaluator(c, FreqProp(0.1, 1e3))
    c2 = Circuit(capacitance=1e-9)
    c2.add_voltage_source("v", 1.0).add_current_source("o", 0.0).add_output("o")
    c2.add_edge("k", "v", "o", Conductance(1.0))
    with pytest.raises(SpecError, match="output 'o'"):
        Evaluator(c2, FreqProp(0.1, 1e3))


def test_iris_run_spec_loads_and_rejects_unknown_keys(tmp_path):
    cfg = load_config(ROOT / "runs" / "freqprop_iris.toml")
    assert cfg.nodes == 40 and cfg.input_pairs == 4 and cfg.output_pairs == 3
    assert cfg.kappa_limits == pytest.approx((1e-5, 20.0)) and cfg.nudge.waveform == "sin"
    cfg = load_config(ROOT / "runs" / "freqprop_iris.toml", {"nudge.waveform": "abs_sin", "epochs": 2})
    assert cfg.nudge.waveform == "abs_sin" and cfg.epochs == 2
    with pytest.raises(SpecError, match="protocol.nudge.gama"):
        load_config(ROOT / "runs" / "freqprop_iris.toml", {"nudge.gama": "1 S"})
    with pytest.raises(SpecError, match="protocol.nudge.frequency"):
        load_config(ROOT / "runs" / "freqprop_iris.toml", {"nudge.frequency": "1 V"})


def test_iris_tiny_subset_learns():
    """5 + 5 examples per class, 20 nodes, 3 epochs in the time domain (full RC): the training
    error falls by a third and the test accuracy (15 examples) beats chance (1/3) by far."""
    cfg = IrisConfig(nodes=20, edges=60, per_class_train=5, per_class_test=5, epochs=3, alpha=20.0,
                     nudge=FreqProp(1.0, 1.0, "sin", periods=3, settle=1, samples=16), seed=1)
    h = IrisTrainer(cfg).train()
    assert h["rms_error"][-1] < 0.67 * h["rms_error"][1], h["rms_error"]
    assert h["test_acc"][-1] >= 0.6, h["test_acc"]


def _numpy_readouts(circuit, ins, outs, X):
    """Free DC readouts O+ − O− of a network of Conductance edges fed ±x at the input pairs: the
    grounded Laplacian solved with numpy from the Circuit's own edge list (no tdsim solver)."""
    names = ["gnd"] + list(circuit.nodes)
    idx = {n: i for i, n in enumerate(names)}
    L = np.zeros((len(names), len(names)))
    for e in circuit.edges:
        a, b, k = idx[e.a], idx[e.b], e.element.kappa
        L[a, a] += k
        L[b, b] += k
        L[a, b] -= k
        L[b, a] -= k
    J = np.zeros((len(names), len(X)))
    for (p, m), x in zip(ins, np.asarray(X).T):
        J[idx[p]] += x
        J[idx[m]] -= x
    V = np.linalg.solve(L[1:, 1:], J[1:])                  # ground (index 0) at 0 V
    V = np.vstack([np.zeros(len(X)), V])
    return np.array([V[idx[p]] - V[idx[m]] for p, m in outs]).T, np.linalg.cond(L[1:, 1:])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_iris_untrained_baseline_matches_numpy(seed):
    """The untrained Iris network's accuracy, the bar any trained accuracy must be read against
    (issue 17: seed 0 scores 0.840 before training), against an independent numpy solve of the
    paper-size network (40 nodes, 239 edges) and the nearest-class-target rule written out here.
    Both are direct solves of one linear system: they agree to ~cond·eps (cond ≈ 60 for seed 0;
    measured 5e-16 relative); rtol 1e-7 leaves margin and still sees a 1 % change of one edge's κ
    (3e-5 relative) or one reversed input pair. The accuracies are compared exactly, which is
    meaningful only when no test example sits within that tolerance of a class boundary: checked."""
    tr = IrisTrainer(IrisConfig(seed=seed, epochs=0))
    d_ref, cond = _numpy_readouts(tr.circuit, tr.ins, tr.outs, tr.Xte)
    assert cond < 1e6, cond
    np.testing.assert_allclose(tr.outputs(tr.Xte), d_ref, rtol=1e-7, atol=1e-12)
    means = np.array([tr.Xtr[tr.ytr == c].mean(axis=0) for c in range(3)])
    T_ref = _numpy_readouts(tr.circuit, tr.ins, tr.outs, means)[0]
    dist = ((d_ref[:, None, :] - T_ref[None]) ** 2).sum(axis=2)
    srt = np.sort(dist, axis=1)
    assert np.all(srt[:, 1] - srt[:, 0] > 1e-6 * srt[:, 1]), "a test example on a class boundary"
    acc_ref = float(np.mean(np.argmin(dist, axis=1) == tr.yte))
    assert tr.scores()["test_acc"] == acc_ref
    if seed == 0:
        assert acc_ref == pytest.approx(63 / 75)         # the 0.840 quoted in docs/results/freqprop.md


def test_iris_diode_network_spec():
    """runs/freqprop_iris_diodes.toml: 48 of the 239 edges are Shockley diodes that do not learn,
    the rest Conductances; the diode count is validated by name."""
    from tdsim.model.elements import ShockleyDiode
    cfg = load_config(ROOT / "runs" / "freqprop_iris_diodes.toml")
    assert cfg.diodes == 48 and cfg.diode_Is == pytest.approx(0.05) and cfg.edges == 239
    tr = IrisTrainer(cfg)
    kinds = [type(e.element) for e in tr.circuit.edges]
    assert kinds.count(ShockleyDiode) == 48 and kinds.count(Conductance) == 191
    assert int(tr.ev.trainable.sum()) == 191
    with pytest.raises(SpecError, match="diodes"):
        IrisConfig(diodes=-1).validate()
