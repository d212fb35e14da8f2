"""The settling floor: compatible tasks (Fig. 2B pair), no bias. Quasi-statically the system settles
on the joint solution (Ē, D at numerical zero); in full RC the transient after each task switch
leaves a limit cycle that grows with node capacitance C: an effective bias that no steady-state
simulator can show.

    python analysis/rc_floor.py        # sweep sweeps/rc_floor_sweep.toml -> docs/rc_floor.png
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tdsim.analysis import stats as an  # noqa: E402
from tdsim.runs.sweep import load_sweep, open_sweep, run_sweep  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main():
    sweep = load_sweep(ROOT / "sweeps" / "rc_floor_sweep.toml")
    run_sweep(sweep, workers=2, progress=False)
    table = an.tau_table(open_sweep(sweep.output))
    df = table.to_dataframe()
    fig, (axE, axD) = plt.subplots(1, 2, figsize=(9, 3.8))
    rows = []
    caps = sorted(set(df["model.capacitance"]), key=float)
    for k, C in enumerate(caps):
        for integ, style in (("rosenbrock", "o-"), ("quasistatic", "x:")):
            sub = df[(df["model.capacitance"] == C) & (df["simulation.integrator"] == integ)]
            if integ == "quasistatic" and k > 0:
                continue                              # quasi-static ignores C: draw it once
            label = f"full RC, C = {C * 1e9:g} nF" if integ == "rosenbrock" else "quasi-static"
            color = f"C{k}" if integ == "rosenbrock" else "k"
            for ax, key in ((axE, "E_bar"), (axD, "D")):
                ax.loglog(sub["parameters.tau"], np.maximum(sub[key], 1e-30), style, color=color, ms=4, label=label)
            for _, r in sub.iterrows():
                rows.append((integ, C, r["parameters.tau"], r["E_bar"], r["D"], r["reached"]))
    for ax, lab in ((axE, "combined error Ē (V²)"), (axD, "cycle span D (V)")):
        ax.set_xlabel("τ (s)"), ax.set_ylabel(lab)
    axD.legend(fontsize=7)
    fig.suptitle("No bias, compatible tasks: the RC settling floor (2+1 edges, Fig. 2B pair)", fontsize=10)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "rc_floor.png", dpi=100)
    print(f"{'integrator':12} {'C (F)':>8} {'tau (s)':>9} {'E_bar (V^2)':>12} {'D (V)':>10} reached")
    for r in rows:
        print(f"{r[0]:12} {r[1]:8.1e} {r[2]:9.4f} {r[3]:12.3e} {r[4]:10.3e} {r[5]}")
    at = df[(df["simulation.integrator"] == "rosenbrock")]
    for tau in sorted(set(at["parameters.tau"])):
        s = at[at["parameters.tau"] == tau].sort_values("model.capacitance")
        fit = an.loglog_fit(s["model.capacitance"], s["D"])
        print(f"tau = {tau:.4f} s: D ∝ C^{fit.slope:.3f}")


if __name__ == "__main__":
    main()
