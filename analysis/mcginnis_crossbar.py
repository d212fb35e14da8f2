"""McGinnis et al. 2026 Fig. 5: Coupled Learning of a 5 x 3 crossbar on 50 incommensurate normal
points, in the time domain (points cycled with t_h short against the learning time: the batched
flow of Eq. 4.13). Grey: each conductance; blue: the RMS √(2K/M). η = 0 keeps K (Thm 3.3);
η = 1 drains it (Eq. 4.12) until every conductance has been removed.

    python analysis/mcginnis_crossbar.py   # analysis/mcginnis_crossbar.toml -> docs/mcginnis_fig5.png
"""
import pathlib
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tdsim.studies.mcginnis import crossbar, task_of, train  # noqa: E402
from tdsim.analysis.plots import save_small  # noqa: E402
from tdsim.io.spec import read  # noqa: E402
from tdsim.model.units import quantity  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def setup(cfg):
    def circuit():
        return crossbar(cfg["n_in"], cfg["n_out"], seed=cfg["seed"], kappa=tuple(cfg["kappa"]), leak=cfg["leak"])
    c = circuit()
    x = np.random.default_rng([cfg["seed"], 1]).standard_normal((cfg["points"], cfg["n_in"] + cfg["n_out"]))
    task = task_of(list(c.sources), list(c.outputs), x)
    return circuit, task


def main(spec=ROOT / "analysis" / "mcginnis_crossbar.toml", out=ROOT / "docs" / "mcginnis_fig5.png"):
    cfg = read(spec)
    circuit, task = setup(cfg)
    t_h = quantity(cfg["t_h"], "time", "t_h")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    t0 = time.perf_counter()
    for ax, rc in zip(axes, cfg["runs"]):
        r = train(circuit(), task, rc["eta"], symmetric=rc["symmetric"], A=cfg["A"], t_h=t_h, passes=cfg["passes"])
        ax.plot(r.t, r.kappa, color="0.6", lw=0.7)
        ax.plot(r.t, r.rms, color="tab:blue", lw=2, label="RMS κ = √(2K/M)")
        gone = r.removal_times()
        ax.plot(list(gone.values()), np.zeros(len(gone)), "x", color="tab:red", ms=5, label="edge removed (κ = 0)")
        ax.set(xlabel="t (s)", title=rc["label"])
        ax.legend(fontsize=8)
        K = r.K
        msg = (f"{rc['label']:>24}: K(T)/K(0) = {K[-1] / K[0]:.6g} (max |K/K0 - 1| = {np.max(np.abs(K / K[0] - 1)):.2e}); "
               f"{len(gone)}/{len(r.edges)} edges reached 0")
        if gone and min(gone.values()) > 0:
            before = r.t < min(gone.values())
            msg += f" (max |K/K0 - 1| before the first: {np.max(np.abs(K[before] / K[0] - 1)):.1e})"
        if gone:
            msg += f", first {min(gone.values()):.2f} s, last {max(gone.values()):.2f} s: " + \
                   ", ".join(f"{e}@{t:.2f}" for e, t in gone.items())
        print(msg + (f"; stopped: {r.error}" if r.error else ""))
    axes[0].set_ylabel("κ (S)")
    fig.suptitle(f"{cfg['n_in']}x{cfg['n_out']} crossbar, batched CL on {cfg['points']} normal points "
                 f"(McGinnis Fig. 5), t_h = {t_h * 1e3:g} ms", fontsize=10)
    fig.tight_layout()
    save_small(fig, out, dpi=90)
    print(f"wrote {out} ({time.perf_counter() - t0:.1f} s of runs)")


if __name__ == "__main__":
    main()
