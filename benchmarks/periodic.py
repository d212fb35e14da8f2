"""Memory and time of a long schedule: Dillavou Fig. 3 at τ = 50 s (sweeps/fig3_tau_sweep.toml's
longest point, 1500 periods = 375 million segments) as one period plus a repeat count, against the
unrolled representation (one Segment and one table row per segment, as before periodic tables)
measured over a few periods and scaled to 1500.

    python benchmarks/periodic.py [--periods 2]

Prints wall time and memory (tracemalloc peak of Python objects and numpy arrays) of validating
the whole sweep, of one point's schedule and its table, and the unrolled peer's cost per period.
"""
import argparse
import time
import tracemalloc
from pathlib import Path

import numpy as np

from tdsim import Segment

from tdsim import build
from tdsim.compile.table import table
from tdsim.runs.sweep import load_sweep, point_spec
from tdsim.model.units import quantity

ROOT = Path(__file__).resolve().parent.parent


def measured(fn):
    """(result, wall s, peak MiB): timed in one call, traced in a second (tracemalloc is slow)."""
    t0 = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - t0
    del out
    tracemalloc.start()
    out = fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return out, wall, peak


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--periods", type=int, default=2, help="periods of the unrolled peer")
    args = ap.parse_args()
    path = ROOT / "sweeps" / "fig3_tau_sweep.toml"
    sweep, wall, peak = measured(lambda: load_sweep(path))
    print(f"load_sweep({path.name}): {len(sweep.points)} points validated in {wall:.2f} s, peak {peak:.1f} MiB")
    taus = [quantity(p["parameters.tau"], "time", "tau") for p in sweep.points]
    spec = point_spec(sweep, sweep.points[int(np.argmax(taus))])
    sched = spec.segments
    comp = build(spec.circuit)
    tab, t_tab, m_tab = measured(lambda: table(sched, comp))
    S, R = len(sched.segments), sched.repeat
    print(f"tau = {max(taus):g} s: {S} segments per period x {R} periods = {S * R:.3g} segments")
    print(f"  periodic: table of one period in {t_tab:.2f} s, peak {m_tab:.1f} MiB")

    def unrolled():
        segs = [Segment(**vars(s)) for _ in range(args.periods) for s in sched.segments]
        return table(segs, comp)

    _, t_un, m_un = measured(unrolled)
    scale = R / args.periods
    print(f"  unrolled peer over {args.periods} periods: {t_un:.2f} s, peak {m_un:.0f} MiB"
          f" -> for {R} periods about {t_un * scale:.0f} s and {m_un * scale / 1024:.0f} GiB")
    print(f"  ratio unrolled / periodic for the whole run: time x{t_un * scale / t_tab:.0f},"
          f" memory x{m_un * scale / m_tab:.0f}")


if __name__ == "__main__":
    main()
