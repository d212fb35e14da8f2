"""A Rosenbrock step with the exact Jacobian of the twin system (RODAS4, Hairer & Wanner II, IV.7).

Unlike a W-method (wmethod.w_step: W per twin, gates and twin couplings left out), a
classical Rosenbrock method keeps its order only with the exact Jacobian. Per stage,

    [ C − γh J_VV    −γh J_Vθ ] [k_V]   [h I + C Σ c k_V + d h² ∂I/∂t]
    [  −γh J_θV     1 − γh J_θθ] [k_θ] = [h r + Σ c k_θ + d h² ∂r/∂t   ]

over every twin's unknown nodes V and the learning gates θ (J_θθ diagonal). The gates are
eliminated: k_θ = f (rhs_θ + γh J_θV k_V) with f = 1/(1 − γh J_θθ), leaving one sparse system
S = C − γh J_VV − (γh)² J_Vθ f J_θV on the nodes of all twins (pattern: coupled.py). J_VV
includes the twin couplings: a held clamped output follows the free outputs (its slope, from
fill_held, is 1 − sη for the standard clamp) and the EP force from the free twin. J_θV and J_θθ
are analytic for the rule's quadratic term, θ's parametrization and the leak; an optional bias
function is differenced. ∂/∂t (sources that vary inside a segment) is a forward difference.
"""

from numba import njit

from tdsim.core.jit import kernel
from tdsim.core.kernels import (HOLD_NONE, HOLD_OUTPUT, WAVE_CONSTANT, _inject, _stamp,
                                add_force, add_force_jacobian, dkappa_factor, drive_sources, edge_current,
                                edge_dtheta, fill_held, gate_rates, kappa_factor, node_currents, removed)
from tdsim.core.linalg import lu_factor
from tdsim.core.nudges import force_jacobian, reads_free
from tdsim.core.steps import combine, stage_rates, stage_solve, stage_state, stage_sum

DIFF = 1e-6            # relative increment of the differenced slopes (held outputs, ∂/∂t, bias function)


@njit(cache=True, inline="always")
def _held_slopes(V0, Vp, hold, hidx, src, drv, nudge, out_node, Dh):
    """Dh[t, n, j] = d(held output n of twin t)/d(free output j): fill_held is linear in the free
    outputs (the hinge and overclamp switches aside), so a difference is exact to rounding."""
    T, N = V0.shape
    for j in range(out_node.shape[0]):
        o = out_node[j]
        for t in range(T):
            for n in range(N):
                Vp[t, n] = V0[t, n]
        dlt = DIFF * (1.0 + abs(V0[0, o]))
        Vp[0, o] = V0[0, o] + dlt
        dlt = Vp[0, o] - V0[0, o]
        fill_held(Vp, hold, hidx, src, drv, nudge, out_node)
        for t in range(T):
            for n in range(N):
                Dh[t, n, j] = (Vp[t, n] - V0[t, n]) / dlt if hold[t, n] == HOLD_OUTPUT else 0.0


@njit(cache=True, inline="always")
def _deposit(eff, e, p, g, l, y, hold, Dh):
    """Add dr_e/dV[l, y] = g to edge e's row of J_θV: column p if twin l solves node y, the free
    outputs' columns through Dh if l holds y as a clamped output, nowhere if y is a source."""
    hy = hold[l, y]
    if hy == HOLD_NONE:
        eff[e, p] += g
    elif hy == HOLD_OUTPUT:
        for j in range(Dh.shape[2]):
            eff[e, 4 + j] += g * Dh[l, y, j]


