"""The edge elements, one file each, and their registration.

Each file holds one element class (its fields and their units, validation, θ, A0 unit, limits and
SPICE lines: tdsim.core.elements.base) and its compiled branch ``current(p0, p1, p2, p3, theta,
va, vb) -> (I, dI/dVa, dI/dVb)`` (current a -> b), plus, where it learns, the rule's dκ/dθ. This
file registers them: ``ELEMENTS`` (TOML name -> class; the class carries its code from
tdsim.core.codes) and the compiled dispatch by code that the kernels call per edge, inlined
(``inline="always"``: one flat branch per element, as if written in place).

Adding an element: its file here, its code in tdsim.core.codes, and its lines below (the
registry and the branches of the dispatch functions it takes part in).
"""
from numba import njit

from tdsim.core.codes import CONDUCTANCE, IDEAL_DIODE, MOSFET, RESISTOR, SHOCKLEY_DIODE
from tdsim.core.elements import conductance, ideal_diode, mosfet, resistor, shockley_diode
from tdsim.core.elements.base import GATE, KAPPA, Element, GatedChannel, gate_dtheta, spice_num, spice_v
from tdsim.core.elements.conductance import PARAMETRIZATIONS, ZERO_RULES, Conductance
from tdsim.core.elements.ideal_diode import IdealDiode
from tdsim.core.elements.mosfet import Mosfet
from tdsim.core.elements.resistor import Resistor
from tdsim.core.elements.shockley_diode import ShockleyDiode

ELEMENTS = {cls.kind: cls for cls in (Resistor, Conductance, Mosfet, IdealDiode, ShockleyDiode)}
BY_CODE = {cls.code: cls for cls in ELEMENTS.values()}
__all__ = [cls.__name__ for cls in ELEMENTS.values()]     # what ``from tdsim import *`` gives


@njit(cache=True, inline="always")
def edge_current(code, p0, p1, p2, p3, theta, va, vb):
    """Current a -> b and its derivatives (dI/dVa, dI/dVb); p0..p3 the element's parameters."""
    if code == RESISTOR:
        return resistor.current(p0, p1, p2, p3, theta, va, vb)
    if code == CONDUCTANCE:
        return conductance.current(p0, p1, p2, p3, theta, va, vb)
    if code == MOSFET:
        return mosfet.current(p0, p1, p2, p3, theta, va, vb)
    if code == IDEAL_DIODE:
        return ideal_diode.current(p0, p1, p2, p3, theta, va, vb)
    if code == SHOCKLEY_DIODE:
        return shockley_diode.current(p0, p1, p2, p3, theta, va, vb)
    return 0.0, 0.0, 0.0


@njit(cache=True, inline="always")
def kappa_factor(code, p0, theta):
    """The rule's f(θ) = d(conductance)/dθ in its units: a conductance's dκ/dθ; 1 for gated
    channels (S is absorbed in A0, Dillavou Eq. 3) and everything else."""
    if code == CONDUCTANCE:
        return conductance.slope(p0, theta)
    return 1.0


@njit(cache=True, inline="always")
def dkappa_factor(code, p0, theta):
    """d(kappa_factor)/dθ."""
    if code == CONDUCTANCE:
        return conductance.dslope(p0, theta)
    return 0.0


@njit(cache=True, inline="always")
def edge_dtheta(code, p0, theta, dv, dia, dib):
    """d(current a -> b)/dθ from edge_current's derivatives (the exact Jacobian's θ column):
    −(dI/dVa + dI/dVb) for a gated channel; kappa_factor · dv for a conductance; 0 otherwise."""
    if code == MOSFET:
        return gate_dtheta(dia, dib)
    if code == CONDUCTANCE:
        return conductance.slope(p0, theta) * dv
    return 0.0


@njit(cache=True, inline="always")
def removed(code, p0, p1, theta):
    """An edge out for good (a conductance under the removal rule whose κ reached 0)."""
    return code == CONDUCTANCE and conductance.removed(p0, p1, theta)
