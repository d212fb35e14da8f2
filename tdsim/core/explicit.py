"""The explicit step: an FSAL Runge–Kutta pair (tableaus.py: Dormand–Prince 5(4), Bogacki–Shampine
3(2), Heun–Euler 2(1)) on node voltages and gates (EXPLICIT; needs steps ≲ RC), or on the gates
alone with the node voltages solved by Kirchhoff's laws at every stage (QUASISTATIC, kirchhoff.py)."""
from numba import njit

from tdsim.core.codes import DONE
from tdsim.core.jit import kernel
from tdsim.core.kernels import HOLD_NONE, add_force, drive_sources, fill_held, gate_rates, node_currents
from tdsim.core.kirchhoff import qs_solve
from tdsim.core.steps import copy1, copy2, err_norm

QS_PREDICT = 0.01     # V: largest stage-to-stage move of a quasi-static Newton start (see erk_step)


@kernel
def _rhs_full(V, theta, thref, circ, lrn, drv, src, dV, dth, I):
    """dV/dt (free nodes) and dθ/dt at one stage; ``src`` holds the sources at the stage time."""
    ea, eb, code, par, learn = circ.ea, circ.eb, circ.code, circ.par, circ.learn
    hold, hidx, inj, nudge, out_node = circ.hold, circ.hidx, circ.inj, circ.nudge, circ.out_node
    fill_held(V, hold, hidx, src, drv, nudge, out_node)
    on = drv.learn_on
    T, N = V.shape
    for t in range(T):
        node_currents(V[t], theta, ea, eb, code, par[t], inj, src, I)
        add_force(V, t, nudge[t], drv, out_node, I)
        for n in range(N):
            dV[t, n] = I[n] / circ.cap[t, n] if hold[t, n] == HOLD_NONE else 0.0
    gate_rates(V, theta, thref, ea, eb, code, par[0], learn, circ.A0, circ.B, circ.gmin, circ.gmax, lrn, on, dth)


@njit(cache=True, inline="always")
def _gate_rates_qs(V, theta, thref, circ, lrn, drv, dth):
    """dθ/dt at a quasi-static stage: V is already the Kirchhoff solution with its held nodes
    filled (qs_solve), and node voltages have no derivative of their own."""
    gate_rates(V, theta, thref, circ.ea, circ.eb, circ.code, circ.par[0], circ.learn, circ.A0, circ.B, circ.gmin,
               circ.gmax, lrn, drv.learn_on, dth)


@kernel
def erk_step(erk, qs, t0, h, V0, th0, V1, th1, kV, kth, Vs, ths, circ, lrn, drv, src, have_k1, reuse,
              tol, vals, I, rhs, x, work, newton_tol, counts, errv, errth, Vb, Vg, guess):
    """One step of an explicit FSAL Runge–Kutta pair (tableaus.py: Dormand–Prince 5(4),
    Bogacki–Shampine 3(2) or Heun–Euler 2(1)); stage 0 may be reused (FSAL). Returns (status, err).
    Quasi-static stages start Newton from a prediction: stage 0 from ``Vg`` if ``guess`` (else V0),
    stage s from stage s−1's solution, moved along the line from the stage-0 solution ``Vb`` to
    c_s where that line is short (≤ QS_PREDICT V: far from folds, where a long extrapolation
    could land Newton on another solution branch)."""
    A, C, Ew = erk.a, erk.c, erk.e
    S = C.shape[0]
    hold = circ.hold
    learn = circ.learn
    T, N = V0.shape
    E = th0.shape[0]
    if not have_k1:
        copy2(Vs, Vg if (qs and guess) else V0)
        drive_sources(drv, t0, src)
        if qs:
            st = qs_solve(Vs, th0, circ, drv, src, vals, I, rhs, x, work, newton_tol, 50, counts, reuse)
            if st != DONE:
                return st, 0.0
        if qs:
            _gate_rates_qs(Vs, th0, th0, circ, lrn, drv, kth[0])
            copy2(Vb, Vs)
        else:
            _rhs_full(Vs, th0, th0, circ, lrn, drv, src, kV[0], kth[0], I)
    elif qs:
        copy2(Vb, V0)
        copy2(Vs, V0)
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
        drive_sources(drv, t0 + C[s] * h, src)
        if qs:
            st = qs_solve(Vs, ths, circ, drv, src, vals, I, rhs, x, work, newton_tol, 50, counts, True)
            if st != DONE:
                return st, 0.0
            _gate_rates_qs(Vs, ths, th0, circ, lrn, drv, kth[s])
        else:
            _rhs_full(Vs, ths, th0, circ, lrn, drv, src, kV[s], kth[s], I)
    copy2(V1, Vs)          # the last stage is the solution (FSAL pairs)
    copy1(th1, ths)
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
    return DONE, err_norm(V0, V1, th0, th1, errv, errth, hold, learn, tol, not qs)
