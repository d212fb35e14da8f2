"""Gradient error of frequency propagation against finite differences of the loss (Anisetti Thm 2,
Eq. 5.1, Remark 1): (a) vs the nudge amplitude γ, quasi-static (no lag), on networks with Shockley
diodes; (b) vs ω·τ, full RC (Rosenbrock), on linear networks, with the phasor prediction for the
sine lock-in. Writes docs/freqprop_gradient.png and prints the numbers.

    python analysis/freqprop_gradient.py analysis/freqprop_gradient.toml
"""
import sys
import time
import tomllib
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

from tdsim import Options  # noqa: E402
from tdsim.model.units import quantity  # noqa: E402
from tdsim.rules.freqprop import Evaluator, FreqProp  # noqa: E402
from tdsim.testing import nonlinear as nr  # noqa: E402  (independent numpy references)
from tdsim.testing.laplacian import fd_gradient, kappa, laplacian, loss, random_net, solve  # noqa: E402


def rel_error(net, ref_loss, fp, opt):
    ev = Evaluator(net.circuit, fp, opt)
    th = ev.comp.theta0.copy()
    E = len(net.edges)
    est = ev.gradient(th, ev.evaluate(th, net.sources, net.labels))[:E]
    ref = fd_gradient(ref_loss, th[:E])
    return np.linalg.norm(est - ref) / np.linalg.norm(ref), est, ref


def slowest_tau(net, C):
    theta = np.array([e.element.kappa for e in net.circuit.edges])
    L = laplacian(net, kappa(theta, net.param))
    free = [n for n in range(net.n_nodes) if n not in net.held]
    G = L[np.ix_(free, free)]
    return C / np.linalg.eigvalsh(G)[0], G, free, theta


def phasor_error(net, G, free, theta, gamma, omega, C):
    """The sine lock-in's gradient error predicted by linear response: a = x0, b = Re[(G + iωC)⁻¹ J]."""
    x0 = solve(net, theta)
    J = np.zeros(net.n_nodes)
    J[net.outputs] = gamma * (net.label_values - x0[net.outputs])
    b = np.zeros(net.n_nodes)
    b[free] = np.linalg.solve(G + 1j * omega * C * np.eye(len(free)), J[free]).real
    ea, eb = net.edges[:, 0], net.edges[:, 1]
    est = (x0[ea] - x0[eb]) * (b[ea] - b[eb]) / gamma
    ref = fd_gradient(lambda t: loss(net, t), theta)
    return np.linalg.norm(est - ref) / np.linalg.norm(ref)


