"""The compiled event loop: one call integrates a segment table until it ends or a recording
buffer fills. Five integrators (explicit, rosenbrock, ros2, rodas4, quasistatic) in four families
share the loop, step control and recording:

- EXPLICIT    Dormand–Prince 5(4) (or Bogacki–Shampine 3(2), Heun–Euler 2(1)) on node voltages and gates
              (reference; needs steps ≲ RC);
- ROSENBROCK  a Rosenbrock W-method (ROS34PW2, order 3, or ROS2, order 2), L-stable: steps far
              beyond RC;
- EXACT       RODAS4 (order 4) with the exact Jacobian of the whole twin system (rodas.py);
- QUASISTATIC Kirchhoff/Newton solve of every twin at every stage, the explicit pair on gates only.

Order inside one accepted step: stages are evaluated with held nodes refreshed from the stage
state (sources, then clamped outputs from the free twin *at that stage*; under the EP force
nudge the outputs are free and the injected current enters their Kirchhoff balance, its
Jacobian the output diagonal); the step is accepted on the error estimate; gates are clipped to
[G_min, G_max] (a conductance's κ = 0 rule is such a limit); then samples due at the step's end
time are recorded, then the segment-end event record. Steps are shortened to land exactly on
sample times and segment ends.
"""
import math

import numpy as np
from numba import njit

from tdsim.core.jit import kernel

from tdsim.core.kernels import (HOLD_NONE, add_force, add_force_jacobian, assemble, assemble_currents, clip_gates,
                                fill_held, gate_rates, measured_output, node_currents, normal, removed,
                                source_values)
from tdsim.core.linalg import lu_factor, lu_solve
from tdsim.core.rodas import _rates, _solve, combine, rodas_step, stage_state

from tdsim.core.codes import (CONVERGED, DONE, DUR_FIXED, DUR_OVERCLAMP, DUR_OVERCLAMP_CLASS, EXACT, EXPLICIT, FULL,
                              HMIN, NAN, NEWTON, QUASISTATIC, ROSENBROCK, SINGULAR)

W_HOLD = 1.5           # Rosenbrock W reuse: keep h = h_w while the controller proposes at most this x h_w
METHODS = {"explicit": EXPLICIT, "rosenbrock": ROSENBROCK, "ros2": ROSENBROCK, "rodas4": EXACT,
           "quasistatic": QUASISTATIC}
T_ULPS = 4.0           # steps and segment remainders shorter than this many ulp of t cannot be resolved
# istate slots (integers carried between calls)
I_SEG, I_SAMPLE, I_NREC, I_NEV, I_STEPS, I_REJ, I_FACT, I_WHERE, I_NEWSEG, I_PERIODS = range(10)
N_ISTATE = 10
# fstate slots: time, step size, end of the current segment, overclamping r0, start of the pass
F_T, F_H, F_SEGEND, F_R0, F_PASS0, F_SEGSTART, F_HEVENT = range(7)
N_FSTATE = 7
RHO_CHORD = 0.01      # chord iterations go on while each correction shrinks at least this much
QS_PREDICT = 0.01     # V: largest stage-to-stage move of a quasi-static Newton start (see _erk_step)
QS_RECALL = 1e-2      # a data point's last solution starts Newton if no gate moved by more (relative)

@kernel
def _rhs_full(V, theta, thref, circ, lrn, drv, src, dV, dth, I):
    """dV/dt (free nodes) and dθ/dt at one stage; ``src`` holds the sources at the stage time."""
    (ea, eb, code, par, learn, A0, B, gmin, gmax, cap, hold, hidx, inj, nudge, out_node,
     unk_nodes, diag_slot, s_ab, s_ba, s_aa, s_bb, row_ptr, col, ldiag, perm) = circ
    fill_held(V, hold, hidx, src, drv, nudge, out_node)
    on = drv[6]
    T, N = V.shape
    for t in range(T):
        node_currents(V[t], theta, ea, eb, code, par[t], inj, src, I)
        add_force(V, t, nudge[t], drv, out_node, I)
        for n in range(N):
            dV[t, n] = I[n] / cap[t, n] if hold[t, n] == HOLD_NONE else 0.0
    gate_rates(V, theta, thref, ea, eb, code, par[0], learn, A0, B, gmin, gmax, lrn, on, dth)


