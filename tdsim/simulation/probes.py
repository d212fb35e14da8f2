"""The engine's kernels at one state, called from Python: the drive of a table row, the Kirchhoff
solution of every twin (the DC operating point, the settled outputs of a task's points) and the
gates' learning rates. Analysis, measurements and tests call these instead of the kernels."""
from __future__ import annotations

import numpy as np

from tdsim.compile.build import Compiled
from tdsim.compile.table import Table
from tdsim.core import kernels, records
from tdsim.core.codes import DONE, HMIN, NAN, NEWTON, SINGULAR
from tdsim.core.kirchhoff import qs_solve, relax_free
from tdsim.core.records import N_ISTATE
from tdsim.errors import SimulationError

FAILURE = {NAN: "the state became non-finite",
           HMIN: "the step size fell below h_min (or below 4 ulp of t, the shortest step the time axis resolves there)",
           SINGULAR: "the circuit matrix became singular",
           NEWTON: "the Kirchhoff (Newton) solve did not converge: the quasi-static solution branch may end here (a "
                   "fold, where the full-RC dynamics jump); use a full-RC integrator"}


def segment_drive(tab: Table, seg: int, t: float = 0.0) -> tuple:
    """(records.Drive, source values at t) of segment ``seg`` of the run (its table row: tab.row): the same ``records.drive`` the compiled loop uses."""
    src = np.zeros(tab.src.shape[1])
    drv = records.drive(tab.arrays(), tab.row(seg), -np.inf, src)   # settled: no switching ramp
    kernels.drive_sources(drv, t, src)
    return drv, src


class Kirchhoff:
    """Kirchhoff solves of one compiled circuit (core.kirchhoff.qs_solve, Newton from a given
    start) with work arrays kept between calls."""

    def __init__(self, c: Compiled):
        self.c = c
        self.circ = c.arrays()
        nu = len(c.unk_nodes)
        self._vals = np.zeros((c.T, c.pattern.nnz))
        self._I = np.zeros(c.N)
        self._rhs, self._x, self._work = np.zeros(nu), np.zeros(nu), np.zeros(nu)
        self._counts = np.zeros(N_ISTATE, dtype=np.int64)

    def solve(self, theta: np.ndarray, drv: records.Drive, src: np.ndarray, V: np.ndarray | None = None,
              tol: float = 1e-12, maxit: int = 100) -> tuple:
        """(V, status): node voltages of every twin for gates ``theta`` and drive ``drv`` with
        sources ``src``, Newton started from V (zero if None); status 0 (codes.DONE) or a failure code."""
        V = np.zeros((self.c.T, self.c.N)) if V is None else np.array(V, dtype=np.float64)
        st = qs_solve(V, theta, self.circ, drv, src, self._vals, self._I, self._rhs, self._x, self._work, tol, maxit,
                      self._counts, False)
        return V, st

    def relax(self, theta: np.ndarray, drv: records.Drive, src: np.ndarray, V: np.ndarray) -> tuple:
        """(V, status): the free twin's settled node voltages by relaxing its RC dynamics from V
        (core.kirchhoff.relax_free: what an overclamping step time uses where Newton from V fails);
        only twin 0 of the returned V is meaningful."""
        V = np.array(V, dtype=np.float64)
        st = relax_free(V, theta, self.circ, drv, src, self._vals, self._I, self._rhs, self._x, self._work, 1e-12,
                        self._counts)
        return V, st


def kirchhoff_solve(c: Compiled, theta: np.ndarray, tab: Table, seg: int = 0, t: float = 0.0,
                    V: np.ndarray | None = None, tol: float = 1e-12) -> np.ndarray:
    """Kirchhoff solution of every twin for gates ``theta`` and the sources of segment ``seg`` of
    the run (table row seg mod the period) at time t, Newton from V (zero if None): the DC
    operating point. A failure raises SimulationError."""
    drv, src = segment_drive(tab, seg, t)
    V, st = Kirchhoff(c).solve(theta, drv, src, V, tol)
    if st != DONE:
        raise SimulationError(f"DC operating point failed: {FAILURE[st]}", 0.0, "the initial state")
    return V


def gate_rates(c: Compiled, V: np.ndarray, theta: np.ndarray, learn_on: bool = True, bias: bool = True,
               limits: bool = True) -> np.ndarray:
    """dθ/dt of every edge (kernels.gate_rates: Dillavou Eqs. 3, 7) at node voltages V (T, N),
    learning on or off, with or without the constant bias B and the hold of θ at its limits
    (the circuit's bias function, if any, stays in)."""
    B = c.B if bias else np.zeros(c.E)
    gmin = c.gmin if limits else np.full(c.E, -np.inf)
    gmax = c.gmax if limits else np.full(c.E, np.inf)
    theta = np.asarray(theta, dtype=np.float64)
    rate = np.zeros(c.E)
    kernels.gate_rates(np.asarray(V, dtype=np.float64), theta, theta, c.ea, c.eb, c.code, c.par[0], c.learn, c.A0, B,
                       gmin, gmax, c.rule(), bool(learn_on), rate)
    return rate
