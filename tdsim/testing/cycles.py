"""Independent numpy reference for Lin's edge networks in the cycle-space form of the paper
(Eq. 10, App. D): a fundamental cycle matrix A from a spanning tree, Ω = R Aᵀ(A R Aᵀ)⁻¹A,
v = −Ω s, i = v / r; the losses and the two-phase objective Φ of App. F, with central finite
differences from tdsim.testing.laplacian.fd_gradient. tdsim solves the nodal equations in time instead."""
from __future__ import annotations

import networkx as nx
import numpy as np

from tdsim.rules.omega import EdgeNetwork

from tdsim.testing.laplacian import fd_gradient  # noqa: F401  (re-exported for the tests)


def cycle_matrix(net: EdgeNetwork) -> np.ndarray:
    """One row per fundamental cycle (a non-tree edge closed through the spanning tree), +1 where
    the cycle runs along an edge's orientation a → b, −1 against it."""
    g = nx.Graph()
    g.add_nodes_from(range(net.n_nodes))
    for e, (a, b) in enumerate(net.edges):
        g.add_edge(int(a), int(b), e=e)
    tree = nx.minimum_spanning_tree(g)
    tree_edges = {d["e"] for _, _, d in tree.edges(data=True)}
    rows = []
    for e, (a, b) in enumerate(net.edges):
        if e in tree_edges:
            continue
        row = np.zeros(net.E)
        row[e] = 1.0                                 # a → b along e, then b → a through the tree
        path = nx.shortest_path(tree, int(b), int(a))
        for p, q in zip(path[:-1], path[1:]):
            k = tree[p][q]["e"]
            row[k] += 1.0 if (net.edges[k][0], net.edges[k][1]) == (p, q) else -1.0
        rows.append(row)
    A = np.array(rows).reshape(-1, net.E)
    assert len(A) == net.E - net.n_nodes + 1, "the graph must be connected"
    return A


def omega(net: EdgeNetwork, r) -> np.ndarray:
    """Ω_{A/R} = R Aᵀ (A R Aᵀ)⁻¹ A (Eq. 10)."""
    A = cycle_matrix(net)
    R = np.diag(r)
    return R @ A.T @ np.linalg.solve(A @ R @ A.T, A)


def drops(net: EdgeNetwork, r, X) -> np.ndarray:
    """v = −Ω s for every row of X (samples, edges)."""
    return -net.sources(X) @ omega(net, r).T


def outputs(net, r, X):
    return drops(net, r, X)[:, net.outputs]


def mean_squared_loss(net, r, X, Y):
    d = outputs(net, r, X) - Y
    return 0.5 * np.mean(np.sum(d * d, axis=1))


def mean_hinge_loss(net, r, X, y, readout, margin=1.0):
    f = outputs(net, r, X) @ np.asarray(readout)
    return np.mean(np.maximum(margin - y * f, 0.0))


def phi(net, r, X, eps):
    """App. F: Φ(r) = mean εᵀ P_o i(r), ε frozen: the two-phase estimate's β → 0 limit (Eq. 111)."""
    i = drops(net, r, X) / r
    return np.mean(np.sum(i[:, net.outputs] * eps, axis=1))


def random_edge_net(seed, n_nodes=8, n_edges=15, n_in=2, n_out=2, gamma=1.0) -> tuple:
    """A random connected graph (a random spanning tree plus chords), random orientations,
    distinct input and output edges, r ~ U(0.5, 2) Ω. Returns (net, r)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_nodes)
    pairs = {tuple(sorted((int(order[k]), int(order[rng.integers(k)])))) for k in range(1, n_nodes)}
    while len(pairs) < n_edges:
        a, b = rng.choice(n_nodes, 2, replace=False)
        pairs.add(tuple(sorted((int(a), int(b)))))
    edges = np.array([(a, b) if rng.random() < 0.5 else (b, a) for a, b in sorted(pairs)])
    pick = rng.choice(len(edges), n_in + n_out, replace=False)
    net = EdgeNetwork(n_nodes, edges, list(pick[:n_in]), list(pick[n_in:]), ground=int(rng.integers(n_nodes)),
                      gamma=gamma)
    return net, rng.uniform(0.5, 2.0, len(edges))
