"""Command line: ``tdsim run [SPEC]``, ``tdsim sweep SPEC``, ``tdsim analyze STORE``,
``tdsim export-spice SPEC``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tdsim.errors import SimulationError, SpecError

DEFAULT_SPEC = Path(__file__).resolve().parent.parent / "runs" / "two_plus_one.toml"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="tdsim", description="Time-domain simulator of self-learning circuits")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a spec (default: the 2+1-edge two-task job) into a Zarr store")
    r.add_argument("spec", nargs="?", default=str(DEFAULT_SPEC))
    r.add_argument("-o", "--output", help="store path (default: out/<name>.zarr beside the spec)")
    r.add_argument("--overwrite", action="store_true", help="replace an existing store")
    r.add_argument("--no-resume", action="store_true", help="refuse to continue an unfinished store")
    r.add_argument("--no-figures", action="store_true")
    r.add_argument("-q", "--quiet", action="store_true")
    w = sub.add_parser("sweep", help="run a sweep spec's grid on dask.distributed (local cluster by default)")
    w.add_argument("spec")
    w.add_argument("--scheduler", help="address of an existing dask scheduler, e.g. tcp://127.0.0.1:8786")
    w.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    w.add_argument("-o", "--output", help="sweep store (default: out/<name>.zarr beside the spec)")
    w.add_argument("--ensemble", type=int, metavar="K",
                   help="run K points per worker task (default: the spec's `ensemble`, 1)")
    w.add_argument("--redo", nargs="+", metavar="RUN", default=(),
                   help="run these runs again from the start (ids as in the table, e.g. r00024), replacing "
                        "what their stores hold")
    w.add_argument("-q", "--quiet", action="store_true")
    a = sub.add_parser("analyze", help="print the table of a run or sweep store and write its figures")
    a.add_argument("store", help="a run store (tdsim run) or a sweep store (tdsim sweep)")
    a.add_argument("-o", "--output", help="folder for the figures (default: beside the store)")
    a.add_argument("--x", default="parameters.tau", help="swept parameter for the table and fits")
    a.add_argument("--no-theory", action="store_true", help="skip the linear bias theory (App. D)")
    e = sub.add_parser("export-spice", help="write an ngspice netlist of a model or run spec")
    e.add_argument("spec", help="a run spec (model + schedule) or a model TOML file")
    e.add_argument("-o", "--output", help="netlist path (default: stdout)")
    e.add_argument("--tstep", type=float, default=None, help="print step, s")
    args = p.parse_args(argv)
    try:
        if args.cmd == "run":
            return _run(args)
        if args.cmd == "sweep":
            return _sweep(args)
        if args.cmd == "analyze":
            from tdsim.analysis.report import analyze
            return analyze(args.store, args.output, args.x, theory=not args.no_theory)
        return _export(args)
    except (SpecError, SimulationError) as exc:
        print(f"tdsim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        kept = {"run": "the store keeps everything up to its last checkpoint; rerun the same command to resume",
                "sweep": "finished runs are kept and unfinished ones resume from their checkpoints; rerun the same "
                         "command to continue"}.get(args.cmd, "nothing was written")
        print(f"tdsim: interrupted: {kept}", file=sys.stderr)
        return 130


def _run(args) -> int:
    from tdsim.runs.jobs import load_run
    job = load_run(args.spec)
    path, result = job.run(args.output, overwrite=args.overwrite, progress=not args.quiet, resume=not args.no_resume)
    print(f"wrote {path}  {job.summary(result)}")
    if not args.no_figures:
        from tdsim.analysis import plots
        for f in getattr(plots, job.figures)(path):
            print(f"wrote {f}")
    return 0


def _sweep(args) -> int:
    from tdsim.runs.sweep import load_sweep, run_sweep, summary
    if args.workers is not None and args.workers < 1:
        raise SpecError("--workers", f"local worker processes: at least 1, got {args.workers}")
    spec = load_sweep(args.spec)
    index = run_sweep(spec, args.scheduler, args.workers, progress=not args.quiet, output=args.output,
                      ensemble=args.ensemble, redo=args.redo)
    print(summary(index))
    return 1 if any(r["status"] != "complete" for r in index.values()) else 0


def _export(args) -> int:
    import math
    if args.tstep is not None and not (args.tstep > 0 and math.isfinite(args.tstep)):
        raise SpecError("--tstep", f"the print step must be a positive time in s, got {args.tstep!r}")
    if args.output:
        out = Path(args.output)
        if out.is_dir():
            raise SpecError(f"-o {out}", "is a folder; give the netlist's file path")
        if not out.parent.is_dir():
            raise SpecError(f"-o {out}", f"the folder {out.parent} does not exist")
    from tdsim.io.spec import RunSpec, model_from_dict, read
    from tdsim.model.schedule import Segment
    from tdsim.runs.jobs import EngineRun, load_run
    from tdsim.simulation.simulate import Options
    d = read(args.spec)
    if "model" in d:                                   # a run spec
        job = load_run(args.spec)
    else:                                              # a model file: 1 ms at its sources
        circuit = model_from_dict(d, Path(args.spec).stem)
        job = EngineRun.of(RunSpec(circuit, [Segment(1e-3)], Options(),
                                   ("free", "clamped") if circuit.outputs else ("free",)))
    deck = job.netlist(args.tstep)
    if args.output:
        try:
            Path(args.output).write_text(deck)
        except OSError as exc:
            raise SpecError(f"-o {args.output}", f"cannot write: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(deck)
    return 0


if __name__ == "__main__":
    sys.exit(main())
