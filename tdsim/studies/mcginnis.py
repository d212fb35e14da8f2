"""McGinnis et al. 2026 §4.2 in the time domain: Coupled Learning with batched updates (Eq. 4.13)
on the voltage divider, a crossbar and a random circuit (Figs. 4-6).

The batched update is realised physically: the constraint points are cycled, each held for t_h,
with t_h·n_points short compared with the learning time, so θ follows the batch-averaged flow
⟨κ̇⁽¹⁾(v, w)⟩ up to an error O(n_points t_h / learning time) (one Lie-Trotter splitting step per
pass). Rates are normalised as in the paper's Eq. 4.11/4.13: A0 = A/(2η), so that
θ̇ = A ⟨κ̇⁽¹⁾⟩ for one-sided clamping at any η (negative A0 for η < 0: the learning rate α/η of
Eq. 2.4) and θ̇ = A ⟨κ̇⁽¹⁾⟩|η=0 for symmetric clamping at ±η (Eq. 4.4).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import networkx as nx
import numpy as np

from tdsim.compile.build import build
from tdsim.model.circuit import Circuit
from tdsim.model.elements import Conductance, Resistor
from tdsim.errors import SimulationError, SpecError
from tdsim.model.protocols import Cycling, DataPoint, Nudge, Task
from tdsim.compile.table import table
from tdsim.simulation.simulate import Options, simulate

ONE_SIDED, SYMMETRIC = ("free", "clamped"), ("free", "plus", "minus")


# ---- data -------------------------------------------------------------------------------------
def divider_data(n: int = 10, s: float = 1 / 3, c: float = 0.9, seed: int = 0):
    """n points (v, w) i.i.d. normal with ⟨v²⟩ = 1, ⟨w²⟩ = s², ⟨vw⟩ = sc, rescaled so that the
    sample has ⟨v²⟩ = 1 exactly (Eq. 4.14). Returns v, w and the sample's (s, c)."""
    cov = [[1.0, s * c], [s * c, s * s]]
    x = np.random.default_rng(seed).multivariate_normal([0.0, 0.0], cov, size=n)
    x /= np.sqrt(np.mean(x[:, 0] ** 2))
    v, w = x[:, 0], x[:, 1]
    s_hat = float(np.sqrt(np.mean(w * w)))
    return v, w, s_hat, float(np.mean(v * w) / s_hat)


def divider_field(k1, k2, s: float, c: float, eta: float = 0.0):
    """The batched CL flow of the divider (§4.2, "Voltage divider"; ⟨v²⟩ = 1): the closed forms
    at η = 0 and η = 1, combined linearly in η. Returns (κ̇1, κ̇2)."""
    a = np.asarray(k1) / (np.asarray(k1) + np.asarray(k2))
    f0 = ((a - 1) * (a - s * c), a * (a - s * c))
    f1 = (0.5 * (a * a - s * s) + s * c - a, 0.5 * (a * a - s * s))
    return tuple((1 - eta) * x0 + eta * x1 for x0, x1 in zip(f0, f1))


def gaussian_points(n: int, dim: int, seed: int = 0):
    """n points from N(0, Σ), Σ with eigenvalues 1/k (k = 1 … dim) and eigenvectors a Haar-random
    orthogonal matrix (scipy.stats.ortho_group), as in McGinnis Fig. 6."""
    from scipy.stats import ortho_group
    rng = np.random.default_rng(seed)
    U = ortho_group.rvs(dim, random_state=rng) if dim > 1 else np.ones((1, 1))
    cov = U @ np.diag(1.0 / np.arange(1, dim + 1)) @ U.T
    return rng.multivariate_normal(np.zeros(dim), cov, size=n)


