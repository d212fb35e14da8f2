"""Figures of one stored run: gate voltages and outputs against time, and the G-space path."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tdsim.runs.store import open_run  # noqa: E402


def run_figures(path) -> list:
    """Write <store stem>_gates.png (and _gspace.png with ≥2 learning edges) beside the store."""
    path = Path(path)
    ds = open_run(path)
    learns = ds["edge_learns"].values
    t = ds["time"].values
    out = []
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    for e in np.flatnonzero(learns):
        ax1.plot(t, ds["theta"].values[:, e], label=str(ds["edge"].values[e]))
    ax1.set_ylabel("gate voltage G (V)")
    ax1.legend(loc="best", fontsize=8)
    O = ds["O"].values
    for k, name in enumerate(ds["output"].values):
        for tw, twin in enumerate(ds["twin"].values):
            ax2.plot(t, O[:, tw, k], label=f"{name} ({twin})", lw=1)
    ax2.set_xlabel("time (s)")
    ax2.set_ylabel("output (V)")
    ax2.legend(loc="best", fontsize=8)
    fig.suptitle(path.stem)
    fig.tight_layout()
    out.append(path.with_name(path.stem + "_gates.png"))
    fig.savefig(out[-1], dpi=90)
    plt.close(fig)
    idx = np.flatnonzero(learns)
    if len(idx) >= 2:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        th = ds["theta"].values
        ev = ds["event_theta"].values
        ax.plot(th[:, idx[0]], th[:, idx[1]], "-", lw=0.6, color="0.6", label="trajectory")
        ax.plot(ev[:, idx[0]], ev[:, idx[1]], ".", ms=3, label="recorded events")
        if len(th):
            ax.plot(th[-1, idx[0]], th[-1, idx[1]], "o", color="k", label="end")
        ax.set_xlabel(f"G ({ds['edge'].values[idx[0]]}) (V)")
        ax.set_ylabel(f"G ({ds['edge'].values[idx[1]]}) (V)")
        ax.set_title("gate-space trajectory")
        ax.legend(fontsize=7, loc="lower left")
        if len(ev) > 4:                                  # inset: the last two recorded periods
            ins = ax.inset_axes([0.55, 0.55, 0.42, 0.42])
            ins.plot(th[-max(len(th) // 20, 10):, idx[0]], th[-max(len(th) // 20, 10):, idx[1]], "-", lw=0.8)
            ins.plot(ev[-4:, idx[0]], ev[-4:, idx[1]], ".", ms=4)
            ins.tick_params(labelsize=6)
        fig.tight_layout()
        out.append(path.with_name(path.stem + "_gspace.png"))
        fig.savefig(out[-1], dpi=90)
        plt.close(fig)
    if "floquet" in ds:
        out.append(floquet_figure(ds["floquet"].values, path.with_name(path.stem + "_floquet.png"), path.stem))
    return out


def floquet_figure(mult, path, title: str = ""):
    """The Floquet multipliers of a shooting run in the complex plane, with the unit circle (a
    multiplier outside it: the cycle is unstable) and the periods a direct run needs per decade
    of the distance to the cycle, −1/log10|μ₁|."""
    mult = np.asarray(mult, dtype=complex)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    a = np.linspace(0, 2 * np.pi, 361)
    ax.plot(np.cos(a), np.sin(a), "-", color="0.7", lw=0.8)
    ax.plot(mult.real, mult.imag, "x", color="C3", ms=8)
    lead = abs(mult[0]) if len(mult) else 0.0
    note = f"|μ₁| = {lead:.4g}" + (f": {-1 / np.log10(lead):.3g} periods per decade" if 0 < lead < 1 else "")
    ax.set_title(f"{title}\nFloquet multipliers, {note}", fontsize=9)
    ax.set_xlabel("Re μ")
    ax.set_ylabel("Im μ")
    ax.set_aspect("equal")
    ax.axhline(0, color="0.85", lw=0.5)
    ax.axvline(0, color="0.85", lw=0.5)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


def trainer_figures(path) -> list:
    """Write <store stem>_training.png beside a trainer store (tdsim.trainers): losses and
    accuracies against epochs (freqprop) or updates (omega_training, one line per training)."""
    path = Path(path)
    ds = open_run(path)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    if ds.attrs.get("trainer") == "freqprop":
        x = ds["epoch"].values
        for name, style in (("train_loss", "C1-"), ("test_loss", "C0-")):
            ax1.plot(x, ds[name].values, style, label=name.replace("_", " "))
        for name, style in (("train_acc", "C1-"), ("test_acc", "C0-"), ("test_acc_test_prototypes", "C2--")):
            ax2.plot(x, ds[name].values, style, label=name.replace("_", " "))
        ax1.set_xlabel("epoch")
        ax2.set_xlabel("epoch")
    else:
        x = ds["step"].values
        for k in range(ds.sizes["training"]):
            label = " ".join(str(ds[c].values[k]) for c in ("variant", "estimator") if str(ds[c].values[k]))
            ax1.plot(x, ds["train_loss"].values[k], f"C{k}-", label=f"{label} train")
            ax1.plot(x, ds["test_loss"].values[k], f"C{k}:", label=f"{label} test")
            ax2.plot(x, ds["test_accuracy"].values[k], f"C{k}-", label=label)
        ax1.set_xlabel("update")
        ax2.set_xlabel("update")
    ax1.set_ylabel("loss")
    ax2.set_ylabel("accuracy")
    ax2.set_ylim(0, 1.02)
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7, loc="lower right")
    fig.suptitle(path.stem)
    fig.tight_layout()
    out = path.with_name(path.stem + "_training.png")
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return [out]


# ---- analysis figures (Dillavou Figs. 2D-G, 3): Ē and D against τ, limit cycles in G space ----

TASK_COLORS = ("tab:blue", "tab:red")          # α blue, β red (Dillavou App. B)


def solution_lines(ax, theory, xlim, ylim, n: int = 81):
    """Each data point's solution line O(G) = L in the plane of two learning gates (dotted; α blue,
    β red), the solution points G*_μ (black), computed with the circuit's free network."""
    g1, g2 = np.linspace(*xlim, n), np.linspace(*ylim, n)
    th = theory.theta.copy()
    for k, color in enumerate(TASK_COLORS):
        P = len(theory.meter.tables[k].dur)
        R = np.empty((P, n, n))
        for i, a in enumerate(g2):
            for j, b in enumerate(g1):
                th[theory.idx] = (b, a)
                d, L = theory.meter.outputs(th, k)
                R[:, i, j] = (L - d)[:, 0]
        for p in range(P):
            ax.contour(g1, g2, R[p], levels=[0.0], colors=color, linestyles=":", linewidths=1.2)
    for g in {tuple(np.round(g, 9)) for g in theory.G_star}:
        ax.plot(*g, "k*", ms=8, zorder=5)


