"""Time to the limit cycle: direct stepping (period after period until θ at consecutive period ends
differs by less than cycle_tol) against Newton shooting on the period map (tol = the same
cycle_tol), in the same process, on the same compiled circuit, table and integrator options.

    python benchmarks/cycle.py            # 2+1-edge network, full RC: τ = 2 ms, 20 ms, 2 s (~10 s)
    python benchmarks/cycle.py --clln     # also Fig. 1's CLLN with bias (~10 min; see docs/integrators.md)

Cases: the default job (runs/two_plus_one.toml: Dillavou Fig. 2B tasks, measured bias, rodas4,
rtol 1e-6) at three τ, to 1e-8 V, shooting with Jacobians from forward sensitivities and, for
comparison, from differences; the hardware-sized CLLN of Dillavou Fig. 1 on its grid task with App.
C's bias drawn with seed 2 (runs/fig1_clln_bias.toml, rodas4, rtol 1e-4) at τ = 0.2 s and 2 s, to
1e-6 V, each method timed once, the direct run to cycle_tol only (~600 and ~50 periods: an
extrapolation from its first periods with the cycle's |μ₁| overestimated it by 40 %, its
transient contracts faster). Each row: wall time and periods simulated by each
method, their ratio, the leading Floquet multiplier |μ₁| against the direct run's late
contraction per period, each method's distance from a tight reference cycle (shooting to 1e-12 V
on the same map), and the tracemalloc peak of each (Python objects and numpy arrays; arrays numba
allocates inside the compiled loop are not seen). Kernels are loaded by a warm-up call first.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
import tomllib
import tracemalloc
from pathlib import Path

import numpy as np

from tdsim import build, table
from tdsim.io.spec import run_from_dict
from tdsim.simulation.shooting import ShootingError, shoot
from tdsim.simulation.simulate import simulate

ROOT = Path(__file__).resolve().parent.parent


def job(spec_file: str, tau: str, periods: int, seed: int | None = None, **sim):
    d = tomllib.loads((ROOT / spec_file).read_text())
    if seed is not None:
        d["seed"] = seed
    d["parameters"] = {**d.get("parameters", {}), "tau": tau, "periods": periods}
    d["simulation"] = {**d["simulation"], "record_interval": "0 s", **sim}
    spec = run_from_dict(d, (ROOT / spec_file).parent)
    c = build(spec.circuit, spec.twins, spec.imperfections, spec.seed, force_nudge=spec.force_nudge)
    return c, table(spec.segments, c, differential=spec.differential), spec.options


def measured(fn, repeat: int = 3, budget: float = 0.5, most: int = 50):
    """(result, wall s, peak MiB): the best of at least ``repeat`` timed calls, more (up to ``most``)
    while they take less than ``budget`` s in all (the cores are shared: a call of a few ms is often
    interrupted), then one traced call (tracemalloc slows Python)."""
    wall, spent, k = np.inf, 0.0, 0
    while k < repeat or (spent < budget and k < most):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        wall, spent, k = min(wall, dt), spent + dt, k + 1
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return out, wall, peak


def row(name, spec_file, tau, tol, periods=100_000, seed=None, repeat=3, ref_tol=None, same_distance=True, **sim):
    """Direct stepping to cycle_tol = tol, and also to the same *distance* from the cycle as
    shooting's tol (the direct test stops at a period-to-period change c, still c μ/(1 − μ) from
    the cycle: cycle_tol = tol (1 − μ)/μ); shooting to tol. A direct run that reaches ``periods``
    unconverged has its cost extrapolated with the measured μ (said so in its row);
    ``same_distance``: also the second direct run."""
    c, tab, opt = job(spec_file, tau, periods, seed, **sim)
    learn = c.learn
    simulate(c, dataclasses.replace(tab, repeat=1), opt)     # load the kernels from numba's cache
    budget = 0.5 if repeat > 1 else 0.0
    cyc, t_s, m_s = measured(lambda: shoot(c, tab, opt, tol=tol, max_iter=200), repeat, budget)
    mu = abs(cyc.leading)
    ref = shoot(c, tab, opt, tol=ref_tol or min(1e-12, tol / 100), max_iter=200)    # the same map, solved tighter
    out = {"shooting_s": t_s, "shooting_periods": cyc.periods, "mu": mu}
    if cyc.method == "dense" and len(cyc.state) <= 8:      # the same solve with the Jacobian by differences
        dif, t_f, _ = measured(lambda: shoot(c, tab, opt, tol=tol, jacobian="differences"), repeat, budget)
        print(f"{name}: shooting with difference Jacobians {t_f:.4f} s, {dif.periods} periods, {dif.iterations} "
              f"iterations (sensitivities: {t_f / t_s:.2f}x faster)")
    print(f"{name}: shooting {t_s:.4f} s, {cyc.periods} periods ({1e3 * t_s / cyc.periods:.3f} ms each; "
          f"{cyc.method}, n = {len(cyc.state)}, "
          f"{cyc.iterations} Newton iterations, residual {cyc.residual:.1e} V), peak {m_s:.1f} MiB; "
          f"|μ₁| = {mu:.6f}; distance from the reference cycle {np.max(np.abs(cyc.theta - ref.theta)[learn]):.1e} V")
    for label, ctol in (("to cycle_tol", tol), ("to the same distance", tol * (1 - mu) / mu))[:2 if same_distance else 1]:
        o = dataclasses.replace(opt, cycle_tol=ctol)
        direct, t_d, m_d = measured(lambda: simulate(c, tab, o), repeat, budget)
        P = direct.stats["periods"]
        ends = direct.event_theta[np.flatnonzero(direct.event_seg % len(tab.dur) == len(tab.dur) - 1)][:, learn]
        dif = np.max(np.abs(np.diff(ends, axis=0)), axis=1)
        ok = dif > 1e3 * tol                                # contraction where differences are far above noise
        pair = ok[1:] & ok[:-1]
        ratios = dif[1:][pair] / dif[:-1][pair]
        observed = float(np.median(ratios[len(ratios) // 2:])) if len(ratios) >= 4 else float("nan")
        note = ""
        if not direct.stats["converged"]:              # extrapolate: periods until the change falls below ctol
            more = np.log(ctol / dif[-1]) / np.log(mu) if 0 < mu < 1 else np.inf
            note = f" (stopped after {P}; ~{more:.0f} more periods needed at |μ₁|: projected {t_d * (P + more) / P:.1f} s)"
            t_d, P = t_d * (P + more) / P, P + more
        dist = np.max(np.abs(direct.state.theta - ref.theta)[learn])
        n = len(cyc.state)
        print(f"  direct {label:22} (cycle_tol {ctol:.1e} V): {t_d:8.4f} s, {P:6.0f} periods ({1e3 * t_d / P:.3f} ms "
              f"each), peak {m_d:.1f} MiB, distance {dist:.1e} V, contraction observed {observed:.6f}; shooting is "
              f"{t_d / t_s:.1f}x faster{note}; at most ~{P / 2:.1f}x at equal cost per period (2 periods: one "
              f"with its Jacobian, one to check the step; ~{P / (n + 2):.1f}x with difference Jacobians, "
              f"1 + n + 1 = {n + 2} periods)")
        out[label] = (t_d, P)
    return out

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clln", action="store_true", help="add the 4x4 CLLN with bias (minutes)")
    a = ap.parse_args(argv)
    for tau in ("2 ms", "20 ms", "2 s"):
        row(f"2+1 rodas4 rtol 1e-6, tau {tau}", "runs/two_plus_one.toml", tau, 1e-8)
    if a.clln:
        for tau in ("0.2 s", "2 s"):
            try:
                row(f"Fig. 1 CLLN, bias seed 2, rodas4 1e-4, tau {tau}", "runs/fig1_clln_bias.toml", tau, 1e-6,
                    seed=2, repeat=1, ref_tol=1e-8, same_distance=False, integrator="rodas4", rtol=1e-4,
                    atol="1 uV")
            except ShootingError as err:
                print(f"Fig. 1 CLLN, tau {tau}: shooting failed: {err}")


if __name__ == "__main__":
    main()