@njit(cache=True, inline="always")
def _gate_rates_qs(V, theta, thref, circ, lrn, drv, dth):
    """dθ/dt at a quasi-static stage: V is already the Kirchhoff solution with its held nodes
    filled (qs_solve), and node voltages have no derivative of their own."""
    par = circ[3]
    gate_rates(V, theta, thref, circ[0], circ[1], circ[2], par[0], circ[4], circ[5], circ[6], circ[7],
               circ[8], lrn, drv[6], dth)


@kernel
def qs_solve(V, theta, circ, drv, src, vals, I, rhs, x, work, tol, maxit, counts, reuse):
    """Kirchhoff's laws for every twin by Newton (free twin first), starting from V. With ``reuse``,
    vals holds each twin's factorization from a previous call and is used for chord (simplified
    Newton) iterations while each correction shrinks by RHO_CHORD or better; otherwise the Jacobian
    is refactored at the current iterate. Stops when the last correction, or the estimated remaining error
    ρ/(1 − ρ)·|Δ| of a contraction ρ (Hairer & Wanner II, IV.8), is below tol (1 + max |V|).
    Returns 0 or a failure code."""
    (ea, eb, code, par, learn, A0, B, gmin, gmax, cap, hold, hidx, inj, nudge, out_node,
     unk_nodes, diag_slot, s_ab, s_ba, s_aa, s_bb, row_ptr, col, ldiag, perm) = circ
    T, N = V.shape
    nu = unk_nodes.shape[0]
    fill_held(V, hold, hidx, src, drv, nudge, out_node)
    for t in range(T):
        if t == 1:
            fill_held(V, hold, hidx, src, drv, nudge, out_node)
        ok = False
        Vt = V[t]                               # views made once per twin (each costs refcounting)
        vt = vals[t]
        pt = par[t]
        ht = hold[t]
        have = reuse
        for i in range(ldiag.shape[0]):         # a factorization exists only if U has no zero pivot
            if vt[ldiag[i]] == 0.0:
                have = False
        dprev = 0.0                             # the last correction applied (0: none yet)
        for it in range(maxit):
            node_currents(Vt, theta, ea, eb, code, pt, inj, src, I)
            add_force(V, t, nudge[t], drv, out_node, I)
            for u in range(nu):
                n = unk_nodes[u]
                rhs[u] = I[n] if ht[n] == HOLD_NONE else 0.0
            if have:
                lu_solve(row_ptr, col, ldiag, perm, vt, rhs, x, work)
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
            assemble(Vt, theta, ea, eb, code, pt, ht, cap[t], unk_nodes, diag_slot,
                     s_ab, s_ba, s_aa, s_bb, 0.0, 1.0, vt)
            add_force_jacobian(nudge[t], drv, out_node, unk_nodes, diag_slot, 1.0, vt)
            counts[I_FACT] += 1
            if lu_factor(row_ptr, col, ldiag, perm, vt, work) != 0:
                return SINGULAR
            have = True
            lu_solve(row_ptr, col, ldiag, perm, vt, rhs, x, work)
            d, vmax = _norms(Vt, x, unk_nodes)
            _apply(Vt, x, unk_nodes)
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
def _copy(dst, src):
    """dst[:, :] = src (array-to-array slice assignment needs the runtime kernels do without,
    see core/jit.py)."""
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[i, j] = src[i, j]


@njit(cache=True, inline="always")
def _copy1(dst, src):
    """dst[:] = src for 1-D arrays (see _copy)."""
    for i in range(src.shape[0]):
        dst[i] = src[i]


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


