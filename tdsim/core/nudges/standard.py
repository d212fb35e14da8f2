"""The standard clamp: O_C = O_F + s η (L − O_F) (Dillavou Eq. 1)."""
from numba import njit

from tdsim.core.codes import NUDGE_STANDARD
from tdsim.core.nudges.base import Rule


# each nudged output held a fraction η of the way from the free output to its label
STANDARD = Rule("standard", NUDGE_STANDARD)


@njit(cache=True, inline="always")
def held(of, d, L, scale, L0):
    return of + scale * (L - d)
