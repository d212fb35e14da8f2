"""A Shockley diode."""
from __future__ import annotations

import math
from dataclasses import dataclass

from numba import njit

from tdsim.core.codes import SHOCKLEY_DIODE
from tdsim.core.elements.base import EXP_MAX, Element, spice_num


@dataclass
class ShockleyDiode(Element):
    """Shockley diode I = Is (exp(dv / (n V_t)) - 1), V_t the thermal voltage; continued linearly
    beyond dv = 40 n V_t (the engine and the SPICE export alike)."""
    Is: float = 1e-14
    n: float = 1.0
    Vt: float = 0.025852
    kind = "shockley_diode"
    code = SHOCKLEY_DIODE
    units = {"Is": "current", "n": "dimensionless", "Vt": "voltage"}
    positive = ("Is", "n", "Vt")

    def params(self):
        return [self.Is, self.n * self.Vt, 0.0, 0.0]

    @classmethod
    def spice_current(cls, p, th, va, vb):
        dv = f"({va}-{vb})"
        x = f"{dv}/{spice_num(p[1])}"
        g = p[0] * math.exp(EXP_MAX) / p[1]
        return (f"{spice_num(p[0])}*(exp(min({x},{spice_num(EXP_MAX)}))-1)"
                f"+{spice_num(g)}*max({dv}-{spice_num(EXP_MAX * p[1])},0)")


@njit(cache=True, inline="always")
def current(p0, p1, p2, p3, theta, va, vb):
    """p0 = I_s, p1 = n V_t."""
    dv = va - vb
    x = dv / p1
    if x > EXP_MAX:
        ex = math.exp(EXP_MAX)
        g = p0 * ex / p1
        return p0 * (ex - 1.0) + g * (dv - EXP_MAX * p1), g, -g
    ex = math.exp(x)
    g = p0 * ex / p1
    return p0 * (ex - 1.0), g, -g
