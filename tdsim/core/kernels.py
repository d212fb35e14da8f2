"""Compiled circuit physics: node currents, Jacobian stamps, held nodes, sources, the learning
rule. The element physics is in tdsim.core.elements (one file per element, dispatched by code);
the integrators never change when an element is added. All functions are ``njit(cache=True)``.
"""
import math

import numpy as np
from numba import njit

from tdsim.core.jit import kernel

from tdsim.core.codes import HOLD_GROUND, HOLD_NONE, HOLD_OUTPUT, HOLD_SOURCE, WAVE_ABS_SIN, WAVE_CONSTANT, WAVE_PWL, WAVE_SIN
from tdsim.core.elements import dkappa_factor, edge_current, edge_dtheta, kappa_factor, removed  # noqa: F401 (rodas)
from tdsim.core.nudges import force_current, force_jacobian, held_output, is_force, reads_free


@njit(cache=True, inline="always")
def _inject(inj, src, I):
    """Add each current source's value to the node it feeds (inj[n] = source index, or -1)."""
    for n in range(inj.shape[0]):
        if inj[n] >= 0:
            I[n] += src[inj[n]]


@njit(cache=True, inline="always")
def node_currents(V, theta, ea, eb, code, par, inj, src, I):
    """I[n]: net current into node n from edges and current sources (one twin)."""
    I[:] = 0.0
    for e in range(ea.shape[0]):
        a = ea[e]
        b = eb[e]
        i, _, _ = edge_current(code[e], par[e, 0], par[e, 1], par[e, 2], par[e, 3], theta[e], V[a], V[b])
        I[a] -= i
        I[b] += i
    _inject(inj, src, I)


@njit(cache=True, inline="always")
def add_force(V, t, s, drv, out_node, I):
    """A force nudge (tdsim.core.nudges: force, force_from_free): the rule's current into each
    output node of twin ``t`` (nudge sign s), β (S) the segment's amplitude drv.eta, read from the
    twin's own output or, for a rule that reads the free twin, from the free output at the same
    instant; nothing under a clamp or where s = 0."""
    mode = drv.mode
    if s == 0.0 or not is_force(mode):
        return
    labels, beta, offset = drv.labels, drv.eta, drv.offset
    src = 0 if reads_free(mode) else t
    for k in range(out_node.shape[0]):
        n = out_node[k]
        I[n] += force_current(mode, s, beta, labels[k], V[src, n], offset[k])


@njit(cache=True, inline="always")
def add_force_jacobian(s, drv, out_node, unk_nodes, diag, j_coef, vals):
    """The force's part of ``assemble`` (a force read from the twin's own output only): −j_coef
    dI_O/dO on each output's diagonal. A force read from the free twin couples twins and is left
    out, like the clamp (rodas' exact Jacobian puts it on the free output's column)."""
    mode = drv.mode
    if not is_force(mode) or reads_free(mode) or s == 0.0:
        return
    labels, beta, offset = drv.labels, drv.eta, drv.offset
    for k in range(out_node.shape[0]):
        for u in range(unk_nodes.shape[0]):
            if unk_nodes[u] == out_node[k]:
                vals[diag[u]] += force_jacobian(mode, j_coef, s, beta, labels[k], offset[k])


@njit(cache=True, inline="always")
def _diagonal(vals, unk_nodes, diag, hold, cap, c_coef):
    """Zero vals, then c_coef·C on each unknown node's diagonal (1 where the twin holds it)."""
    vals[:] = 0.0
    for u in range(unk_nodes.shape[0]):
        n = unk_nodes[u]
        vals[diag[u]] = 1.0 if hold[n] != HOLD_NONE else c_coef * cap[n]


@njit(cache=True, inline="always")
def _stamp(vals, e, a, b, dia, dib, hold, s_ab, s_ba, s_aa, s_bb, j_coef):
    """Edge e's −j_coef·dI/dV entries (current into a is −i, into b is +i)."""
    if s_aa[e] >= 0 and hold[a] == HOLD_NONE:
        vals[s_aa[e]] += j_coef * dia
        if s_ab[e] >= 0:
            vals[s_ab[e]] += j_coef * dib
    if s_bb[e] >= 0 and hold[b] == HOLD_NONE:
        vals[s_bb[e]] -= j_coef * dib
        if s_ba[e] >= 0:
            vals[s_ba[e]] -= j_coef * dia


@kernel
def assemble(V, theta, ea, eb, code, par, hold, cap, unk_nodes, diag, s_ab, s_ba, s_aa, s_bb,
             c_coef, j_coef, vals):
    """vals <- c_coef * diag(C) - j_coef * dI/dV on the unknown nodes; identity rows where the
    twin holds a node (dependent outputs)."""
    _diagonal(vals, unk_nodes, diag, hold, cap, c_coef)
    for e in range(ea.shape[0]):
        a = ea[e]
        b = eb[e]
        _, dia, dib = edge_current(code[e], par[e, 0], par[e, 1], par[e, 2], par[e, 3], theta[e], V[a], V[b])
        _stamp(vals, e, a, b, dia, dib, hold, s_ab, s_ba, s_aa, s_bb, j_coef)


