"""The edge elements, as the description layer names them. Each lives in its own file of
tdsim.core.elements (fields and units, validation, θ, SPICE lines, compiled current); this module
re-exports the classes and the registry."""
from tdsim.core.codes import MOSFET, RESISTOR  # noqa: F401 (read here by benchmarks/engine.py)
from tdsim.core.elements import *  # noqa: F401,F403 (every element class)
from tdsim.core.elements import ELEMENTS  # noqa: F401
