"""Run a spec end to end: build, simulate, stream into Zarr with checkpoints; resume on rerun."""
from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import asdict
from pathlib import Path

from tdsim.compile.build import build
from tdsim.errors import SimulationError, SpecError
from tdsim.simulation.measure import TaskMeter
from tdsim.compile.table import table
from tdsim.model.schedule import period
from tdsim.simulation.shooting import shoot
from tdsim.simulation.simulate import simulate
from tdsim.io.spec import RunSpec
from tdsim.runs.envelope_run import run_envelope
from tdsim.runs.store import RunWriter, state_from_checkpoint


def run_spec(spec, output=None, overwrite: bool = False, progress: bool = True, resume: bool = True):
    """Run a job (what tdsim.runs.jobs reads from a run spec: an engine run or an outer-loop
    trainer's) into its Zarr store (``output``, default the spec's): (path, result with .stats).
    An engine run returns its Trajectory (stats and last chunk; read the whole run with
    open_run(path)) and resumes an unfinished store of the same spec from its last checkpoint."""
    return spec.run(output, overwrite=overwrite, progress=progress, resume=resume)


def run_engine(spec: RunSpec, output=None, overwrite: bool = False, progress: bool = True, resume: bool = True):
    """Simulate the engine run ``spec`` into a Zarr store; an unfinished store of the same spec is
    resumed from its last checkpoint. Returns (path, Trajectory); with ``[simulation] envelope =
    true``, (path, Envelope) from tdsim.runs.envelope_run."""
    c = build(spec.circuit, spec.twins, spec.imperfections, spec.seed,
              force_nudge=spec.force_nudge)
    tab = table(spec.segments, c, differential=spec.differential)
    path = Path(output or spec.output)
    attrs = {"spec": spec.source, "resolved_spec": spec.resolved, "seed": spec.seed, "integrator": asdict(spec.options),
             "nominal_duration_s": tab.duration}
    writer = RunWriter(path, c, attrs, chunk=spec.options.chunk, tasks=spec.tasks, overwrite=overwrite,
                       resume=resume)
    if spec.options.envelope:
        return run_envelope(spec, c, tab, path, writer, progress)
    meter = TaskMeter(c, spec.tasks, spec.differential) if spec.tasks else None
    if spec.options.cycle == "shooting":
        return _run_shooting(spec, c, tab, path, writer, meter, progress)
    state = state_from_checkpoint(writer.resumed_from) if writer.resumed_from else None
    bar = None
    t0 = time.perf_counter()

    def on_chunk(t, V, theta, ev_t, ev_seg, ev_V, ev_theta, st):
        errors = None
        if meter is not None and len(ev_t):
            import numpy as np
            errors = np.array([meter.errors(th) for th in ev_theta])
        writer.append(t, V, theta, ev_t, ev_seg, ev_V, ev_theta, errors)
        writer.checkpoint(st)
        if bar is not None:
            bar.update(float(st.fstate[0]))

    try:
        if progress:             # compile (or load) the kernels first, so the bar's rate is the run's
            first = dataclasses.replace(period(spec.segments)[0][0], duration=1e-9, timing="fixed", record=False)
            simulate(c, table([first], c, differential=spec.differential), spec.options, keep=False)
            print(f"tdsim: kernels compiled or loaded in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        bar = _Progress(tab.duration, progress)
        t0 = time.perf_counter()
        traj = simulate(c, tab, spec.options, on_chunk=on_chunk, state=state, keep=False)
    except SimulationError as err:
        traj = getattr(err, "trajectory", None)
        writer.finish({**(traj.stats if traj is not None else {}), "error": str(err)}, complete=False)
        if bar is not None:
            bar.close(f"stopped: {err}")
        raise
    except OSError as err:                   # a full disk, a store removed under the run
        if bar is not None:
            bar.close("stopped: writing the store failed")
        try:
            writer.finish({"error": f"writing the store failed: {err}"}, complete=False)
        except OSError:
            writer.lock.release()
        raise SpecError("output", f"writing {path} failed ({err.strerror or err}); the store keeps every "
                                  "committed checkpoint: free the space and rerun to resume") from None
    st = traj.stats
    bar.close(f"limit cycle reached after {st['periods']} periods (t = {st['t_end']:.4g} s)" if st.get("converged")
              else f"done: the schedule ended at t = {st['t_end']:.4g} s")
    writer.finish({**traj.stats, "wall_s": time.perf_counter() - t0,
                   "resumed_from_t": float(state.fstate[0]) if state is not None else None})
    return path, traj


SHOOTING_RECORD = 2      # periods a shooting run stores: the cycle, then the cycle once more (the last
                         # period is the cycle; the change between the two is the limit-cycle test's)


def _run_shooting(spec: RunSpec, c, tab, path, writer, meter, progress: bool = False):
    """The limit cycle by shooting (tdsim.simulation.shooting), stored in the direct run's layout:
    SHOOTING_RECORD exact periods from the cycle state (times from 0), plus ``floquet``. The store
    is written in one go at the end (no checkpoints: a killed shooting run starts over)."""
    import numpy as np
    t0 = time.perf_counter()
    if progress:
        print(f"tdsim: shooting for the limit cycle of one {tab.dur.sum():.4g} s period "
              f"(Newton to cycle_tol = {spec.options.cycle_tol or 1e-9:.3g} V)", file=sys.stderr)
    try:
        cyc = shoot(c, tab, spec.options, record_periods=SHOOTING_RECORD, max_iter=spec.options.cycle_max_iter)
    except SimulationError as err:
        writer.finish({"cycle": "shooting", "error": str(err)}, complete=False)
        raise
    except BaseException:
        writer.lock.release()
        raise
    traj = cyc.trajectory
    errors = np.array([meter.errors(th) for th in traj.event_theta]) if meter is not None and len(traj.event_t) else None
    writer.append(traj.t, traj.V, traj.theta, traj.event_t, traj.event_seg, traj.event_V, traj.event_theta, errors)
    writer.floquet(cyc.multipliers)
    stats = {**traj.stats, "converged": True, "cycle": "shooting", "newton_iterations": cyc.iterations,
             "residual": cyc.residual, "residual_V": cyc.residual_V, "periods_simulated": cyc.periods,
             "shooting_method": cyc.method, "leading_multiplier_abs": float(abs(cyc.leading)),
             "cycle_family": cyc.family, "contracting_multiplier_abs": float(abs(cyc.contracting)),
             "stable": cyc.stable,
             "pinned_at_limit": list(cyc.pinned),
             "wall_s": time.perf_counter() - t0}
    traj.stats.update(stats)
    writer.finish(stats)
    return path, traj


class _Progress:
    def __init__(self, total, enabled):
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="s(sim)", unit_scale=True, dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {n:.4g}/{total:.4g} s sim [{elapsed}<{remaining}, {rate_fmt}]")

    def update(self, t):
        if self.bar is not None:
            self.bar.update(max(0.0, min(t, self.bar.total) - self.bar.n))

    def close(self, reason: str = ""):
        """End the bar, saying why the run stopped (a run that reaches its limit cycle ends early)."""
        if self.bar is not None:
            if reason:
                self.bar.set_description_str(reason)
            self.bar.close()