def main(spec_path):
    spec = tomllib.loads(Path(spec_path).read_text())
    gs = spec["gamma_sweep"]
    gammas = np.array([quantity(g, "conductance", "gamma_sweep.gammas") for g in gs["gammas"]])
    f0 = quantity(gs["frequency"], "frequency", "gamma_sweep.frequency")
    qs = Options(integrator="quasistatic")
    t0 = time.perf_counter()
    res_g = {}
    for wf in ("sin", "abs_sin"):
        for seed in gs["seeds"]:
            net = nr.diode_net(seed)
            res_g[wf, seed] = np.array([rel_error(net, lambda t: nr.loss(net, t),
                                                  FreqProp(g, f0, wf, periods=gs["periods"], settle=1,
                                                           samples=gs["samples"][wf]), qs)[0] for g in gammas])
    lin = {seed: np.array([rel_error(random_net(seed), lambda t, n=random_net(seed): loss(n, t),
                                     FreqProp(g, f0, "sin", periods=gs["periods"], settle=1, samples=64), qs)[0]
                           for g in gammas]) for seed in gs["seeds"]}

    ls = spec["lag_sweep"]
    C = quantity(ls["capacitance"], "capacitance", "lag_sweep.capacitance")
    gam = quantity(ls["gamma"], "conductance", "lag_sweep.gamma")
    wt = np.array(ls["omega_tau"], dtype=float)
    opt = Options(integrator="rosenbrock", rtol=ls["rtol"], atol=ls["atol"])
    res_w, theory = {}, {}
    for seed in ls["seeds"]:
        net = random_net(seed, "kappa", C=C)
        tau, G, free, theta = slowest_tau(net, C)
        theory[seed] = np.array([phasor_error(net, G, free, theta, gam, x / tau, C) for x in wt])
        for wf in ("sin", "abs_sin"):
            errs = []
            for x in wt:
                f = x / tau / (2 * np.pi)
                settle = 2 + int(np.ceil(2.5 * x))      # transient e^{-settle·2π/(ωτ)} < e^{-15}
                fp = FreqProp(gam, f, wf, periods=ls["periods"], settle=settle, samples=ls["samples"])
                errs.append(rel_error(net, lambda t: loss(net, t), fp, opt)[0])
            res_w[wf, seed] = np.array(errs)
    wall = time.perf_counter() - t0

    def slope(x, y, sel):
        return np.polyfit(np.log(x[sel]), np.log(y[sel]), 1)[0]

    print(f"# frequency propagation gradient error ({wall:.0f} s)")
    print("## vs gamma (quasi-static, diode networks): relative error, slope of log error on log gamma")
    print("gamma/S  " + "  ".join(f"{g:9.3g}" for g in gammas))
    for (wf, seed), e in res_g.items():
        print(f"{wf:7s} seed {seed:2d}: " + "  ".join(f"{x:9.2e}" for x in e)
              + f"   slope {slope(gammas, e, slice(None)):.3f}")
    for seed, e in lin.items():
        print(f"linear  seed {seed:2d}: " + "  ".join(f"{x:9.2e}" for x in e))
    print("## vs omega*tau (full RC, linear networks): relative error; phasor = linear-response prediction")
    print("omega tau " + "  ".join(f"{x:9.3g}" for x in wt))
    rng = {"sin": wt <= 0.1, "abs_sin": (wt >= 0.03) & (wt <= 0.3)}   # |sin|: above its sampling floor
    for (wf, seed), e in res_w.items():
        lo, hi = wt[rng[wf]][[0, -1]]
        print(f"{wf:7s} seed {seed:2d}: " + "  ".join(f"{x:9.2e}" for x in e)
              + f"   slope({lo:g}..{hi:g}) {slope(wt, e, rng[wf]):.2f}")
    for seed, e in theory.items():
        print(f"phasor  seed {seed:2d}: " + "  ".join(f"{x:9.2e}" for x in e))

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    colors = {"sin": "C0", "abs_sin": "C1"}
    for (wf, seed), e in res_g.items():
        ax[0].loglog(gammas, e, "o-", color=colors[wf], alpha=0.7,
                     label=f"{'sin lock-in' if wf == 'sin' else '|sin|, clock-free'}" if seed == gs["seeds"][0] else None)
    for seed, e in lin.items():
        ax[0].loglog(gammas, np.maximum(e, 1e-13), "s:", color="gray", alpha=0.7,
                     label="sin, linear network" if seed == gs["seeds"][0] else None)
    g = gammas
    ax[0].loglog(g, 0.3 * res_g["sin", gs["seeds"][0]][-1] * (g / g[-1]) ** 2, "k--", lw=0.8, label="∝ γ²")
    ax[0].loglog(g, 0.3 * res_g["abs_sin", gs["seeds"][0]][-1] * g / g[-1], "k-.", lw=0.8, label="∝ γ")
    ax[0].set_xlabel("nudge amplitude γ (S)")
    ax[0].set_ylabel("|Δθ/(−αγ) − ∂L/∂θ| / |∂L/∂θ|")
    ax[0].set_title("(a) vs γ: quasi-static, 3 diodes")
    ax[0].legend(fontsize=8)
    for (wf, seed), e in res_w.items():
        ax[1].loglog(wt, e, "o-", color=colors[wf], alpha=0.7,
                     label=f"{'sin lock-in' if wf == 'sin' else '|sin|, clock-free'}" if seed == ls["seeds"][0] else None)
    for seed, e in theory.items():
        ax[1].loglog(wt, e, "k:", lw=1, label="phasor Re[(G+iωC)⁻¹J]" if seed == ls["seeds"][0] else None)
    ax[1].set_xlabel("ω τ   (τ: slowest relaxation time of the network)")
    ax[1].set_title(f"(b) vs ωτ: full RC, linear networks, γ = {gam:g} S")
    ax[1].legend(fontsize=8)
    for a in ax:
        a.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    out = ROOT / "docs" / "freqprop_gradient.png"
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ROOT / "analysis" / "freqprop_gradient.toml")