@kernel
def _err_norm(V0, V1, th0, th1, dV, dth, hold, learn, tol, with_v):
    """RMS of error / (atol + rtol |y|) over free node voltages (tol[2:4]) and learning θ (tol[0:2])."""
    rtol, atol, rtol_v, atol_v = tol[0], tol[1], tol[2], tol[3]
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


@kernel
def _erk_step(erk, qs, t0, h, V0, th0, V1, th1, kV, kth, Vs, ths, circ, lrn, drv, src, have_k1, reuse,
                tol, vals, I, rhs, x, work, newton_tol, counts, errv, errth, Vb, Vg, guess):
    """One step of an explicit FSAL Runge–Kutta pair (tableaus.py: Dormand–Prince 5(4),
    Bogacki–Shampine 3(2) or Heun–Euler 2(1)); stage 0 may be reused (FSAL). Returns (status, err).
    Quasi-static stages start Newton from a prediction: stage 0 from ``Vg`` if ``guess`` (else V0),
    stage s from stage s−1's solution, moved along the line from the stage-0 solution ``Vb`` to
    c_s where that line is short (≤ QS_PREDICT V: far from folds, where a long extrapolation
    could land Newton on another solution branch)."""
    A, C, Ew = erk[0], erk[1], erk[2]
    S = C.shape[0]
    hold = circ[10]
    learn = circ[4]
    T, N = V0.shape
    E = th0.shape[0]
    if not have_k1:
        _copy(Vs, Vg if (qs and guess) else V0)
        source_values(drv[0], drv[1], drv[2], drv[3], t0, src)
        if qs:
            st = qs_solve(Vs, th0, circ, drv, src, vals, I, rhs, x, work, newton_tol, 50, counts, reuse)
            if st != DONE:
                return st, 0.0
        if qs:
            _gate_rates_qs(Vs, th0, th0, circ, lrn, drv, kth[0])
            _copy(Vb, Vs)
        else:
            _rhs_full(Vs, th0, th0, circ, lrn, drv, src, kV[0], kth[0], I)
    elif qs:
        _copy(Vb, V0)
        _copy(Vs, V0)
    for s in range(1, S):
        if qs:          # predict: Vs holds stage s−1's solution
            r = C[s] / C[s - 1] - 1.0 if C[s - 1] > 0.0 else 0.0
            dmax = 0.0
            for t in range(T):
                for n in range(N):
                    dmax = max(dmax, abs(Vs[t, n] - Vb[t, n]))
            if r != 0.0 and dmax * max(r, 1.0) <= QS_PREDICT:
                for t in range(T):
                    for n in range(N):
                        Vs[t, n] += r * (Vs[t, n] - Vb[t, n])
        else:
            for t in range(T):
                for n in range(N):
                    if hold[t, n] == HOLD_NONE:
                        acc = 0.0
                        for j in range(s):
                            acc += A[s, j] * kV[j, t, n]
                        Vs[t, n] = V0[t, n] + h * acc
        for e in range(E):
            acc = 0.0
            for j in range(s):
                acc += A[s, j] * kth[j, e]
            ths[e] = th0[e] + h * acc
        source_values(drv[0], drv[1], drv[2], drv[3], t0 + C[s] * h, src)
        if qs:
            st = qs_solve(Vs, ths, circ, drv, src, vals, I, rhs, x, work, newton_tol, 50, counts, True)
            if st != DONE:
                return st, 0.0
            _gate_rates_qs(Vs, ths, th0, circ, lrn, drv, kth[s])
        else:
            _rhs_full(Vs, ths, th0, circ, lrn, drv, src, kV[s], kth[s], I)
    _copy(V1, Vs)          # the last stage is the solution (FSAL pairs)
    _copy1(th1, ths)
    for t in range(T):
        for n in range(N):
            acc = 0.0
            for j in range(S):
                acc += Ew[j] * kV[j, t, n]
            errv[t, n] = h * acc
    for e in range(E):
        acc = 0.0
        for j in range(S):
            acc += Ew[j] * kth[j, e]
        errth[e] = h * acc
    return DONE, _err_norm(V0, V1, th0, th1, errv, errth, hold, learn, tol, not qs)


