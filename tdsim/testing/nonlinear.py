"""Independent numpy reference for networks of Conductance edges plus fixed Shockley diodes: the
Kirchhoff solution by Newton's method (analytic Jacobian) and the loss C = ½|O − y|² at the DC state,
for finite differences of the loss in θ (the Anisetti Theorem 2 reference on a nonlinear network)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tdsim.model.circuit import Circuit
from tdsim.model.elements import Conductance, ShockleyDiode

from tdsim.testing.laplacian import random_net, theta_of


@dataclass
class DiodeNet:
    n_nodes: int
    held: dict              # node index -> V
    edges: np.ndarray       # (E, 2) conductance edges (the trainable ones, θ = κ)
    diodes: np.ndarray      # (D, 2) anode, cathode
    Is: float
    nVt: float
    outputs: list
    circuit: Circuit
    sources: dict
    labels: dict
    label_values: np.ndarray


def diode_net(seed, n_diodes=3, Is=0.05, n=4.0, C=1e-6):
    """random_net(seed) (κ parametrization) plus ``n_diodes`` Shockley diodes between random
    distinct free/held nodes, I = Is (exp(ΔV/(n V_t)) − 1): with Is = 50 mA, n V_t ≈ 0.1 V their
    small-signal conductance is ~0.5–5 S over the network's ±0.3 V, comparable to the κ ~ 1 S
    edges, so the network is strongly nonlinear. Labels within ±0.2 V of the free outputs."""
    base = random_net(seed, "kappa", C=C)
    rng = np.random.default_rng(seed + 1000)
    names = ["gnd"] + list(base.circuit.nodes)
    c = base.circuit
    dio = []
    while len(dio) < n_diodes:
        a, b = rng.choice(len(names), 2, replace=False)
        if {int(a), int(b)} <= set(base.held) or (a, b) in dio or (b, a) in dio:
            continue
        dio.append((int(a), int(b)))
    d = ShockleyDiode(Is=Is, n=n)
    for k, (a, b) in enumerate(dio):
        c.add_edge(f"d{k}", names[a], names[b], ShockleyDiode(Is=Is, n=n))
    net = DiodeNet(base.n_nodes, base.held, base.edges, np.array(dio), Is, n * d.Vt, base.outputs, c,
                   base.sources, {}, None)
    x = solve(net, theta_of(np.array([e.element.kappa for e in c.edges if isinstance(e.element, Conductance)]),
                            ["kappa"] * len(base.edges)))
    net.label_values = x[net.outputs] + rng.uniform(-0.2, 0.2, len(net.outputs))
    net.labels = {f"o{i}": float(v) for i, v in enumerate(net.label_values)}
    return net


def solve(net: DiodeNet, theta, inject=None, tol=1e-14):
    """Kirchhoff's current law at the free nodes, Newton from the linear solution."""
    N = net.n_nodes
    free = np.array([n for n in range(N) if n not in net.held])
    x = np.zeros(N)
    for n, v in net.held.items():
        x[n] = v
    L = np.zeros((N, N))
    for (a, b), k in zip(net.edges, theta):
        L[a, a] += k
        L[b, b] += k
        L[a, b] -= k
        L[b, a] -= k
    J0 = np.zeros(N)
    for n, i in (inject or {}).items():
        J0[n] += i
    da, db = net.diodes[:, 0], net.diodes[:, 1]
    for _ in range(100):
        dv = x[da] - x[db]
        e = np.exp(dv / net.nVt)
        i = net.Is * (e - 1.0)
        g = net.Is * e / net.nVt
        r = -(L @ x) + J0                 # current into each node
        np.add.at(r, da, -i)
        np.add.at(r, db, i)
        J = -L.copy()
        np.add.at(J, (da, da), -g)
        np.add.at(J, (da, db), g)
        np.add.at(J, (db, db), -g)
        np.add.at(J, (db, da), g)
        step = np.linalg.solve(J[np.ix_(free, free)], -r[free])
        x[free] += step
        if np.max(np.abs(step)) < tol:
            return x
    raise RuntimeError("Newton did not converge")


def loss(net: DiodeNet, theta):
    r = solve(net, theta)[net.outputs] - net.label_values
    return 0.5 * r @ r
