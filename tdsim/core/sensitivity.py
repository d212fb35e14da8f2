"""Forward sensitivities of the state along an exact-Jacobian run: the variational equation
integrated with the accepted steps, by TR-BDF2.

With x = (V, θ) the differential state and S = ∂x(t)/∂x(0) (one column per seeded direction),

    C dS_V/dt = J_VV S_V + J_Vθ S_θ,        dS_θ/dt = J_θV S_V + J_θθ S_θ,

with J the exact Jacobian of the twin system (rodas.py) along the trajectory. After every
accepted step (t, h) the columns take one TR-BDF2 step (Bank et al. 1985; the circuit
simulators' answer to the trapezoidal rule's ringing): the trapezoidal rule to t + γh, then BDF2
to t + h, γ = 2 − √2, both with the matrix C − (γh/2) J, which is one Rosenbrock stage matrix of
rodas.assemble_exact at γh/2 (the gates eliminated the same way; every column one solve per
stage). J at t + γh is taken at the state interpolated linearly between the step's ends (an
O(h²) error in J, an O(h³) local error in S: second order kept).

Why this scheme. It is L-stable: the RC modes, stiff against the gates' learning, decay in S as
in the circuit (the trapezoidal rule alone keeps them at |S| ~ their size after the transient,
measured 1.5e-5 where the true multiplier is e^-1000). It is second order: S errs by ~(λh)² λτ
on a learning mode of rate λ over a period τ, with h the rodas steps (which rtol sets): 5e-4 on the
2+1 circuit's leading multiplier at rtol 1e-6. Newton on the period map needs no more (its
convergence is set by the residual, the Jacobian only sets the rate). A segment's first step
starts the trapezoidal stage with backward Euler (J jumped at the switch: the slope J S of the
previous step is not this segment's). Source switches at fixed times leave S continuous (no
saltation: no event time depends on the state); held nodes (sources, clamped outputs) are
algebraic: their columns are not carried (a clamped output follows the free outputs through the
held slopes Dh, which the assembled matrix contains). A gate on its limit (clipped this step)
has S_θ = 0: a perturbation of it is clipped away.
"""
import math

from tdsim.core.codes import DONE, SINGULAR
from tdsim.core.elements import edge_current, edge_dtheta
from tdsim.core.jit import kernel
from tdsim.core.kernels import HOLD_NONE, drive_sources, fill_held
from tdsim.core.linalg import lu_factor
from tdsim.core.rodas import assemble_exact
from tdsim.core.steps import stage_solve

GAMMA = 2.0 - math.sqrt(2.0)
BDF_NEW = 1.0 / (GAMMA * (2.0 - GAMMA))              # BDF2 stage: C S' − (γh/2) J S' = BDF_NEW C S_γ − BDF_OLD C S
BDF_OLD = (1.0 - GAMMA) ** 2 / (GAMMA * (2.0 - GAMMA))
FLOOR = 1e-9                                           # columns below it everywhere are dead (_dead)


@kernel(inline="always")
def _factor(V, theta, circ, cpl, lrn, drv, src, gh, xs):
    """C − gh J at (V, θ), factored in xs.vals; xs.gcol = ∂I/∂θ of every learning edge (also where
    the gates do not move in this segment: the currents depend on θ all the same)."""
    assemble_exact(V, theta, circ, cpl, lrn, drv, src, gh, xs.vals, xs.Iall, xs.Dh, xs.Vp, xs.eff, xs.gcol, xs.gfac)
    if lu_factor(cpl.row_ptr, cpl.col, cpl.ldiag, cpl.perm, xs.vals, xs.work) != 0:
        return SINGULAR
    if not drv.learn_on:
        ea, eb, code, par, learn = circ.ea, circ.eb, circ.code, circ.par, circ.learn
        for e in range(theta.shape[0]):
            if learn[e]:
                a = ea[e]
                b = eb[e]
                for t in range(V.shape[0]):
                    pt = par[t]
                    _, dia, dib = edge_current(code[e], pt[e, 0], pt[e, 1], pt[e, 2], pt[e, 3], theta[e], V[t, a],
                                               V[t, b])
                    xs.gcol[e, t] = edge_dtheta(code[e], pt[e, 0], theta[e], V[t, a] - V[t, b], dia, dib)
    return DONE


@kernel(inline="always")
def _solve(gh, circ, cpl, lrn, on, xs, rV, rth, sV, sth):
    """(sV, sθ) <- the solution of (C − gh J)(S_V, S_θ) = (rV, rθ) with the factored matrix
    (rV: the node rows' right-hand side, C included; held rows ignored), the gates eliminated as
    in rodas_step."""
    ea, eb, hold, unk_nodes, out_node = circ.ea, circ.eb, circ.hold, circ.unk_nodes, circ.out_node
    unk = cpl.unk
    rhs, x, gcol, gfac, eff = xs.rhs, xs.x, xs.gcol, xs.gfac, xs.eff
    T, N = sV.shape
    E = sth.shape[0]
    nu = unk_nodes.shape[0]
    for t in range(T):
        for u in range(nu):
            n = unk_nodes[u]
            rhs[t * nu + u] = rV[t, n] if hold[t, n] == HOLD_NONE else 0.0
    for q in range(E):
        g = gh * gfac[q] * rth[q]
        if g != 0.0:
            ua = unk[ea[q]]
            ub = unk[eb[q]]
            for t in range(T):
                if ua >= 0 and hold[t, ea[q]] == HOLD_NONE:
                    rhs[t * nu + ua] -= g * gcol[q, t]
                if ub >= 0 and hold[t, eb[q]] == HOLD_NONE:
                    rhs[t * nu + ub] += g * gcol[q, t]
    stage_solve(cpl.row_ptr, cpl.col, cpl.ldiag, cpl.perm, xs.vals, rhs, x, xs.work)
    for t in range(T):
        for n in range(N):
            u = unk[n]
            sV[t, n] = x[t * nu + u] if (u >= 0 and hold[t, n] == HOLD_NONE) else 0.0
    la, lb = lrn.la, lrn.lb
    for q in range(E):
        acc = 0.0
        if on and circ.learn[q]:
            cols = (sV[la, ea[q]], sV[la, eb[q]], sV[lb, ea[q]], sV[lb, eb[q]])
            for p in range(4):
                acc += eff[q, p] * cols[p]
            for k in range(out_node.shape[0]):
                acc += eff[q, 4 + k] * sV[0, out_node[k]]
        sth[q] = gfac[q] * (rth[q] + gh * acc)