@kernel
def _rosenbrock_step(t0, h, ros, V0, th0, V1, th1, kV, kth, Vs, ths, circ, lrn, drv, src,
                     tol, vals, I, rhs, x, work, counts, errv, errth, fresh):
    """One Rosenbrock step (tableau ``ros``, see tableaus.py) for C dV/dt = I(V, θ),
    dθ/dt = r(V, θ). With ``fresh``, W = C − γh ∂I/∂V per twin is assembled at (V0, θ0) and
    factored; otherwise ``vals`` holds the factorization of an earlier step's W = C − γh_w J_w,
    which a W-method may use as it is (it is C − γh A with A = (h_w/h) J_w). The gate block of
    the Jacobian and the twin coupling through clamped outputs are left out (W-method). A fresh
    W's assembly also gives the first stage's currents (that stage is at (V0, θ0)); they wait in
    ``errv`` until the error estimate overwrites it. Returns (status, err)."""
    (ea, eb, code, par, learn, A0, B, gmin, gmax, cap, hold, hidx, inj, nudge, out_node,
     unk_nodes, diag_slot, s_ab, s_ba, s_aa, s_bb, row_ptr, col, ldiag, perm) = circ
    a, c, m, e, gamma, _, ct, _ = ros
    on = drv[6]
    S = m.shape[0]
    T, N = V0.shape
    E = th0.shape[0]
    nu = unk_nodes.shape[0]
    source_values(drv[0], drv[1], drv[2], drv[3], t0, src)
    fill_held(V0, hold, hidx, src, drv, nudge, out_node)
    for t in range(T if fresh else 0):
        assemble_currents(V0[t], th0, ea, eb, code, par[t], hold[t], cap[t], unk_nodes, diag_slot,
                          s_ab, s_ba, s_aa, s_bb, 1.0, gamma * h, vals[t], inj, src, errv[t])
        add_force_jacobian(nudge[t], drv, out_node, unk_nodes, diag_slot, gamma * h, vals[t])
        counts[I_FACT] += 1
        if lu_factor(row_ptr, col, ldiag, perm, vals[t], work) != 0:
            return SINGULAR, 0.0
    for i in range(S):
        stage_state(i, a, V0, th0, kV, kth, Vs, ths)
        source_values(drv[0], drv[1], drv[2], drv[3], t0 + ct[i] * h, src)
        fill_held(Vs, hold, hidx, src, drv, nudge, out_node)
        for t in range(T):
            if i == 0 and fresh:
                _copy1(I, errv[t])
            else:
                node_currents(Vs[t], ths, ea, eb, code, par[t], inj, src, I)
            add_force(Vs, t, nudge[t], drv, out_node, I)
            for u in range(nu):
                n = unk_nodes[u]
                if hold[t, n] == HOLD_NONE:
                    acc = 0.0
                    for j in range(i):
                        acc += c[i, j] * kV[j, t, n]
                    rhs[u] = h * I[n] + cap[t, n] * acc
                else:
                    rhs[u] = 0.0
            _solve(row_ptr, col, ldiag, perm, vals[t], rhs, x, work)
            kV[i, t, :] = 0.0
            for u in range(nu):
                kV[i, t, unk_nodes[u]] = x[u]
        _rates(Vs, ths, th0, ea, eb, code, par[0], learn, A0, B, gmin, gmax, lrn, on, kth[i])
        for q in range(E):
            acc = 0.0
            for j in range(i):
                acc += c[i, j] * kth[j, q]
            kth[i, q] = h * kth[i, q] + acc
    combine(V0, th0, kV, kth, m, e, V1, th1, errv, errth)
    source_values(drv[0], drv[1], drv[2], drv[3], t0 + h, src)
    fill_held(V1, hold, hidx, src, drv, nudge, out_node)
    return DONE, _err_norm(V0, V1, th0, th1, errv, errth, hold, learn, tol, True)