def limit_cycle_panel(ax, theory, runs: dict, span=None, bias_arrow=True):
    """Stored limit cycles (G-space paths of the last period, labelled by τ) over the solution lines,
    with the linear theory's orbit for the same τ (black), the bias direction and the gate limits."""
    from tdsim.analysis.stats import gate_path
    pts = [gate_path(ds, periods=1).values for ds in runs.values()]
    allp = np.vstack(pts + [np.array(theory.G_star)])
    lo, hi = allp.min(0), allp.max(0)
    pad = 0.15 * max(hi - lo) + 0.05 if span is None else 0
    c = 0.5 * (lo + hi)
    half = 0.5 * max(hi - lo) + pad if span is None else span / 2
    xlim, ylim = (c[0] - half, c[0] + half), (c[1] - half, c[1] + half)
    solution_lines(ax, theory, xlim, ylim)
    for (label, ds), p in zip(runs.items(), pts):
        ax.plot(p[:, 0], p[:, 1], "-", lw=2.2, alpha=0.7, label=f"τ = {label}")
        tau = _tau_of(ds)
        if tau:
            orbit = theory.path(tau, n=200)
            ax.plot(orbit[:, 0], orbit[:, 1], "k-", lw=0.8)
    if bias_arrow and np.any(theory.B):
        b = theory.B / np.linalg.norm(theory.B) * 0.2 * half
        ax.annotate("", xy=(xlim[0] + 0.25 * half + b[0], ylim[1] - 0.25 * half + b[1]),
                    xytext=(xlim[0] + 0.25 * half, ylim[1] - 0.25 * half),
                    arrowprops=dict(arrowstyle="->", color="0.4", lw=2))
        ax.text(xlim[0] + 0.05 * half, ylim[1] - 0.12 * half, "B", color="0.4")
    for g in (theory.gmax[0], theory.gmin[0]):
        if xlim[0] < g < xlim[1]:
            ax.axvline(g, color="k", lw=3)
    for g in (theory.gmax[1], theory.gmin[1]):
        if ylim[0] < g < ylim[1]:
            ax.axhline(g, color="k", lw=3)
    ax.set_xlim(xlim), ax.set_ylim(ylim)
    ax.set_aspect("equal")
    ax.set_xlabel(f"{theory.names[0]} (V)")
    ax.set_ylabel(f"{theory.names[1]} (V)")
    ax.legend(fontsize=7, loc="lower right")