@kernel
def assemble_exact(V0, th0, circ, cpl, lrn, drv, src, gh, vals, Iall, Dh, Vp, eff, gcol, gfac):
    """vals <- S at (V0, θ0) (see the module docstring); Iall[t] <- twin t's node currents there,
    force included; gcol[e, t] = ∂i_t/∂θ_e, gfac[e] = f, eff[e] = J_θV's row on the columns of cpl's gslot."""
    ea, eb, code, par, learn, cap, hold, hidx, nudge, out_node, unk_nodes = (
        circ.ea, circ.eb, circ.code, circ.par, circ.learn, circ.cap, circ.hold, circ.hidx, circ.nudge, circ.out_node,
        circ.unk_nodes)
    cdiag, cs_ab, cs_ba, cs_aa, cs_bb, gslot, oslot, fslot = (cpl.cdiag, cpl.cs_ab, cpl.cs_ba, cpl.cs_aa, cpl.cs_bb,
                                                              cpl.gslot, cpl.oslot, cpl.fslot)
    T, N = V0.shape
    E = th0.shape[0]
    K = out_node.shape[0]
    nu = unk_nodes.shape[0]
    for q in range(vals.shape[0]):
        vals[q] = 0.0
    if T > 1:
        _held_slopes(V0, Vp, hold, hidx, src, drv, nudge, out_node, Dh)
    for t in range(T):
        ht = hold[t]
        pt = par[t]
        I = Iall[t]
        for u in range(nu):
            n = unk_nodes[u]
            vals[cdiag[t, u]] = 1.0 if ht[n] != HOLD_NONE else cap[t, n]
        for n in range(N):
            I[n] = 0.0
        for e in range(E):
            a = ea[e]
            b = eb[e]
            i, dia, dib = edge_current(code[e], pt[e, 0], pt[e, 1], pt[e, 2], pt[e, 3], th0[e], V0[t, a], V0[t, b])
            I[a] -= i
            I[b] += i
            if learn[e]:
                gcol[e, t] = edge_dtheta(code[e], pt[e, 0], th0[e], V0[t, a] - V0[t, b], dia, dib)
            _stamp(vals, e, a, b, dia, dib, ht, cs_ab[t], cs_ba[t], cs_aa[t], cs_bb[t], gh)
            if t > 0 and K > 0:
                if ht[a] == HOLD_OUTPUT and ht[b] == HOLD_NONE:
                    for j in range(K):
                        if oslot[t, e, j] >= 0:
                            vals[oslot[t, e, j]] -= gh * dia * Dh[t, a, j]
                elif ht[b] == HOLD_OUTPUT and ht[a] == HOLD_NONE:
                    for j in range(K):
                        if oslot[t, e, j] >= 0:
                            vals[oslot[t, e, j]] += gh * dib * Dh[t, b, j]
        _inject(circ.inj, src, I)
        add_force(V0, t, nudge[t], drv, out_node, I)
        add_force_jacobian(nudge[t], drv, out_node, unk_nodes, cdiag[t], gh, vals)
        if reads_free(drv.mode) and nudge[t] != 0.0 and t > 0:
            for j in range(K):
                if fslot[t, j] >= 0:
                    vals[fslot[t, j]] += force_jacobian(drv.mode, gh, nudge[t], drv.eta, drv.labels[j], drv.offset[j])
    la, lb, scale, bias_fn, use_fn, leak, vn = lrn.la, lrn.lb, lrn.scale, lrn.bias_fn, lrn.use_bias_fn, lrn.leak, \
        lrn.read_noise
    par0 = par[0]
    P = eff.shape[1]
    for e in range(E):
        gfac[e] = 1.0
        for p in range(P):
            eff[e, p] = 0.0
        if not learn[e] or not drv.learn_on or removed(code[e], par0[e, 0], par0[e, 1], th0[e]):
            for t in range(T):
                gcol[e, t] = 0.0
            continue
        a = ea[e]
        b = eb[e]
        th = th0[e]
        dva = V0[la, a] + vn[la, a] - V0[la, b] - vn[la, b]
        dvb = V0[lb, a] + vn[lb, a] - V0[lb, b] - vn[lb, b]
        sa = scale * circ.A0[e]
        kf = kappa_factor(code[e], par0[e, 0], th)
        r = sa * kf * (dva * dva - dvb * dvb) + circ.B[e] - leak[e] * th
        ga = 2.0 * sa * kf * dva
        gb = -2.0 * sa * kf * dvb
        dr = sa * dkappa_factor(code[e], par0[e, 0], th) * (dva * dva - dvb * dvb) - leak[e]
        if use_fn:
            b0 = bias_fn(th, dva, dvb)
            r += b0
            d = DIFF * (1.0 + abs(dva))
            ga += (bias_fn(th, dva + d, dvb) - b0) / d
            d = DIFF * (1.0 + abs(dvb))
            gb += (bias_fn(th, dva, dvb + d) - b0) / d
            d = DIFF * (1.0 + abs(th))
            dr += (bias_fn(th + d, dva, dvb) - b0) / d
        if (th >= circ.gmax[e] and r > 0.0) or (th <= circ.gmin[e] and r < 0.0):
            continue                     # held at its limit for this step (gate_rates): rate 0
        gfac[e] = 1.0 / (1.0 - gh * dr)
        _deposit(eff, e, 0, ga, la, a, hold, Dh)
        _deposit(eff, e, 1, -ga, la, b, hold, Dh)
        _deposit(eff, e, 2, gb, lb, a, hold, Dh)
        _deposit(eff, e, 3, -gb, lb, b, hold, Dh)
        w = gh * gh * gfac[e]
        for t in range(T):
            for side in range(2):
                if hold[t, a if side == 0 else b] != HOLD_NONE:
                    continue
                sg = w * gcol[e, t] if side == 0 else -w * gcol[e, t]
                for p in range(P):
                    s = gslot[e, 2 * t + side, p]
                    if s >= 0 and eff[e, p] != 0.0:
                        vals[s] += sg * eff[e, p]