@kernel
def assemble_currents(V, theta, ea, eb, code, par, hold, cap, unk_nodes, diag, s_ab, s_ba, s_aa, s_bb,
                      c_coef, j_coef, vals, inj, src, I):
    """``assemble`` and ``node_currents`` at the same state in one pass over the edges (one
    element evaluation per edge instead of two): vals as assemble, I as node_currents."""
    I[:] = 0.0
    _diagonal(vals, unk_nodes, diag, hold, cap, c_coef)
    for e in range(ea.shape[0]):
        a = ea[e]
        b = eb[e]
        i, dia, dib = edge_current(code[e], par[e, 0], par[e, 1], par[e, 2], par[e, 3], theta[e], V[a], V[b])
        I[a] -= i
        I[b] += i
        _stamp(vals, e, a, b, dia, dib, hold, s_ab, s_ba, s_aa, s_bb, j_coef)
    _inject(inj, src, I)


@njit(cache=True, inline="always")
def measured_output(V, out_node, k, offset, partner, osign):
    """The free twin's output k as the clamp measures it (plus its offset); for a differential
    pair, O+ − O− (the same value read from either side)."""
    d = V[0, out_node[k]] + offset[k]
    j = partner[k]
    if j >= 0:
        d = osign[k] * (d - V[0, out_node[j]] - offset[j])
    return d


@njit(cache=True, inline="always")
def fill_held(V, hold, hidx, src, drv, nudge, out_node):
    """Set every held node of every twin: sources, ground, and the clamped outputs, computed from
    the free twin's outputs *at this same instant* plus a measurement offset by the segment's clamp
    rule (tdsim.core.nudges: standard, hinge, overclamp), from d the measured free output (O+ − O−
    for a differential pair, each side nudged by half, in opposite senses), the label and
    s η osign half with s the twin's nudge sign. drv: the segment's records.Drive."""
    labels, eta, mode, offset, L0, partner, osign = drv.labels, drv.eta, drv.mode, drv.offset, drv.L0, \
        drv.partner, drv.osign
    T, N = V.shape
    for t in range(T):
        for n in range(N):
            h = hold[t, n]
            if h == HOLD_SOURCE:
                V[t, n] = src[hidx[t, n]]
            elif h == HOLD_GROUND:
                V[t, n] = 0.0
            elif h == HOLD_OUTPUT:
                k = hidx[t, n]
                of = V[0, out_node[k]] + offset[k]
                d = measured_output(V, out_node, k, offset, partner, osign)
                half = 0.5 if partner[k] >= 0 else 1.0
                V[t, n] = held_output(mode, of, d, labels[k], nudge[t] * eta * osign[k] * half, L0)


@njit(cache=True)
def knot_value(kt, kv, first, end, rep, t):
    """A piecewise-linear source at absolute time t: knots (kt, kv)[first:end] (times strictly
    increasing), the first value before them; after the last, the last value held, or (rep >= 0)
    the stretch from knot ``rep`` to the last repeated with period kt[end-1] − kt[rep] (SPICE
    PWL ``r=``; a PULSE is such a repeat)."""
    last = end - 1
    if t <= kt[first]:
        return kv[first]
    if t >= kt[last]:
        if rep < 0:
            return kv[last]
        per = kt[last] - kt[rep]
        t = kt[rep] + (t - kt[rep]) % per
    lo, hi = first, last               # kt[lo] <= t < kt[hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if kt[mid] <= t:
            lo = mid
        else:
            hi = mid
    w = (t - kt[lo]) / (kt[hi] - kt[lo])
    return kv[lo] + w * (kv[hi] - kv[lo])


@njit(cache=True)
def next_knot(kt, first, end, rep, t, after):
    """The first knot time of a piecewise-linear source later than ``after`` (>= t): where its
    slope jumps, so steps land there; inf when none follows."""
    last = end - 1
    if after < kt[last]:
        for i in range(first, end):
            if kt[i] > after:
                return kt[i]
    if rep < 0:
        return np.inf
    per = kt[last] - kt[rep]
    n = math.floor((after - kt[rep]) / per)
    base = n * per
    for i in range(rep, end):
        if kt[i] + base > after:
            return kt[i] + base
    return kt[rep + 1] + base + per


