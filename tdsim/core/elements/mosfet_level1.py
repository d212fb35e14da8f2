"""The level-1 (Shichman–Hodges) MOSFET: the ohmic MOSFET with its saturation region.

Dillavou's Eq. 2 holds while both ends are below G − V_T; the hardware's transistors leave that
(ohmic) regime when |V_a − V_b| > G − V_T − min(V_a, V_b) and their current saturates. The
symmetric Shichman–Hodges law (ngspice's LEVEL=1 with λ = γ = 0, drain and source swapped by
sign) covers both, with the overdrives x_a = G − V_T − V_a, x_b = G − V_T − V_b seen from each end:

    I_ab = (S/2) [f(x_b)² − f(x_a)²] + g_off (V_a − V_b),        f(x) = max(x, 0)

- both overdrives > 0: S (G − V_T − (V_a + V_b)/2)(V_a − V_b), the ohmic MOSFET exactly;
- x_a ≤ 0 < x_b: saturated at (S/2)(G − V_T − V_b)², b the source (and mirrored for V_b > V_a);
- both ≤ 0: cut off, only g_off.

The clip is rounded like the ohmic MOSFET's, f(x) = w softplus(x / w) (GatedChannel.smooth),
which differs from max(x, 0) by at most (S/2)(w ln 2)² in current, at threshold.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from numba import njit

from tdsim.core.codes import MOSFET_LEVEL1
from tdsim.core.elements.base import EXP_MAX, GatedChannel

GMIN = 1e-12     # ngspice's default gmin: its level-1 junctions leak gmin/2 between a and b (floating bulk)


@dataclass
class MosfetLevel1(GatedChannel):
    """Level-1 (Shichman–Hodges) MOSFET with saturation (module docstring); fields and learning
    as the ohmic Mosfet: gate θ = G on C0, dG/dt = A0 (ΔV_F² − ΔV_C²)."""
    kind = "mosfet_level1"
    code = MOSFET_LEVEL1

    @classmethod
    def spice_lines(cls, name, a, b, theta, p):
        """ngspice's built-in LEVEL=1 NMOS (a device model, not a behavioural source): drain a,
        gate, source b (ngspice swaps them when V_b > V_a: level 1 is symmetric), a private
        floating bulk with IS = 0, so that its junctions are the linear gmin leaks only (gmin/2
        between a and b; the rest of g_off is a linear VCCS), W = L so that KP W/L = S exactly,
        no capacitances (the element is static). The rounding ``smooth`` is not exported: ngspice
        clips exactly."""
        S, VT, g_off, _ = (float(x) for x in p)
        gate = theta if isinstance(theta, str) else f"gate_{name}"
        lines = [f"M{name} {a} {gate} {b} bulk_{name} nmos_{name} W=1e-05 L=1e-05",
                 f".model nmos_{name} NMOS (LEVEL=1 VTO={VT!r} KP={S!r} LAMBDA=0 GAMMA=0 PHI=0.6 IS=0 JS=0 "
                 "CBD=0 CBS=0 CJ=0 CJSW=0 CGSO=0 CGDO=0 CGBO=0 RD=0 RS=0 RSH=0 LD=0 TNOM=27)"]
        if not isinstance(theta, str):
            lines.append(f"V{name}g gate_{name} 0 {float(theta)!r}")
        if g_off != GMIN / 2:
            lines.append(f"G{name} {a} {b} {a} {b} {g_off - GMIN / 2!r}")
        return lines


@njit(cache=True, inline="always")
def overdrive(x, w):
    """f(x) = w softplus(x / w), the clip max(x, 0) rounded over w, and f'(x) = sigmoid(x / w)."""
    z = x / w
    if z > EXP_MAX:
        return x, 1.0
    if z < -EXP_MAX:
        return 0.0, 0.0
    ez = math.exp(z)
    return w * math.log1p(ez), ez / (1.0 + ez)


@njit(cache=True, inline="always")
def current(p0, p1, p2, p3, theta, va, vb):
    """p0 = S, p1 = V_T, p2 = g_off, p3 = w; theta = G. dI/dVa = S f(x_a) f'(x_a) + g_off,
    dI/dVb = −S f(x_b) f'(x_b) − g_off (dx/dV = −1)."""
    fa, sa = overdrive(theta - p1 - va, p3)
    fb, sb = overdrive(theta - p1 - vb, p3)
    return 0.5 * p0 * (fb - fa) * (fb + fa) + p2 * (va - vb), p0 * fa * sa + p2, -p0 * fb * sb - p2
