"""Dillavou et al. Fig. 2D-G on the 2+1-edge network: Ē and D against τ for the Fig. 2B and 2C
task pairs with their measured biases, the linear theory of App. D overlaid (linearized at the
joint solution G*, as in the paper, and at the small-τ orbit centre), and the bow-tie limit cycles
at τ = 20 ms and 800 ms with each task's solution line.

    python analysis/fig2_two_plus_one.py   # sweep sweeps/fig2_tau_sweep.toml -> docs/fig2_tau.png, docs/fig2_cycles.png
"""
from pathlib import Path

from tdsim.analysis.report import two_task_study

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    two_task_study(ROOT / "sweeps" / "fig2_tau_sweep.toml", "protocol",
                   {"../protocols/fig2b_two_task.toml": "Fig. 2B pair, B = (2.97, 4.41) V/s",
                    "../protocols/fig2c_two_task.toml": "Fig. 2C pair, B = (-0.16, 1.98) V/s"},
                   cycle_taus=("20 ms", "800 ms"), name="fig2", docs=ROOT / "docs",
                   title="2+1 edges (Dillavou Fig. 2D/E): simulation (markers) and linear theory")
