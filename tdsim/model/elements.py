"""Edge element models. Each is a small record; its physics lives in ``kernels.py`` under ``code``.

Currents flow from node ``a`` to node ``b``; ``dv = V_a - V_b``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tdsim.core.codes import (CONDUCTANCE, IDEAL_DIODE, MOSFET, PARAM_KAPPA, PARAM_LOGKAPPA, PARAM_RHO,
                              RESISTOR, SHOCKLEY_DIODE, ZERO_CROSS, ZERO_REFLECT, ZERO_REMOVE)

PARAMETRIZATIONS = {"kappa": PARAM_KAPPA, "rho": PARAM_RHO, "logkappa": PARAM_LOGKAPPA}
ZERO_RULES = {"cross": ZERO_CROSS, "reflect": ZERO_REFLECT, "remove": ZERO_REMOVE}


@dataclass
class Resistor:
    """Fixed linear resistor, I = dv / R."""
    R: float
    code = RESISTOR

    def params(self):
        return [1.0 / self.R, 0.0, 0.0, 0.0]


@dataclass
class Conductance:
    """Trainable linear conductance κ(θ); θ is κ, ρ = 1/κ or log κ (McGinnis Thm 3.3/3.4, Ex. 3.5).

    ``at_zero``: what happens when θ = κ (or ρ) reaches 0 (McGinnis §4, "Handling vanishing
    conductances"): ``"reflect"`` (default) holds θ at 0 while the update would make it negative
    and lets it grow again as soon as the update is positive; ``"remove"`` (κ only) takes the edge
    out for good: κ stays 0, it conducts and learns no more; ``"cross"`` lets θ pass through zero
    (negative conductance: a mathematical idealization). log κ never reaches 0."""
    kappa: float
    parametrization: str = "kappa"
    learn: bool = True
    theta_min: float = -1e300
    theta_max: float = 1e300
    at_zero: str = "reflect"
    code = CONDUCTANCE

    def theta0(self):
        import math
        return {"kappa": self.kappa, "rho": 1.0 / self.kappa, "logkappa": math.log(self.kappa)}[self.parametrization]

    def params(self):
        return [float(PARAMETRIZATIONS[self.parametrization]), float(ZERO_RULES[self.at_zero]), 0.0, 0.0]

    def limits(self):
        """[θ_min, θ_max], with θ_min raised to 0 for κ and ρ unless the rule lets θ cross zero."""
        lo = self.theta_min
        if self.parametrization != "logkappa" and self.at_zero != "cross":
            lo = max(lo, 0.0)
        return lo, self.theta_max


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
