"""The Equilibrium Propagation force: the current −sβ ∂C/∂O = sβ (L − O) into each output of the
nudged twin, C = ½ Σ (L − O)², O its own output plus its measurement offset. The nudged state
minimizes E + sβC (Scellier & Bengio); the injection is a conductance sβ to a source at L."""
from numba import njit

from tdsim.core.codes import NUDGE_FORCE
from tdsim.core.nudges.base import FORCE, Rule


# a current sβ (L − O) into each output of the nudged twin, from its own output O
FORCE_OWN = Rule("force", NUDGE_FORCE, acts=FORCE, amplitude="beta")


@njit(cache=True, inline="always")
def current(s, beta, L, o, off):
    return s * beta * (L - o - off)


@njit(cache=True, inline="always")
def jacobian(j, s, beta, L, off):
    return j * s * beta           # j·(−dI/do), in this order: bit-identical to the engine before the split
