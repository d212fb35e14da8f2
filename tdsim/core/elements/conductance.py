"""A trainable linear conductance κ(θ), θ = κ, ρ = 1/κ or log κ (McGinnis Thm 3.3/3.4, Ex. 3.5)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from numba import njit

from tdsim.core.codes import (CONDUCTANCE, PARAM_KAPPA, PARAM_LOGKAPPA, PARAM_RHO, ZERO_CROSS, ZERO_REFLECT,
                              ZERO_REMOVE)
from tdsim.core.elements.base import KAPPA, Element, spice_num
from tdsim.errors import SpecError

PARAMETRIZATIONS = {"kappa": PARAM_KAPPA, "rho": PARAM_RHO, "logkappa": PARAM_LOGKAPPA}
ZERO_RULES = {"cross": ZERO_CROSS, "reflect": ZERO_REFLECT, "remove": ZERO_REMOVE}
# θ's unit, and A0's: the rule dθ/dt = A0 f(θ) ΔV² with f = dκ/dθ (slope below) makes A0 θ / (s V² f)
THETA_UNITS = {"kappa": ("conductance", "θ = κ in S"), "rho": ("resistance", "θ = ρ = 1/κ in Ohm"),
               "logkappa": ("dimensionless", "θ = log κ, dimensionless")}
A0_UNITS = {"kappa": ("learning_rate_kappa", "dκ/dt = A0 (ΔV_F² − ΔV_C²)"),
            "rho": ("learning_rate_rho", "dρ/dt = −A0 κ² (ΔV_F² − ΔV_C²)"),
            "logkappa": ("learning_rate_logkappa", "d(log κ)/dt = A0 κ (ΔV_F² − ΔV_C²)")}


@dataclass
class Conductance(Element):
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
    kind = "conductance"
    code = CONDUCTANCE
    units = {"kappa": "conductance", "parametrization": tuple(PARAMETRIZATIONS), "learn": bool,
             "theta_min": "theta", "theta_max": "theta", "at_zero": tuple(ZERO_RULES)}
    positive = ("kappa",)
    theta = KAPPA

    def theta0(self):
        return {"kappa": self.kappa, "rho": 1.0 / self.kappa, "logkappa": math.log(self.kappa)}[self.parametrization]

    def params(self):
        return [float(PARAMETRIZATIONS[self.parametrization]), float(ZERO_RULES[self.at_zero]), 0.0, 0.0]

    def learns(self):
        return self.learn

    def limits(self):
        """[θ_min, θ_max], with θ_min raised to 0 for κ and ρ unless the rule lets θ cross zero."""
        lo = self.theta_min
        if self.parametrization != "logkappa" and self.at_zero != "cross":
            lo = max(lo, 0.0)
        return lo, self.theta_max

    def theta_unit(self):
        kind, what = THETA_UNITS[self.parametrization]
        return kind, f"a conductance with parametrization {self.parametrization!r} ({what})"

    def a0_unit(self):
        kind, rule = A0_UNITS[self.parametrization]
        return kind, f"a conductance with parametrization {self.parametrization!r}", rule

    @classmethod
    def a0_units(cls):
        return [(kind, f"conductances with parametrization {p!r}") for p, (kind, _) in A0_UNITS.items()]

    def validate(self, key):
        super().validate(key)
        if self.at_zero == "remove" and self.parametrization == "rho":
            raise SpecError(f"{key}.at_zero", "ρ reaching 0 is a short circuit, not a removal: use "
                            "'reflect' or 'cross' with the rho parametrization")
        if not self.theta_min < self.theta_max:
            raise SpecError(f"{key}.theta_max", f"theta_min ({self.theta_min:g}) must be below theta_max "
                            f"({self.theta_max:g})")
        if not self.theta_min <= self.theta0() <= self.theta_max:
            raise SpecError(f"{key}.kappa", f"initial θ = {self.theta0():g} ({self.parametrization}) outside "
                            f"[theta_min, theta_max] = [{self.theta_min:g}, {self.theta_max:g}]")

    # SPICE: κ(θ) and the rule's dκ/dθ, the expressions of kappa_of and slope below
    @classmethod
    def spice_current(cls, p, th, va, vb):
        return f"{_kappa_expr(int(p[0]), th)}*({va}-{vb})"

    @classmethod
    def spice_slope(cls, p, th):
        kind = int(p[0])
        k = _kappa_expr(kind, th)
        return "" if kind == PARAM_KAPPA else (f"*(-{k}*{k})" if kind == PARAM_RHO else f"*{k}")


def _kappa_expr(kind: int, th: str) -> str:
    if kind == PARAM_KAPPA:
        return th
    if kind == PARAM_RHO:
        return f"(1/{th})"
    return f"exp({th})"


@njit(cache=True, inline="always")
def kappa_of(theta, kind):
    if kind == PARAM_KAPPA:
        return theta
    if kind == PARAM_RHO:
        return 1.0 / theta
    return math.exp(theta)


@njit(cache=True, inline="always")
def current(p0, p1, p2, p3, theta, va, vb):
    """p0 = the parametrization (PARAM_*), p1 = the zero rule (ZERO_*)."""
    dv = va - vb
    k = kappa_of(theta, int(p0))
    return k * dv, k, -k


@njit(cache=True, inline="always")
def slope(p0, theta):
    """dκ/dθ, the rule's f(θ): 1 for κ, −κ² for ρ, κ for log κ."""
    kind = int(p0)
    if kind == PARAM_KAPPA:
        return 1.0
    k = kappa_of(theta, kind)
    return -k * k if kind == PARAM_RHO else k


@njit(cache=True, inline="always")
def dslope(p0, theta):
    """d(slope)/dθ: 2/ρ³ for ρ (slope = −1/ρ²), κ for log κ, 0 for κ."""
    kind = int(p0)
    if kind == PARAM_RHO:
        return 2.0 / (theta * theta * theta)
    if kind != PARAM_KAPPA:
        return math.exp(theta)
    return 0.0


@njit(cache=True, inline="always")
def removed(p0, p1, theta):
    """Under the removal rule, κ has reached 0 (McGinnis §4): the edge is out for good."""
    return int(p1) == ZERO_REMOVE and int(p0) == PARAM_KAPPA and theta <= 0.0
