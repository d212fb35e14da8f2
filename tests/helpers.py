"""Small circuits shared by tests."""
import numpy as np

from tdsim import Circuit, Mosfet, Resistor


def rc_ladder(n=8, R=1e3, C=1e-9, seed=1):
    """n free nodes in a ladder with random resistances, two voltage sources at the ends."""
    rng = np.random.default_rng(seed)
    c = Circuit(capacitance=C)
    c.add_voltage_source("s1", 0.0).add_voltage_source("s2", 0.0)
    names = [f"n{i}" for i in range(n)]
    for i, name in enumerate(names):
        c.add_node(name, C * rng.uniform(0.5, 2.0))
    chain = ["s1", *names, "s2"]
    for i in range(len(chain) - 1):
        c.add_edge(f"r{i}", chain[i], chain[i + 1], Resistor(R * rng.uniform(0.5, 2.0)))
    for i in range(0, n - 2, 3):       # cross links and leaks to ground make it a network
        c.add_edge(f"x{i}", names[i], names[i + 2], Resistor(R * rng.uniform(1, 3)))
        c.add_edge(f"g{i}", names[i + 1], "gnd", Resistor(R * rng.uniform(2, 5)))
    return c


def two_plus_one(capacitance=1e-9, A0=2.8e3, G=(3.0, 3.5, 3.0)):
    """Dillavou Fig. 2A: output O joined by MOSFETs to V1, V+ (learning) and V- (fixed)."""
    c = Circuit(capacitance=capacitance, A0=A0)
    c.add_voltage_source("V1", 0.435).add_voltage_source("V+", 0.435).add_voltage_source("V-", 0.02)
    c.add_node("O").add_output("O")
    c.add_edge("G1", "V1", "O", Mosfet(G=G[0]))
    c.add_edge("G2", "V+", "O", Mosfet(G=G[1]))
    c.add_edge("fixed", "V-", "O", Mosfet(G=G[2], learn=False))
    return c


def two_task_segments(half, periods, tasks=((0.435, 0.31), (0.02, 0.14)), eta=1.0):
    from tdsim import Segment
    segs = []
    for _ in range(periods):
        for v1, label in tasks:
            segs.append(Segment(half, {"V1": v1}, {"O": label}, eta, True))
    return segs
