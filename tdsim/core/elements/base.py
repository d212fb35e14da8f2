"""What an edge element is, in one place: the record every element file fills in.

An element is a dataclass (its fields, SI) with these class attributes:

    kind       its name in model TOML files (``element = "mosfet"``)
    code       its integer code (tdsim.core.codes), on which the compiled dispatch branches
    units      field -> what the field is: a dimension name of tdsim.model.units.DIMENSIONS
               ("voltage", "transconductance", ...), ``bool``, a tuple of the allowed strings, or
               "theta" (in θ's unit, known once the element is: tdsim.io.spec)
    positive   numeric fields that must be > 0
    theta      what its learning state θ is: None (it has none), GATE (the gate voltage G on a gate
               capacitor C0: a GatedChannel) or KAPPA (a parameter of the conductance κ)

and methods ``params()`` (its four compiled parameters p0..p3, the engine's ``par`` row),
``validate(key)``, ``learns()``, ``theta0()``, ``limits()``, ``theta_unit()``, ``a0_unit()`` and
``spice_lines(...)``. Its compiled branch is a module-level function of its file,
``current(p0, p1, p2, p3, theta, va, vb) -> (I, dI/dVa, dI/dVb)`` (current a -> b), registered
in ``tdsim.core.elements``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from numba import njit

from tdsim.errors import SpecError

EXP_MAX = 40.0        # exponent beyond which exponentials are continued (softplus, Shockley)
GATE, KAPPA = "gate", "kappa"      # what θ is (Element.theta)


def spice_num(x: float) -> str:
    """A float as a SPICE number that reads back exactly (negative ones in parentheses)."""
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"cannot write non-finite value {x!r} to a SPICE deck")
    s = repr(x)
    return f"({s})" if x < 0 else s


def spice_v(node: str) -> str:
    """The voltage of SPICE node ``node`` as an expression (ground "0" is 0)."""
    return "0" if node == "0" else f"V({node})"


class Element:
    """Base of the edge elements (see the module docstring)."""
    kind = ""
    code = -1
    units: dict = {}
    positive: tuple = ()
    theta = None

    def params(self) -> list:
        raise NotImplementedError

    def learns(self) -> bool:
        """True if θ moves under the learning rule."""
        return False

    def theta0(self) -> float:
        return 0.0

    def limits(self) -> tuple:
        """[θ_min, θ_max] (kernels.clip_gates)."""
        return -math.inf, math.inf

    def theta_unit(self):
        """(dimension of θ, what the edge is, for messages), or None without θ."""
        return None

    def a0_unit(self):
        """(dimension of A0, what the edge is, the rule in words), or None if it never learns."""
        return None

    @classmethod
    def a0_units(cls) -> list:
        """Every (dimension, what) its A0 may have (the model-wide A0 is checked against them)."""
        return []

    def validate(self, key: str) -> None:
        """Raise SpecError naming ``key.<field>`` for a non-finite, non-positive or unknown value."""
        for name, kind in self.units.items():
            val = getattr(self, name)
            if isinstance(kind, tuple):
                if val not in kind:
                    raise SpecError(f"{key}.{name}", f"unknown {val!r} ({', '.join(kind)})")
            elif kind is not bool and (isinstance(val, bool) or not isinstance(val, (int, float))
                                       or not math.isfinite(val)):
                raise SpecError(f"{key}.{name}", f"must be a finite number, got {val!r}")
        for name in self.positive:
            if getattr(self, name) <= 0:
                raise SpecError(f"{key}.{name}", f"must be > 0, got {getattr(self, name)!r}")

    # ---- SPICE export (tdsim.io.spice) ---------------------------------------------------
    @classmethod
    def spice_lines(cls, name: str, a: str, b: str, theta, p) -> list:
        """Netlist lines of one edge ``name`` from SPICE node a to b, with parameters p (p0..p3
        of the twin) and θ: a SPICE node name (a learning θ) or a float (a fixed one). By default
        a behavioural current source with ``spice_current``."""
        th = spice_v(theta) if isinstance(theta, str) else spice_num(theta)
        return [f"B{name} {a} {b} I={cls.spice_current(p, th, spice_v(a), spice_v(b))}"]

    @classmethod
    def spice_current(cls, p, th: str, va: str, vb: str) -> str:
        """The current a -> b as a SPICE expression of θ and the end voltages (expressions)."""
        raise NotImplementedError

    @classmethod
    def spice_slope(cls, p, th: str) -> str:
        """The rule's f(θ) (kappa_factor) as a SPICE factor "*(...)", "" where it is 1."""
        return ""

    def gate_capacitance(self) -> float:
        """The capacitor that holds θ in the SPICE export (1 F: V = θ)."""
        return 1.0


@dataclass
class GatedChannel(Element):
    """A transistor channel between a and b whose state θ is its gate voltage G, held on a gate
    capacitor C0 and learning by dG/dt = A0 (ΔV_F² − ΔV_C²) (Dillavou Eq. 3: S is absorbed in
    A0), kept in [G_min, G_max]. ``params() = [S, VT, g_off, smooth]``: the device mismatch of
    tdsim.compile.build draws S and VT there; drainage leaks the gate through C0. ``smooth`` (w)
    rounds the cut-off clip, max(x, 0) -> w softplus(x / w) (equal to the clip to e^{-x/w}:
    exact beyond ~40 w from threshold); without it Newton cycles at the kink when an edge sits at
    cut-off. ``g_off`` (1e-12 S, ~1e-9 of an on edge) keeps a node whose edges are all cut off
    tied to its neighbours instead of floating."""
    G: float
    S: float = 8e-4
    VT: float = 0.7
    C0: float = 2.2e-6
    learn: bool = True
    G_min: float = 0.0
    G_max: float = 10.0
    g_off: float = 1e-12
    smooth: float = 1e-3
    units = {"G": "voltage", "S": "transconductance", "VT": "voltage", "C0": "capacitance", "learn": bool,
             "G_min": "voltage", "G_max": "voltage", "g_off": "conductance", "smooth": "voltage"}
    positive = ("S", "C0", "smooth")
    theta = GATE

    def params(self):
        return [self.S, self.VT, self.g_off, self.smooth]

    def learns(self):
        return self.learn

    def theta0(self):
        return self.G

    def limits(self):
        return self.G_min, self.G_max

    def theta_unit(self):
        return "voltage", "a MOSFET gate (θ = G in V)"

    def a0_unit(self):
        return "learning_rate", "a MOSFET gate", "dG/dt = A0 (ΔV_F² − ΔV_C²)"

    @classmethod
    def a0_units(cls):
        return [("learning_rate", "MOSFET gates")]

    def validate(self, key):
        super().validate(key)
        if self.g_off < 0:
            raise SpecError(f"{key}.g_off", f"a leak conductance must be >= 0, got {self.g_off!r}")
        if not self.G_min < self.G_max:
            raise SpecError(f"{key}.G_max", f"G_min ({self.G_min}) must be below G_max ({self.G_max})")
        if not self.G_min <= self.G <= self.G_max:
            raise SpecError(f"{key}.G", f"initial gate voltage {self.G} outside [G_min, G_max]")

    def gate_capacitance(self):
        return float(self.C0)


@njit(cache=True, inline="always")
def gate_dtheta(dia, dib):
    """d(current a -> b)/dG of a gated channel, whose current depends on G − V_a and G − V_b
    only: −(dI/dVa + dI/dVb)."""
    return -(dia + dib)
