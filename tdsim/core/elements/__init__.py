"""The edge elements, one file each, and their registration.

Each file holds one element class (its fields and their units, validation, θ, A0 unit, limits and
SPICE lines: tdsim.core.elements.base) and its compiled branch ``current(p0, p1, p2, p3, theta,
va, vb) -> (I, dI/dVa, dI/dVb)`` (current a -> b), plus, where it learns, the rule's dκ/dθ. This
file registers them: ``REGISTERED`` (each class with its compiled current), from which come
``ELEMENTS`` (TOML name -> class; the class carries its code from tdsim.core.codes) and
``edge_current``, the compiled dispatch by code that the kernels call per edge, inlined (one flat
branch per element, as if written in place); and the dispatch of the learning rule's terms, whose
branches are the learning elements'.

Adding an element: its file here, its code in tdsim.core.codes, its line in REGISTERED; a learning
element other than a GatedChannel also needs its branches in the learning dispatch below.
"""
from numba import njit

from tdsim.core.codes import CONDUCTANCE
from tdsim.core.elements import conductance, ideal_diode, mosfet, mosfet_level1, resistor, shockley_diode
from tdsim.core.elements.base import GATE, KAPPA, Element, GatedChannel, gate_dtheta, spice_num, spice_v
from tdsim.core.elements.conductance import PARAMETRIZATIONS, ZERO_RULES, Conductance
from tdsim.core.elements.ideal_diode import IdealDiode
from tdsim.core.elements.mosfet import Mosfet
from tdsim.core.elements.mosfet_level1 import MosfetLevel1
from tdsim.core.elements.resistor import Resistor
from tdsim.core.elements.shockley_diode import ShockleyDiode

REGISTERED = ((Resistor, resistor.current), (Conductance, conductance.current), (Mosfet, mosfet.current),
              (IdealDiode, ideal_diode.current), (ShockleyDiode, shockley_diode.current),
              (MosfetLevel1, mosfet_level1.current))
ELEMENTS = {cls.kind: cls for cls, _ in REGISTERED}
BY_CODE = {cls.code: cls for cls in ELEMENTS.values()}
__all__ = [cls.__name__ for cls in ELEMENTS.values()]     # what ``from tdsim import *`` gives
GATED = tuple(cls.code for cls in ELEMENTS.values() if cls.theta == GATE)    # θ = G: GatedChannel


def _dispatch(branches):
    """``edge_current(code, p0, p1, p2, p3, theta, va, vb)``: the current a -> b and its
    derivatives (dI/dVa, dI/dVb) of the element whose code is ``code``, (0, 0, 0) for none.
    ``branches``: (code, compiled current) pairs; each is one ``if code == k: return current(...)``
    of a chain of inlined closures, which numba's inlining turns into the flat chain of branches
    one would write by hand."""
    if not branches:
        @njit(inline="always")
        def edge_current(code, p0, p1, p2, p3, theta, va, vb):
            return 0.0, 0.0, 0.0
        return edge_current
    (k, current), rest = branches[0], _dispatch(branches[1:])

    @njit(inline="always")
    def edge_current(code, p0, p1, p2, p3, theta, va, vb):
        if code == k:
            return current(p0, p1, p2, p3, theta, va, vb)
        return rest(code, p0, p1, p2, p3, theta, va, vb)
    return edge_current


edge_current = _dispatch([(cls.code, current) for cls, current in REGISTERED])


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
    for k in GATED:
        if code == k:
            return gate_dtheta(dia, dib)
    if code == CONDUCTANCE:
        return conductance.slope(p0, theta) * dv
    return 0.0


@njit(cache=True, inline="always")
def removed(code, p0, p1, theta):
    """An edge out for good (a conductance under the removal rule whose κ reached 0)."""
    return code == CONDUCTANCE and conductance.removed(p0, p1, theta)
