"""tdsim: time-domain simulation of self-learning analog circuits."""
from tdsim.version import __version__

from tdsim._cache import guard as _guard

_guard()

from tdsim.compile.build import build
from tdsim.model.circuit import Circuit
from tdsim.core.elements import *  # noqa: F401,F403 (every element class: Mosfet, Conductance, ...)
from tdsim.errors import SimulationError, SpecError
from tdsim.model.schedule import Segment
from tdsim.simulation.simulate import Options, simulate
from tdsim.runs.store import open_run
from tdsim.runs.sweep import open_sweep
