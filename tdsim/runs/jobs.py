"""What ``tdsim run`` and ``tdsim sweep`` accept: a job, read from a run spec. A job is an engine
run (EngineRun: the io layer's RunSpec and how to run it) or an outer-loop trainer's run
(tdsim.runs.trainers.TrainerSpec, recognised by its protocol's ``kind``). Both answer the same
interface, so nothing above this layer asks which it holds:

- ``run(output=None, overwrite=False, progress=True, resume=True)`` -> (store path, result with
  ``.stats``);
- ``warm()``: compile (or load) the kernels it needs, in this process;
- ``integrator`` (the method it integrates with) and ``work`` (its size: the sweep's
  longest-first ordering key);
- ``output``, ``seed``, ``source``; ``summary(result)`` (one line for the command line),
  ``figures`` (its figure writer in tdsim.analysis.plots), ``netlist(tstep)`` (its ngspice deck;
  a trainer has none and says so)."""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np

from tdsim.compile.build import build
from tdsim.compile.table import table
from tdsim.errors import SpecError
from tdsim.io import spec
from tdsim.io.spice import netlist
from tdsim.model.schedule import period, prologue
from tdsim.runs import trainers
from tdsim.runs.runner import run_engine


@dataclasses.dataclass
class EngineRun(spec.RunSpec):
    """An engine run spec as a job: simulated by runner.run_engine into a resumable store."""
    figures = "run_figures"

    @classmethod
    def of(cls, run: spec.RunSpec) -> "EngineRun":
        return cls(**{f.name: getattr(run, f.name) for f in dataclasses.fields(spec.RunSpec)})

    @property
    def integrator(self) -> str:
        return self.options.integrator

    @property
    def work(self) -> float:
        """The scheduled time span, s: the prologue plus one period times the repeat count (never
        summed over the unrolled run, which for a long run of short holds is 10^9 segments)."""
        one, repeat = period(self.segments)
        return float(sum(s.duration for s in prologue(self.segments)) + repeat * sum(s.duration for s in one))

    def run(self, output=None, overwrite: bool = False, progress: bool = True, resume: bool = True):
        return run_engine(self, output, overwrite, progress, resume)

    def warm(self) -> None:
        """Two segments of this run into a temporary store: every kernel its integrator calls.
        Stepped directly whatever the run's ``cycle``: shooting for the cycle of a two-segment
        "period" is not the run's problem and may fail (it did, stopping a whole sweep)."""
        opt = dataclasses.replace(self.options, cycle="direct")
        with tempfile.TemporaryDirectory() as tmp:
            run_engine(dataclasses.replace(self, segments=self.segments[:2], options=opt), Path(tmp) / "warm.zarr",
                       progress=False)

    def summary(self, traj) -> str:
        st = traj.stats
        if st.get("cycle") == "shooting":
            return (f"(limit cycle by shooting: {st['newton_iterations']} Newton iterations, residual "
                    f"{st['residual']:.2g} V, {st['periods_simulated']} periods simulated; leading Floquet "
                    f"multiplier |μ| = {st['leading_multiplier_abs']:.6g}"
                    + (f"; one of a {st['cycle_family']}-dimensional family of cycles, the slowest mode off it "
                       f"|μ| = {st['contracting_multiplier_abs']:.6g}" if st.get('cycle_family') else "")
                    + (": an UNSTABLE cycle, which a direct run does not reach)"
                       if not st["stable"] else ")"))
        note = " (limit cycle reached)" if traj.stats.get("converged") else ""
        return f"({traj.stats['steps']} steps, {traj.stats['rejected']} rejected){note}"

    def netlist(self, tstep=None) -> str:
        c = build(self.circuit, self.twins, self.imperfections, self.seed, force_nudge=self.force_nudge)
        tab = table(self.segments, c)
        if tstep is not None or self.options.save_at is None:
            return netlist(c, tab, tstep=tstep or float(tab.duration) / 1000)
        ts = np.asarray(self.options.save_at)        # chosen sample times: an even grid prints exactly there
        step = np.diff(ts)
        if ts.size < 2 or np.ptp(step) > 1e-9 * step.mean():
            raise SpecError("simulation.save_at", "only an even grid of times ({ start, stop, num }) has a SPICE "
                                                  "form (.tran tstep tstop tstart); give one, or --tstep")
        dt = float(step.mean())
        if 0 < ts[0] < dt:
            raise SpecError("simulation.save_at", "a grid starting between 0 and its first spacing has no SPICE form "
                                                  "(ngspice prints at tstart + k tstep, k >= 1, or from 0)")
        # ngspice with interp prints t = tstart + k·tstep, from k = 1 when tstart > 0 (from 0 when tstart = 0)
        return netlist(c, tab, tstep=dt, tstart=float(ts[0]) - dt if ts[0] > 0 else 0.0, interp=True)


def run_from_dict(d: dict, base: Path = Path("."), name: str = "run"):
    """The job a run spec's table describes: a trainer's spec if its protocol has a trainer
    ``kind`` (trainers.KINDS), else an engine run."""
    if trainers.protocol_kind(d, base) in trainers.KINDS:
        return trainers.trainer_from_dict(d, base, name)
    return EngineRun.of(spec.run_from_dict(d, base, name))


def load_run(path):
    """The job of a run spec file (relative paths in it are read from its folder)."""
    path = Path(path)
    return run_from_dict(spec.read(path), path.parent, path.stem)
