"""Independent numpy reference for linear networks of Conductance edges: Laplacian solves of the
free, clamped (CL) and force-nudged (EP) steady states, the loss and the energy G = ½ xᵀ L x.

A network here is a small record: node names (ground first), held nodes with their voltages,
edges (a, b) by node index, parametrization per edge, outputs by node index."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tdsim.model.circuit import Circuit
from tdsim.model.elements import Conductance


@dataclass
class Net:
    n_nodes: int
    held: dict            # node index -> voltage (ground 0 included)
    edges: np.ndarray     # (E, 2) node indices
    param: list           # parametrization per edge
    outputs: list         # node indices
    circuit: Circuit      # the same network for tdsim
    sources: dict         # source node name -> voltage
    labels: dict          # output node name -> label
    label_values: np.ndarray = None


def kappa(theta, param):
    theta = np.asarray(theta, dtype=float)
    out = np.empty_like(theta)
    for e, p in enumerate(param):
        out[e] = theta[e] if p == "kappa" else (1.0 / theta[e] if p == "rho" else np.exp(theta[e]))
    return out


def mass(theta, param):
    """McGinnis's mass K = Σ f(θ) of Lemma 3.2, f' = g/g' for κ = g(θ): ½κ² (κ, Thm 3.3), −½ρ²
    (ρ, Thm 3.4: ½Σρ² up to the sign), log κ (log κ, Ex. 3.5). Then for the rule
    θ̇ = scale A0 g'(θ) (ΔV_a² − ΔV_b²):  K̇ = 2 scale A0 (G(x_a) − G(x_b))."""
    f = {"kappa": lambda t: 0.5 * t * t, "rho": lambda t: -0.5 * t * t, "logkappa": lambda t: t}
    return sum(f[p](t) for t, p in zip(theta, param))


def laplacian(net: Net, k):
    L = np.zeros((net.n_nodes, net.n_nodes))
    for (a, b), ke in zip(net.edges, k):
        L[a, a] += ke
        L[b, b] += ke
        L[a, b] -= ke
        L[b, a] -= ke
    return L


def solve(net: Net, theta, inject=None, clamp=None, beta_out=0.0):
    """Steady state with the held nodes at their voltages, plus: ``inject`` {node: A} currents,
    ``clamp`` {node: V} extra held outputs, ``beta_out`` (S) a conductance from every output to a
    source at its label (the own-output force nudge)."""
    L = laplacian(net, kappa(theta, net.param))
    held = dict(net.held)
    held.update(clamp or {})
    free = [n for n in range(net.n_nodes) if n not in held]
    h = list(held)
    x = np.zeros(net.n_nodes)
    x[h] = [held[n] for n in h]
    rhs = -L[np.ix_(free, h)] @ x[h]
    A = L[np.ix_(free, free)].copy()
    pos = {n: i for i, n in enumerate(free)}
    for n, i in (inject or {}).items():
        rhs[pos[n]] += i
    if beta_out:
        for n, lab in zip(net.outputs, net.label_values):
            A[pos[n], pos[n]] += beta_out
            rhs[pos[n]] += beta_out * lab
    x[free] = np.linalg.solve(A, rhs)
    return x


def energy(net: Net, theta, x):
    """G(x) = ½ Σ κ (x_a − x_b)² (McGinnis §4)."""
    d = x[net.edges[:, 0]] - x[net.edges[:, 1]]
    return 0.5 * np.sum(kappa(theta, net.param) * d * d)


def loss(net: Net, theta):
    x = solve(net, theta)
    r = x[net.outputs] - net.label_values
    return 0.5 * r @ r


def output_resistance(net: Net, theta):
    """QᵀRQ: the outputs' block of the inverse Laplacian with every held node grounded (Ω)."""
    L = laplacian(net, kappa(theta, net.param))
    free = [n for n in range(net.n_nodes) if n not in net.held]
    Rf = np.linalg.inv(L[np.ix_(free, free)])
    pos = [free.index(n) for n in net.outputs]
    return Rf[np.ix_(pos, pos)]


def fd_gradient(f, theta, rel=1e-5):
    """Central finite differences of f at theta (error ~ rel²)."""
    g = np.zeros(len(theta))
    for e in range(len(theta)):
        h = rel * max(abs(theta[e]), 1e-3)
        tp, tm = theta.copy(), theta.copy()
        tp[e] += h
        tm[e] -= h
        g[e] = (f(tp) - f(tm)) / (2 * h)
    return g


def random_net(seed, param="kappa", n_hidden=5, n_out=2, extra=4, C=1e-6, A0=1e3):
    """A random connected network: inputs s0, s1 (voltage sources), hidden and output nodes, a ring
    through all free nodes plus random chords, κ ~ U(0.5, 2) S (so one A0 suits κ, ρ and log κ;
    RC ~ C / 3 S); labels within ±0.2 V of the free outputs. ``param``: one parametrization, or
    "mixed" (drawn per edge)."""
    rng = np.random.default_rng(seed)
    names = ["gnd", "s0", "s1"] + [f"h{i}" for i in range(n_hidden)] + [f"o{i}" for i in range(n_out)]
    idx = {n: i for i, n in enumerate(names)}
    free = names[3:]
    order = list(rng.permutation(free))
    pairs = {tuple(sorted((idx[order[i]], idx[order[(i + 1) % len(order)]]))) for i in range(len(order))}
    pairs |= {(idx["s0"], idx[order[0]]), (idx["s1"], idx[order[len(order) // 2]]), (0, idx[order[-2]])}
    while len(pairs) < len(free) + 3 + extra:
        a, b = rng.choice(len(names), 2, replace=False)
        if not ({a, b} <= {0, 1, 2}):
            pairs.add(tuple(sorted((int(a), int(b)))))
    edges = np.array(sorted(pairs))
    params = (list(rng.choice(["kappa", "rho", "logkappa"], len(edges))) if param == "mixed"
              else [param] * len(edges))
    k = rng.uniform(0.5, 2.0, len(edges))
    src = {"s0": float(rng.uniform(0.5, 1.0)), "s1": float(rng.uniform(-0.5, 0.2))}
    c = Circuit(capacitance=C, A0=A0)
    for n in names[1:]:
        c.add_node(n)
    for n, v in src.items():
        c.add_voltage_source(n, v)
    for e, ((a, b), ke, p) in enumerate(zip(edges, k, params)):
        c.add_edge(f"k{e}", names[a], names[b], Conductance(float(ke), p))
    outs = [idx[f"o{i}"] for i in range(n_out)]
    for i in range(n_out):
        c.add_output(f"o{i}")
    net = Net(len(names), {0: 0.0, idx["s0"]: src["s0"], idx["s1"]: src["s1"]}, edges, params, outs, c, src, {})
    x = solve(net, theta_of(k, params))
    net.label_values = x[outs] + rng.uniform(-0.2, 0.2, n_out)
    net.labels = {f"o{i}": float(v) for i, v in enumerate(net.label_values)}
    return net


def theta_of(k, params):
    return np.array([ke if p == "kappa" else (1 / ke if p == "rho" else np.log(ke)) for ke, p in zip(k, params)])


def response(net: Net, theta, clamp=None, inject=None):
    """McGinnis's y (Eqs. 4.5, 4.6): the state with every input (and ground) held at 0 and the
    outputs either clamped to ``clamp`` {node: V} (CL) or fed ``inject`` {node: A} (EP)."""
    zero = Net(net.n_nodes, {n: 0.0 for n in net.held}, net.edges, net.param, net.outputs, net.circuit,
               net.sources, net.labels, net.label_values)
    return solve(zero, theta, inject=inject, clamp=clamp)
