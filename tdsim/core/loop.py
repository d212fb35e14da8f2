"""The compiled event loop: one call integrates a segment table until it ends or a recording
buffer fills. Four families of integrators (methods.py) share the loop, step control and
recording; each one's step lives in its own file:

- EXPLICIT     explicit.py   an explicit FSAL pair on node voltages and gates;
- ROSENBROCK   wmethod.py    a Rosenbrock W-method (W per twin; may be reused across steps);
- EXACT        rodas.py      RODAS4 with the exact Jacobian of the whole twin system;
- QUASISTATIC  explicit.py   the explicit pair on gates only, Kirchhoff/Newton (kirchhoff.py) at every stage.

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

from tdsim.core.codes import (CONVERGED, DONE, DUR_FIXED, DUR_OVERCLAMP_CLASS, EXACT, EXPLICIT, FULL, HMIN, NAN,
                              NEWTON, QUASISTATIC, ROSENBROCK, RUNAWAY, SINGULAR)
from tdsim.core.explicit import erk_step
from tdsim.core.jit import kernel
from tdsim.core.kernels import clip_gates, drive_sources, measured_output, next_corner, normal, removed
from tdsim.core.kirchhoff import qs_solve, relax_free
from tdsim.core.records import (F_H, F_HEVENT, F_PASS0, F_R0, F_SEGEND, F_SEGSTART, F_T, I_FACT, I_NEV, I_NEWSEG,
                                I_NREC, I_PERIODS, I_REJ, I_SAMPLE, I_SEG, I_STEPS, I_WHERE, N_FSTATE, TOL_ATOL,
                                TOL_V_BOUND, TOL_W_MAX, ExactWork, Work, drive, row_of)
from tdsim.core.rodas import rodas_step
from tdsim.core.sensitivity import sensitivity_step
from tdsim.core.steps import copy1, copy2, err_norm
from tdsim.core.wmethod import W_HOLD, w_step

T_ULPS = 4.0           # steps and segment remainders shorter than this many ulp of t cannot be resolved
QS_RECALL = 1e-2      # a data point's last solution starts Newton if no gate moved by more (relative)


@kernel
def _beyond(V, bound):
    """Flat index t·N + n of the first node voltage beyond ±bound, or -1."""
    T, N = V.shape
    for t in range(T):
        for n in range(N):
            if abs(V[t, n]) > bound:
                return t * N + n
    return -1


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
    timing = tab.timing[row]
    if timing == DUR_FIXED:
        return tab.dur[row], DONE
    drv = drive(tab, row, -np.inf, srcn)       # the settled inputs: no ramp
    drive_sources(drv, t, srcn)
    copy2(Vm, V)
    st = qs_solve(Vm, theta, circ, drv, srcn, vals, I, rhs, x, work, newton_tol, 50, counts, False)
    if st != DONE:                             # no settled state on this branch (a fold): where the RC
        copy2(Vm, V)                           # dynamics of the free twin settle instead
        st = relax_free(Vm, theta, circ, drv, srcn, vals, I, rhs, x, work, newton_tol, counts)
        if st != DONE:
            return 0.0, st
    d = measured_output(Vm, circ.out_node, 0, tab.offset, tab.partner, tab.osign)
    L = tab.labels[row, 0]
    if timing == DUR_OVERCLAMP_CLASS and (d - L) * L > 0.0:
        return 0.0, DONE
    return r0 * abs(L - d), DONE


@njit(cache=True, inline="always")
def _sample_time(k, dt_rec, t_save):
    """Time of sample k: the k-th chosen time (``t_save``, sorted) if any were chosen, else
    k · dt_rec; -1 when there is none (no recording, or every chosen time recorded)."""
    if t_save.shape[0] > 0:
        return t_save[k] if k < t_save.shape[0] else -1.0
    return k * dt_rec if dt_rec > 0.0 else -1.0


@njit(cache=True)
def integrate(family, adaptive, tol, h_fixed, h_min, dt_rec, t_save, newton_tol, cycle_tol,
              circ, cpl, lrn, noise, ros, erk, tab, drive_class, V, theta, th_period, fstate, istate, rec, sens):
    """Advance (V, θ) through the segment table from fstate (see F_*) and istate (see I_*),
    recording into ``rec`` (records.Recording), until the table ends (DONE), the limit cycle is reached
    (CONVERGED: θ at two consecutive period ends within cycle_tol), a buffer is full (FULL) or a
    failure. ``family``: the integrator's loop family (methods.py), ``ros``, ``erk`` its tableaus
    (records.Rosenbrock, records.Explicit; the one it does not use only fixes the types), ``tol``:
    the step-control array (records.tolerances). ``tab``: records.Table, Q prologue rows run once, then one period of P rows run ``repeat`` times: the
    segment counter ``seg`` (events, noise streams, checkpoints) runs over 0 … Q + P·repeat and reads
    row ``records.row_of(tab, seg)``. ``noise`` (records.Noise: seed, σ_update V/√s, σ_read V): a random walk on the gates,
    kicked at every learning segment's end by σ_update √duration N(0, 1), and a per-segment offset
    N(0, σ_read²) on every node voltage as the learning circuits read it.
    ``drive_class[row]`` (quasi-static): rows with equal drives share a class; each class keeps
    the Kirchhoff solution at its last segment's end and its twins' factorizations (within this
    call), so a point seen before starts Newton from there (chord iterations, no refactoring).
    ``cpl`` (EXACT): the coupled pattern of the exact Jacobian (coupled.structure). ``sens``
    (records.Sensitivity, EXACT only): columns of forward sensitivities advanced after every
    accepted step (core/sensitivity.py); none: not carried."""
    T, N = V.shape
    E = theta.shape[0]
    ncls = 1
    if family == QUASISTATIC:
        for r in range(drive_class.shape[0]):
            ncls = max(ncls, drive_class[r] + 1)
    nu = circ.unk_nodes.shape[0]
    nnz = circ.col.shape[0]
    wk = Work(np.zeros((7, T, N)), np.zeros((7, E)), V.copy(), V.copy(), theta.copy(), theta.copy(),
              np.zeros((T, N)), np.zeros(E), np.zeros((ncls, T, nnz)), np.zeros((ncls, T, N)),
              np.zeros(ncls, dtype=np.bool_), np.zeros(ncls, dtype=np.bool_), np.zeros((ncls, E)),
              np.zeros((T, N)), np.zeros(N), np.zeros(nu), np.zeros(nu), np.zeros(nu), np.zeros(tab.src.shape[1]))
    ex = family == EXACT
    K = circ.out_node.shape[0]
    n_c = T * nu if ex else 1
    xs = ExactWork(np.zeros(cpl.col.shape[0] if ex else 1), np.zeros(n_c), np.zeros(n_c), np.zeros(n_c),
                   np.zeros((T, N)), np.zeros((T, N, K)), np.zeros((T, N)), np.zeros((E, 4 + K)), np.zeros((E, T)),
                   np.zeros(E), np.zeros(E), np.zeros((T, N)), np.zeros(E), np.zeros(N))
    return _loop(family, adaptive, tol, h_fixed, h_min, dt_rec, t_save, newton_tol, cycle_tol, circ, cpl, lrn, noise, ros,
                 erk, tab, drive_class, V, theta, th_period, fstate, istate, rec, wk, xs, sens)


@kernel
def _loop(family, adaptive, tol, h_fixed, h_min, dt_rec, t_save, newton_tol, cycle_tol,
          circ, cpl, lrn, noise, ros, erk, tab, drive_class, V, theta, th_period, fstate, istate, rec, wk, xs, sens):
    """The event loop of ``integrate``, reference-count free (core/jit.py): the loop passes dozens of
    arrays to the step kernels every step. ``wk``, ``xs`` hold its work arrays (records.Work,
    records.ExactWork), allocated by ``integrate``."""
    kV, kth, V1, Vs, th1, ths, errv, errth = wk.kV, wk.kth, wk.V1, wk.Vs, wk.th1, wk.ths, wk.errv, wk.errth
    vals_c, Vg_c, fact_c, seen_c, thg_c, Vb = wk.vals_c, wk.Vg_c, wk.fact_c, wk.seen_c, wk.thg_c, wk.Vb
    I, rhs, x, work, srcn = wk.I, wk.rhs, wk.x, wk.work, wk.src
    rec_t, rec_V, rec_th, ev_t, ev_seg, ev_V, ev_th = rec.t, rec.V, rec.theta, rec.ev_t, rec.ev_seg, rec.ev_V, \
        rec.ev_theta
    T, N = V.shape
    E = theta.shape[0]
    qs = family == QUASISTATIC
    carry = family == EXACT and sens.V.shape[0] > 0      # forward sensitivities advanced with the steps
    seed, sig_up, sig_read = noise.seed, noise.update, noise.read
    h_event = fstate[F_HEVENT]           # step after each segment start (0: keep the current one)
    vn = lrn.read_noise
    learn_on, pass_end, pass_tau, period_end, record = tab.learn_on, tab.pass_end, tab.pass_tau, tab.period_end, \
        tab.record
    hold = circ.hold
    learn = circ.learn
    gmin = circ.gmin
    gmax = circ.gmax
    recall = False
    cls = 0
    vals = vals_c[0]
    stepped = False
    q = ros.order if family == ROSENBROCK or family == EXACT else erk.order
    w_max = int(tol[TOL_W_MAX])         # Rosenbrock: steps one factorization of W may serve (1: every step)
    w_h = 0.0                           # the step size the held W was factored with (0: none held)
    w_used = 0                          # steps it has served
    fresh = True
    last = erk.c.shape[0] - 1
    t = fstate[F_T]
    h = fstate[F_H]
    seg = istate[I_SEG]
    k = istate[I_SAMPLE]
    nrec = 0
    nev = 0
    have_k1 = False
    S = tab.prologue + (tab.dur.shape[0] - tab.prologue) * tab.repeat    # segments in the run
    start = fstate[N_FSTATE:]           # the sources' values at the segment's start (ramps begin there)
    v_bound = tol[TOL_V_BOUND]
    drv = drive(tab, row_of(tab, seg), fstate[F_SEGSTART], start)
    status = DONE
    if sig_read > 0.0 and istate[I_NEWSEG] == 0 and seg < S:     # resumed inside a segment
        for tw in range(T):
            for n in range(N):
                vn[tw, n] = sig_read * normal(seed, 2, seg, tw * N + n)
    while True:
        # samples due now
        while nrec < rec_t.shape[0]:
            t_k = _sample_time(k, dt_rec, t_save)
            if not (t_k >= 0.0 and t_k <= t * (1.0 + 1e-12) + 1e-300):
                break
            rec_t[nrec] = t_k
            copy2(rec_V[nrec], V)
            copy1(rec_th[nrec], theta)
            nrec += 1
            k += 1
            w_h = 0.0           # a resumed run (after a full buffer) starts without a held W: so here too
        if seg >= S:
            break
        row = row_of(tab, seg)          # this segment's table row
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
                    moved = abs(theta[e] - thg_c[cls, e])
                    if moved > QS_RECALL * 0.5 * (abs(theta[e]) + abs(thg_c[cls, e])) + tol[TOL_ATOL]:
                        recall = False
            if h_event > 0.0:
                h = min(h, h_event)
            d, st = _segment_duration(row, t, V, theta, circ, tab, fstate[F_R0], Vs, vals, I, rhs, x, work,
                                      srcn, newton_tol, istate)
            if st != DONE:
                status = st
                break
            fstate[F_SEGEND] = t + d
            if seg > 0:                 # the sources switch from their values at the previous segment's end
                drive_sources(drive(tab, row_of(tab, seg - 1), fstate[F_SEGSTART], start), t, srcn)
                copy1(start, srcn)
            else:
                drive_sources(drive(tab, row, -np.inf, start), t, start)
            fstate[F_SEGSTART] = t
            drv = drive(tab, row, t, start)
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
            stop = min(seg_end, next_corner(drv, t, t + t_res))   # steps land where a source's slope jumps
            t_k = _sample_time(k, dt_rec, t_save)
            if t_k >= 0.0:
                stop = min(stop, t_k)
            hs = max(h, h_floor) if adaptive else h_fixed
            landing = False
            if t + hs >= stop - 1e-9 * hs:
                hs = stop - t
                landing = True
            elif hs < t_res:                    # a fixed step too short to advance t
                status = HMIN
                istate[I_WHERE] = -1
                break
            if family == ROSENBROCK:
                # the held W serves only steps of its own size h_w (the controller holds h there):
                # W from another h loses L-stability (docs/integrators.md)
                fresh = not (w_h > 0.0 and w_used < w_max and abs(hs - w_h) <= 1e-9 * w_h)
                st, err = w_step(t, hs, ros, V, theta, V1, th1, kV, kth, Vs, ths, circ, lrn, drv,
                                 srcn, tol, vals, I, rhs, x, work, istate, errv, errth, fresh)
                if fresh:
                    w_h = hs
                    w_used = 0
                w_used += 1
            elif family == EXACT:
                bad, _ = rodas_step(t, hs, ros, V, theta, V1, th1, kV, kth, Vs, ths, circ, cpl, lrn, drv, srcn, xs,
                                    errv, errth)
                istate[I_FACT] += 1
                st = SINGULAR if bad != 0 else DONE
                err = err_norm(V, V1, theta, th1, errv, errth, hold, learn, tol, True) if bad == 0 else 0.0
            else:
                st, err = erk_step(erk, qs, t, hs, V, theta, V1, th1, kV, kth, Vs, ths, circ, lrn, drv, srcn,
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
            first = not stepped                 # the segment's first step (its Jacobian jumped at the start)
            stepped = True
            bad = _first_bad(V1, th1, hold, learn)
            if bad >= 0:
                status = NAN
                istate[I_WHERE] = bad
                break
            istate[I_STEPS] += 1
            clipped = clip_gates(th1, learn, gmin, gmax)
            if carry and sensitivity_step(t, hs, first, V, theta, V1, th1, Vs, ths, circ, cpl, lrn, drv, srcn, xs,
                                          sens) != DONE:
                status = SINGULAR
                istate[I_WHERE] = -1
                break
            copy2(V, V1)
            copy1(theta, th1)
            t = stop if landing else t + hs
            bad = _beyond(V, v_bound)
            if bad >= 0:                        # an active network (a conductance crossed zero) runs away
                status = RUNAWAY
                istate[I_WHERE] = bad
                break
            if family == EXPLICIT or qs:        # first-same-as-last: stage 7 is f at the new state
                copy2(kV[0], kV[last])
                copy1(kth[0], kth[last])
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
                copy2(Vg_c[cls], V)
                copy1(thg_c[cls], theta)
                seen_c[cls] = True
            if sig_up > 0.0 and learn_on[row]:
                kick = sig_up * math.sqrt(t - fstate[F_SEGSTART])
                par0 = circ.par[0]
                for e in range(E):
                    if learn[e] and not removed(circ.code[e], par0[e, 0], par0[e, 1], theta[e]):
                        theta[e] += kick * normal(seed, 1, seg, e)
                clip_gates(theta, learn, gmin, gmax)
                have_k1 = False
            if record[row]:
                ev_t[nev] = t
                ev_seg[nev] = seg
                copy2(ev_V[nev], V)
                copy1(ev_th[nev], theta)
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

