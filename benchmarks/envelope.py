"""Envelope following against direct stepping on the same run: wall time, exact passes, gate error, memory.

    python benchmarks/envelope.py [--case two_plus_one|clln|clln_cycling|all] [--tol 1e-4,1e-5] [--quick]
                                  [--periods N] [--rtol R] [--passes 3,2]

(a) two_plus_one: runs/two_plus_one.toml (Fig. 2B tasks, measured bias, full RC, rodas4) at
    τ = 2 ms for 3000 periods (6 s of learning), rtol 1e-9, atol 1 pV: its gates settle into the
    limit cycle after ~10 time constants of ~40 passes.
(c) clln_cycling: benchmarks/engine.py case (b), the twin 4x4 CLLN with 4 data points cycled every
    100 µs, 25000 passes (10 s of learning: issue 15's case), rosenbrock rtol 1e-8, atol 10 pV
    (~7 min of direct stepping, run twice: timed, then traced).
(b) clln: runs/clln_4x4_grid_bias.toml (4x4 twin CLLN, grid task, bias spread, full RC, rosenbrock) at
    τ = 20 ms for 200 periods (4 s of learning), its own tolerances (rtol 1e-4, atol 1 µV).
Each case runs the direct stepping once (the reference, and the time to beat) and the envelope
at each tolerance (each run twice: timed, then under tracemalloc for its peak), in this process, after a warm-up that loads the compiled kernels. Printed: wall
times and their ratio, the passes simulated exactly against the passes covered, the largest gate
error |θ_env − θ_direct| over learning edges at the last pass, and the tracemalloc peak of each run
(numpy arrays allocated from Python: recording buffers, the envelope's record; numba's
allocations inside the compiled loop are not seen).
"""
from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tdsim.compile.build import build  # noqa: E402
from tdsim.compile.table import table  # noqa: E402
from tdsim.io.spec import read, run_from_dict  # noqa: E402
from tdsim.simulation.envelope import envelope  # noqa: E402
from tdsim.simulation.simulate import simulate  # noqa: E402

CASES = {
    "two_plus_one": ("runs/two_plus_one.toml", {"tau": "2 ms", "periods": 3000},
                     {"integrator": "rodas4", "rtol": 1e-9, "atol": "1e-12 V"}),
    "clln": ("runs/clln_4x4_grid_bias.toml", {"tau": "20 ms", "periods": 200}, None),
    "clln_cycling": (None, {"periods": 25000}, {"integrator": "rosenbrock", "rtol": 1e-8, "atol": "1e-11 V"}),
}
X4 = [(0.1, 0.1), (0.3, 0.1), (0.1, 0.3), (0.3, 0.3)]       # benchmarks/engine.py case (b)


def clln_cycling(periods, sim):
    """benchmarks/engine.py case (b): the twin 4x4 CLLN (clln_lattice), its 4 data points cycled every
    t_h = 100 µs (labels from a linear target, η = 1, learning on), ``periods`` passes."""
    from tdsim.io.spec import options_from_dict
    from tdsim.model.library import clln_lattice
    from tdsim.model.schedule import Schedule, Segment
    c = build(clln_lattice(4, 4), ("free", "clamped"))
    segs = [Segment(1e-4, {"V1": v1, "V2": v2}, {"O+": 0.15 + 0.3 * v1 + 0.1 * v2, "O-": 0.15 + 0.1 * v1 + 0.3 * v2},
                    1.0, True) for v1, v2 in X4]
    segs[-1].period_end = True
    sched = Schedule(segs, periods)

    class Spec:
        options = options_from_dict(sim)
        segments = sched
        differential = []
    return Spec, c, table(sched, c)


def load(name, quick, periods=None, rtol=None):
    path, params, sim = CASES[name]
    if path is None:
        sim = dict(sim)
        if rtol:
            sim.update(rtol=rtol, atol=f"{rtol * 1e-3:g} V")
        n = periods or params["periods"]
        return clln_cycling(max(20, n // 10) if quick else n, sim)
    d = read(ROOT / path)
    d["parameters"] = dict(params)
    if quick:
        d["parameters"]["periods"] = max(20, params["periods"] // 10)
    if periods:
        d["parameters"]["periods"] = periods
    if sim is not None:
        d["simulation"] = dict(sim)
    else:
        d["simulation"] = {k: v for k, v in d["simulation"].items() if k not in ("cycle_tol", "record_interval")}
    if rtol:
        d["simulation"].update(rtol=rtol, atol=f"{rtol * 1e-3:g} V")
    spec = run_from_dict(d, (ROOT / path).parent)
    c = build(spec.circuit, spec.twins, spec.imperfections, spec.seed, force_nudge=spec.force_nudge)
    return spec, c, table(spec.segments, c, differential=spec.differential)


def timed(f):
    """(result, wall s, tracemalloc peak bytes): timed without tracemalloc (it slows every allocation),
    then run once more under it for the peak."""
    t0 = time.perf_counter()
    out = f()
    wall = time.perf_counter() - t0
    tracemalloc.start()
    f()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, wall, peak


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", default="all", choices=[*CASES, "all"])
    ap.add_argument("--tol", default="1e-4,1e-5")
    ap.add_argument("--quick", action="store_true", help="a tenth of the periods")
    ap.add_argument("--periods", type=int, help="periods instead of the case's")
    ap.add_argument("--rtol", type=float, help="rtol of the passes (atol = rtol x 1 mV) instead of the case's")
    ap.add_argument("--passes", default="3", help="exact passes per envelope step (envelope's passes), comma-separated")
    a = ap.parse_args(argv)
    tols = [float(x) for x in a.tol.split(",")]
    for name in (CASES if a.case == "all" else [a.case]):
        spec, c, tab = load(name, a.quick, a.periods, a.rtol)
        opt = spec.options
        one = table(type(spec.segments)(spec.segments.segments, 2), c, differential=spec.differential)
        simulate(c, one, opt)                                  # warm-up: load the compiled kernels
        envelope(c, one, opt, tol=1.0)
        ref, t_dir, m_dir = timed(lambda: simulate(c, tab, opt))
        th_ref = ref.event_theta[-1]
        sim_s = tab.duration
        print(f"\n{name}: {tab.repeat} periods of {tab.duration / tab.repeat:.4g} s ({sim_s:.4g} s of learning), "
              f"{opt.integrator}, rtol {opt.rtol:g}")
        print(f"  direct:   {t_dir:8.2f} s wall ({sim_s / t_dir:7.2f}x real time), {tab.repeat} passes, "
              f"peak {m_dir / 2**20:.1f} MiB")
        for tol, m in [(tol, int(m)) for tol in tols for m in a.passes.split(",")]:
            env, t_env, m_env = timed(lambda: envelope(c, tab, opt, tol=tol, passes=m))
            err = float(np.max(np.abs(env.theta[-1] - th_ref)[c.learn]))
            st = env.stats
            print(f"  envelope tol {tol:g} V, passes {m}: {t_env:8.2f} s wall ({sim_s / t_env:7.2f}x real time), "
                  f"speed ratio {t_dir / t_env:5.2f}, exact passes {st['passes_exact']} of {st['passes']} "
                  f"({st['passes'] / st['passes_exact']:.1f}x), steps {st['envelope_steps']} "
                  f"({st['envelope_rejected']} rejected), gate error {err:.2e} V, peak {m_env / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