@kernel(inline="always")
def _dead(sV, sth, dV, dth, j):
    """Column j and its slope are below FLOOR everywhere: it is set to zero, and stays zero (the
    equation is linear and homogeneous), so its solves are skipped. A gate seeded on a limit is
    clipped at the first step (S_θ = 0) and what it left in the node voltages decays with their RC:
    on Fig. 1's CLLN 29 of 32 gates sit on a limit at the cycle, and their columns die early in the
    period. The floor is 1e-9 of a unit seed: what the column would add to J is far below
    TR-BDF2's own error (~1e-4; measured on that CLLN: J changes by 7e-10)."""
    T, N = sV.shape[1], sV.shape[2]
    for t in range(T):
        for n in range(N):
            if abs(sV[j, t, n]) >= FLOOR or abs(dV[j, t, n]) >= FLOOR:
                return False
    for q in range(sth.shape[1]):
        if abs(sth[j, q]) >= FLOOR or abs(dth[j, q]) >= FLOOR:
            return False
    for t in range(T):
        for n in range(N):
            sV[j, t, n] = 0.0
            dV[j, t, n] = 0.0
    for q in range(sth.shape[1]):
        sth[j, q] = 0.0
        dth[j, q] = 0.0
    return True


@kernel
def sensitivity_step(t0, h, first, V0, th0, V1, th1, Vs, ths, circ, cpl, lrn, drv, src, xs, sens):
    """Advance the columns of ``sens`` (records.Sensitivity) over the accepted step (t0, h) from the
    state (V0, θ0) to (V1, θ1) (held nodes filled, gates clipped): one TR-BDF2 step, its
    trapezoidal stage started by backward Euler where ``first`` (a segment's first step). Uses the
    exact step's work arrays ``xs`` (records.ExactWork) and (Vs, θs) as scratch; leaves ``src`` at
    the sources' values at t0 + h."""
    cap, hold, learn = circ.cap, circ.hold, circ.learn
    sV, sth, dV, dth, s0V, s0th, rV, rth = (sens.V, sens.theta, sens.dV, sens.dtheta, sens.V0, sens.theta0,
                                            sens.rV, sens.rtheta)
    T, N = V0.shape
    E = th0.shape[0]
    M = sV.shape[0]
    on = drv.learn_on
    live = sens.live
    for j in range(M):
        live[j] = not _dead(sV, sth, dV, dth, j)
    # trapezoidal stage to t0 + γh, J at the interpolated state
    for t in range(T):
        for n in range(N):
            Vs[t, n] = V0[t, n] + GAMMA * (V1[t, n] - V0[t, n])
    for q in range(E):
        ths[q] = th0[q] + GAMMA * (th1[q] - th0[q])
    drive_sources(drv, t0 + GAMMA * h, src)
    fill_held(Vs, hold, circ.hidx, src, drv, circ.nudge, circ.out_node)
    gh = GAMMA * h if first else 0.5 * GAMMA * h
    wd = 0.0 if first else gh
    if _factor(Vs, ths, circ, cpl, lrn, drv, src, gh, xs) != DONE:
        return SINGULAR
    for j in range(M):
        if not live[j]:
            continue
        for t in range(T):
            for n in range(N):
                s0V[j, t, n] = sV[j, t, n]
                rV[t, n] = cap[t, n] * sV[j, t, n] + wd * dV[j, t, n]
        for q in range(E):
            s0th[j, q] = sth[j, q]
            rth[q] = sth[j, q] + wd * dth[j, q]
        _solve(gh, circ, cpl, lrn, on, xs, rV, rth, sV[j], sth[j])
    # BDF2 stage to t0 + h
    drive_sources(drv, t0 + h, src)
    gh = 0.5 * GAMMA * h
    if _factor(V1, th1, circ, cpl, lrn, drv, src, gh, xs) != DONE:
        return SINGULAR
    for j in range(M):
        if not live[j]:
            continue
        for t in range(T):
            for n in range(N):
                rV[t, n] = cap[t, n] * (BDF_NEW * sV[j, t, n] - BDF_OLD * s0V[j, t, n])
        for q in range(E):
            rth[q] = BDF_NEW * sth[j, q] - BDF_OLD * s0th[j, q]
        _solve(gh, circ, cpl, lrn, on, xs, rV, rth, sV[j], sth[j])
        # the slope J S at the step's end, from the stage's own equation: J S = (C S − r)/gh
        for t in range(T):
            for n in range(N):
                dV[j, t, n] = (cap[t, n] * sV[j, t, n] - rV[t, n]) / gh if hold[t, n] == HOLD_NONE else 0.0
        for q in range(E):
            if learn[q] and (th1[q] <= circ.gmin[q] or th1[q] >= circ.gmax[q]):
                sth[j, q] = 0.0             # clipped: a perturbation of it is clipped away
                dth[j, q] = 0.0
            else:
                dth[j, q] = (sth[j, q] - rth[q]) / gh
    return DONE
