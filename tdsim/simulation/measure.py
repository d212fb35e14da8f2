"""Measurements on a state: the free network's settled outputs for every data point of a task, and
the task errors of Dillavou App. A (Eq. A1; Eq. A2 for classification)."""
from __future__ import annotations

import numpy as np

from tdsim.compile.build import Compiled, build
from tdsim.compile.table import table
from tdsim.core.codes import DONE
from tdsim.core.kernels import measured_output
from tdsim.errors import SimulationError
from tdsim.model.schedule import Segment
from tdsim.simulation.probes import Kirchhoff, segment_drive
from tdsim.simulation.simulate import Options, shortest_rc, simulate


class TaskMeter:
    """Evaluates task errors E_α(θ) with a free-only copy of the circuit (no clamping)."""

    def __init__(self, c: Compiled, tasks, differential=()):
        self.free = build(c.circuit, ("free",), need_capacitance=False)
        self.free.par[0] = c.par[0]                       # keep the free twin's device values
        self.tasks = list(tasks)
        self.differential = list(differential)
        self.tables = [table([Segment(1.0, p.inputs, p.labels) for p in task.points], self.free,
                             differential=differential) for task in self.tasks]
        self.index = [self.free.node_names.index(n) for n in c.output_nodes]
        tab = self.tables[0] if self.tables else None
        self.pairs = {} if tab is None else {k: (j, s) for k, (j, s) in enumerate(zip(tab.partner, tab.osign))}
        self._V = None
        self._kirchhoff_free = Kirchhoff(self.free)
        self._drive = {}

    def _kirchhoff(self, theta, k, i):
        """kirchhoff_solve(self.free, theta, table k, seg=i) from zero with this meter's cached drive and
        work arrays (the same compiled call on the same inputs, without the per-call setup:
        the meter runs at every recorded event); None where Newton fails."""
        if (k, i) not in self._drive:
            self._drive[k, i] = segment_drive(self.tables[k], i)
        V, st = self._kirchhoff_free.solve(theta, *self._drive[k, i])
        return V if st == DONE else None

    def _settle(self, theta, k, i) -> np.ndarray:
        """The free network's settled state for point i of task k: the Kirchhoff solution or, where
        that branch does not exist (past a fold), the end of a full-RC relaxation from zero;
        NaN when neither is possible."""
        tab = self.tables[k]
        V = self._kirchhoff(theta, k, i)   # from zero, not from the last point: no dependence on history
        if V is not None:
            return V
        V0 = np.zeros((1, self.free.N))
        if np.all(self.free.cap[0][self.free.hold[0] == 0] > 0):
            span = 2e3 * max(shortest_rc(self.free, V0, theta, tab.src[i]), 1e-9)
            point = Segment(span, dict(self.tasks[k].points[i].inputs))
            try:
                tr = simulate(self.free, table([point], self.free),
                              Options(integrator="rosenbrock", rtol=1e-9, atol=1e-12), theta0=theta, V0=V0)
                return tr.event_V[-1]
            except SimulationError:
                pass
        return np.full((1, self.free.N), np.nan)

    def outputs(self, theta: np.ndarray, k: int) -> tuple:
        """Measured outputs d (differential where paired) and labels for every point of task k."""
        tab = self.tables[k]
        P = len(tab.dur)
        d = np.empty((P, len(self.index)))
        for i in range(P):
            self._V = self._settle(theta, k, i)
            for q in range(len(self.index)):
                d[i, q] = measured_output(self._V, self.free.out_node, q, tab.offset, tab.partner, tab.osign)
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
