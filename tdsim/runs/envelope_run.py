"""``tdsim run`` with ``[simulation] envelope = true``: follow the envelope of the periodic run
(tdsim.simulation.envelope) and store it in the run layout (docs/storage.md, "Envelope runs").

The store is written when the envelope run has ended (it is not checkpointed on the way: a
killed run starts again from the beginning on rerun). ``time`` holds every state the run knows,
in time order: the state at the end of every pass that was simulated exactly or stepped over,
and the samples (``record_interval`` / ``save_at``) of the exact passes kept with their samples
(the last pass); ``envelope_pass`` says after how many passes a pass-end state was taken (−1: a
sample inside a pass) and ``envelope_exact`` whether it comes from an exact pass. ``event`` holds
the segment ends recorded in the exact passes, as a direct run records them, so that the last
period is an exact one and tdsim.analysis.summary gives Ē and D from it.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from tdsim.errors import SimulationError
from tdsim.io.spec import RunSpec
from tdsim.simulation.envelope import envelope
from tdsim.simulation.measure import TaskMeter


def time_series(env):
    """The ``time`` dimension of an envelope store: (t, V, θ, envelope_pass, envelope_exact) in time
    order, the samples of kept passes merged with the pass-end states (a sample at a pass end is
    that state, kept once)."""
    t, V, th = [env.t], [env.V], [env.theta]
    passes, exact = [env.passes], [env.exact.astype(np.int8)]
    ends = env.t
    for traj in env.exact_passes.values():
        near = np.min(np.abs(traj.t[:, None] - ends[None, :]), axis=1, initial=np.inf) if len(ends) else None
        keep = np.ones(len(traj.t), dtype=bool) if near is None else near > 1e-12 * np.maximum(1.0, np.abs(traj.t))
        t.append(traj.t[keep])
        V.append(traj.V[keep])
        th.append(traj.theta[keep])
        passes.append(np.full(int(keep.sum()), -1, dtype=np.int64))
        exact.append(np.ones(int(keep.sum()), dtype=np.int8))
    t, V, th, passes, exact = (np.concatenate(a) for a in (t, V, th, passes, exact))
    order = np.argsort(t, kind="stable")
    return t[order], V[order], th[order], passes[order], exact[order]


def run_envelope(spec: RunSpec, c, tab, path: Path, writer, progress: bool = True):
    """Follow the envelope of the engine run ``spec`` (built as ``c``, ``tab``) into the store that
    ``writer`` holds at ``path`` (runner.run_engine opens it). Returns (path, Envelope)."""
    t0 = time.perf_counter()
    try:
        env = envelope(c, tab, spec.options)
    except SimulationError as err:
        writer.finish({"error": str(err)}, complete=False)
        raise
    except BaseException:
        writer.lock.release()
        raise
    meter = TaskMeter(c, spec.tasks, spec.differential) if spec.tasks else None
    errors = np.array([meter.errors(th) for th in env.event_theta]) if meter is not None and len(env.event_t) else None
    t, V, th, passes, exact = time_series(env)
    writer.append(t, V, th, env.event_t, env.event_seg, env.event_V, env.event_theta, errors)
    for name, values, long in (("envelope_pass", passes, "passes done at a pass-end state (-1: a sample inside a pass)"),
                               ("envelope_exact", exact, "1: from an exact pass, 0: from an envelope step")):
        a = writer.root.create_array(name, shape=values.shape, dtype=values.dtype, dimension_names=["time"],
                                     attributes={"long_name": long})
        a[...] = values
    writer.checkpoint(env.state)
    st = env.stats
    if progress:
        print(f"tdsim: envelope: {st['passes']} passes, {st['passes_exact']} simulated exactly, "
              f"{st['envelope_steps']} envelope steps ({st['envelope_rejected']} rejected)"
              + (", limit cycle reached" if st["converged"] else ""), file=sys.stderr)
    writer.finish({**st, "wall_s": time.perf_counter() - t0, "periods": st["passes"], "resumed_from_t": None})
    return path, env
