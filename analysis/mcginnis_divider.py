"""McGinnis et al. 2026 Fig. 4: the voltage divider under batched Coupled Learning, simulated in
the time domain. Ten points (v, w) are cycled, each held t_h = 1 ms (a pass is 10 ms, the learning
time ~1 s), so κ follows the batch-averaged flow of Eq. 4.13. Panels: one-sided clamping at
η = 0 (simulated as η = 10⁻³, the limit the paper means), +0.5, −0.5, 1, and symmetric clamping
at ±0.5 (the η = 0 flow exactly, Eq. 4.4); the stream lines are the paper's closed forms for
η = 0 and η = 1 combined linearly in η; black lines are the simulated trajectories (start: black
dot, end: white dot). Last panel: K(t)/K(0) against Eq. 4.12, K̇ = −η ⟨G(y)⟩.

    python analysis/mcginnis_divider.py   # runs/mcginnis_divider.toml -> docs/mcginnis_fig4.png
"""
import pathlib
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.integrate import cumulative_trapezoid  # noqa: E402

from tdsim.studies.mcginnis import divider_data, divider_field, train  # noqa: E402
from tdsim.analysis.plots import save_small  # noqa: E402
from tdsim.io.spec import read, load_model, load_protocol  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
STARTS = [(0.9, 0.1), (0.2, 0.9), (0.6, 0.6), (0.15, 0.3), (1.0, 0.5), (0.45, 0.08)]
PANELS = [("η = 0 (η = 10⁻³)", 1e-3, False, 0.0), ("symmetric ±0.5", 0.5, True, 0.0),
          ("η = +0.5", 0.5, False, 0.5), ("η = −0.5", -0.5, False, -0.5), ("η = 1", 1.0, False, 1.0)]


def load(spec=ROOT / "runs" / "mcginnis_divider.toml"):
    raw = read(spec)
    model = lambda: load_model(spec.parent / raw["model"])  # noqa: E731
    proto = load_protocol(spec.parent / raw["protocol"])
    pts = np.array([[p.inputs["v"], p.labels["w"]] for p in proto.task.points])
    v, w, s, c = divider_data(len(pts), seed=1)
    assert np.allclose(pts, np.stack([v, w], 1), atol=1e-11), "protocol points differ from divider_data(seed=1)"
    return model, proto, s, c


def mean_G_of_y(k, v, w):
    """⟨G(y)⟩ = ½ (κ1 + κ2) ⟨(a v − w)²⟩: y is 0 at the input and ground, r = a v − w at the output."""
    a = k[:, :1] / k.sum(1, keepdims=True)
    return 0.5 * k.sum(1) * np.mean((a * v[None] - w[None]) ** 2, axis=1)


def velocity_error(r, s, c, eta, k_min=0.1):
    """max over passes of |Δκ/Δt − f(κ_mid)| / max_run |f|: how closely the cycled run follows the
    batched flow of Eq. 4.13, over the passes with |κ| ≥ k_min. The flow is 0-homogeneous in κ, so
    its learning time ~|κ|/|f| shrinks toward the origin, and there the cycling (τ = 10 ms) no longer
    resolves the batch average."""
    mid = 0.5 * (r.kappa[1:] + r.kappa[:-1])
    ok = np.linalg.norm(mid, axis=1) >= k_min
    vel = (np.diff(r.kappa, axis=0) / np.diff(r.t)[:, None])[ok]
    f = np.stack(divider_field(mid[ok, 0], mid[ok, 1], s, c, eta), 1)
    return float(np.max(np.linalg.norm(vel - f, axis=1)) / np.max(np.linalg.norm(f, axis=1)))


