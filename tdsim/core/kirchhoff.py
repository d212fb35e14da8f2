"""Kirchhoff's laws for every twin by Newton: the quasi-static node voltages (a stage of the
QUASISTATIC family, the overclamping step time, the DC operating point)."""
from numba import njit

from tdsim.core.codes import DONE, NEWTON, SINGULAR
from tdsim.core.jit import kernel
from tdsim.core.kernels import HOLD_NONE, add_force, add_force_jacobian, assemble, fill_held, node_currents
from tdsim.core.linalg import lu_factor, lu_solve
from tdsim.core.records import I_FACT, I_WHERE

RHO_CHORD = 0.01      # chord iterations go on while each correction shrinks at least this much


@kernel
def qs_solve(V, theta, circ, drv, src, vals, I, rhs, x, work, tol, maxit, counts, reuse):
    """Kirchhoff's laws for every twin by Newton (free twin first), starting from V. With ``reuse``,
    vals holds each twin's factorization from a previous call and is used for chord (simplified
    Newton) iterations while each correction shrinks by RHO_CHORD or better; otherwise the Jacobian
    is refactored at the current iterate. Stops when the last correction, or the estimated remaining error
    ρ/(1 − ρ)·|Δ| of a contraction ρ (Hairer & Wanner II, IV.8), is below tol (1 + max |V|).
    Returns 0 or a failure code."""
    hold, hidx, nudge, out_node, unk_nodes = circ.hold, circ.hidx, circ.nudge, circ.out_node, circ.unk_nodes
    T, N = V.shape
    nu = unk_nodes.shape[0]
    fill_held(V, hold, hidx, src, drv, nudge, out_node)
    for t in range(T):
        if t == 1:
            fill_held(V, hold, hidx, src, drv, nudge, out_node)
        ok = False
        Vt = V[t]                               # views made once per twin (each costs refcounting)
        vt = vals[t]
        pt = circ.par[t]
        ht = hold[t]
        have = reuse
        for i in range(circ.ldiag.shape[0]):    # a factorization exists only if U has no zero pivot
            if vt[circ.ldiag[i]] == 0.0:
                have = False
        dprev = 0.0                             # the last correction applied (0: none yet)
        for it in range(maxit):
            node_currents(Vt, theta, circ.ea, circ.eb, circ.code, pt, circ.inj, src, I)
            add_force(V, t, nudge[t], drv, out_node, I)
            for u in range(nu):
                n = unk_nodes[u]
                rhs[u] = I[n] if ht[n] == HOLD_NONE else 0.0
            if have:
                lu_solve(circ.row_ptr, circ.col, circ.ldiag, circ.perm, vt, rhs, x, work)
                d, vmax = _norms(Vt, x, unk_nodes)
                scale = tol * (1.0 + vmax)
                rho = d / dprev if dprev > 0.0 else 1.0
                if d <= scale or (rho < 0.5 and rho / (1.0 - rho) * d <= scale):
                    _apply(Vt, x, unk_nodes)
                    ok = True
                    break
                if dprev == 0.0 or rho < RHO_CHORD:     # first chord step, or contracting fast: keep it
                    _apply(Vt, x, unk_nodes)
                    dprev = d
                    continue
            # (re)factor the Jacobian at the current iterate: a Newton step
            d, vmax = _newton_step(Vt, theta, circ, t, drv, 0.0, vt, rhs, x, work, counts)
            if d < 0.0:
                return SINGULAR
            have = True
            if d <= tol * (1.0 + vmax):
                ok = True
                break
            dprev = d
        if not ok:
            k = 0
            for u in range(nu):
                if abs(x[u]) > abs(x[k]):
                    k = u
            counts[I_WHERE] = t * N + unk_nodes[k]     # the node that kept moving
            return NEWTON
    return DONE


@njit(cache=True, inline="always")
def _newton_step(Vt, theta, circ, t, drv, c_coef, vt, rhs, x, work, counts):
    """One Newton step on twin t's nodes: vt <- c_coef·C − dI/dV (the force's part included), factored,
    solved for ``rhs`` and the correction applied (damped, _apply). Returns (max |x|, max |V|), or
    (−1, 0) where the matrix is singular (nothing applied)."""
    assemble(Vt, theta, circ.ea, circ.eb, circ.code, circ.par[t], circ.hold[t], circ.cap[t], circ.unk_nodes,
             circ.diag_slot, circ.s_ab, circ.s_ba, circ.s_aa, circ.s_bb, c_coef, 1.0, vt)
    add_force_jacobian(circ.nudge[t], drv, circ.out_node, circ.unk_nodes, circ.diag_slot, 1.0, vt)
    counts[I_FACT] += 1
    if lu_factor(circ.row_ptr, circ.col, circ.ldiag, circ.perm, vt, work) != 0:
        return -1.0, 0.0
    lu_solve(circ.row_ptr, circ.col, circ.ldiag, circ.perm, vt, rhs, x, work)
    d, vmax = _norms(Vt, x, circ.unk_nodes)
    _apply(Vt, x, circ.unk_nodes)
    return d, vmax


