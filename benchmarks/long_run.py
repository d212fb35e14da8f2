"""Long run on the 32-edge CLLN (runs/clln_grid_long.toml, 10 s simulated): memory stays flat
while it runs, and decimation keeps the store small.

    python benchmarks/long_run.py [--integrator quasistatic] [--seconds 10]

(quasistatic stops near t = 4.9 s on this protocol: an output node's Kirchhoff branch ends in a
fold once edges around it reach cut-off; the full-RC default runs through it.)

Prints resident memory sampled every 50 ms (at 10 %, 50 %, 100 % of the run and the peak), the
wall time and rate, and the store's size on disk.
"""
import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import psutil

from tdsim.runs.runner import run_spec
from tdsim.model.schedule import Schedule
from tdsim.runs.jobs import load_run

ROOT = Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--integrator", default="rosenbrock")
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    spec = load_run(ROOT / "runs" / "clln_grid_long.toml")
    spec.options.integrator = args.integrator
    periods = max(1, round(args.seconds / 0.2))
    spec.segments = Schedule(spec.segments.segments, periods)      # one period, run `periods` times
    proc = psutil.Process()
    samples, done = [], threading.Event()

    def watch():
        while not done.is_set():
            samples.append((time.perf_counter(), proc.memory_info().rss))
            time.sleep(0.05)

    # warm the compiled engine so compilation does not count as run memory growth
    warm = load_run(ROOT / "runs" / "clln_grid_long.toml")
    warm.options.integrator = args.integrator
    warm.segments = warm.segments[:4]
    with tempfile.TemporaryDirectory() as d:
        run_spec(warm, Path(d) / "warm.zarr", progress=False)
        out = Path(d) / "long.zarr"
        th = threading.Thread(target=watch, daemon=True)
        t0 = time.perf_counter()
        th.start()
        _, traj = run_spec(spec, out, progress=False)
        wall = time.perf_counter() - t0
        done.set()
        th.join()
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        from tdsim import open_run
        ds = open_run(out)
        n_time, n_event = ds.sizes["time"], ds.sizes["event"]
        raw = sum(v.size * 8 for v in ds.data_vars.values())
        files = sum(1 for f in out.rglob("*") if f.is_file())
    sim = float(traj.stats["t_end"])
    rss = [r for _, r in samples]
    pick = lambda q: rss[min(len(rss) - 1, int(q * (len(rss) - 1)))] / 2**20  # noqa: E731
    print(f"CLLN 4x4 (32 MOSFET edges, 2 twins), grid two-task protocol, {args.integrator}, {sim:.3g} s simulated")
    print(f"  wall {wall:.2f} s  ->  {sim / wall:.2f}x real time; {traj.stats['steps']} steps")
    qs = (0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    print("  RSS (MiB) at " + " / ".join(f"{q:.0%}" for q in qs) + " of the run: "
          + " / ".join(f"{pick(q):.0f}" for q in qs) + f"; peak {max(rss) / 2**20:.0f} MiB")
    import xarray as xr  # noqa: F401  (open_run needs it)
    print(f"  store: {size / 2**20:.2f} MiB in {files} files ({n_time} samples at 1 ms, {n_event} half-period events;"
          f" raw float64 would be {raw / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
