"""A fixed linear resistor."""
from __future__ import annotations

from dataclasses import dataclass

from numba import njit

from tdsim.core.codes import RESISTOR
from tdsim.core.elements.base import Element, spice_num


@dataclass
class Resistor(Element):
    """Fixed linear resistor, I = dv / R."""
    R: float
    kind = "resistor"
    code = RESISTOR
    units = {"R": "resistance"}
    positive = ("R",)

    def params(self):
        return [1.0 / self.R, 0.0, 0.0, 0.0]

    @classmethod
    def spice_lines(cls, name, a, b, theta, p):
        return [f"R{name} {a} {b} {spice_num(1.0 / p[0])}"]


@njit(cache=True, inline="always")
def current(p0, p1, p2, p3, theta, va, vb):
    """p0 = 1/R."""
    dv = va - vb
    return p0 * dv, p0, -p0
