"""Sparse direct LU for structurally symmetric matrices with a fixed pattern.

The pattern is analysed once in Python (`analyse`: a fill-reducing ordering --
minimum degree or nested dissection, whichever needs fewer flops -- and symbolic fill); the numeric factorization `lu_factor` and the solve `lu_solve`
are allocation-free `@njit` kernels meant to be called repeatedly from other
compiled code. No pivoting: the matrices are assumed M-matrix-like.

Storage (new ordering): row i of L+U occupies ``col[row_ptr[i]:row_ptr[i+1]]``
(columns ascending); ``diag[i]`` is the position of (i, i). Entries before
``diag[i]`` are L (unit lower, diagonal implicit), the rest are U.
"""
import heapq
import math

import numpy as np
from numba import njit

from tdsim.core.jit import kernel

__all__ = ["Pattern", "ORDERINGS", "analyse", "slot", "slots", "lu_factor", "lu_solve"]


class Pattern:
    """Factor structure of an n x n structurally symmetric matrix.

    perm[new] = old, iperm[old] = new. row_ptr (n+1), col (nnz), diag (n)
    describe L+U in the new ordering (see module docstring). All int64.
    """

    def __init__(self, n, perm, row_ptr, col):
        self.n = int(n)
        self.perm = np.ascontiguousarray(perm, dtype=np.int64)
        self.iperm = np.empty(n, dtype=np.int64)
        self.iperm[self.perm] = np.arange(n, dtype=np.int64)
        self.row_ptr = np.ascontiguousarray(row_ptr, dtype=np.int64)
        self.col = np.ascontiguousarray(col, dtype=np.int64)
        self.nnz = int(self.col.size)
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(self.row_ptr))
        self._key = rows * n + self.col  # strictly increasing: row-major order
        self.diag = np.searchsorted(self._key, np.arange(n, dtype=np.int64) * (n + 1)).astype(np.int64)

    def args(self):
        """Structure arrays in kernel order: (row_ptr, col, diag, perm).

        Use as ``lu_factor(*p.args(), values, work)`` and
        ``lu_solve(*p.args(), values, b, x, work)``.
        """
        return self.row_ptr, self.col, self.diag, self.perm

    def flops(self):
        """Multiply-adds of one numeric factorization: sum over L entries (i, k) of the
        off-diagonal length of U's row k."""
        upper = self.row_ptr[1:] - self.diag - 1
        lower = self.diag - self.row_ptr[:-1]
        ks = self.col[np.repeat(self.row_ptr[:-1], lower) + _ranges(lower)]
        return int(upper[ks].sum())

    def __repr__(self):
        return f"Pattern(n={self.n}, nnz={self.nnz})"


