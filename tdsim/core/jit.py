"""``kernel``: the decorator of tdsim's allocation-free compiled functions.

Numba reference-counts every array a compiled function receives, unpacks from a tuple or views
(an atomic increment and decrement, ~6 ns each). The hot kernels take dozens of arrays per call
and call small helpers per edge, so on small circuits this bookkeeping was up to half of a
Newton iteration (2+1 circuit: an early-returning ``add_force`` call cost 50 ns, a 1x1
``lu_solve`` 40 ns; on the CLLN 4x4 a per-edge stamping helper made assembly 4x slower).
Kernels that never allocate need none of it: they are compiled without the runtime's reference
counting (numba's ``_nrt=False`` flag). Their arrays belong to the caller (``loop.integrate``
or Python), which outlives every call. Where numba lacks the flag they compile as plain
``njit(cache=True)``: slower, identical results.
"""
from numba import njit

try:
    from numba.core.cpu import CPUTargetOptions
    _NO_NRT = {"_nrt": False} if hasattr(CPUTargetOptions, "_nrt") else {}
except ImportError:                      # pragma: no cover (other numba layouts)
    _NO_NRT = {}


def kernel(fn=None, **options):
    """``njit(cache=True, **options)`` without reference counting; the function must not
    allocate (no np.empty, .copy(), array expressions) nor return an array."""
    dec = njit(cache=True, **_NO_NRT, **options)
    return dec if fn is None else dec(fn)
