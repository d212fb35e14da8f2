"""Circuit description: nodes, sources, edges, outputs. Validated on construction of a run.

Build one in Python (``Circuit().add_*``), from a networkx graph (``from_graph``), or from a
TOML model file (``tdsim.spec.load_model``). Everything is in SI units.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx

from tdsim.core.elements import ELEMENTS
from tdsim.errors import SpecError


@dataclass
class Source:
    node: str
    kind: str            # "voltage" or "current"
    value: float         # default value; segments override it
    resistance: float = 0.0


@dataclass
class Edge:
    name: str
    a: str
    b: str
    element: object
    A0: float | None = None   # learning rate 1/(V s) for a gate (Element.a0_unit); None: the circuit's A0
    B: float = 0.0            # update bias, θ's unit per s: V/s for a gate (Dillavou Eq. 7)


@dataclass
class Circuit:
    name: str = "circuit"
    ground: str = "gnd"
    capacitance: float | None = None     # default node capacitance to ground, F
    A0: float = 2.8e3                    # learning rate, 1/(V s)  (2.8 /(V ms))
    nodes: dict = field(default_factory=dict)     # name -> capacitance (or None: default)
    sources: dict = field(default_factory=dict)   # node -> Source
    edges: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    # ---- construction -------------------------------------------------------------
    def add_node(self, name: str, capacitance: float | None = None) -> "Circuit":
        if name in self.nodes or name == self.ground:
            raise SpecError(f"node {name!r}", "duplicate node name")
        self.nodes[name] = capacitance
        return self

    def add_voltage_source(self, node: str, value: float, resistance: float = 0.0) -> "Circuit":
        return self._add_source(Source(node, "voltage", value, resistance))

    def add_current_source(self, node: str, value: float) -> "Circuit":
        return self._add_source(Source(node, "current", value))

    def _add_source(self, src: Source) -> "Circuit":
        if src.node in self.sources:
            raise SpecError(f"source {src.node!r}", "duplicate source on this node")
        if src.node not in self.nodes:
            self.add_node(src.node)
        self.sources[src.node] = src
        return self

    def add_edge(self, name: str, a: str, b: str, element, A0: float | None = None, B: float = 0.0) -> "Circuit":
        self.edges.append(Edge(name, a, b, element, A0, B))
        return self

    def add_output(self, node: str) -> "Circuit":
        self.outputs.append(node)
        return self

    @classmethod
    def from_graph(cls, graph: nx.Graph, element, *, ground="gnd", capacitance=None, **kw) -> "Circuit":
        """One edge per graph edge; ``element(u, v, data)`` returns the element of edge (u, v).
        Node attribute ``capacitance`` overrides the default."""
        c = cls(ground=ground, capacitance=capacitance, **kw)
        for n, data in graph.nodes(data=True):
            if str(n) != ground:
                c.add_node(str(n), data.get("capacitance"))
        for k, (u, v, data) in enumerate(graph.edges(data=True)):
            c.add_edge(data.get("name", f"e{k}"), str(u), str(v), element(u, v, data),
                       data.get("A0"), data.get("B", 0.0))
        return c

    # ---- queries ----------------------------------------------------------------------
    def held_nodes(self) -> set:
        """Nodes fixed by an ideal voltage source (and ground)."""
        held = {self.ground}
        held.update(s.node for s in self.sources.values() if s.kind == "voltage" and s.resistance == 0)
        return held

    def learnable_edges(self) -> list:
        return [e.name for e in self.edges if e.element.learns()]

    # ---- validation -----------------------------------------------------------------------
    def validate(self, need_capacitance: bool = True) -> None:
        """Raise SpecError naming the offending node, edge or field."""
        _finite(f"circuit {self.name!r}.A0", self.A0, nonzero=True)
        for name, cap in self.nodes.items():
            if cap is not None:
                _finite(f"node {name!r}.capacitance", cap, positive=True)
        for s in self.sources.values():
            key = f"source {s.node!r}"
            if s.kind not in ("voltage", "current"):
                raise SpecError(key + ".kind", f"unknown source kind {s.kind!r} (voltage or current)")
            _finite(key + ".value", s.value)
            _finite(key + ".resistance", s.resistance)
            if s.resistance < 0:
                raise SpecError(key + ".resistance", "must be >= 0")
        seen = set()
        for e in self.edges:
            key = f"edge {e.name!r}"
            if e.name in seen:
                raise SpecError(key, "duplicate edge name")
            seen.add(e.name)
            if type(e.element) not in ELEMENTS.values():
                raise SpecError(key, f"unknown element {type(e.element).__name__!r}; known: {', '.join(ELEMENTS)}")
            for end in (e.a, e.b):
                if end != self.ground and end not in self.nodes:
                    raise SpecError(key, f"endpoint {end!r} is not a declared node")
            if e.a == e.b:
                raise SpecError(key, f"both ends on node {e.a!r}")
            e.element.validate(key)
            if e.A0 is not None:
                _finite(key + ".A0", e.A0, nonzero=True)
            _finite(key + ".B", e.B)
        held = self.held_nodes()
        for o in self.outputs:
            if o not in self.nodes:
                raise SpecError(f"output {o!r}", "is not a declared node")
            if o in held:
                raise SpecError(f"output {o!r}", "is held by a voltage source; an output must be free")
        if len(set(self.outputs)) != len(self.outputs):
            raise SpecError("outputs", "duplicate output node")
        if need_capacitance:
            for name, cap in self.nodes.items():
                if name not in held and cap is None and self.capacitance is None:
                    raise SpecError(f"node {name!r}.capacitance",
                                    "needed for time-domain runs (set it, or a default capacitance)")
        if self.capacitance is not None:
            _finite("circuit.capacitance", self.capacitance, positive=True)
        if not self.edges:
            raise SpecError("edges", f"model {self.name!r} has no edges: nothing to simulate")
        self._check_connected(held)

    def _check_connected(self, held: set) -> None:
        g = nx.Graph()
        g.add_nodes_from(self.nodes)
        g.add_node(self.ground)
        g.add_edges_from((e.a, e.b) for e in self.edges)
        for s in self.sources.values():
            if s.kind == "voltage" and s.resistance > 0:
                g.add_edge(s.node, ("src", s.node))
                held = held | {("src", s.node)}
        for comp in nx.connected_components(g):
            if not comp & held:
                node = sorted(str(n) for n in comp)[0]
                raise SpecError(f"node {node!r}",
                                "has no conducting path to a held node (ground or a voltage source): "
                                "the circuit equations would be singular")


def _finite(key, x, positive=False, nonzero=False):
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        raise SpecError(key, f"must be a finite number, got {x!r}")
    if positive and x <= 0:
        raise SpecError(key, f"must be > 0, got {x!r}")
    if nonzero and x == 0:
        raise SpecError(key, "must be nonzero (a negative A0 reverses the update: the learning rate "
                        "α/η of McGinnis Eq. 2.4 with η < 0)")
