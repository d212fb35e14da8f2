"""The classification hinge clamp (Dillavou App. A, error Eq. A2): the standard clamp, except no
nudge where the free output is already past its label, (d − L) L > 0."""
from numba import njit

from tdsim.core.codes import NUDGE_HINGE
from tdsim.core.nudges.base import Rule


# the standard clamp with no push on outputs already beyond their label's side
HINGE = Rule("hinge", NUDGE_HINGE, spice="hinge nudges")


@njit(cache=True, inline="always")
def held(of, d, L, scale, L0):
    if (d - L) * L > 0.0:
        return of + scale * 0.0     # not plain of: a non-finite scale propagates as it always has
    return of + scale * (L - d)
