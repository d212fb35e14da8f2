"""Run a spec end to end: build, simulate, stream into Zarr."""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from .build import build
from .errors import SimulationError
from .segments import table
from .simulate import simulate
from .spec import RunSpec
from .store import RunWriter


def run_spec(spec: RunSpec, output=None, overwrite: bool = False, progress: bool = True):
    """Simulate ``spec`` into a Zarr store; returns (path, Trajectory)."""
    c = build(spec.circuit, spec.twins, spec.mismatch, spec.seed)
    tab = table(spec.segments, c)
    path = Path(output or spec.output)
    attrs = {"spec": spec.source, "seed": spec.seed, "integrator": asdict(spec.options),
             "duration_s": float(tab.t_end[-1])}
    writer = RunWriter(path, c, attrs, chunk=spec.options.chunk, overwrite=overwrite)
    bar = _Progress(float(tab.t_end[-1]), progress)
    t0 = time.perf_counter()

    def on_chunk(*chunk):
        writer.append(*chunk[:7])
        if len(chunk[3]):
            bar.update(float(chunk[3][-1]))

    try:
        traj = simulate(c, tab, spec.options, on_chunk=on_chunk)
    except SimulationError as err:
        writer.finish({**getattr(err, "trajectory").stats, "error": str(err)}, complete=False)
        bar.close()
        raise
    bar.close()
    writer.finish({**traj.stats, "wall_s": time.perf_counter() - t0})
    return path, traj


class _Progress:
    def __init__(self, total, enabled):
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="s(sim)", unit_scale=True, dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {n:.4g}/{total:.4g} s [{elapsed}<{remaining}, {rate_fmt}]")

    def update(self, t):
        if self.bar is not None:
            self.bar.update(t - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()
