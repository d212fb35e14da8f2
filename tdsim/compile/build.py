"""Circuit -> flat arrays for the engine (the Nengo 'builder' step). Done once per run.

Node index 0 is ground; then declared nodes in order; then one hidden node per voltage source
with a series resistance (the ideal source behind the resistor). Twin 0 is the free twin;
twin k > 0 is a nudged copy whose outputs are either held at O_F + s_k η (L - O_F) (clamping,
Coupled Learning) or, with ``force_nudge``, left free and driven by the current s_k β (L - O)
(Equilibrium Propagation).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tdsim.core import linalg, records
from tdsim.model.circuit import Circuit
from tdsim.core.elements import GatedChannel, Resistor
from tdsim.errors import SpecError
from tdsim.core.kernels import HOLD_GROUND, HOLD_NONE, HOLD_OUTPUT, HOLD_SOURCE

TWIN_NUDGE = {"free": 0.0, "clamped": 1.0, "nudged": 1.0, "plus": 1.0, "minus": -1.0}


@dataclass
class Compiled:
    circuit: Circuit
    twins: tuple
    node_names: list
    edge_names: list
    source_nodes: list       # column j of a source table drives source_nodes[j]
    output_nodes: list
    # per node / twin
    cap: np.ndarray          # (T, N) F
    hold: np.ndarray         # (T, N) HOLD_* code
    hidx: np.ndarray         # (T, N) source column or output index
    inj: np.ndarray          # (N,) current-source column or -1
    nudge: np.ndarray        # (T,)
    out_node: np.ndarray     # (n_out,)
    # per edge
    ea: np.ndarray
    eb: np.ndarray
    code: np.ndarray
    par: np.ndarray          # (T, E, 4) element parameters (elements.*.params)
    learn: np.ndarray        # (E,) bool
    theta0: np.ndarray       # (E,) initial G / κ-parameter
    A0: np.ndarray
    B: np.ndarray
    gmin: np.ndarray
    gmax: np.ndarray
    learn_pair: tuple        # (twin whose ΔV² adds, twin whose ΔV² subtracts)
    learn_scale: float
    # Jacobian pattern on the unknown (non-source) nodes
    unk_nodes: np.ndarray
    pattern: linalg.Pattern
    s_ab: np.ndarray
    s_ba: np.ndarray
    s_aa: np.ndarray
    s_bb: np.ndarray
    diag_slot: np.ndarray
    # imperfections that act inside the learning rule
    leak: np.ndarray                 # (E,) 1/(R_d C0) drainage, 1/s
    bias_function: object = None     # numba cfunc b(G, dvf, dvc) or None
    noise_seed: int = 0
    noise_update: float = 0.0        # V/√s
    noise_read: float = 0.0          # V
    output_offset: dict = None       # output -> V (goes into the segment table)
    edge_elements: list = None       # element class name per edge (hidden source resistors included)
    force_nudge: bool = False        # nudged twins' outputs free, driven by a current (EP), not held

    @property
    def T(self):
        return len(self.twins)

    @property
    def N(self):
        return len(self.node_names)

    @property
    def E(self):
        return len(self.edge_names)

    def default_sources(self) -> np.ndarray:
        srcs = self.circuit.sources
        return np.array([srcs[n].value for n in self.source_nodes], dtype=np.float64)

    def arrays(self) -> records.Circuit:
        """The engine's view of the circuit."""
        p = self.pattern
        return records.Circuit(self.ea, self.eb, self.code, self.par, self.learn, self.A0, self.B, self.gmin, self.gmax,
                               self.cap, self.hold, self.hidx, self.inj, self.nudge, self.out_node, self.unk_nodes,
                               self.diag_slot, self.s_ab, self.s_ba, self.s_aa, self.s_bb, p.row_ptr, p.col, p.diag,
                               p.perm)

    def rule(self) -> records.LearningRule:
        """The learning rule's parameters (kernels.gate_rates), with fresh read-noise offsets."""
        fn = self.bias_function if self.bias_function is not None else _zero_bias()
        return records.LearningRule(int(self.learn_pair[0]), int(self.learn_pair[1]), float(self.learn_scale), fn,
                                    self.bias_function is not None, self.leak, np.zeros((self.T, self.N)))


_ZERO = None


def _zero_bias():
    """b = 0 as a compiled bias function (the rule's slot when there is none), built once."""
    global _ZERO
    if _ZERO is None:
        from tdsim.model.imperfections import zero_bias, compile_bias
        _ZERO = compile_bias(zero_bias)
    return _ZERO