@njit(cache=True, inline="always")
def _norms(Vt, x, unk_nodes):
    """(max |x|, max |V|) over the unknown nodes."""
    dmax = 0.0
    vmax = 0.0
    for u in range(unk_nodes.shape[0]):
        dmax = max(dmax, abs(x[u]))
        vmax = max(vmax, abs(Vt[unk_nodes[u]]))
    return dmax, vmax


@njit(cache=True, inline="always")
def _apply(Vt, x, unk_nodes):
    """Add the Newton correction x, damped to ±0.5 V per node (diodes, cut-off edges)."""
    for u in range(unk_nodes.shape[0]):
        Vt[unk_nodes[u]] += min(max(x[u], -0.5), 0.5)


RELAX_H0, RELAX_HMAX = 1e-15, 1e3   # s: pseudo-time steps of ``relax_free``, doubled after each accepted step
RELAX_STEADY = 1e-3                 # s: a step at least this long that changes V by less than the tolerance
                                    # ends the relaxation (1e6 RC times of the networks run here)
RELAX_STEPS = 1000                  # steps (accepted or not) before ``relax_free`` gives up


@kernel
def relax_free(V, theta, circ, drv, src, vals, I, rhs, x, work, tol, counts):
    """The free twin's settled node voltages by relaxation: backward Euler on its RC dynamics
    C dV/dt = I(V) from V, with steps doubling from RELAX_H0 up to RELAX_HMAX (pseudo-transient
    continuation, Kelley & Keyes 1998), until a step of at least RELAX_STEADY changes V by less
    than tol (1 + max |V|): then I(V) = C ΔV/h is below C·tol/RELAX_STEADY, settled. Where Newton on
    Kirchhoff's laws from V fails (the settled branch ends in a fold, and the RC dynamics jump to
    another one, or creep past the fold's ghost), this is the state the circuit settles to. Only
    twin 0 is settled; the last twin's row of V is overwritten (scratch: it needs at least two
    twins, as every rule with a step time has). Returns 0 or a failure code."""
    hold, hidx, nudge, out_node, unk = circ.hold, circ.hidx, circ.nudge, circ.out_node, circ.unk_nodes
    nu = unk.shape[0]
    fill_held(V, hold, hidx, src, drv, nudge, out_node)
    if V.shape[0] < 2:
        return NEWTON
    Vt, vt, pt, ht, cap = V[0], vals[0], circ.par[0], hold[0], circ.cap[0]
    Vold = V[V.shape[0] - 1]                    # scratch: the last twin's row (the caller reads twin 0 only)
    h = RELAX_H0
    for step in range(RELAX_STEPS):
        for n in range(Vt.shape[0]):            # (explicit loops: kernels run without numba's runtime)
            Vold[n] = Vt[n]
        ok = False
        for it in range(30):
            node_currents(Vt, theta, circ.ea, circ.eb, circ.code, pt, circ.inj, src, I)
            add_force(V, 0, nudge[0], drv, out_node, I)
            for u in range(nu):
                n = unk[u]
                rhs[u] = I[n] - cap[n] * (Vt[n] - Vold[n]) / h if ht[n] == HOLD_NONE else 0.0
            d, vmax = _newton_step(Vt, theta, circ, 0, drv, 1.0 / h, vt, rhs, x, work, counts)
            if d < 0.0:
                break
            if d <= tol * (1.0 + vmax):
                ok = True
                break
        if not ok:                              # back, and a shorter step
            for n in range(Vt.shape[0]):
                Vt[n] = Vold[n]
            h *= 0.25
            if h < RELAX_H0:
                return NEWTON
            continue
        change = 0.0
        vmax = 0.0
        for u in range(nu):
            change = max(change, abs(Vt[unk[u]] - Vold[unk[u]]))
            vmax = max(vmax, abs(Vt[unk[u]]))
        if h >= RELAX_STEADY and change <= tol * (1.0 + vmax):
            return DONE
        h = min(2.0 * h, RELAX_HMAX)
    return NEWTON
