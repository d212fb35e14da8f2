"""Dillavou et al. Fig. 2D-G on the 2+1-edge network: Ē and D against τ for the Fig. 2B and 2C
task pairs with their measured biases, the linear theory of App. D overlaid (linearized at the
joint solution G*, as in the paper, and at the small-τ orbit centre), and the bow-tie limit cycles
at τ = 20 ms and 800 ms with each task's solution line.

    python analysis/fig2_two_plus_one.py        # sweep runs/fig2_tau_sweep.toml -> docs/fig2_tau.png, docs/fig2_cycles.png
"""
import copy
import json
from pathlib import Path

import numpy as np

from tdsim import analysis as an
from tdsim import open_run
from tdsim.plots import cycles_figure, tau_figure
from tdsim.runner import run_spec
from tdsim.spec import run_from_dict
from tdsim.sweep import load_sweep, open_sweep, point_spec, run_sweep
from tdsim.theory import BiasTheory

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "runs" / "out"
PAIRS = {"../protocols/fig2b_two_task.toml": "Fig. 2B pair, B = (2.97, 4.41) V/s",
         "../protocols/fig2c_two_task.toml": "Fig. 2C pair, B = (-0.16, 1.98) V/s"}


def main():
    sweep = load_sweep(ROOT / "runs" / "fig2_tau_sweep.toml")
    run_sweep(sweep, workers=2, progress=False)
    table = an.tau_table(open_sweep(sweep.output))
    taus = np.logspace(-3, np.log10(30), 80)
    groups, panels, report = {}, {}, {}
    for proto, label in PAIRS.items():
        sub = table.isel(run=np.flatnonzero(table["protocol"].values == proto))
        point = next(p for p in sweep.points if p["protocol"] == proto)
        spec = point_spec(sweep, point)
        paper = BiasTheory(spec, linearize="solution")
        centre = BiasTheory(spec, linearize="center")
        groups[label] = (sub, {"theory at G*": paper.predict(taus), "theory at orbit centre": centre.predict(taus)})
        tau, E, D = sub["parameters.tau"].values, sub["E_bar"].values, sub["D"].values
        fit = an.loglog_fit(tau, D, x_max=0.25)
        small = tau <= 0.02
        report[label] = {
            "D_slope_2ms_200ms": fit, "E_low_plateau": an.plateau(tau, E, "low", 0.1),
            "E_high_plateau": an.plateau(tau, E, "high", 0.1), "D_high_plateau": an.plateau(tau, D, "high", 0.05),
            "reached": int(sub["reached"].sum()), "runs": int(sub.sizes["run"]),
            "theory_at_Gstar_rel_err_small_tau": {
                "E_bar": float(np.max(np.abs(E[small] / paper.predict(tau[small])["E_bar"] - 1))),
                "D": float(np.max(np.abs(D[small] / paper.predict(tau[small])["D"] - 1)))},
            "theory_at_centre_rel_err_small_tau": {
                "E_bar": float(np.max(np.abs(E[small] / centre.predict(tau[small])["E_bar"] - 1))),
                "D": float(np.max(np.abs(D[small] / centre.predict(tau[small])["D"] - 1)))},
            "G_star": paper.G_star[0].tolist(), "G_centre": centre.G_center.tolist()}
        runs = {}
        for tau_s in ("20 ms", "800 ms"):
            d = copy.deepcopy(spec.resolved)
            d["parameters"] = {**d.get("parameters", {}), "tau": tau_s}
            t = float(tau_s.split()[0]) * 1e-3
            d["simulation"] = {**d["simulation"], "record_interval": f"{t / 400:g} s"}
            name = f"fig2_cycle_{Path(proto).stem}_{tau_s.replace(' ', '')}.zarr"
            path, _ = run_spec(run_from_dict(d), OUT / name, overwrite=True, progress=False)
            runs[tau_s] = open_run(path)
        panels[label] = (paper, runs)
    tau_figure(groups, ROOT / "docs" / "fig2_tau.png", "2+1 edges (Dillavou Fig. 2D/E): simulation (markers) and linear theory")
    cycles_figure(panels, ROOT / "docs" / "fig2_cycles.png", "Limit cycles (Fig. 2F/G): simulation (colour), theory at G* (black)")
    print(table.to_dataframe()[["protocol", "parameters.tau", "E_bar", "D", "reached", "periods"]].to_string())
    print(an.to_json(report))
    (OUT / "fig2_summary.json").write_text(an.to_json(report))


if __name__ == "__main__":
    main()
