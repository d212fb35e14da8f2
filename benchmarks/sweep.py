"""Runs per minute of the 32-point τ sweep of the 2+1-edge case (sweeps/tau_sweep.toml, full RC
here so each run has real work): serial in one process, dask LocalCluster(2) with one task per
run, and the ensemble mode (K points per task) on the same cluster; their ratios and peak memory.

    python benchmarks/sweep.py [--integrator rosenbrock] [--points 32] [--periods 1000] [--ensemble 4]
    python benchmarks/sweep.py --points 256 --periods 10 --ensemble 16    # many short runs
    python benchmarks/sweep.py --cpu        # this machine's two-process CPU scaling (the ceiling)

Target: LocalCluster(2) ≥ 1.8x the serial rate on 2 cores. Each cluster rate is measured in a
fresh process and includes the cluster's start-up and shut-down, the workers' kernel loading and
the driver's index writes: what a user of `tdsim sweep` waits for.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from tdsim.runs.sweep import load_sweep, run_point, run_sweep, warm_cache, warm_once

ROOT = Path(__file__).resolve().parent.parent


class PeakRSS:
    """Samples this process's descendants (the dask workers, the fork server) every 0.1 s: the
    largest resident memory of one process and of all together, and each one's CPU time (its
    last sample: within 0.1 s of its end)."""

    def __init__(self):
        self.one = self.total = 0
        self.cpu = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        me = psutil.Process()
        while not self._stop.wait(0.1):
            rss = []
            for p in me.children(recursive=True):
                try:
                    rss.append(p.memory_info().rss)
                    t = p.cpu_times()
                    self.cpu[p.pid] = t.user + t.system
                except psutil.Error:
                    pass
            if rss:
                self.one, self.total = max(self.one, max(rss)), max(self.total, sum(rss))

    def stop(self):
        self._stop.set()
        self._t.join()
        return self


def sweep_spec(args):
    spec = load_sweep(ROOT / "sweeps" / "tau_sweep.toml")
    taus = spec.points                     # more than 32 points: the τ values again (separate runs)
    spec.points = [{**taus[i % len(taus)], "simulation.integrator": args.integrator,
                    "parameters.periods": args.periods, "simulation.cycle_tol": "0 V"}
                   for i in range(args.points)]
    return spec


def one_sweep(args):
    """(In a fresh process, as `tdsim sweep` starts: kernels not loaded, no fork server yet.)"""
    spec = sweep_spec(args)
    t0 = time.perf_counter()
    index = run_sweep(spec, workers=2, progress=False, output=Path(args.out), ensemble=args.one)
    wall = time.perf_counter() - t0
    assert all(r["status"] == "complete" for r in index.values()), index
    print(json.dumps({"wall": wall, "busy": sum(r["wall_s"] for r in index.values()),
                      "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--integrator", default="rosenbrock")
    ap.add_argument("--points", type=int, default=32)
    ap.add_argument("--periods", type=int, default=1000)
    ap.add_argument("--ensemble", type=int, default=4, help="points per task in ensemble mode")
    ap.add_argument("--cpu", action="store_true", help="only measure two-process CPU scaling")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)     # internal: one cluster sweep, K per task
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.cpu:
        return cpu_scaling()
    if args.one:
        return one_sweep(args)
    load = psutil.cpu_percent(interval=3.0)      # what others use of the machine before we start
    spec = sweep_spec(args)
    warm_cache(spec)                       # serial runs with the kernels loaded
    warm_once(spec)                        # and leaves the marker: both cluster modes skip their warm-up
    tmp = Path(tempfile.mkdtemp())
    walls, busy, mem, cpu, rss = {}, {}, {}, {}, {}
    try:
        c0 = _cpu()
        t0 = time.perf_counter()
        for i, p in enumerate(spec.points):
            r = run_point(spec.base, str(spec.base_dir), p, str(tmp / "serial" / f"r{i:05d}"))
            assert r["status"] == "complete", r
        walls["serial"] = time.perf_counter() - t0
        cpu["serial"] = _cpu() - c0
        for mode, k in (("cluster", 1), ("ensemble", args.ensemble)):
            peak = PeakRSS()
            out = subprocess.run([sys.executable, __file__, "--one", str(k), "--out", str(tmp / f"{mode}.zarr"),
                                  "--points", str(args.points), "--periods", str(args.periods),
                                  "--integrator", args.integrator], capture_output=True, text=True, check=True)
            mem[mode] = peak.stop()
            r = json.loads(out.stdout.strip().splitlines()[-1])
            walls[mode], busy[mode], rss[mode] = r["wall"], r["busy"], r["rss"]
            cpu[mode] = sum(mem[mode].cpu.values())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    n = len(spec.points)
    rate = {m: 60 * n / w for m, w in walls.items()}
    print(f"2+1-edge tau sweep, {n} points, {args.integrator}, {args.periods} periods each "
          f"(CPU in use by others before: {load:.0f} %; their work slows every rate)")
    print(f"  {'serial (one process)':28s}: {walls['serial']:7.2f} s  -> {rate['serial']:7.1f} runs/min  "
          f"(CPU {cpu['serial']:.1f} s)")
    for mode, label in (("cluster", "LocalCluster(2), 1 run/task"), ("ensemble", f"ensemble, {args.ensemble} runs/task")):
        print(f"  {label:28s}: {walls[mode]:7.2f} s  -> {rate[mode]:7.1f} runs/min  (CPU {cpu[mode]:.1f} s, "
              f"workers busy {busy[mode]:.1f} s; peak RSS: driver {rss[mode] / 2**20:.0f} MiB, "
              f"largest process {mem[mode].one / 2**20:.0f} MiB, all processes {mem[mode].total / 2**20:.0f} MiB)")
    ratio = rate["cluster"] / rate["serial"]
    print(f"  LocalCluster(2) / serial : {ratio:.2f}x   target >= 1.8x: {'PASS' if ratio >= 1.8 else 'MISS'}")
    print(f"  ensemble / serial        : {rate['ensemble'] / rate['serial']:.2f}x")
    print(f"  ensemble / 1 run per task: {rate['ensemble'] / rate['cluster']:.2f}x")
    print(f"  serial driver peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print("  (cluster modes: each in a fresh process, timed around run_sweep, so each pays the cluster's and\n"
          "   the workers' start as `tdsim sweep` does; CPU: user + system of every process involved, which\n"
          "   others' load inflates much less than wall time; the ceiling for any 2-worker speed-up:\n"
          "   `python benchmarks/sweep.py --cpu`)")


def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


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
