"""Measurements on a state: the free network's settled outputs for every data point of a task, and
the task errors of Dillavou App. A (Eq. A1; Eq. A2 for classification)."""
from __future__ import annotations

import numpy as np

from tdsim.compile.build import Compiled, build
from tdsim.errors import SimulationError
from tdsim.core.engine import DONE, N_ISTATE, qs_solve
from tdsim.core.kernels import measured_output, source_values
from tdsim.model.schedule import Segment
from tdsim.compile.table import table
from tdsim.simulation.simulate import Options, circ_tuple, shortest_rc, simulate


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
        self._circ = circ_tuple(self.free)
        nu = len(self.free.unk_nodes)
        self._scratch = (np.zeros((1, self.free.pattern.nnz)), np.zeros(self.free.N), np.zeros(nu), np.zeros(nu),
                         np.zeros(nu), np.zeros(N_ISTATE, dtype=np.int64))
        self._drive = {}

    def _kirchhoff(self, theta, k, i):
        """dc_solve(self.free, theta, table k, seg=i) from zero with this meter's cached drive and
        scratch arrays (the same compiled call on the same inputs, without the per-call setup:
        the meter runs at every recorded event); None where Newton fails."""
        if (k, i) not in self._drive:
            a = self.tables[k].args()
            drv = (a[1][i], a[2][i], a[3][i], a[4][i], a[5][i], float(a[6][i]), bool(a[7][i]),
                   int(a[8][i]), a[9], float(a[10][i]), a[11], a[12])
            src = np.zeros(a[1].shape[1])
            source_values(drv[0], drv[1], drv[2], drv[3], 0.0, src)
            self._drive[k, i] = (drv, src)
        drv, src = self._drive[k, i]
        V = np.zeros((1, self.free.N))
        st = qs_solve(V, theta, self._circ, drv, src, *self._scratch[:5], 1e-12, 100, self._scratch[5], False)
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
