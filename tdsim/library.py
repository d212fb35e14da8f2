"""The papers' circuits built in Python (TOML versions live in models/)."""
from __future__ import annotations

import networkx as nx
import numpy as np

from .circuit import Circuit
from .elements import Mosfet


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
