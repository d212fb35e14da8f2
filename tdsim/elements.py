"""Edge element models. Each is a small record; its physics lives in ``kernels.py`` under ``code``.

Currents flow from node ``a`` to node ``b``; ``dv = V_a - V_b``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

RESISTOR, CONDUCTANCE, MOSFET, IDEAL_DIODE, SHOCKLEY_DIODE = 0, 1, 2, 3, 4
PARAM_KAPPA, PARAM_RHO, PARAM_LOGKAPPA = 0, 1, 2
PARAMETRIZATIONS = {"kappa": PARAM_KAPPA, "rho": PARAM_RHO, "logkappa": PARAM_LOGKAPPA}


@dataclass
class Resistor:
    """Fixed linear resistor, I = dv / R."""
    R: float
    code = RESISTOR

    def params(self):
        return [1.0 / self.R, 0.0, 0.0, 0.0]


@dataclass
class Conductance:
    """Trainable linear conductance κ(θ); θ is κ, ρ = 1/κ or log κ (McGinnis Thm 3.3/3.4, Ex. 3.5)."""
    kappa: float
    parametrization: str = "kappa"
    learn: bool = True
    theta_min: float = -1e300
    theta_max: float = 1e300
    code = CONDUCTANCE

    def theta0(self):
        import math
        return {"kappa": self.kappa, "rho": 1.0 / self.kappa, "logkappa": math.log(self.kappa)}[self.parametrization]

    def params(self):
        return [float(PARAMETRIZATIONS[self.parametrization]), 0.0, 0.0, 0.0]


@dataclass
class Mosfet:
    """Ohmic MOSFET, K = S (G - V_T - V̄) clipped at 0 (Dillavou Eq. 2); G on gate capacitor C0.
    The clip is smoothed over ``smooth`` volts, K = S w softplus(x / w), x = G - V_T - V̄ (equal to
    the clip to e^{-x/w}: exact beyond ~40 w from threshold); without it Newton cycles at the kink
    when an edge sits at cut-off. ``g_off`` (1e-12 S, ~1e-9 of an on edge) keeps a node whose
    edges are all cut off tied to its neighbours instead of floating."""
    G: float
    S: float = 8e-4
    VT: float = 0.7
    C0: float = 2.2e-6
    learn: bool = True
    G_min: float = 0.0
    G_max: float = 10.0
    g_off: float = 1e-12
    smooth: float = 1e-3
    code = MOSFET

    def theta0(self):
        return self.G

    def params(self):
        return [self.S, self.VT, self.g_off, self.smooth]


@dataclass
class IdealDiode:
    """Ideal diode (forward voltage Vf) in series with conductance g: I = g max(dv - Vf, 0)."""
    g: float
    Vf: float = 0.0
    code = IDEAL_DIODE

    def params(self):
        return [self.g, self.Vf, 0.0, 0.0]


@dataclass
class ShockleyDiode:
    """Shockley diode I = Is (exp(dv / (n V_t)) - 1), V_t the thermal voltage."""
    Is: float = 1e-14
    n: float = 1.0
    Vt: float = 0.025852
    code = SHOCKLEY_DIODE

    def params(self):
        return [self.Is, self.n * self.Vt, 0.0, 0.0]


ELEMENTS = {"resistor": Resistor, "conductance": Conductance, "mosfet": Mosfet,
            "ideal_diode": IdealDiode, "shockley_diode": ShockleyDiode}
LEARNABLE = (Conductance, Mosfet)