def build(circuit: Circuit, twins=("free", "clamped"), imperfections=None, seed: int = 0,
          need_capacitance: bool = True, force_nudge: bool = False) -> Compiled:
    """Validate ``circuit`` and compile it with its ``imperfections`` (an Imperfections, or a
    mismatch dict {"S": rel. std, "VT": std in V, "capacitance": rel. std}); all draws use ``seed``.
    ``force_nudge``: the nudged twins' outputs stay free for the EP force nudge (segments with
    ``nudge="force"``) instead of being held by the clamp."""
    from tdsim.model.imperfections import Imperfections, compile_bias
    if imperfections is None:
        imperfections = Imperfections()
    elif isinstance(imperfections, dict):
        imperfections = Imperfections(mismatch=imperfections)
    circuit.validate(need_capacitance=need_capacitance)
    imperfections.validate({e.name for e in circuit.edges}, set(circuit.outputs))
    twins = tuple(twins)
    for t in twins:
        if t not in TWIN_NUDGE:
            raise SpecError("twins", f"unknown twin {t!r}; known: {', '.join(TWIN_NUDGE)}")
    if not twins or twins[0] != "free":
        raise SpecError("twins", "the first twin must be 'free'")
    if len(twins) > 1 and not circuit.outputs:
        raise SpecError("outputs", "nudged twins need at least one output node")

    names = [circuit.ground] + list(circuit.nodes)
    index = {n: i for i, n in enumerate(names)}
    edges = list(circuit.edges)
    source_nodes = list(circuit.sources)
    extra = []
    for j, node in enumerate(source_nodes):
        s = circuit.sources[node]
        if s.kind == "voltage" and s.resistance > 0:
            hidden = f"{node}:src"
            index[hidden] = len(names)
            names.append(hidden)
            extra.append((node, hidden, j))
            edges.append(_hidden_edge(hidden, node, s.resistance))
    T, N = len(twins), len(names)
    default_cap = circuit.capacitance if circuit.capacitance is not None else 0.0
    cap = np.zeros((T, N))
    hold = np.full((T, N), HOLD_NONE, dtype=np.int64)
    hidx = np.full((T, N), -1, dtype=np.int64)
    inj = np.full(N, -1, dtype=np.int64)
    for name, c in circuit.nodes.items():
        cap[:, index[name]] = default_cap if c is None else c
    hold[:, 0] = HOLD_GROUND
    for j, node in enumerate(source_nodes):
        s = circuit.sources[node]
        if s.kind == "current":
            inj[index[node]] = j
        elif s.resistance == 0:
            hold[:, index[node]] = HOLD_SOURCE
            hidx[:, index[node]] = j
    for node, hidden, j in extra:
        hold[:, index[hidden]] = HOLD_SOURCE
        hidx[:, index[hidden]] = j
    out_node = np.array([index[o] for o in circuit.outputs], dtype=np.int64)
    nudge = np.array([TWIN_NUDGE[t] for t in twins])
    for t in range(1, T if not force_nudge else 1):
        hold[t, out_node] = HOLD_OUTPUT
        hidx[t, out_node] = np.arange(len(out_node))

    E = len(edges)
    ea = np.array([index[e.a] for e in edges], dtype=np.int64)
    eb = np.array([index[e.b] for e in edges], dtype=np.int64)
    code = np.array([e.element.code for e in edges], dtype=np.int64)
    par1 = np.array([e.element.params() for e in edges], dtype=np.float64).reshape(E, 4)
    par = np.repeat(par1[None], T, axis=0)
    learn = np.array([e.element.learns() for e in edges], dtype=np.bool_)
    theta0 = np.array([e.element.theta0() for e in edges], dtype=np.float64)
    A0 = np.array([circuit.A0 if e.A0 is None else e.A0 for e in edges])
    B = np.array([e.B for e in edges], dtype=np.float64)
    gmin = np.array([e.element.limits()[0] for e in edges], dtype=np.float64)
    gmax = np.array([e.element.limits()[1] for e in edges], dtype=np.float64)

    imp = imperfections
    if imp.mismatch:
        gated = np.array([isinstance(e.element, GatedChannel) for e in edges], dtype=np.bool_)
        _apply_mismatch(imp.mismatch, seed, cap, par, gated, hold)
        for field, bad in (("capacitance", (cap <= 0) & (hold == HOLD_NONE)),
                           ("S", (par[:, :, 0] <= 0) & gated[None])):
            if bad.any():
                t, i = np.argwhere(bad)[0]
                what = f"node {names[i]!r}" if field == "capacitance" else f"edge {edges[i].name!r}"
                raise SpecError(f"imperfections.mismatch.{field}",
                                f"σ = {imp.mismatch[field]:g} draws a non-positive {field} for {what} of the "
                                f"{twins[t]} twin ({(cap[t, i] if field == 'capacitance' else par[t, i, 0]):.3g}): "
                                "a relative spread this large is not a device mismatch")
    names_e = [e.name for e in edges]
    for name, b in imp.bias.items():
        B[names_e.index(name)] += b
    if imp.bias_spread:                     # device-to-device bias, drawn per learning edge
        learns = np.array([e.element.learns() for e in edges])
        B[learns] += imp.bias_spread * np.random.default_rng([seed, 2]).standard_normal(E)[learns]
    if imp.A0_spread:
        spread = 1.0 + imp.A0_spread * np.random.default_rng([seed, 1]).standard_normal(E)
        A0 = A0 * spread
        if np.any(spread <= 0):
            raise SpecError("imperfections.A0_spread", "so large that some A0 changed sign or came out 0")
    leak = np.zeros(E)
    for name, Rd in imp.drainage.items():
        el = edges[names_e.index(name)].element
        if not isinstance(el, GatedChannel):
            raise SpecError(f"imperfections.drainage.{name}", "drainage applies to MOSFET gates")
        leak[names_e.index(name)] = 1.0 / (Rd * el.C0)

    bias_function = compile_bias(imp.bias_function) if imp.bias_function is not None else None
    for e in np.flatnonzero(learn) if bias_function is not None else []:    # the NaN named by its edge
        v = bias_function.ctypes(theta0[e], 0.1, 0.1)
        if not np.isfinite(v):
            raise SpecError("imperfections.bias_function", f"gives {v} on edge {edges[e].name!r} at its initial "
                                                           f"θ = {theta0[e]:g} (dvf = dvc = 0.1 V)")

    unk_nodes = np.array([n for n in range(N) if hold[0, n] not in (HOLD_SOURCE, HOLD_GROUND)], dtype=np.int64)
    unk = np.full(N, -1, dtype=np.int64)
    unk[unk_nodes] = np.arange(len(unk_nodes))
    ua, ub = unk[ea], unk[eb]
    both = (ua >= 0) & (ub >= 0)
    pattern = linalg.analyse(len(unk_nodes), np.stack([ua[both], ub[both]], axis=1))
    s_ab = np.full(E, -1, dtype=np.int64)
    s_ba = np.full(E, -1, dtype=np.int64)
    s_ab[both] = linalg.slots(pattern, ua[both], ub[both])
    s_ba[both] = linalg.slots(pattern, ub[both], ua[both])
    diag_slot = linalg.slots(pattern, np.arange(len(unk_nodes)), np.arange(len(unk_nodes)))
    s_aa = np.where(ua >= 0, diag_slot[np.maximum(ua, 0)], -1)
    s_bb = np.where(ub >= 0, diag_slot[np.maximum(ub, 0)], -1)

    if "minus" in twins and "plus" in twins:          # symmetric nudging (McGinnis Eq. 4.4)
        pair, scale = (twins.index("minus"), twins.index("plus")), 0.5
    elif T > 1:
        pair, scale = (0, 1), 1.0
    else:
        pair, scale = (0, 0), 0.0
    return Compiled(circuit, twins, names, [e.name for e in edges], source_nodes, list(circuit.outputs),
                    cap, hold, hidx, inj, nudge, out_node, ea, eb, code, par, learn, theta0, A0, B, gmin, gmax,
                    pair, scale, unk_nodes, pattern, s_ab, s_ba, s_aa, s_bb, diag_slot, leak,
                    bias_function,
                    seed, imp.noise_update, imp.noise_read, dict(imp.output_offset),
                    [type(e.element).__name__ for e in edges], bool(force_nudge))


def _hidden_edge(hidden, node, R):
    from tdsim.model.circuit import Edge
    return Edge(f"{node}:R", hidden, node, Resistor(R))


def _apply_mismatch(mm: dict, seed: int, cap, par, gated, hold):
    """Device mismatch of the nudged twins: S and V_T (p0, p1) of every gated channel, and node
    capacitances."""
    unknown = set(mm) - {"S", "VT", "capacitance"}
    if unknown:
        raise SpecError(f"mismatch.{sorted(unknown)[0]}", "unknown mismatch parameter (S, VT, capacitance)")
    rng = np.random.default_rng(seed)
    T, E, _ = par.shape
    mos = np.asarray(gated, dtype=np.bool_)
    for t in range(1, T):
        par[t, mos, 0] *= 1.0 + mm.get("S", 0.0) * rng.standard_normal(mos.sum())
        par[t, mos, 1] += mm.get("VT", 0.0) * rng.standard_normal(mos.sum())
        free = hold[t] == HOLD_NONE
        cap[t, free] *= 1.0 + mm.get("capacitance", 0.0) * rng.standard_normal(free.sum())
