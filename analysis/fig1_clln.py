"""Dillavou Fig. 1G/H on the hardware-sized CLLN (32 MOSFET edges): Ē and D against τ for the
square-grid classification trained as two alternated tasks, with a device-to-device update bias.

    python analysis/fig1_clln.py        # sweep sweeps/fig1_clln_tau_sweep.toml -> docs/fig1_clln_tau.png
"""
from pathlib import Path

from tdsim.analysis import stats as an
from tdsim.analysis.plots import tau_figure
from tdsim.runs.sweep import load_sweep, open_sweep, run_sweep

ROOT = Path(__file__).resolve().parent.parent


def main():
    sweep = load_sweep(ROOT / "sweeps" / "fig1_clln_tau_sweep.toml")
    run_sweep(sweep, workers=2, progress=False)
    table = an.tau_table(open_sweep(sweep.output))
    tau_figure({"CLLN 4x4, grid classification, bias spread 0.5 V/s": (table, None)},
               ROOT / "docs" / "fig1_clln_tau.png", "Hardware-sized CLLN (Dillavou Fig. 1G/H)")
    print(table.to_dataframe()[["parameters.tau", "E_bar", "D", "reached", "change", "periods"]].to_string())
    tau, D, E = table["parameters.tau"].values, table["D"].values, table["E_bar"].values
    print("D slope:", an.to_json(an.loglog_fit(tau, D, x_max=0.25)))
    print("E_bar slope:", an.to_json(an.loglog_fit(tau, E)))


if __name__ == "__main__":
    main()
