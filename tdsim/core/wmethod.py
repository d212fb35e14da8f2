"""The Rosenbrock W-method step (ROS34PW2, order 3, or ROS2, order 2; tableaus.py): L-stable, steps
far beyond RC. W = C − γh ∂I/∂V per twin; the gate block of the Jacobian and the twin coupling
through clamped outputs are left out, which a W-method's order allows (so one factorization of W
may also serve several steps of its own size: ``W_HOLD``, Options.w_reuse)."""
from tdsim.core.codes import DONE, SINGULAR
from tdsim.core.jit import kernel
from tdsim.core.kernels import (HOLD_NONE, add_force, add_force_jacobian, assemble_currents, drive_sources, fill_held,
                                node_currents)
from tdsim.core.linalg import lu_factor
from tdsim.core.records import I_FACT
from tdsim.core.steps import combine, copy1, err_norm, stage_rates, stage_solve, stage_state, stage_sum

W_HOLD = 1.5           # W reuse: keep h = h_w while the controller proposes at most this x h_w


@kernel
def w_step(t0, h, ros, V0, th0, V1, th1, kV, kth, Vs, ths, circ, lrn, drv, src,
           tol, vals, I, rhs, x, work, counts, errv, errth, fresh):
    """One Rosenbrock step (tableau ``ros``, see tableaus.py) for C dV/dt = I(V, θ),
    dθ/dt = r(V, θ). With ``fresh``, W = C − γh ∂I/∂V per twin is assembled at (V0, θ0) and
    factored; otherwise ``vals`` holds the factorization of an earlier step's W = C − γh_w J_w,
    which a W-method may use as it is (it is C − γh A with A = (h_w/h) J_w). The gate block of
    the Jacobian and the twin coupling through clamped outputs are left out (W-method). A fresh
    W's assembly also gives the first stage's currents (that stage is at (V0, θ0)); they wait in
    ``errv`` until the error estimate overwrites it. Returns (status, err)."""
    (ea, eb, code, par, learn, cap, hold, hidx, inj, nudge, out_node, unk_nodes, diag_slot) = (
        circ.ea, circ.eb, circ.code, circ.par, circ.learn, circ.cap, circ.hold, circ.hidx, circ.inj, circ.nudge,
        circ.out_node, circ.unk_nodes, circ.diag_slot)
    a, c, m, e, gamma, ct = ros.a, ros.c, ros.m, ros.e, ros.gamma, ros.ct
    on = drv.learn_on
    S = m.shape[0]
    T, N = V0.shape
    E = th0.shape[0]
    nu = unk_nodes.shape[0]
    drive_sources(drv, t0, src)
    fill_held(V0, hold, hidx, src, drv, nudge, out_node)
    for t in range(T if fresh else 0):
        assemble_currents(V0[t], th0, ea, eb, code, par[t], hold[t], cap[t], unk_nodes, diag_slot,
                          circ.s_ab, circ.s_ba, circ.s_aa, circ.s_bb, 1.0, gamma * h, vals[t], inj, src, errv[t])
        add_force_jacobian(nudge[t], drv, out_node, unk_nodes, diag_slot, gamma * h, vals[t])
        counts[I_FACT] += 1
        if lu_factor(circ.row_ptr, circ.col, circ.ldiag, circ.perm, vals[t], work) != 0:
            return SINGULAR, 0.0
    for i in range(S):
        stage_state(i, a, V0, th0, kV, kth, Vs, ths)
        drive_sources(drv, t0 + ct[i] * h, src)
        fill_held(Vs, hold, hidx, src, drv, nudge, out_node)
        for t in range(T):
            if i == 0 and fresh:
                copy1(I, errv[t])
            else:
                node_currents(Vs[t], ths, ea, eb, code, par[t], inj, src, I)
            add_force(Vs, t, nudge[t], drv, out_node, I)
            for u in range(nu):
                n = unk_nodes[u]
                if hold[t, n] == HOLD_NONE:
                    rhs[u] = h * I[n] + cap[t, n] * stage_sum(i, c, kV, t, n)
                else:
                    rhs[u] = 0.0
            stage_solve(circ.row_ptr, circ.col, circ.ldiag, circ.perm, vals[t], rhs, x, work)
            kV[i, t, :] = 0.0
            for u in range(nu):
                kV[i, t, unk_nodes[u]] = x[u]
        stage_rates(Vs, ths, th0, ea, eb, code, par[0], learn, circ.A0, circ.B, circ.gmin, circ.gmax, lrn, on, kth[i])
        for q in range(E):
            acc = 0.0
            for j in range(i):
                acc += c[i, j] * kth[j, q]
            kth[i, q] = h * kth[i, q] + acc
    combine(V0, th0, kV, kth, m, e, V1, th1, errv, errth)
    drive_sources(drv, t0 + h, src)
    fill_held(V1, hold, hidx, src, drv, nudge, out_node)
    return DONE, err_norm(V0, V1, th0, th1, errv, errth, hold, learn, tol, True)
