"""An ideal diode with a forward voltage, in series with a conductance."""
from __future__ import annotations

from dataclasses import dataclass

from numba import njit

from tdsim.core.codes import IDEAL_DIODE
from tdsim.core.elements.base import Element, spice_num


@dataclass
class IdealDiode(Element):
    """Ideal diode (forward voltage Vf) in series with conductance g: I = g max(dv - Vf, 0)."""
    g: float
    Vf: float = 0.0
    kind = "ideal_diode"
    code = IDEAL_DIODE
    units = {"g": "conductance", "Vf": "voltage"}
    positive = ("g",)

    def params(self):
        return [self.g, self.Vf, 0.0, 0.0]

    @classmethod
    def spice_current(cls, p, th, va, vb):
        return f"{spice_num(p[0])}*max(({va}-{vb})-{spice_num(p[1])},0)"


@njit(cache=True, inline="always")
def current(p0, p1, p2, p3, theta, va, vb):
    """p0 = g, p1 = V_f."""
    d = va - vb - p1
    if d <= 0.0:
        return 0.0, 0.0, 0.0
    return p0 * d, p0, -p0
