"""Sparsity of the exact Jacobian of the twin system, for Rosenbrock methods that need it (RODAS4).

Unknowns: every twin's unknown nodes (index t·nu + u, u over ``Compiled.unk_nodes``; a node a
twin holds keeps an identity row). The gates are eliminated (Schur complement, see rodas.py),
which couples, for each learning edge e, the rows of e's endpoints in every twin to the columns
of its endpoints in the two twins its rule reads (la, lb) and to the free twin's outputs (a held
clamped output follows them). A twin that holds an output also couples the output's neighbours
to the free outputs, and the EP force from the free twin couples each nudged output to the free
one. Slots index the values array of ``linalg`` on this pattern.
"""
from __future__ import annotations

import itertools
import weakref

import numpy as np

from tdsim.core import linalg, records
from tdsim.core.kernels import HOLD_NONE, HOLD_OUTPUT

_CACHE: dict = {}      # id(Compiled) -> (weak reference, structure)


def structure(c) -> records.Coupled:
    """The coupled pattern (records.Coupled), built once per compiled circuit."""
    hit = _CACHE.get(id(c))
    if hit is not None and hit[0]() is c:
        return hit[1]
    for k in [k for k, v in _CACHE.items() if v[0]() is None]:
        del _CACHE[k]
    s = _build(c)
    _CACHE[id(c)] = (weakref.ref(c), s)
    return s


def _build(c) -> records.Coupled:
    T, N, E = c.T, c.N, c.E
    nu = len(c.unk_nodes)
    K = len(c.out_node)
    unk = np.full(N, -1, dtype=np.int64)
    unk[c.unk_nodes] = np.arange(nu)
    ua, ub = unk[c.ea], unk[c.eb]
    la, lb = (int(x) for x in c.learn_pair)
    outs = [int(unk[o]) for o in c.out_node if unk[o] >= 0]     # free outputs (twin 0 columns)

    def idx(t, u):
        return -1 if u < 0 else t * nu + u

    # (twin, edge, unknown index of the neighbour) where the twin holds the edge's other end as an output
    held_nb = [(t, e, int(unk[y])) for t in range(1, T) for e in range(E)
               for x, y in ((c.ea[e], c.eb[e]), (c.eb[e], c.ea[e]))
               if c.hold[t, x] == HOLD_OUTPUT and c.hold[t, y] == HOLD_NONE and unk[y] >= 0]
    pairs = []
    for t in range(T):
        for e in range(E):
            if ua[e] >= 0 and ub[e] >= 0:
                pairs.append((idx(t, ua[e]), idx(t, ub[e])))
    gcols = np.full((E, 4 + K), -1, dtype=np.int64)
    grows = np.full((E, 2 * T), -1, dtype=np.int64)
    if T > 1:
        for e in np.flatnonzero(c.learn):
            cols = [idx(la, ua[e]), idx(la, ub[e]), idx(lb, ua[e]), idx(lb, ub[e])] + \
                   [idx(0, int(unk[o])) for o in c.out_node]
            rows = [idx(t, u) for t in range(T) for u in (ua[e], ub[e])]
            gcols[e], grows[e] = cols, rows
            pairs += [(r, q) for r in rows for q in cols if r >= 0 and q >= 0]
        pairs += [(idx(t, u), o) for t, _, u in held_nb for o in outs]
        pairs += [(idx(t, o), o) for t in range(1, T) for o in outs]
    n = T * nu
    p = linalg.analyse(n, np.array(pairs, dtype=np.int64).reshape(-1, 2))
    d = linalg.slots(p, np.arange(n), np.arange(n)).reshape(T, nu)
    cs_ab, cs_ba, cs_aa, cs_bb = (np.full((T, E), -1, dtype=np.int64) for _ in range(4))
    for t in range(T):
        both = (ua >= 0) & (ub >= 0)
        ra = np.where(both, t * nu + ua, -1)
        rb = np.where(both, t * nu + ub, -1)
        cs_ab[t] = linalg.slots(p, ra, rb)          # -1 where either end is not an unknown
        cs_ba[t] = linalg.slots(p, rb, ra)
        cs_aa[t] = np.where(ua >= 0, d[t, np.maximum(ua, 0)], -1)
        cs_bb[t] = np.where(ub >= 0, d[t, np.maximum(ub, 0)], -1)
    gslot = linalg.slots(p, grows[:, :, None], gcols[:, None, :]) if E else np.zeros((0, 2 * T, 4 + K), np.int64)
    oslot = np.full((T, E, K), -1, dtype=np.int64)
    fslot = np.full((T, K), -1, dtype=np.int64)
    for (t, e, u), j in itertools.product(held_nb, range(K)):
        o = unk[c.out_node[j]]
        if o >= 0:
            oslot[t, e, j] = linalg.slot(p, idx(t, u), o)
    for t, j in itertools.product(range(1, T), range(K)):
        o = unk[c.out_node[j]]
        if o >= 0 and c.hold[t, c.out_node[j]] == HOLD_NONE:
            fslot[t, j] = linalg.slot(p, idx(t, o), o)
    return records.Coupled(p.row_ptr, p.col, p.diag, p.perm, d, cs_ab, cs_ba, cs_aa, cs_bb, np.ascontiguousarray(gslot),
                           oslot, fslot, unk)


def empty(T: int) -> records.Coupled:
    """A structure of the same types for integrators that do not use it (one compiled signature)."""
    z1 = np.zeros(1, dtype=np.int64)
    z2 = np.zeros((T, 0), dtype=np.int64)
    return records.Coupled(np.zeros(2, dtype=np.int64), z1, z1.copy(), z1.copy(), z2, z2, z2, z2, z2,
                           np.zeros((0, 2 * T, 0), dtype=np.int64), np.zeros((T, 0, 0), dtype=np.int64), z2, z1.copy())

