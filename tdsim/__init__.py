"""tdsim: time-domain simulation of self-learning analog circuits.

What a user needs, from the layers below (docs/architecture.md):

- read: ``load_model`` (a model TOML file -> Circuit), ``load_run`` (a run spec -> a job: an
  engine run, or an outer-loop trainer's run);
- run: ``run_spec(job, output)`` (or ``job.run(output)``) into a Zarr store, read back with
  ``open_run``; sweeps (``tdsim sweep``) with ``open_sweep``;
- build and simulate in memory: ``build(circuit, twins)``, ``simulate(compiled, table, Options())``
  on a schedule of ``Segment``s, or the protocols ``TwoTask`` / ``Cycling`` (of ``Task``s of
  ``DataPoint``s, nudged by a ``Nudge``), whose ``segments()`` give that schedule;
- the circuit: ``Circuit`` and its elements;
- errors: ``SpecError`` (a bad spec, naming its key), ``SimulationError``."""
from tdsim.version import __version__

from tdsim._cache import guard as _guard

_guard()

from tdsim.errors import SimulationError, SpecError  # noqa: E402
from tdsim.model.circuit import Circuit  # noqa: E402
from tdsim.core.elements import *  # noqa: E402,F401,F403 (every registered element class)
from tdsim.core.elements import __all__ as _elements  # noqa: E402
from tdsim.model.protocols import Cycling, DataPoint, Nudge, Task, TwoTask  # noqa: E402
from tdsim.model.schedule import Schedule, Segment, Waveform  # noqa: E402
from tdsim.compile.build import build  # noqa: E402
from tdsim.compile.table import table  # noqa: E402
from tdsim.simulation.simulate import Options, simulate  # noqa: E402
from tdsim.io.spec import load_model, load_protocol  # noqa: E402
from tdsim.runs.jobs import load_run  # noqa: E402
from tdsim.runs.runner import run_spec  # noqa: E402
from tdsim.runs.store import open_run  # noqa: E402
from tdsim.runs.sweep import load_sweep, open_sweep  # noqa: E402

__all__ = ["__version__",
           "load_model", "load_protocol", "load_run", "load_sweep", "run_spec", "open_run", "open_sweep",
           "build", "table", "simulate", "Options",
           "Segment", "Schedule", "Waveform", "Task", "DataPoint", "Nudge", "Cycling", "TwoTask",
           "Circuit", *_elements,
           "SpecError", "SimulationError"]