def _tau_of(ds):
    from tdsim.analysis.stats import _tau
    return _tau(ds)


def tau_panels(axE, axD, table, x: str = "parameters.tau", label: str = "", marker="o", color=None,
               prediction: dict | None = None, pred_label="linear theory", pred_style="k-"):
    """Ē(τ) and D(τ) on log–log axes from a ``tau_table``, open markers where the run did not reach
    its limit cycle; optionally a theory curve {"tau", "E_bar", "D"}."""
    tau = table[x].values
    ok = table["reached"].values.astype(bool)
    for ax, key in ((axE, "E_bar"), (axD, "D")):
        y = table[key].values
        line, = ax.loglog(tau[ok], y[ok], marker, color=color, ms=5, label=label, ls="none")
        if (~ok).any():
            ax.loglog(tau[~ok], y[~ok], marker, mfc="none", color=line.get_color(), ms=5, ls="none")
        if prediction is not None:
            ax.loglog(prediction["tau"], prediction[key], pred_style, lw=1, label=pred_label)
        ax.set_xlabel("τ (s)")
    axE.set_ylabel("combined error Ē (V²)")
    axD.set_ylabel("cycle span D (V)")


def tau_figure(groups: dict, path, title: str = "", x: str = "parameters.tau"):
    """Ē and D against τ (Dillavou Fig. 2D/E, 3A/B): ``groups`` maps a label to (tau_table,
    {curve label: prediction dict or None}). Theory curves: solid, dashed, dotted in order."""
    fig, (axE, axD) = plt.subplots(1, 2, figsize=(9, 3.8))
    markers = "osD^v"
    styles = ("-", "--", ":")
    for g, (label, (table, preds)) in enumerate(groups.items()):
        color = f"C{g}"
        tau_panels(axE, axD, table, x, label=label, marker=markers[g % 5], color=color)
        for s, (plabel, p) in enumerate((preds or {}).items()):
            if p is not None:
                for ax, key in ((axE, "E_bar"), (axD, "D")):
                    ax.loglog(p["tau"], p[key], styles[s % 3], color=color, lw=1, label=f"{label}: {plabel}")
    axE.legend(fontsize=6.5, loc="upper left")
    return _finish(fig, path, title)


def cycles_figure(panels: dict, path, title: str = ""):
    """Limit cycles in G space, one panel per (theory, {τ label: stored run}) (Fig. 2F/G, 3C)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.6), squeeze=False)
    for ax, (label, (theory, runs)) in zip(axes[0], panels.items()):
        limit_cycle_panel(ax, theory, runs)
        ax.set_title(label, fontsize=9)
    return _finish(fig, path, title)


def _finish(fig, path, title: str = ""):
    """Title, tight layout, save at 100 dpi, close; returns the path."""
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save_small(fig, path, dpi: int = 80, colors: int = 256):
    """Save ``fig`` as a palette PNG (``colors`` colours): stream plots and many trajectories stay
    under ~150 kB for docs/. Closes the figure; returns the path."""
    import io

    from PIL import Image
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    plt.close(fig)
    buf.seek(0)
    Image.open(buf).convert("RGB").quantize(colors=colors, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)
    return path