@njit(cache=True, inline="always")
def drive_sources(drv, t, out):
    """The source values of drive ``drv`` (records.Drive) at absolute time t: base + amp w(ω t),
    w = 0, sin or |sin| (WAVE_*), or a piecewise-linear source (WAVE_PWL: PULSE, PWL); during the
    segment's first ``drv.rise`` seconds a linear ramp from the values at its start."""
    for j in range(drv.base.shape[0]):
        w = drv.wave[j]
        if w == WAVE_CONSTANT:
            out[j] = drv.base[j]
        elif w == WAVE_SIN:
            out[j] = drv.base[j] + drv.amp[j] * math.sin(drv.omega[j] * t)
        elif w == WAVE_ABS_SIN:
            out[j] = drv.base[j] + drv.amp[j] * abs(math.sin(drv.omega[j] * t))
        else:
            out[j] = knot_value(drv.knot_t, drv.knot_v, drv.k_first[j], drv.k_end[j], drv.k_rep[j], t)
    if drv.rise > 0.0:
        s = (t - drv.t_start) / drv.rise
        if s < 1.0:
            s = max(s, 0.0)
            for j in range(drv.base.shape[0]):
                out[j] = drv.start[j] + s * (out[j] - drv.start[j])


@njit(cache=True)
def next_corner(drv, t, after):
    """The first time later than ``after`` (>= t) where a source's slope jumps: the end of the
    segment's ramp or a knot of a piecewise-linear source; inf when none does."""
    nxt = np.inf
    if drv.rise > 0.0 and drv.t_start + drv.rise > after:
        nxt = drv.t_start + drv.rise
    for j in range(drv.base.shape[0]):
        if drv.wave[j] == WAVE_PWL:
            nxt = min(nxt, next_knot(drv.knot_t, drv.k_first[j], drv.k_end[j], drv.k_rep[j], t, after))
    return nxt


@kernel
def gate_rates(V, theta, thref, ea, eb, code, par, learn, A0, B, gmin, gmax, lrn, on, rate):
    """dθ/dt while learning is on (Dillavou Eqs. 3, 7):
        scale A0 f(θ) (ΔV_la² − ΔV_lb²) + B + b(θ, ΔV_la, ΔV_lb) − leak θ
    ΔV as read by the edge's learning circuit (node voltages plus the segment's read noise),
    b the optional state-dependent bias function, leak = 1/(R_d C0) of a drainage resistor.
    A gate whose step-start value ``thref`` sits at a limit and is pushed outward is held there for
    the whole step, so the rate is a smooth function of the stage state within a step (for a
    conductance whose κ or ρ reached 0 this is McGinnis's reflecting rule); an edge removed at
    κ = 0 (``removed``) does not move at all.
    lrn: records.LearningRule."""
    la, lb, scale, bias_fn, use_fn, leak, vn = lrn.la, lrn.lb, lrn.scale, lrn.bias_fn, lrn.use_bias_fn, \
        lrn.leak, lrn.read_noise
    for e in range(ea.shape[0]):
        if not learn[e] or not on or removed(code[e], par[e, 0], par[e, 1], thref[e]):
            rate[e] = 0.0
            continue
        a = ea[e]
        b = eb[e]
        dva = V[la, a] + vn[la, a] - V[la, b] - vn[la, b]
        dvb = V[lb, a] + vn[lb, a] - V[lb, b] - vn[lb, b]
        r = scale * A0[e] * kappa_factor(code[e], par[e, 0], theta[e]) * (dva * dva - dvb * dvb) + B[e]
        r -= leak[e] * theta[e]
        if use_fn:
            r += bias_fn(theta[e], dva, dvb)
        if (thref[e] >= gmax[e] and r > 0.0) or (thref[e] <= gmin[e] and r < 0.0):
            r = 0.0
        rate[e] = r


@kernel
def clip_gates(theta, learn, gmin, gmax):
    """Clip learning edges to their limits; True if any was clipped."""
    clipped = False
    for e in range(theta.shape[0]):
        if learn[e] and (theta[e] < gmin[e] or theta[e] > gmax[e]):
            theta[e] = min(max(theta[e], gmin[e]), gmax[e])
            clipped = True
    return clipped


@njit(cache=True)
def _mix(z):
    """splitmix64 finalizer (uint64 -> uint64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def normal(seed, stream, i, j):
    """A standard normal number that depends only on (seed, stream, i, j): counter-based, so a
    resumed run draws exactly what the uninterrupted run drew (Box–Muller on two hashed uniforms)."""
    z = _mix(np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(stream))
    z = _mix(z ^ (np.uint64(i) * np.uint64(0xD1B54A32D192ED03)))
    z1 = _mix(z ^ (np.uint64(j) * np.uint64(0x8CB92BA72F3D8DD7) + np.uint64(1)))
    z2 = _mix(z1 + np.uint64(0x9E3779B97F4A7C15))
    u1 = ((z1 >> np.uint64(11)) + np.uint64(1)) * (1.0 / 9007199254740993.0)   # (0, 1]
    u2 = (z2 >> np.uint64(11)) * (1.0 / 9007199254740992.0)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
