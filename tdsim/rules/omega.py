"""The analytic Ω-projector gradient for linear resistor networks (Lin 2026, Eqs. 10–16,
Algorithms 1 and 2, App. F, H, M), from tdsim time-domain runs.

Lin's network: every edge e is an ideal source s_e in series with a resistor r_e; the ohmic drops
are v = −Ω s with Ω = R Aᵀ(A R Aᵀ)⁻¹A (Eq. 10), the currents i = v / r (Eq. 11). tdsim's
sources are node-to-ground, so an edge source is built from its Norton equivalent: a series
source s_e with r_e is, for the nodes, exactly a current g_e s_e (g = 1/r) injected at the edge's
tail ``a`` and drawn from its head ``b`` in parallel with r_e (no approximation, in the time
domain too: the edge has no storage). One graph node is ground; the others carry a capacitance.

- **voltage mode** (inputs on): edge sources s → node drops ΔV; v = ΔV − s, i = g v = −g Ω s.
- **current mode** (the adjoint probe, Algorithm 2 step 6): currents u injected across edges
  (parallel to them), all sources off → node drops ΔV = R (I − Ωᵀ) u. The current through edge
  e's resistor is then Δ_e = g_e ΔV_e = ((I − Ωᵀ) u)_e = u_e + i_ε,e (Eq. 25), the branch
  current i_ε = −Ωᵀ u being the resistor's current minus the injected one.

Gradients (per sample; a batch averages them):

- Ω (Algorithm 2, Eq. 14/26): ∇_r L = i_F ⊙ (I − Ωᵀ) ε with ε = ∂L/∂v on the output edges
  (ŷ − y for ½|ŷ − y|², −y c for a violated hinge, App. M): exact for any ε scale.
- two-phase (Algorithm 1, Eq. 12/24): the clamped run adds β ε to the output-edge sources
  (Eq. 19/23); estimate (i_C² − i_F²)/(2β). In a linear network i_C = i_F + β M P_oᵀ ε exactly,
  so the estimate is diag(i_F) M P_oᵀ ε + (β/2)(M P_oᵀ ε)² (M = −Aᵀ(ARAᵀ)⁻¹A, Eq. 109):
  first order in β towards the gradient of Φ(r) = εᵀ P_o i(r) with ε frozen (App. F, Eq. 111),
  which is r_o × ∂L/∂r off the output edges and not ∂L/∂r on them.

Each run is one tdsim simulation of a table with one segment per sample (learning off: the
training loop is an outer Python loop, one pair of runs per batch; ``tdsim.omega_train``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tdsim.compile.build import build
from tdsim.model.circuit import Circuit
from tdsim.model.elements import Conductance
from tdsim.errors import SpecError
from tdsim.model.schedule import Segment
from tdsim.compile.table import table
from tdsim.simulation.simulate import Options, simulate


@dataclass
class EdgeNetwork:
    """A graph of source+resistor edges (Lin §II B): node indices 0..n_nodes−1, edges (a, b)
    oriented a → b, the input edges (P_i) and output edges (P_o) by edge index; node ``ground``
    is tdsim's ground, every other node has ``capacitance`` (F) to it."""
    n_nodes: int
    edges: np.ndarray
    inputs: list
    outputs: list
    ground: int = 0
    capacitance: float = 1e-6
    gamma: float = 1.0                  # input gain: s = γ P_iᵀ x (Eq. 17)
    name: str = "edge_network"
    positions: dict = field(default_factory=dict)   # node -> (x, y), for drawing only

    def __post_init__(self):
        self.edges = np.asarray(self.edges, dtype=np.int64).reshape(-1, 2)
        self.inputs = [int(e) for e in self.inputs]
        self.outputs = [int(e) for e in self.outputs]
        self.validate()

    @property
    def E(self) -> int:
        return len(self.edges)

    def validate(self) -> None:
        E = self.E
        if E == 0:
            raise SpecError("edges", "at least one edge is needed")
        if self.edges.min() < 0 or self.edges.max() >= self.n_nodes:
            raise SpecError("edges", f"node index outside 0..{self.n_nodes - 1}")
        if np.any(self.edges[:, 0] == self.edges[:, 1]):
            raise SpecError("edges", "an edge has both ends on one node")
        for key, sel in (("inputs", self.inputs), ("outputs", self.outputs)):
            if not sel:
                raise SpecError(key, "at least one edge is needed")
            if len(set(sel)) != len(sel) or min(sel) < 0 or max(sel) >= E:
                raise SpecError(key, f"edge indices must be distinct and within 0..{E - 1}")
        if set(self.inputs) & set(self.outputs):
            raise SpecError("outputs", "an edge cannot be both an input and an output")
        if not 0 <= self.ground < self.n_nodes:
            raise SpecError("ground", f"must be a node index, got {self.ground}")
        if not (self.capacitance > 0 and np.isfinite(self.capacitance)):
            raise SpecError("capacitance", f"must be > 0, got {self.capacitance!r}")
        if not np.isfinite(self.gamma):
            raise SpecError("gamma", "must be finite")

    def node_name(self, n: int) -> str:
        return "gnd" if n == self.ground else f"n{n}"

    def circuit(self, r) -> Circuit:
        """The tdsim circuit: Conductance edges in the ρ parametrization (θ = r, learning off:
        the rule updates r outside the runs) and a current source on every other
        node (the Norton halves of edge sources and probes, so that any edge can carry one)."""
        r = _check_r(r, self.E)
        c = Circuit(name=self.name, capacitance=self.capacitance)
        for n in range(self.n_nodes):
            if n != self.ground:
                c.add_node(self.node_name(n))
        for e, (a, b) in enumerate(self.edges):
            c.add_edge(f"e{e}", self.node_name(a), self.node_name(b), Conductance(1.0 / r[e], "rho", learn=False))
        for n in range(self.n_nodes):
            if n != self.ground:
                c.add_current_source(self.node_name(n), 0.0)
        return c

    def sources(self, X) -> np.ndarray:
        """Edge-source patterns s = γ P_iᵀ x, one row per sample (Eq. 17)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if X.shape[1] != len(self.inputs):
            raise SpecError("X", f"{X.shape[1]} features for {len(self.inputs)} input edges")
        s = np.zeros((len(X), self.E))
        s[:, self.inputs] = self.gamma * X
        return s

    def on_outputs(self, eps) -> np.ndarray:
        """P_oᵀ ε: output-edge vectors as full edge vectors, one row per sample."""
        eps = np.atleast_2d(np.asarray(eps, dtype=np.float64))
        u = np.zeros((len(eps), self.E))
        u[:, self.outputs] = eps
        return u


def _check_r(r, E) -> np.ndarray:
    r = np.asarray(r, dtype=np.float64)
    if r.shape != (E,):
        raise SpecError("r", f"needs one resistance per edge ({E}), got shape {r.shape}")
    if not np.all(np.isfinite(r) & (r > 0)):
        raise SpecError("r", "resistances must be finite and > 0")
    return r


PEAK_V = 10.0     # V: EdgeSimulator.run scales larger drives down to this and the result back


@dataclass
class Response:
    """The settled state of one run per sample: node drops ΔV, ohmic drops v = ΔV − s and
    resistor currents i = v / r, all (samples, edges)."""
    dV: np.ndarray
    v: np.ndarray
    i: np.ndarray


class EdgeSimulator:
    """Runs an EdgeNetwork in tdsim. ``integrator``: "quasistatic" (default: Kirchhoff solved at
    every step, i.e. each segment ends exactly settled) or a full-RC one ("explicit",
    "rosenbrock"), which starts from 0 V and relaxes through each segment of ``settle`` slowest
    RC times (C / λ_min of the grounded nodal Laplacian), so its error is ~e^−settle."""

    def __init__(self, net: EdgeNetwork, integrator: str = "quasistatic", settle: float = 30.0,
                 rtol: float = 1e-9, atol: float = 1e-13):
        self.net = net
        self.integrator = integrator
        self.settle = float(settle)
        if not self.settle > 0:
            raise SpecError("settle", f"must be > 0 slowest RC times, got {settle!r}")
        self.comp = build(net.circuit(np.ones(net.E)), ("free",))
        Options(integrator=integrator).validate()
        self.rtol, self.atol = rtol, atol
        col = {n: j for j, n in enumerate(self.comp.source_nodes)}
        # weight w_e on edge e (a → b) injects +w_e at a and −w_e at b: src = w @ inject
        self.inject = np.zeros((net.E, len(col)))
        for e, (a, b) in enumerate(net.edges):
            for n, sign in ((a, 1.0), (b, -1.0)):
                name = net.node_name(int(n))
                if name in col:
                    self.inject[e, col[name]] += sign
        self._tables = {}
        self.runs = 0

    def slowest_rc(self, r) -> float:
        g = 1.0 / r
        n = self.net.n_nodes
        L = np.zeros((n, n))
        a, b = self.net.edges[:, 0], self.net.edges[:, 1]
        np.add.at(L, (a, a), g)
        np.add.at(L, (b, b), g)
        np.add.at(L, (a, b), -g)
        np.add.at(L, (b, a), -g)
        keep = [k for k in range(n) if k != self.net.ground]
        return self.net.capacitance / float(np.linalg.eigvalsh(L[np.ix_(keep, keep)])[0])

    def _table(self, S: int, duration: float):
        key = (S, duration)
        if key not in self._tables:
            self._tables = {key: table([Segment(duration) for _ in range(S)], self.comp)}
        return self._tables[key]

    def run(self, r, s=None, u=None) -> Response:
        """One run, one segment per row of ``s`` (edge sources, V) and ``u`` (currents injected
        across edges, A): voltage mode with u = 0, current mode with s = 0."""
        r = _check_r(r, self.net.E)
        if s is None and u is None:
            raise SpecError("run", "give edge sources s, edge currents u, or both")
        s = np.zeros_like(u) if s is None else np.atleast_2d(np.asarray(s, dtype=np.float64))
        u = np.zeros_like(s) if u is None else np.atleast_2d(np.asarray(u, dtype=np.float64))
        if s.shape != u.shape or s.shape[1] != self.net.E:
            raise SpecError("run", f"s and u must both be (samples, {self.net.E}); got {s.shape}, {u.shape}")
        # The engine's Newton damps each correction to ±0.5 V per node (for diodes) and stops after
        # 50 iterations, so a jump of more than ~25 V between segments fails to converge (a
        # nanowire of Lin Fig. 6 at M ~ U[0, 10] did). The network is linear: a run whose sources
        # (or probe currents times the largest r) peak above PEAK_V is made at PEAK_V and scaled
        # back, exactly. Runs below it (every breast-cancer run) are untouched.
        peak = max(float(np.abs(s).max()), float(np.abs(u).max() * r.max()))
        if peak > PEAK_V:
            res = self.run(r, s * (PEAK_V / peak), u * (PEAK_V / peak))
            k = peak / PEAK_V
            return Response(res.dV * k, res.v * k, res.i * k)
        S = len(s)
        qs = self.integrator == "quasistatic"
        duration = 1e-3 if qs else self.settle * self.slowest_rc(r)
        tab = self._table(S, duration)
        tab.src = (s / r + u) @ self.inject                # Norton currents g s, plus the probes
        opt = Options(integrator=self.integrator, initial="dc" if qs else "zero", rtol=self.rtol,
                      atol=self.atol, chunk=S + 1)
        traj = simulate(self.comp, tab, opt, theta0=r)
        self.runs += 1
        V = traj.event_V[:, 0, :]
        dV = V[:, self.comp.ea] - V[:, self.comp.eb]
        v = dV - s
        return Response(dV, v, v / r)

    # ---- Lin's experiments --------------------------------------------------------------------
    def infer(self, r, X) -> np.ndarray:
        """Voltage-mode inference: ŷ = P_o v for every row of X (Eqs. 18, 21)."""
        return self.run(r, self.net.sources(X)).v[:, self.net.outputs]


def omega_gradient(sim: EdgeSimulator, r, X, error, eta: float = 1.0):
    """Algorithm 2 for a batch: a voltage-mode run (i_F, ŷ), then ε = error(ŷ) (∂L/∂ŷ, rows),
    a current-mode run injecting η ε (A, η in S) across the output edges, Δ = resistor currents
    / η = (I − Ωᵀ) P_oᵀ ε, and ∇_r L = mean_samples(i_F ⊙ Δ) (Eq. 14, 26). Returns (grad, ŷ)."""
    if not (eta > 0 and np.isfinite(eta)):
        raise SpecError("eta", f"the probe scale must be > 0 (S), got {eta!r}")
    net = sim.net
    free = sim.run(r, net.sources(X))
    yhat = free.v[:, net.outputs]
    eps = np.atleast_2d(error(yhat))
    probe = sim.run(r, u=eta * net.on_outputs(eps))
    delta = probe.dV / r / eta
    return np.mean(free.i * delta, axis=0), yhat


def two_phase_gradient(sim: EdgeSimulator, r, X, error, beta: float, symmetric: bool = False):
    """Algorithm 1 for a batch: free run, then a clamped run with s_C = s_F + β P_oᵀ ε (Eq. 19,
    23), estimate mean((i_C² − i_F²) / (2β)) (Eq. 12). ``symmetric``: ±β runs instead,
    mean((i_+² − i_−²) / (4β)), which is exact for Φ in a linear network. Returns (estimate, ŷ)."""
    if not (beta > 0 and np.isfinite(beta)):
        raise SpecError("beta", f"the nudge must be > 0, got {beta!r}")
    net = sim.net
    sF = net.sources(X)
    free = sim.run(r, sF)
    yhat = free.v[:, net.outputs]
    nudge = beta * net.on_outputs(np.atleast_2d(error(yhat)))
    plus = sim.run(r, sF + nudge).i
    if symmetric:
        minus = sim.run(r, sF - nudge).i
        return np.mean((plus ** 2 - minus ** 2) / (4 * beta), axis=0), yhat
    return np.mean((plus ** 2 - free.i ** 2) / (2 * beta), axis=0), yhat


# ---- losses: value and ε = ∂L/∂ŷ per sample -----------------------------------------------------

def squared_loss(yhat, y):
    """½|ŷ − y|² per sample and its ε = ŷ − y (Eq. 14)."""
    d = yhat - y
    return 0.5 * np.sum(d * d, axis=1), d


def hinge_loss(yhat, y, readout, margin: float = 1.0):
    """max(0, m − y f), f = readout · ŷ (App. M Eq. 151; readout [1] for one output edge, [1, −1] or
    [−1, 1] for "the larger of two voltmeters": which voltmeter is class +1 is a convention), and ε = −y readout where the margin is violated (Eq. 158),
    0 elsewhere. y in {−1, +1}."""
    f = yhat @ np.asarray(readout, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    viol = margin - y * f
    eps = np.where((viol > 0)[:, None], -y[:, None] * np.asarray(readout)[None, :], 0.0)
    return np.maximum(viol, 0.0), eps