@kernel
def _first_bad(V, theta, hold, learn):
    T, N = V.shape
    for t in range(T):
        for n in range(N):
            if not math.isfinite(V[t, n]):
                return t * N + n
    for e in range(theta.shape[0]):
        if not math.isfinite(theta[e]):
            return T * N + e
    return -1


@kernel
def _segment_duration(row, t, V, theta, circ, tab, r0, Vm, vals, I, rhs, x, work, srcn, newton_tol, counts):
    """Fixed duration, or the overclamping step time t_h = r0 |δ| (Dillavou Eq. 8) from the settled
    free output with this segment's inputs; 0 (skip) for a correctly classified point. ``row``:
    the table row (the segment counter modulo the period)."""
    (dur, src, amp, omega, wave, labels, eta, learn_on, mode, offset, L0, partner, osign,
     dmode, pass_end, pass_tau, period_end, record, repeat) = tab
    if dmode[row] == DUR_FIXED:
        return dur[row], DONE
    drv = (src[row], amp[row], omega[row], wave[row], labels[row], eta[row], learn_on[row], mode[row],
           offset, L0[row], partner, osign)
    source_values(drv[0], drv[1], drv[2], drv[3], t, srcn)
    _copy(Vm, V)
    st = qs_solve(Vm, theta, circ, drv, srcn, vals, I, rhs, x, work, newton_tol, 50, counts, False)
    if st != DONE:
        return 0.0, st
    d = measured_output(Vm, circ[14], 0, offset, partner, osign)
    L = labels[row, 0]
    if dmode[row] == DUR_OVERCLAMP_CLASS and (d - L) * L > 0.0:
        return 0.0, DONE
    return r0 * abs(L - d), DONE


@njit(cache=True)
def integrate(method, adaptive, tol, h_fixed, h_min, dt_rec, newton_tol, cycle_tol,
              circ, cpl, lrn, noise, ros, erk, tab, drive_class, V, theta, th_period, fstate, istate,
              rec_t, rec_V, rec_th, ev_t, ev_seg, ev_V, ev_th):
    """Advance (V, θ) through the segment table from fstate (see F_*) and istate (see I_*),
    recording into the buffers, until the table ends (DONE), the limit cycle is reached
    (CONVERGED: θ at two consecutive period ends within cycle_tol), a buffer is full (FULL) or a
    failure. ``tab``: segments.Table.args(), one period of P rows run ``repeat`` times: the
    segment counter ``seg`` (events, noise streams, checkpoints) runs over 0 … P·repeat and reads
    row ``seg % P``. ``noise`` = (seed, σ_update V/√s, σ_read V): a random walk on the gates,
    kicked at every learning segment's end by σ_update √duration N(0, 1), and a per-segment offset
    N(0, σ_read²) on every node voltage as the learning circuits read it.
    ``drive_class[row]`` (quasi-static): rows with equal drives share a class; each class keeps
    the Kirchhoff solution at its last segment's end and its twins' factorizations (within this
    call), so a point seen before starts Newton from there (chord iterations, no refactoring).
    ``cpl`` (EXACT): the coupled pattern of the exact Jacobian (coupled.structure)."""
    T, N = V.shape
    E = theta.shape[0]
    ncls = 1
    if method == QUASISTATIC:
        for r in range(drive_class.shape[0]):
            ncls = max(ncls, drive_class[r] + 1)
    nu = circ[15].shape[0]
    nnz = circ[22].shape[0]
    # kV, kth, V1, Vs, th1, ths, errv, errth, then per drive class (quasi-static): each twin's last
    # factorization, the solution at the end of its last segment, whether the factorization is
    # usable, whether a solution is held and at which gates; then Vb, I, rhs, x, work, srcn
    scratch = (np.zeros((7, T, N)), np.zeros((7, E)), V.copy(), V.copy(), theta.copy(), theta.copy(),
            np.zeros((T, N)), np.zeros(E), np.zeros((ncls, T, nnz)), np.zeros((ncls, T, N)),
            np.zeros(ncls, dtype=np.bool_), np.zeros(ncls, dtype=np.bool_), np.zeros((ncls, E)),
            np.zeros((T, N)), np.zeros(N), np.zeros(nu), np.zeros(nu), np.zeros(nu), np.zeros(tab[1].shape[1]))
    # EXACT: coupled values, rhs, x, work, currents, held-output slopes, a state copy, J_θV rows,
    # ∂I/∂θ, 1/(1 − γh J_θθ), gate rhs, ∂I/∂t, ∂r/∂t, a current vector (rodas.rodas_step)
    ex = method == EXACT
    K = circ[14].shape[0]
    n_c = T * nu if ex else 1
    xs = (np.zeros(cpl[1].shape[0] if ex else 1), np.zeros(n_c), np.zeros(n_c), np.zeros(n_c),
          np.zeros((T, N)), np.zeros((T, N, K)), np.zeros((T, N)), np.zeros((E, 4 + K)), np.zeros((E, T)),
          np.zeros(E), np.zeros(E), np.zeros((T, N)), np.zeros(E), np.zeros(N))
    return _loop(method, adaptive, tol, h_fixed, h_min, dt_rec, newton_tol, cycle_tol, circ, cpl, lrn, noise, ros,
                 erk, tab, drive_class, V, theta, th_period, fstate, istate, rec_t, rec_V, rec_th, ev_t, ev_seg, ev_V,
                 ev_th, scratch, xs)


