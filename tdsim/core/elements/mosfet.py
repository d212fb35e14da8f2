"""The ohmic MOSFET of Dillavou et al. (Eq. 2): a channel conductance set by the mean overdrive."""
from __future__ import annotations

import math
from dataclasses import dataclass

from numba import njit

from tdsim.core.codes import MOSFET
from tdsim.core.elements.base import EXP_MAX, GatedChannel, spice_num


@dataclass
class Mosfet(GatedChannel):
    """Ohmic MOSFET, K = S (G - V_T - V̄) clipped at 0 (Dillavou Eq. 2), V̄ = (V_a + V_b)/2; G on
    gate capacitor C0. I = (K + g_off) dv, the clip smoothed as K = S w softplus(x / w),
    x = G - V_T - V̄ (GatedChannel: ``smooth``, ``g_off``)."""
    kind = "mosfet"
    code = MOSFET

    @classmethod
    def spice_current(cls, p, th, va, vb):
        p0, p1, p2, p3 = p
        x = f"({th}-{spice_num(p1)}-({va}+{vb})/2)"
        m = spice_num(EXP_MAX)
        soft = (f"{spice_num(p3)}*ln(1+exp(max(min({x}/{spice_num(p3)},{m}),-{m})))"
                f"+max({x}-{spice_num(EXP_MAX * p3)},0)")        # = current: w softplus(x/w)
        return f"({spice_num(p0)}*({soft})+{spice_num(p2)})*({va}-{vb})"


@njit(cache=True, inline="always")
def current(p0, p1, p2, p3, theta, va, vb):
    """p0 = S, p1 = V_T, p2 = g_off, p3 = smoothing width w; theta = G."""
    dv = va - vb
    z = (theta - p1 - 0.5 * (va + vb)) / p3
    if z > EXP_MAX:
        k, sig = p0 * p3 * z, 1.0
    elif z < -EXP_MAX:
        k, sig = 0.0, 0.0
    else:
        ez = math.exp(z)
        k, sig = p0 * p3 * math.log1p(ez), ez / (1.0 + ez)
    k += p2
    return k * dv, k - 0.5 * p0 * sig * dv, -k - 0.5 * p0 * sig * dv
