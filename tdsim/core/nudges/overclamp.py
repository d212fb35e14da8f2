"""Overclamping (Dillavou Eq. 8): O_C = O_F + s η L0 sign(L − O_F), a fixed-size push towards the
label (the step time t_h = r0 |δ| carries the error's size: tdsim.model.protocols)."""
from numba import njit

from tdsim.core.codes import NUDGE_OVERCLAMP
from tdsim.core.nudges.base import Rule


# each nudged output pushed L0 (V, > 0) towards its label, scaled by s η
OVERCLAMP = Rule("overclamp", NUDGE_OVERCLAMP, needs_L0=True, spice="overclamp nudges")


@njit(cache=True, inline="always")
def held(of, d, L, scale, L0):
    delta = L - d
    return of + scale * (L0 * (1.0 if delta > 0.0 else (-1.0 if delta < 0.0 else 0.0)))