def _ranges(counts):
    """[0..c0-1, 0..c1-1, ...] for non-negative counts."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total, dtype=np.int64) - starts


ORDERINGS = ("auto", "md", "nd")


def analyse(n, edges, ordering="auto", leaf=64):
    """Fill-reducing ordering and symbolic LU fill of the graph (n, edges).

    edges: (m, 2) int array of old-index pairs (a, b); duplicates and either
    orientation allowed, self-pairs ignored. The diagonal is always structural.
    ordering: "md" minimum degree; "nd" nested dissection (graph bisection by
    breadth-first level sets down to ``leaf`` nodes, then minimum degree
    constrained to eliminate separators after the parts they separate);
    "auto" analyses both and keeps the one with fewer factorization flops.
    """
    n = int(n)
    if ordering not in ORDERINGS:
        raise ValueError(f"ordering must be one of {ORDERINGS}, got {ordering!r}")
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if e.size and (e.min() < 0 or e.max() >= n):
        raise ValueError("edge index out of range")
    e = e[e[:, 0] != e[:, 1]]
    e = np.unique(np.sort(e, axis=1), axis=0)
    zero = np.zeros(n, dtype=np.int64)
    if ordering == "md":
        return _eliminate(n, e, zero)
    nd = _eliminate(n, e, _dissection_stages(n, e, leaf))
    if ordering == "nd":
        return nd
    md = _eliminate(n, e, zero)
    return nd if nd.flops() < md.flops() else md


def _eliminate(n, e, stage):
    """Minimum-degree elimination constrained by ``stage`` (lower stages first) on the
    elimination graph (lazy heap, ties broken by lowest old index) and the resulting Pattern."""
    adj = [set() for _ in range(n)]
    for a, b in e.tolist():
        adj[a].add(b)
        adj[b].add(a)
    # upper[v] = neighbours of v when eliminated = U-structure of v's row.
    stage = stage.tolist()
    heap = [(stage[v], len(s), v) for v, s in enumerate(adj)]
    heapq.heapify(heap)
    done = bytearray(n)
    perm = []
    upper = [None] * n
    while heap:
        _, d, v = heapq.heappop(heap)
        if done[v] or d != len(adj[v]):
            continue
        done[v] = 1
        perm.append(v)
        nb = adj[v]
        upper[v] = nb
        adj[v] = None
        for u in nb:
            au = adj[u]
            au.discard(v)
            au |= nb
            au.discard(u)
            heapq.heappush(heap, (stage[u], len(au), u))
    perm = np.asarray(perm, dtype=np.int64)
    iperm = np.empty(n, dtype=np.int64)
    iperm[perm] = np.arange(n, dtype=np.int64)

    # U entries (i, j>i) in the new ordering; L is their transpose.
    cnt = np.fromiter((len(upper[v]) for v in perm.tolist()), dtype=np.int64, count=n)
    ui = np.repeat(np.arange(n, dtype=np.int64), cnt)
    uj = iperm[np.fromiter((u for v in perm.tolist() for u in upper[v]), dtype=np.int64, count=int(cnt.sum()))]
    d = np.arange(n, dtype=np.int64)
    rows = np.concatenate([ui, uj, d])
    cols = np.concatenate([uj, ui, d])
    order = np.argsort(rows * n + cols, kind="stable")
    rows, cols = rows[order], cols[order]
    row_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=row_ptr[1:])
    return Pattern(n, perm, row_ptr, cols)


def _levels(adj, start, inside):
    """Breadth-first levels from ``start`` within the node set ``inside``: (level dict, visit order)."""
    lev = {start: 0}
    order = [start]
    i = 0
    while i < len(order):
        v = order[i]
        i += 1
        for u in adj[v]:
            if u in inside and u not in lev:
                lev[u] = lev[v] + 1
                order.append(u)
    return lev, order


def _separator(adj, nodes):
    """A vertex separator of the connected node list ``nodes``: the level set (from a
    pseudo-peripheral node) with the smallest size x imbalance among levels leaving >= 1/4 of
    the nodes on each side, minus the nodes with no neighbour on the far side. [] if none."""
    inside = set(nodes)
    lev, order = _levels(adj, nodes[0], inside)
    for _ in range(5):                      # walk to a pseudo-peripheral start
        lev2, order2 = _levels(adj, order[-1], inside)
        if lev2[order2[-1]] <= lev[order[-1]]:
            break
        lev, order = lev2, order2
    depth = lev[order[-1]]
    if depth < 2:
        return []
    counts = np.bincount(np.fromiter((lev[v] for v in order), dtype=np.int64, count=len(order)))
    before = np.concatenate([[0], np.cumsum(counts)])        # nodes on levels < k
    m = len(nodes)
    best, k = None, None
    for j in range(1, depth):
        a, b = before[j], m - before[j + 1]
        if min(a, b) >= m // 4:
            score = counts[j] * (1.0 + abs(a - b) / m)
            if best is None or score < best:
                best, k = score, j
    if k is None:
        k = int(min(max(np.searchsorted(before, m / 2) - 1, 1), depth - 1))
    return [v for v in order if lev[v] == k and any(u in inside and lev.get(u) == k + 1 for u in adj[v])]


def _dissection_stages(n, e, leaf):
    """Nested dissection as elimination stages: 0 for nodes in the leaves (parts of <= ``leaf``
    nodes), and for a separator found at dissection depth d, 1 + (deepest d) - d, so that every
    separator is eliminated after the parts it separates."""
    adj = [[] for _ in range(n)]
    for a, b in e.tolist():
        adj[a].append(b)
        adj[b].append(a)
    seps = []
    stack = [(list(range(n)), 0)]
    while stack:
        nodes, d = stack.pop()
        inside = set(nodes)
        seen = set()
        for s in nodes:                      # connected components, each dissected alone
            if s in seen:
                continue
            _, comp = _levels(adj, s, inside)
            seen.update(comp)
            if len(comp) <= leaf:
                continue
            sep = _separator(adj, comp)
            if not sep:
                continue
            seps.append((sep, d))
            cut = set(sep)
            stack.append(([v for v in comp if v not in cut], d + 1))
    stage = np.zeros(n, dtype=np.int64)
    if seps:
        deepest = max(d for _, d in seps)
        for sep, d in seps:
            stage[sep] = 1 + deepest - d
    return stage


def slot(p, i_old, j_old):
    """Position of entry (i_old, j_old) in the values array; KeyError if not structural."""
    i, j = int(i_old), int(j_old)
    if not (0 <= i < p.n and 0 <= j < p.n):
        raise KeyError((i_old, j_old))
    key = p.iperm[i] * p.n + p.iperm[j]
    k = int(np.searchsorted(p._key, key))
    if k == p.nnz or p._key[k] != key:
        raise KeyError((i_old, j_old))
    return k


def slots(p, rows_old, cols_old):
    """Vectorised `slot`: int64 positions, -1 where a row or column index is -1."""
    r = np.asarray(rows_old, dtype=np.int64)
    c = np.asarray(cols_old, dtype=np.int64)
    r, c = np.broadcast_arrays(r, c)
    skip = (r == -1) | (c == -1)
    if np.any((r < -1) | (r >= p.n) | (c < -1) | (c >= p.n)):
        raise KeyError("index out of range")
    key = np.where(skip, 0, p.iperm[np.where(skip, 0, r)] * p.n + p.iperm[np.where(skip, 0, c)])
    k = np.minimum(np.searchsorted(p._key, key), p.nnz - 1)
    bad = ~skip & (p._key[k] != key)
    if np.any(bad):
        idx = np.flatnonzero(bad)[0]
        raise KeyError((int(r.flat[idx]), int(c.flat[idx])))
    return np.where(skip, -1, k).astype(np.int64)


@kernel
def lu_factor(row_ptr, col, diag, perm, values, work):
    """In-place row-oriented (IKJ) LU of `values` on the fixed pattern.

    perm is unused (kept so both kernels take ``*p.args()``). work: float64 (n,)
    scratch, any contents. The diagonal is stored as reciprocal pivots 1/u_ii
    (``lu_solve`` multiplies instead of dividing: divisions sat on the solve's
    dependency chain). Returns 0, or 1 + (new-order) row of a zero or non-finite
    pivot.
    """
    n = diag.size
    for i in range(n):
        s, e, di = row_ptr[i], row_ptr[i + 1], diag[i]
        for p in range(s, e):
            work[col[p]] = values[p]
        for p in range(s, di):
            k = col[p]
            lik = work[k] * values[diag[k]]
            work[k] = lik
            for q in range(diag[k] + 1, row_ptr[k + 1]):
                work[col[q]] -= lik * values[q]
        for p in range(s, e):
            values[p] = work[col[p]]
        piv = values[di]
        if piv == 0.0 or not math.isfinite(piv):
            return i + 1
        values[di] = 1.0 / piv
    return 0


@kernel
def lu_solve(row_ptr, col, diag, perm, values, b, x, work):
    """Solve A x = b with factored `values`; b, x in old ordering (no aliasing).

    work: float64 (n,) scratch.
    """
    n = diag.size
    for i in range(n):
        s = b[perm[i]]
        for p in range(row_ptr[i], diag[i]):
            s -= values[p] * work[col[p]]
        work[i] = s
    for i in range(n - 1, -1, -1):
        s = work[i]
        di = diag[i]
        for p in range(di + 1, row_ptr[i + 1]):
            s -= values[p] * work[col[p]]
        work[i] = s * values[di]
    for i in range(n):
        x[perm[i]] = work[i]
