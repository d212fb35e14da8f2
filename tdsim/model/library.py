"""The papers' circuits built in Python (TOML versions live in models/)."""
from __future__ import annotations

import networkx as nx
import numpy as np

from tdsim.model.circuit import Circuit
from tdsim.model.elements import Mosfet


def clln_lattice(rows: int = 4, cols: int = 4, *, capacitance: float = 1e-9, C0: float = 2.2e-6,
                 A0: float = 2.8e3, S: float = 8e-4, VT: float = 0.7, seed: int = 0,
                 inputs=None, outputs=None) -> Circuit:
    """A CLLN on a periodic rows x cols square lattice (2 rows*cols MOSFET edges, all learning).

    Default terminals (hardware-sized 4x4, Dillavou Fig. 1A): inputs V1, V2, V+, V- held at sites
    (0,0), (0,2), (2,0), (2,2); outputs O+ at (1,1) and O- at (3,3). Initial gates are drawn
    uniformly in [3, 4] V with ``seed``."""
    g = nx.grid_2d_graph(rows, cols, periodic=True)
    inputs = inputs or {(0, 0): "V1", (0, min(2, cols - 1)): "V2", (min(2, rows - 1), 0): "V+",
                        (min(2, rows - 1), min(2, cols - 1)): "V-"}
    outputs = outputs or {(1 % rows, 1 % cols): "O+", ((rows - 1), (cols - 1)): "O-"}
    names = {n: inputs.get(n, outputs.get(n, f"n{n[0]}_{n[1]}")) for n in g.nodes}
    g = nx.relabel_nodes(g, names)
    rng = np.random.default_rng(seed)
    gates = {e: float(x) for e, x in zip(g.edges, rng.uniform(3.0, 4.0, g.number_of_edges()))}
    c = Circuit.from_graph(g, lambda u, v, d: Mosfet(G=gates[(u, v)], S=S, VT=VT, C0=C0),
                           capacitance=capacitance, A0=A0, name=f"clln_{rows}x{cols}")
    defaults = {"V1": 0.2, "V2": 0.2, "V+": 0.435, "V-": 0.018}
    for name in inputs.values():
        c.add_voltage_source(name, defaults.get(name, 0.2))
    for name in outputs.values():
        c.add_output(name)
    return c


V_PLUS, V_MINUS = 0.435, 0.018          # Dillavou App. B


def clln_hardware(*, capacitance: float = 1e-9, C0: float = 2.2e-6, A0: float = 2.8e3, seed: int = 0) -> Circuit:
    """The hardware-sized CLLN for the classification tasks (Dillavou Fig. 1C, 5): a periodic 4x4
    lattice of 32 MOSFET edges; inputs V1, V2, their inversions V1' = V+ − V1, V2' = V+ − V2, and
    the rails V+, V−; a differential output O+ − O−."""
    inputs = {(0, 0): "V1", (0, 2): "V2", (2, 0): "V1'", (2, 2): "V2'", (1, 3): "V+", (3, 1): "V-"}
    outputs = {(1, 1): "O+", (3, 3): "O-"}
    c = clln_lattice(4, 4, capacitance=capacitance, C0=C0, A0=A0, seed=seed, inputs=inputs, outputs=outputs)
    c.sources["V+"].value, c.sources["V-"].value = V_PLUS, V_MINUS
    return c


def _input_point(v1: float, v2: float, label: float, inverted: bool = True):
    from tdsim.model.protocols import DataPoint
    inputs = {"V1": v1, "V2": v2}
    if inverted:
        inputs.update({"V1'": V_PLUS - v1, "V2'": V_PLUS - v2})
    return DataPoint(inputs, {"O+": label, "O-": label})


def ring_task(radius: float, split: int = 0, n: int = 8, label: float = 0.018, center=None, inverted=True):
    """Dillavou Fig. 5: n points on a ring of ``radius`` (V) in [V1, V2] space, split into two
    classes (±label) by a line through the centre; ``split`` (0..n-1) rotates the line."""
    from tdsim.model.protocols import Task
    cx, cy = center if center is not None else ((V_PLUS + V_MINUS) / 2,) * 2
    pts = []
    for k in range(n):
        phi = 2 * np.pi * (k + 0.5) / n
        cls = ((k - split) % n) < n // 2
        pts.append(_input_point(cx + radius * np.cos(phi), cy + radius * np.sin(phi), label if cls else -label,
                                inverted))
    return Task(f"ring_r{radius:g}_s{split}", pts, classification=True)


def grid_tasks(n: int = 4, label: float = 0.063, lo: float = V_MINUS, hi: float = V_PLUS, inverted=True):
    """Dillavou Fig. 1C/D: an n x n square grid in [V1, V2] space, evenly spaced from ``lo`` to ``hi``
    (by default the rails, the inputs the circuit can apply), split by the diagonal: points with
    V2 > V1 form task α (label +L), points with V2 < V1 task β (−L); the n points on the diagonal
    belong to neither class and are left out (n(n−1)/2 points per task). App. B gives only "labels
    L+ = 63 mV for α, L− = −63 mV for β, inputs arranged in a square grid"; the grid's extent, the
    split and the side each class lies on are our reading (docs/analysis-classification.md, Fig. 1)."""
    from tdsim.model.protocols import Task
    vs = np.linspace(lo, hi, n)
    alpha = [_input_point(v1, v2, label, inverted) for i, v1 in enumerate(vs) for j, v2 in enumerate(vs) if j > i]
    beta = [_input_point(v1, v2, -label, inverted) for i, v1 in enumerate(vs) for j, v2 in enumerate(vs) if j < i]
    return Task("alpha", alpha, classification=True), Task("beta", beta, classification=True)


GENERATORS = {"ring": ring_task}
