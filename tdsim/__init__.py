"""tdsim: time-domain simulation of self-learning analog circuits."""
__version__ = "0.1.0"

from ._cache import guard as _guard

_guard()

from .build import build
from .circuit import Circuit
from .elements import Conductance, IdealDiode, Mosfet, Resistor, ShockleyDiode
from .errors import SimulationError, SpecError
from .segments import Segment
from .simulate import Options, simulate
from .store import open_run
from .sweep import open_sweep