@njit(cache=True, inline="always")
def _varies(drv, t0):
    if drv.rise > 0.0 and t0 < drv.t_start + drv.rise:
        return True
    for j in range(drv.wave.shape[0]):
        if drv.wave[j] != WAVE_CONSTANT and drv.amp[j] != 0.0:
            return True
    return False


@kernel
def rodas_step(t0, h, ros, V0, th0, V1, th1, kV, kth, Vs, ths, circ, cpl, lrn, drv, src, xs, errv, errth):
    """One step of the Rosenbrock tableau ``ros`` with the exact Jacobian, factored fresh.
    Returns 0, or 1 + the row of a zero pivot (singular). V1, θ1 the new state, errv, errth the
    error estimate."""
    ea, eb, code, par, learn, cap, hold, hidx, inj, nudge, out_node, unk_nodes = (
        circ.ea, circ.eb, circ.code, circ.par, circ.learn, circ.cap, circ.hold, circ.hidx, circ.inj, circ.nudge,
        circ.out_node, circ.unk_nodes)
    A0, B, gmin, gmax = circ.A0, circ.B, circ.gmin, circ.gmax
    unk = cpl.unk
    vals, rhs, x, work, Iall, Dh, Vp = xs.vals, xs.rhs, xs.x, xs.work, xs.Iall, xs.Dh, xs.Vp
    eff, gcol, gfac, rth, ftV, ftth, Itmp = xs.eff, xs.gcol, xs.gfac, xs.rth, xs.ftV, xs.ftth, xs.Itmp
    a, c, m, e, gamma, ct, d = ros.a, ros.c, ros.m, ros.e, ros.gamma, ros.ct, ros.d
    S = m.shape[0]
    T, N = V0.shape
    E = th0.shape[0]
    K = out_node.shape[0]
    nu = unk_nodes.shape[0]
    P = eff.shape[1]
    gh = gamma * h
    on = drv.learn_on
    drive_sources(drv, t0, src)
    fill_held(V0, hold, hidx, src, drv, nudge, out_node)
    assemble_exact(V0, th0, circ, cpl, lrn, drv, src, gh, vals, Iall, Dh, Vp, eff, gcol, gfac)
    bad = lu_factor(cpl.row_ptr, cpl.col, cpl.ldiag, cpl.perm, vals, work)
    if bad != 0:
        return bad, 0.0
    gate_rates(V0, th0, th0, ea, eb, code, par[0], learn, A0, B, gmin, gmax, lrn, on, kth[0])
    varies = _varies(drv, t0)
    if varies:                       # ∂I/∂t, ∂r/∂t by a forward difference in the sources
        tp = t0 + DIFF * h
        dt = tp - t0
        drive_sources(drv, tp, src)
        for t in range(T):
            for n in range(N):
                Vp[t, n] = V0[t, n]
        fill_held(Vp, hold, hidx, src, drv, nudge, out_node)
        for t in range(T):
            node_currents(Vp[t], th0, ea, eb, code, par[t], inj, src, Itmp)
            add_force(Vp, t, nudge[t], drv, out_node, Itmp)
            for n in range(N):
                ftV[t, n] = (Itmp[n] - Iall[t, n]) / dt
        gate_rates(Vp, th0, th0, ea, eb, code, par[0], learn, A0, B, gmin, gmax, lrn, on, ftth)
        for q in range(E):
            ftth[q] = (ftth[q] - kth[0, q]) / dt
    for i in range(S):
        if i > 0:
            stage_state(i, a, V0, th0, kV, kth, Vs, ths)
            drive_sources(drv, t0 + ct[i] * h, src)
            fill_held(Vs, hold, hidx, src, drv, nudge, out_node)
            for t in range(T):
                node_currents(Vs[t], ths, ea, eb, code, par[t], inj, src, Iall[t])
                add_force(Vs, t, nudge[t], drv, out_node, Iall[t])
            stage_rates(Vs, ths, th0, ea, eb, code, par[0], learn, A0, B, gmin, gmax, lrn, on, kth[i])
        dd = d[i] * h * h if varies else 0.0
        for t in range(T):
            for u in range(nu):
                n = unk_nodes[u]
                if hold[t, n] == HOLD_NONE:
                    rhs[t * nu + u] = h * Iall[t, n] + cap[t, n] * stage_sum(i, c, kV, t, n) + dd * ftV[t, n]
                else:
                    rhs[t * nu + u] = 0.0
        for q in range(E):
            acc = 0.0
            for j in range(i):
                acc += c[i, j] * kth[j, q]
            rth[q] = h * kth[i, q] + acc + dd * ftth[q]
            g = gh * gfac[q] * rth[q]
            if g != 0.0:
                for t in range(T):
                    ua = unk[ea[q]]
                    ub = unk[eb[q]]
                    if ua >= 0 and hold[t, ea[q]] == HOLD_NONE:
                        rhs[t * nu + ua] -= g * gcol[q, t]
                    if ub >= 0 and hold[t, eb[q]] == HOLD_NONE:
                        rhs[t * nu + ub] += g * gcol[q, t]
        stage_solve(cpl.row_ptr, cpl.col, cpl.ldiag, cpl.perm, vals, rhs, x, work)
        for t in range(T):
            for n in range(N):
                kV[i, t, n] = 0.0
            for u in range(nu):
                kV[i, t, unk_nodes[u]] = x[t * nu + u]
        for q in range(E):
            acc = 0.0
            if on and learn[q]:
                la, lb = lrn.la, lrn.lb
                cols = (kV[i, la, ea[q]], kV[i, la, eb[q]], kV[i, lb, ea[q]], kV[i, lb, eb[q]])
                for p in range(4):
                    acc += eff[q, p] * cols[p]
                for j in range(K):
                    acc += eff[q, 4 + j] * kV[i, 0, out_node[j]]
            kth[i, q] = gfac[q] * (rth[q] + gh * acc)
    combine(V0, th0, kV, kth, m, e, V1, th1, errv, errth)
    drive_sources(drv, t0 + h, src)
    fill_held(V1, hold, hidx, src, drv, nudge, out_node)
    return 0, 0.0