def task_of(inputs: list, outputs: list, x: np.ndarray, name: str = "data") -> Task:
    """A Task whose point n holds the inputs at x[n, :I] and labels the outputs x[n, I:]."""
    I = len(inputs)
    if x.shape[1] != I + len(outputs):
        raise SpecError("points", f"need {I + len(outputs)} columns (inputs, then labels), got {x.shape[1]}")
    return Task(name, [DataPoint(dict(zip(inputs, map(float, p[:I]))), dict(zip(outputs, map(float, p[I:]))))
                       for p in x])


# ---- circuits ---------------------------------------------------------------------------------
def crossbar(n_in: int = 5, n_out: int = 3, *, seed: int = 0, kappa=(0.5, 1.5), leak: float = 0.0,
             at_zero: str = "remove", capacitance: float = 1e-9) -> Circuit:
    """Inputs v0… (voltage sources) joined to outputs w0… by one trainable conductance per pair,
    κ drawn uniformly in ``kappa`` (S). Ground is only the sources' reference: the outputs reach it
    through the inputs (McGinnis Fig. 2, Thm 4.3). ``leak`` > 0 adds that conductance from each
    output to ground, so an output whose edges have all been removed stays defined (0 V) instead of
    floating (the quasi-static solve needs every node tied to a held one)."""
    rng = np.random.default_rng(seed)
    c = Circuit(name=f"crossbar_{n_in}x{n_out}", capacitance=capacitance, A0=1.0)
    ins, outs = [f"v{j}" for j in range(n_in)], [f"w{i}" for i in range(n_out)]
    for v in ins:
        c.add_voltage_source(v, 0.0)
    for w in outs:
        c.add_node(w).add_output(w)
    for w in outs:
        for v in ins:
            c.add_edge(f"{v}-{w}", v, w, Conductance(float(rng.uniform(*kappa)), at_zero=at_zero))
    _add_leaks(c, outs, leak)
    return c


@dataclass
class RandomCircuit:
    circuit: Circuit
    graph: nx.Graph           # the trainable edges, nodes carrying role = input | output | hidden
    inputs: list
    outputs: list


def random_circuit(n_nodes: int = 12, n_in: int = 3, n_out: int = 2, p: float = 0.35, *, seed: int = 0,
                   kappa=(0.5, 1.5), leak: float = 0.0, at_zero: str = "remove",
                   capacitance: float = 1e-9) -> RandomCircuit:
    """An Erdős-Rényi G(n, p) graph without input-input edges (McGinnis §4.2, "Random circuit"),
    redrawn (seed, seed + 1000, …) until connected; nodes 0 … n_in-1 are inputs (voltage sources),
    the next n_out outputs, the rest hidden. Ground is only the sources' reference; ``leak`` as in
    ``crossbar``, from every output and hidden node."""
    for k in range(100):
        g = nx.gnp_random_graph(n_nodes, p, seed=seed + 1000 * k)
        g.remove_edges_from([(a, b) for a, b in list(g.edges) if a < n_in and b < n_in])
        if nx.is_connected(g):
            break
    else:
        raise SpecError("random_circuit", f"no connected G({n_nodes}, {p}) in 100 draws")
    role = {n: "input" if n < n_in else "output" if n < n_in + n_out else "hidden" for n in g}
    name = {n: (f"v{n}" if role[n] == "input" else f"w{n - n_in}" if role[n] == "output" else f"h{n}") for n in g}
    g = nx.relabel_nodes(g, name)
    nx.set_node_attributes(g, {name[n]: r for n, r in role.items()}, "role")
    rng = np.random.default_rng(seed)
    c = Circuit(name=f"random_{n_nodes}", capacitance=capacitance, A0=1.0)
    ins = [name[n] for n in range(n_in)]
    outs = [name[n] for n in range(n_in, n_in + n_out)]
    for v in ins:
        c.add_voltage_source(v, 0.0)
    for n in g:
        if g.nodes[n]["role"] != "input":
            c.add_node(n)
    for w in outs:
        c.add_output(w)
    for a, b in sorted(g.edges, key=lambda e: (name_key(e[0]), name_key(e[1]))):
        c.add_edge(f"{a}-{b}", a, b, Conductance(float(rng.uniform(*kappa)), at_zero=at_zero))
    _add_leaks(c, [n for n in g if g.nodes[n]["role"] != "input"], leak)
    return RandomCircuit(c, g, ins, outs)


