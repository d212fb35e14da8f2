"""Runs per minute of the 32-point τ sweep of the 2+1-edge case (runs/tau_sweep.toml, full RC
here so each run has real work): serial in one process against dask LocalCluster(2).

    python benchmarks/sweep.py [--integrator quasistatic] [--points 32]

Target: LocalCluster(2) ≥ 1.8x the serial rate on 2 cores. Ensemble mode (several points in one
compiled call) is not implemented yet; see the issue notes.
"""
import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

from tdsim.sweep import load_sweep, run_point, run_sweep, warm_cache

ROOT = Path(__file__).resolve().parent.parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--integrator", default="rosenbrock")
    ap.add_argument("--points", type=int, default=32)
    ap.add_argument("--periods", type=int, default=1000)
    ap.add_argument("--cpu", action="store_true", help="only measure two-process CPU scaling")
    args = ap.parse_args()
    if args.cpu:
        return cpu_scaling()
    spec = load_sweep(ROOT / "runs" / "tau_sweep.toml")
    spec.points = [{**p, "simulation.integrator": args.integrator, "parameters.periods": args.periods,
                    "simulation.cycle_tol": "0 V"}
                   for p in spec.points[: args.points]]
    warm_cache(spec)
    tmp = Path(tempfile.mkdtemp())
    try:
        t0 = time.perf_counter()
        for i, p in enumerate(spec.points):
            r = run_point(spec.base, str(spec.base_dir), p, str(tmp / "serial" / f"r{i:05d}"))
            assert r["status"] == "complete", r
        serial = time.perf_counter() - t0
        t0 = time.perf_counter()
        index = run_sweep(spec, workers=2, progress=False, output=tmp / "cluster.zarr")
        cluster = time.perf_counter() - t0
        assert all(r["status"] == "complete" for r in index.values())
        busy = sum(r["wall_s"] for r in index.values())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = len(spec.points)
    print(f"2+1-edge tau sweep, {n} points, {args.integrator}, {args.periods} periods each")
    print(f"  serial (one process)        : {serial:7.2f} s  -> {60 * n / serial:7.1f} runs/min")
    print(f"  dask LocalCluster(2)        : {cluster:7.2f} s  -> {60 * n / cluster:7.1f} runs/min "
          f"(cluster start-up and index writes included; workers busy {busy:.1f} s)")
    ratio = serial / cluster
    print(f"  speed-up {ratio:.2f}x   target >= 1.8x: {'PASS' if ratio >= 1.8 else 'MISS'}")
    print("  ensemble mode: not implemented yet")
    print(f"  (this machine's raw CPU scaling, two busy-loop processes vs one: measure with "
          f"`python benchmarks/sweep.py --cpu`)")
    print(f"  driver peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def _burn(n):
    s = 0
    for i in range(n):
        s += i * i
    return s


def cpu_scaling():
    import multiprocessing as mp
    n = 20_000_000
    t0 = time.perf_counter()
    _burn(n)
    _burn(n)
    one = time.perf_counter() - t0
    with mp.Pool(2) as pool:
        t0 = time.perf_counter()
        pool.map(_burn, [n, n])
        two = time.perf_counter() - t0
    print(f"two busy processes vs one after the other: {one / two:.2f}x (the ceiling for any 2-worker speed-up)")


if __name__ == "__main__":
    main()
