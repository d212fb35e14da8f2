"""Measurements on a state: the free network's settled outputs for every data point of a task, and
the task errors of Dillavou App. A (Eq. A1; Eq. A2 for classification)."""
from __future__ import annotations

import numpy as np

from .build import Compiled, build
from .segments import Segment, table
from .simulate import dc_solve


class TaskMeter:
    """Evaluates task errors E_α(θ) with a free-only copy of the circuit (no clamping)."""

    def __init__(self, c: Compiled, tasks, differential=()):
        self.free = build(c.circuit, ("free",), need_capacitance=False)
        self.free.par[0] = c.par[0]                       # keep the free twin's device values
        self.tasks = list(tasks)
        self.tables = [table([Segment(1.0, p.inputs, p.labels) for p in task.points], self.free,
                             differential=differential) for task in self.tasks]
        out = self.free.out_node
        self.index = [self.free.node_names.index(n) for n in c.output_nodes]
        self.pairs = {k: (j, s) for k, (j, s) in enumerate(zip(self.tables[0].partner, self.tables[0].osign))}
        self._V = None
        del out

    def outputs(self, theta: np.ndarray, k: int) -> tuple:
        """Measured outputs d (differential where paired) and labels for every point of task k."""
        tab = self.tables[k]
        P = len(tab.dur)
        d = np.empty((P, len(self.index)))
        for i in range(P):
            self._V = dc_solve(self.free, theta, tab, seg=i, V=self._V)
            o = self._V[0, self.index] + tab.offset
            for q, (j, s) in self.pairs.items():
                d[i, q] = s * (o[q] - o[j]) if j >= 0 else o[q]
        return d, tab.labels

    def errors(self, theta: np.ndarray) -> np.ndarray:
        """E_α for every task (Eqs. A1/A2), averaged over points; a differential pair counts once."""
        E = np.empty(len(self.tasks))
        keep = [q for q, (j, s) in self.pairs.items() if j < 0 or s > 0]
        for k, task in enumerate(self.tasks):
            d, L = self.outputs(theta, k)
            delta = (L - d)[:, keep]
            if task.classification:
                delta = delta * (L[:, keep] * delta > 0)
            E[k] = np.mean(np.sum(delta ** 2, axis=1))
        return E