def name_key(n: str):
    return (n[0], int(n[1:]))


def _add_leaks(c: Circuit, nodes, leak):
    if leak < 0:
        raise SpecError("leak", f"must be >= 0, got {leak!r}")
    if leak > 0:
        for n in nodes:
            c.add_edge(f"leak:{n}", n, c.ground, Resistor(1.0 / leak))


# ---- training -----------------------------------------------------------------------------------
@dataclass
class Run:
    t: np.ndarray             # (P,) pass-end times, s (0 first)
    kappa: np.ndarray         # (P, E) learning edges' κ at pass ends
    edges: list               # their names
    error: str | None = None  # why the run stopped early (a node left floating), or None
    stats: dict | None = None

    @property
    def K(self) -> np.ndarray:
        """The conserved mass ½ Σ κ² (Thm 3.3)."""
        return 0.5 * np.sum(self.kappa ** 2, axis=1)

    @property
    def rms(self) -> np.ndarray:
        return np.sqrt(np.mean(self.kappa ** 2, axis=1))

    def removal_times(self) -> dict:
        """Edge -> first pass-end time at which its κ is 0, in order of removal."""
        out = {}
        for e, name in enumerate(self.edges):
            z = np.flatnonzero(self.kappa[:, e] <= 0.0)
            if len(z):
                out[name] = float(self.t[z[0]])
        return dict(sorted(out.items(), key=lambda kv: kv[1]))


def train(circuit: Circuit, task: Task, eta: float, *, symmetric: bool = False, A: float = 1.0,
          t_h: float = 1e-3, passes: int = 100, theta0=None, rtol: float = 1e-9) -> Run:
    """Cycle ``task``'s points (each for t_h) for ``passes`` passes with CL clamping at η (one-sided,
    or symmetric ±η), quasi-static, on a copy of ``circuit`` with A0 = A/(2η) (module docstring).
    θ is recorded at every pass end. A run that leaves a node floating (all its edges removed and no
    leak) stops there: ``Run.error`` says so and the record ends at the last pass."""
    if eta == 0:
        raise SpecError("eta", "the time-domain rule needs η ≠ 0 (take a small η, or symmetric clamping)")
    circuit = copy.deepcopy(circuit)
    circuit.A0 = A / (2.0 * eta)
    twins = SYMMETRIC if symmetric else ONE_SIDED
    comp = build(circuit, twins)
    sched = Cycling(task, t_h=t_h, nudge=Nudge("standard", eta), passes=passes).segments()
    tab = table(sched, comp)
    opt = Options(integrator="quasistatic", rtol=rtol, atol=1e-12, chunk=max(16, passes + 1))
    learn = np.flatnonzero(comp.learn)
    th0 = comp.theta0 if theta0 is None else _full_theta(comp, learn, theta0)
    error, stats = None, None
    try:
        tr = simulate(comp, tab, opt, theta0=th0)
        ev_t, ev_th, stats = tr.event_t, tr.event_theta, tr.stats
    except SimulationError as err:
        tr = getattr(err, "trajectory", None)
        ev_t, ev_th = (tr.event_t, tr.event_theta) if tr is not None else (np.zeros(0), np.zeros((0, comp.E)))
        error = str(err)
    t = np.concatenate([[0.0], ev_t])
    k = np.concatenate([th0[None, learn], ev_th[:, learn]])
    return Run(t, k, [comp.edge_names[e] for e in learn], error, stats)


def _full_theta(comp, learn, theta0):
    th = comp.theta0.copy()
    theta0 = np.asarray(theta0, dtype=float)
    if theta0.shape != learn.shape:
        raise SpecError("theta0", f"need {len(learn)} values (one per learning edge), got {theta0.shape}")
    th[learn] = theta0
    return th
