"""Figures of one stored run: gate voltages and outputs against time, and the G-space path."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .store import open_run  # noqa: E402


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
    return out
