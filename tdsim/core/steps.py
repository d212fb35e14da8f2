"""What the step files share: state copies, the error norm, and the stage and end-of-step
combinations of the Rosenbrock steps (wmethod.py, rodas.py)."""
import math

from numba import njit

from tdsim.core.codes import HOLD_NONE
from tdsim.core.jit import kernel
from tdsim.core.kernels import gate_rates
from tdsim.core.linalg import lu_solve
from tdsim.core.records import TOL_ATOL, TOL_ATOL_V, TOL_RTOL, TOL_RTOL_V


@njit(cache=True, inline="always")
def copy2(dst, src):
    """dst[:, :] = src (array-to-array slice assignment needs the runtime kernels do without,
    see core/jit.py)."""
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[i, j] = src[i, j]


@njit(cache=True, inline="always")
def copy1(dst, src):
    """dst[:] = src for 1-D arrays (see copy2)."""
    for i in range(src.shape[0]):
        dst[i] = src[i]


@kernel
def err_norm(V0, V1, th0, th1, dV, dth, hold, learn, tol, with_v):
    """RMS of error / (atol + rtol |y|) over free node voltages and learning θ (tolerances from
    ``tol``, records.tolerances)."""
    rtol, atol, rtol_v, atol_v = tol[TOL_RTOL], tol[TOL_ATOL], tol[TOL_RTOL_V], tol[TOL_ATOL_V]
    s = 0.0
    m = 0
    if with_v:
        T, N = V0.shape
        for t in range(T):
            for n in range(N):
                if hold[t, n] == HOLD_NONE:
                    sc = atol_v + rtol_v * max(abs(V0[t, n]), abs(V1[t, n]))
                    s += (dV[t, n] / sc) ** 2
                    m += 1
    for e in range(th0.shape[0]):
        if learn[e]:
            sc = atol + rtol * max(abs(th0[e]), abs(th1[e]))
            s += (dth[e] / sc) ** 2
            m += 1
    return math.sqrt(s / m) if m > 0 else 0.0


@njit(cache=True, inline="always")
def stage_state(i, a, V0, th0, kV, kth, Vs, ths):
    """Stage i's state of a Rosenbrock step: y0 + Σ_{j<i} a_ij k_j (nodes and gates)."""
    T, N = V0.shape
    for t in range(T):
        for n in range(N):
            acc = 0.0
            for j in range(i):
                acc += a[i, j] * kV[j, t, n]
            Vs[t, n] = V0[t, n] + acc
    for q in range(th0.shape[0]):
        acc = 0.0
        for j in range(i):
            acc += a[i, j] * kth[j, q]
        ths[q] = th0[q] + acc


@njit(cache=True, inline="always")
def stage_sum(i, c, kV, t, n):
    """Σ_{j<i} c_ij k_j at node n of twin t: the capacitance term C Σ c_ij k_j of stage i of a
    Rosenbrock step (wmethod.py, rodas.py)."""
    acc = 0.0
    for j in range(i):
        acc += c[i, j] * kV[j, t, n]
    return acc


@njit(cache=True, inline="always")
def combine(V0, th0, kV, kth, m, e, V1, th1, errv, errth):
    """End of a Rosenbrock step: y1 = y0 + Σ m_i k_i, error estimate Σ e_i k_i (nodes and gates)."""
    S = m.shape[0]
    T, N = V0.shape
    for t in range(T):
        for n in range(N):
            y = V0[t, n]
            er = 0.0
            for i in range(S):
                y += m[i] * kV[i, t, n]
                er += e[i] * kV[i, t, n]
            V1[t, n] = y
            errv[t, n] = er
    for q in range(th0.shape[0]):
        y = th0[q]
        er = 0.0
        for i in range(S):
            y += m[i] * kth[i, q]
            er += e[i] * kth[i, q]
        th1[q] = y
        errth[q] = er


# inlined copies of the per-stage kernels for the Rosenbrock stages: a call passing ~15 arrays costs
# about as much as the work itself on small circuits (the 2+1-edge step is ~2 µs)
stage_rates = njit(cache=True, inline="always")(gate_rates.py_func)
stage_solve = njit(cache=True, inline="always")(lu_solve.py_func)