@kernel
def _loop(method, adaptive, tol, h_fixed, h_min, dt_rec, newton_tol, cycle_tol,
          circ, cpl, lrn, noise, ros, erk, tab, drive_class, V, theta, th_period, fstate, istate,
          rec_t, rec_V, rec_th, ev_t, ev_seg, ev_V, ev_th, scratch, xs):
    """The event loop of ``integrate``, reference-count free (core/jit.py): the loop passes dozens of
    arrays to the step kernels every step. ``scratch`` holds its work arrays, allocated by
    ``integrate``."""
    (kV, kth, V1, Vs, th1, ths, errv, errth, vals_c, Vg_c, fact_c, seen_c, thg_c, Vb, I, rhs, x, work,
     srcn) = scratch
    T, N = V.shape
    E = theta.shape[0]
    qs = method == QUASISTATIC
    seed, sig_up, sig_read = noise
    h_event = fstate[F_HEVENT]           # step after each segment start (0: keep the current one)
    vn = lrn[6]
    (dur, src, amp, omega, wave, labels, eta, learn_on, mode, offset, L0, partner, osign,
     dmode, pass_end, pass_tau, period_end, record, repeat) = tab
    hold = circ[10]
    learn = circ[4]
    gmin = circ[7]
    gmax = circ[8]
    recall = False
    cls = 0
    vals = vals_c[0]
    stepped = False
    q = ros[5] if method == ROSENBROCK or method == EXACT else erk[3]
    w_max = int(tol[4])                 # Rosenbrock: steps one factorization of W may serve (1: every step)
    w_h = 0.0                           # the step size the held W was factored with (0: none held)
    w_used = 0                          # steps it has served
    fresh = True
    last = erk[1].shape[0] - 1
    t = fstate[F_T]
    h = fstate[F_H]
    seg = istate[I_SEG]
    k = istate[I_SAMPLE]
    nrec = 0
    nev = 0
    have_k1 = False
    P = dur.shape[0]                    # segments per period (table rows)
    S = P * repeat                      # segments in the run
    status = DONE
    if sig_read > 0.0 and istate[I_NEWSEG] == 0 and seg < S:     # resumed inside a segment
        for tw in range(T):
            for n in range(N):
                vn[tw, n] = sig_read * normal(seed, 2, seg, tw * N + n)
    while True:
        # samples due now
        while dt_rec > 0.0 and k * dt_rec <= t * (1.0 + 1e-12) + 1e-300 and nrec < rec_t.shape[0]:
            rec_t[nrec] = k * dt_rec
            _copy(rec_V[nrec], V)
            _copy1(rec_th[nrec], theta)
            nrec += 1
            k += 1
            w_h = 0.0           # a resumed run (after a full buffer) starts without a held W: so here too
        if seg >= S:
            break
        row = seg % P                   # this segment's table row
        if nrec >= rec_t.shape[0] or nev >= ev_t.shape[0]:
            status = FULL
            break
        if istate[I_NEWSEG] == 1:
            istate[I_NEWSEG] = 0
            have_k1 = False
            w_h = 0.0                   # sources jumped (and vals may hold a Kirchhoff solve)
            stepped = False
            if qs:
                cls = drive_class[row]
                vals = vals_c[cls]
                recall = seen_c[cls]
                for e in range(E):
                    if abs(theta[e] - thg_c[cls, e]) > QS_RECALL * 0.5 * (abs(theta[e]) + abs(thg_c[cls, e])) + tol[1]:
                        recall = False
            if h_event > 0.0:
                h = min(h, h_event)
            d, st = _segment_duration(row, t, V, theta, circ, tab, fstate[F_R0], Vs, vals, I, rhs, x, work,
                                      srcn, newton_tol, istate)
            if st != DONE:
                status = st
                break
            fstate[F_SEGEND] = t + d
            fstate[F_SEGSTART] = t
            if sig_read > 0.0:
                for tw in range(T):
                    for n in range(N):
                        vn[tw, n] = sig_read * normal(seed, 2, seg, tw * N + n)
        seg_end = fstate[F_SEGEND]
        # at large t a step shorter than a few ulp of t cannot advance t (t + h == t) or only in
        # coarse rounded jumps: no step is shorter than h_floor, and a segment (or its remainder)
        # shorter than t_res ends at once (an overclamping step time r0|δ| can be that short)
        t_res = T_ULPS * np.spacing(abs(t))
        h_floor = max(h_min, t_res)
        if seg_end - t > t_res:
            stop = seg_end
            if dt_rec > 0.0:
                stop = min(stop, k * dt_rec)
            hs = max(h, h_floor) if adaptive else h_fixed
            landing = False
            if t + hs >= stop - 1e-9 * hs:
                hs = stop - t
                landing = True
            elif hs < t_res:                    # a fixed step too short to advance t
                status = HMIN
                istate[I_WHERE] = -1
                break
            drv = (src[row], amp[row], omega[row], wave[row], labels[row], eta[row], learn_on[row], mode[row],
                   offset, L0[row], partner, osign)
            if method == ROSENBROCK:
                # the held W serves only steps of its own size h_w (the controller holds h there):
                # W from another h loses L-stability (docs/integrators.md)
                fresh = not (w_h > 0.0 and w_used < w_max and abs(hs - w_h) <= 1e-9 * w_h)
                st, err = _rosenbrock_step(t, hs, ros, V, theta, V1, th1, kV, kth, Vs, ths, circ, lrn, drv,
                                           srcn, tol, vals, I, rhs, x, work, istate, errv, errth, fresh)
                if fresh:
                    w_h = hs
                    w_used = 0
                w_used += 1
            elif method == EXACT:
                bad, _ = rodas_step(t, hs, ros, V, theta, V1, th1, kV, kth, Vs, ths, circ, cpl, lrn, drv, srcn, xs,
                                    errv, errth)
                istate[I_FACT] += 1
                st = SINGULAR if bad != 0 else DONE
                err = _err_norm(V, V1, theta, th1, errv, errth, hold, learn, tol, True) if bad == 0 else 0.0
            else:
                st, err = _erk_step(erk, qs, t, hs, V, theta, V1, th1, kV, kth, Vs, ths, circ, lrn, drv, srcn,
                                      have_k1, fact_c[cls], tol, vals, I, rhs, x, work, newton_tol, istate,
                                      errv, errth, Vb, Vg_c[cls], recall)
            if st == DONE and not math.isfinite(err):
                st = NAN
            if st != DONE or (adaptive and err > 1.0):
                istate[I_REJ] += 1
                recall = False                  # retry from the last state, as without classes
                if st != DONE:
                    fact_c[cls] = False         # vals may hold a failed factorization
                if st != DONE or not fresh:
                    w_h = 0.0                   # retry with a fresh W
                if not adaptive:
                    status = st
                    istate[I_WHERE] = _first_bad(V1, th1, hold, learn)
                    break
                h = hs * (0.25 if st != DONE else max(0.2, 0.9 * err ** (-1.0 / q)))
                if h < h_floor:
                    status = st if st != DONE else HMIN
                    if st != NEWTON:
                        istate[I_WHERE] = _first_bad(V1, th1, hold, learn)
                    break
                continue
            if qs:
                fact_c[cls] = True
            stepped = True
            bad = _first_bad(V1, th1, hold, learn)
            if bad >= 0:
                status = NAN
                istate[I_WHERE] = bad
                break
            istate[I_STEPS] += 1
            clipped = clip_gates(th1, learn, gmin, gmax)
            _copy(V, V1)
            _copy1(theta, th1)
            t = stop if landing else t + hs
            if method == EXPLICIT or qs:        # first-same-as-last: stage 7 is f at the new state
                _copy(kV[0], kV[last])
                _copy1(kth[0], kth[last])
                have_k1 = not clipped           # a clipped gate invalidates the stored derivative
            if adaptive:
                fac = 5.0 if err == 0.0 else min(5.0, max(0.2, 0.9 * err ** (-1.0 / q)))
                hn = hs * fac
                h = max(hn, h) if (landing and hs < h) else hn
                if w_h > 0.0 and w_used < w_max and w_h <= h <= W_HOLD * w_h:
                    h = w_h                 # hold the step: the factored W serves the next one too
        if t >= seg_end * (1.0 - 1e-14):
            t = seg_end
            if qs and stepped:
                _copy(Vg_c[cls], V)
                _copy1(thg_c[cls], theta)
                seen_c[cls] = True
            if sig_up > 0.0 and learn_on[row]:
                kick = sig_up * math.sqrt(t - fstate[F_SEGSTART])
                par0 = circ[3][0]
                for e in range(E):
                    if learn[e] and not removed(circ[2][e], par0[e, 0], par0[e, 1], theta[e]):
                        theta[e] += kick * normal(seed, 1, seg, e)
                clip_gates(theta, learn, gmin, gmax)
                have_k1 = False
            if record[row]:
                ev_t[nev] = t
                ev_seg[nev] = seg
                _copy(ev_V[nev], V)
                _copy1(ev_th[nev], theta)
                nev += 1
            if pass_end[row]:                   # overclamping: rescale r0 to hold the pass time
                elapsed = t - fstate[F_PASS0]   # (at most x2 per pass: one lucky pass with a tiny
                if elapsed > 0.0:               # error must not blow r0 up)
                    fstate[F_R0] *= min(2.0, max(0.5, pass_tau[row] / elapsed))
                fstate[F_PASS0] = t
            seg += 1
            istate[I_NEWSEG] = 1
            if period_end[row] and cycle_tol > 0.0:
                change = 0.0
                for e in range(E):
                    if learn[e]:
                        change = max(change, abs(theta[e] - th_period[e]))
                    th_period[e] = theta[e]
                istate[I_PERIODS] += 1
                if istate[I_PERIODS] > 1 and change < cycle_tol:
                    status = CONVERGED
                    break
    fstate[F_T] = t
    fstate[F_H] = h
    istate[I_SEG] = seg
    istate[I_SAMPLE] = k
    istate[I_NREC] = nrec
    istate[I_NEV] = nev
    return status
