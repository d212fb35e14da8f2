"""Figures of classification (Dillavou Figs. 1C, 5): output maps with the training data, and
accuracy and hinge loss against the input spread ε for several training rules."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

RULE_STYLE = {"standard": dict(color="0.45", marker="o", label="standard clamping (η = 1)"),
              "overclamp": dict(color="#e0a100", marker="s", label="overclamping (η = 0.25, L0 = V+)")}


def plot_map(ax, omap, points, vlim: float | None = None, title: str | None = None):
    """Classification map (Fig. 5A / 1C): background = the settled output d(V1, V2) (``omap``, a
    DataArray over (y, x)), its zero contour (the decision boundary), and the training points
    (``points``: a ``classify.classification`` Dataset) coloured by class (label > 0 blue, < 0 red),
    a cross on each misclassified one. Colours saturate at ±``vlim`` (default: the largest |d|).
    Returns the background's QuadMesh (for a colour bar)."""
    y, x = omap.dims
    d = omap.values * 1e3
    vlim = float(np.nanmax(np.abs(d))) if vlim is None else vlim * 1e3
    mesh = ax.pcolormesh(omap[x].values, omap[y].values, d, cmap="RdBu", vmin=-vlim, vmax=vlim, shading="auto",
                         rasterized=True)
    if np.nanmin(d) < 0 < np.nanmax(d):
        ax.contour(omap[x].values, omap[y].values, d, levels=[0.0], colors="k", linewidths=0.8)
    L = points["label"].values
    px, py = points[x].values, points[y].values
    ax.scatter(px, py, c=np.where(L > 0, "#1f4e9c", "#c0282d"), s=28, edgecolors="w", linewidths=0.8, zorder=3)
    wrong = np.sign(points["output"].values) != np.sign(L)
    if wrong.any():
        ax.scatter(px[wrong], py[wrong], marker="x", c="k", s=22, linewidths=1.0, zorder=4)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    return mesh


def plot_accuracy_hinge(summary, axes=None, eps: str = "eps", rule: str = "rule"):
    """Fig. 5B/C: accuracy and hinge loss (Eq. A2) against ε, mean ± standard error over splits,
    one line per rule. ``summary``: ``classify.summarize`` output (dims rule, eps; variables
    accuracy_mean/_sem, hinge_loss_mean/_sem). The hinge axis is symmetric-log so that a loss of
    exactly 0 shows (the paper breaks its log axis for the same reason). Returns the figure."""
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    else:
        fig = axes[0].figure
    ax1, ax2 = axes
    e = summary[eps].values * 1e3
    hinge = summary["hinge_loss_mean"].values * 1e6
    positive = hinge[hinge > 0]
    lin = 10 ** np.floor(np.log10(positive.min())) if positive.size else 1.0
    for r in summary[rule].values:
        s = summary.sel({rule: r})
        style = dict(RULE_STYLE.get(str(r), dict(label=str(r))))
        kw = dict(capsize=3, lw=1.2, ms=5, **style)
        ax1.errorbar(e, s["accuracy_mean"].values, yerr=s["accuracy_sem"].values, **kw)
        ax2.errorbar(e, s["hinge_loss_mean"].values * 1e6, yerr=s["hinge_loss_sem"].values * 1e6, **kw)
    ax1.set_xlabel("ring diameter ε (mV)")
    ax1.set_ylabel("classification accuracy")
    ax1.set_ylim(0.4, 1.05)
    ax1.axhline(0.5, color="0.8", lw=0.8, zorder=0)
    ax2.set_xlabel("ring diameter ε (mV)")
    ax2.set_ylabel("hinge loss, Eq. A2 (mV²)")
    ax2.set_yscale("symlog", linthresh=lin, linscale=0.5)
    ax2.axhline(0.0, color="k", lw=0.8)
    ax2.set_ylim(bottom=0.0)
    ax1.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def plot_maps(maps, classes, rows, cols, row_label, col_label, vlim=None, figsize=None):
    """A grid of ``plot_map`` panels: ``maps[(r, c)]`` and ``classes[(r, c)]`` for r in rows, c in
    cols; ``row_label(r)`` and ``col_label(c)`` title them. One shared colour bar (mV)."""
    fig, axes = plt.subplots(len(rows), len(cols), figsize=figsize or (1.9 * len(cols) + 1.2, 1.9 * len(rows)),
                             squeeze=False)
    mesh = None
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            ax = axes[i, j]
            mesh = plot_map(ax, maps[(r, c)], classes[(r, c)], vlim=vlim,
                            title=f"{col_label(c)}, acc {float(classes[(r, c)]['accuracy']):.2f}")
            if j == 0:
                ax.set_ylabel(row_label(r), fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    cax = fig.add_axes((0.88, 0.15, 0.015, 0.7))
    fig.colorbar(mesh, cax=cax).set_label("output O+ − O− (mV)", fontsize=8)
    return fig