def main(out=ROOT / "docs" / "mcginnis_fig4.png"):
    model, proto, s, c = load()
    v = np.array([p.inputs["v"] for p in proto.task.points])
    w = np.array([p.labels["w"] for p in proto.task.points])
    print(f"data: 10 points, s = {s:.4f}, c = {c:.4f}, sc = {s * c:.4f}; t_h = {proto.t_h * 1e3:g} ms, "
          f"T = {proto.t_h * len(v) * proto.passes:g} s")
    fig, axes = plt.subplots(2, 3, figsize=(10.5, 6.8))
    lim = 1.3
    g = np.linspace(1e-3, lim, 60)
    K1, K2 = np.meshgrid(g, g)
    t0 = time.perf_counter()
    runs = {}
    for ax, (title, eta, sym, eta_field) in zip(axes.flat, PANELS):
        F1, F2 = divider_field(K1, K2, s, c, eta_field)
        ax.streamplot(K1, K2, F1, F2, color="#9ecae1", density=0.6, linewidth=0.6, arrowsize=0.7)
        ax.plot([0, lim], [0, lim * (1 - s * c) / (s * c)], ":", color="tab:red", lw=1)   # a = sc
        runs[title] = []
        for k0 in STARTS:
            r = train(model(), proto.task, eta, symmetric=sym, t_h=proto.t_h, passes=proto.passes, theta0=k0)
            runs[title].append(r)
            ax.plot(r.kappa[:, 0], r.kappa[:, 1], "k", lw=1.2)
            ax.plot(*r.kappa[0], "ko", ms=5)
            ax.plot(*r.kappa[-1], "o", mfc="w", mec="k", ms=5)
            if r.error:
                print(f"  {title} from {k0}: stopped at t = {r.t[-1]:.2f} s ({r.error.split(':')[0]})")
        ax.set(xlim=(0, lim), ylim=(0, lim), xlabel="κ1", ylabel="κ2", title=title, aspect="equal")
        verr = max(velocity_error(r, s, c, eta_field) for r in runs[title])
        a_end = np.array([r.kappa[-1, 0] / r.kappa[-1].sum() for r in runs[title] if r.kappa[-1].sum() > 0])
        dK = np.array([r.K[-1] / r.K[0] - 1 for r in runs[title]])
        print(f"{title:>18}: a(T) in [{a_end.min():.4f}, {a_end.max():.4f}] (sc = {s * c:.4f}); "
              f"K(T)/K(0) - 1 in [{dK.min():+.3e}, {dK.max():+.3e}]; pass velocity vs the closed-form flow: "
              f"max error / max speed {verr:.1e} (|κ| ≥ 0.1 S)")
    ax = axes.flat[5]
    for (title, eta, sym, _), col in zip(PANELS, ["k", "tab:gray", "tab:blue", "tab:orange", "tab:green"]):
        r = runs[title][0]
        ax.plot(r.t, r.K / r.K[0], color=col, label=title)
        if not sym:                                             # Eq. 4.12 (θ̇ = A⟨κ̇⁽¹⁾⟩, A = 1)
            pred = r.K[0] + cumulative_trapezoid(-eta * mean_G_of_y(r.kappa, v, w), r.t, initial=0.0)
            ax.plot(r.t, pred / r.K[0], "--", color="w", lw=0.8)
            rel = np.max(np.abs(pred - r.K)) / r.K[0]
            print(f"{title:>18}: Eq. 4.12 integrated along the run vs K: max |ΔK|/K0 = {rel:.2e}")
    ax.set(xlabel="t (s)", ylabel="K(t) / K(0)", yscale="log", title=f"K from {STARTS[0]}; white: Eq. 4.12")
    ax.legend(fontsize=7)
    fig.suptitle("Voltage divider, batched CL (McGinnis Fig. 4): 10 points cycled at t_h = 1 ms; "
                 "streams: closed-form flow; red dotted: a = sc", fontsize=10)
    fig.tight_layout()
    save_small(fig, out)
    print(f"wrote {out} ({time.perf_counter() - t0:.1f} s of runs)")


if __name__ == "__main__":
    main()
