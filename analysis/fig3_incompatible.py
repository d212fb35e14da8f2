"""Dillavou et al. Fig. 3 on the 2+1-edge network: the incompatible pair (task α: two points, task β:
one point no α solution satisfies) with and without bias. Ē and D against τ with the linear theory
(G*_α and the nearest point of β's solution line, as in the paper), and the limit cycles at
τ = 25, 100, 400 and 1600 ms.

    python analysis/fig3_incompatible.py   # sweep sweeps/fig3_tau_sweep.toml -> docs/fig3_tau.png, docs/fig3_cycles.png
"""
from pathlib import Path

from tdsim.analysis.report import two_task_study

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    two_task_study(ROOT / "sweeps" / "fig3_tau_sweep.toml", "imperfections.bias.G1",
                   {"-1.79 V/s": "incompatible pair, B = (-1.79, 0.68) V/s", "0 V/s": "incompatible pair, B = 0"},
                   cycle_taus=("25 ms", "100 ms", "400 ms", "1600 ms"), solution="nearest", name="fig3", slope_max=0.06,
                   docs=ROOT / "docs", title="Incompatible tasks (Dillavou Fig. 3A/B): simulation and linear theory")
