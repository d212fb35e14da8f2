"""Periodic steady state by Newton shooting on the period map, and its Floquet multipliers.

The limit cycle of a periodic protocol is a fixed point x* = P(x*) of the period map P: the state
at the start of one period (the table's rows, run once from t = 0) to the state at its end
(Aprille & Trick 1972). The state x is

- θ of every learning edge (the gates integrate over the whole period), and
- under a full-RC integrator, the node voltages of every twin's free nodes (held nodes are
  algebraic; a free node's voltage at a period end is what the next period starts from). Under
  ``quasistatic`` the node voltages are a function of θ (a Kirchhoff solve) and are not state.

P is evaluated by ``simulate`` itself (any integrator, rule, bias, mismatch, gate limits), so the
cycle is the one a direct run converges to, up to the integrator's tolerance. Newton's linear
systems (J − I) dx = −(P(x) − x), J = dP/dx, are solved with the dense Jacobian where the state
is small (n ≤ ``dense_max``, default 50): under rodas4 from forward sensitivities carried through
one period (core/sensitivity.py: 1.9 plain periods at n = 3, 4-6.5 at n = 50; small states, n ≤
SENS_EVERY, take one at every trial state and start with Newton's step), otherwise column by
column from directional differences of P (n + 1 periods), and matrix-free by GMRES on a ``LinearOperator`` whose product is
one directional difference (one period per product) above that (Telichevesky, Kundert & White
1995). The Floquet multipliers are the eigenvalues of J at the cycle: all n of the dense
Jacobian (``numpy.linalg.eigvals``), or the ``modes`` leading ones by ARPACK
(``scipy.sparse.linalg.eigs``) on the same operator. Globalization: pseudo-transient
continuation (Kelley & Keyes 1998) from the initial state (or after ``burn_in`` direct periods,
default none: at small H the continuation follows their flow anyway): each step is backward Euler on
dx/ds = P(x) − x over a pseudo-time H (in periods), (J − (1 + 1/H) I) dx = −(P(x) − x). At small H
it follows the direct periods' flow (far from the cycle); H grows after every accepted step (at
least doubling, tenfold when the residual lies in the contracting subspace, more when it falls
faster) and the step becomes Newton's near the cycle. A step that does not lower |P(x) − x| is
refused and H quartered (one period each); at H ≤ 1 every step is accepted (no further along the
flow than a direct period). After an accepted step J is updated by Broyden's formula at any H (one
period, not n); a new one by columns only after a refusal or slow Newton progress at large H.

Flat directions (issue 15). Where the protocol has fewer conditions than learning gates, the
cycles form a family and J − I is singular along its tangent (multipliers 1). The linear solves
are truncated (minimum-norm least squares, singular values below ``flat_tol`` dropped): Newton
runs on the complement and leaves the flat coordinates where they are, so shooting returns the
member of the family nearest (in the state's Euclidean norm) to where the continuation hands over,
not the one a direct run reaches (that depends on its transient); both are cycles, P(x) − x below
the tolerance. ``Cycle.family`` is the number of multipliers within ``flat_tol`` of 1. Where the
residual itself lies along the flat directions and does not fall (the flow drifts along the
family: no cycle near), shooting stops after STALL iterations with a ShootingError naming the
drift. A gate whose Jacobian row and column are the identity's (cut-off: it acts on nothing,
nothing acts on it) with a residual of one sign at two states drifts at a constant rate: it is sent
to the limit it drifts toward and held there (``Cycle.pinned``; multiplier 0), or, without a limit,
ShootingError names it (no cycle). Family handling and drift detection need the dense Jacobian.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from tdsim.compile.build import Compiled
from tdsim.compile.table import Table, aperiodic_drive
from tdsim.core import records
from tdsim.core.codes import DONE, FULL, HOLD_NONE
from tdsim.core.methods import METHODS
from tdsim.core.records import F_H, F_HEVENT
from tdsim.errors import SimulationError, SpecError
from tdsim.simulation.probes import kirchhoff_solve
from tdsim.simulation.simulate import (Options, State, Trajectory, check_status, engine, finished, initial_state,
                                      simulate)

DENSE_MAX = 50        # states up to which the Jacobian is built by columns (n + 1 periods per Newton step)
MODES = 6             # Floquet multipliers computed by ARPACK above DENSE_MAX
H_MIN, H_MAX = 0.1, 1e12   # pseudo-time steps of the continuation, periods
H_FLOW = 10.0         # up to this H a refused step is shortened with the same (Broyden) Jacobian,
DRIFT_RISE = 1.1      # ... and a step that leaves |P(x) − x| within this factor is taken (a steady drift)
DRIFT_TOL = 0.05      # |J − I| entries of a gate's row and column below which it drifts on its own
STALL = 4             # iterations with the residual along the flat directions, not falling: no cycle near
LIMIT_PERIODS = 1e4   # ... except where a gate drifting steadily reaches its limit within this many periods
SENS_EVERY = 8        # states up to which every trial period carries sensitivities (a Jacobian each)
FLAT_TOL = 1e-3       # |μ − 1| (and singular values of J − I) below which a direction counts as flat


class ShootingError(SimulationError):
    """Shooting did not find the cycle: Newton did not converge (residual, iterations), or a
    period of the map failed numerically."""


@dataclass
class Cycle:
    """The periodic steady state found by shooting."""
    theta: np.ndarray          # (E,) θ at the start (= end) of the cycle's period, every edge
    V: np.ndarray              # (T, N) node voltages at the period's end (= its start under full RC;
                               # quasi-static: the Kirchhoff solution with the last segment's drive)
    multipliers: np.ndarray    # complex Floquet multipliers, largest modulus first
    iterations: int            # Newton iterations
    residual: float            # max |P(x) − x| over the learning θ at the returned cycle, V
    residual_V: float          # the same over the free node voltages in the state (0 under quasistatic)
    periods: int               # periods simulated in all (burn-in, residuals, products, multipliers, record)
    trajectory: Trajectory     # exact period(s) from the cycle state (``record_periods``)
    state: list = field(default_factory=list)      # names of the state's components (θ, then V)
    history: list = field(default_factory=list)    # residual (θ, V) before each Newton iteration
    method: str = "dense"      # "dense" (Jacobian by columns) or "krylov" (GMRES and ARPACK)
    wall_s: float = 0.0
    family: int = 0            # multipliers within flat_tol of 1: the dimension of the family of cycles
                               # this one belongs to (0: an isolated cycle); krylov: among the modes computed
    flat_tol: float = FLAT_TOL
    pinned: list = field(default_factory=list)     # state components sent to the limit they drifted toward

    @property
    def leading(self) -> complex:
        """The multiplier of largest modulus: the contraction per period of the slowest mode."""
        return complex(self.multipliers[0]) if len(self.multipliers) else 0j

    @property
    def contracting(self) -> complex:
        """The largest multiplier outside the family (|μ − 1| ≥ flat_tol): the slowest approach to
        the family of cycles (to the cycle itself where it is isolated)."""
        off = [m for m in self.multipliers if abs(m - 1.0) >= self.flat_tol]
        return complex(off[0]) if off else 0j

    @property
    def stable(self) -> bool:
        """Every mode off the family contracts (the family's own multipliers are 1: neutral)."""
        return bool(abs(self.contracting) < 1.0)


def check_shootable(c: Compiled, tab: Table) -> None:
    """Refuse what has no deterministic period map: update or read noise (every period draws new
    numbers), overclamping step times (the period's length, through r0, changes with the state)
    and source waveforms that do not repeat every period (a period map started at t = 0 would
    not be the map of a later period)."""
    if c.noise_update > 0:
        raise SpecError("noise_update", "cycle = 'shooting' needs a deterministic period map, and update noise "
                                        "draws new kicks every period; run it with cycle = 'direct'")
    if c.noise_read > 0:
        raise SpecError("noise_read", "cycle = 'shooting' needs a deterministic period map, and read noise "
                                      "draws new offsets every segment; run it with cycle = 'direct'")
    why = aperiodic_drive(tab, c.source_nodes)
    if why:
        raise SpecError("cycle", f"shooting needs a period map that every period iterates: {why}; use cycle = 'direct'")


class PeriodMap:
    """x ↦ P(x): one period of the table from the state x at t = 0. Counts its evaluations."""

    def __init__(self, c: Compiled, tab: Table, opt: Options, theta_base: np.ndarray, V_base: np.ndarray,
                 steps: tuple | None = None):
        self.c = c
        self.steps = steps        # (first step, step after each segment start) of every period: see run
        self.one = dataclasses.replace(tab, repeat=1)     # one object: simulate caches per table
        # Steps land on sample times, so the sampling grid is part of the map a direct run iterates:
        # keep record_interval where its grid repeats every period (then the map is that run's, and
        # the recorded cycle is the one solved for); save_at's absolute times do not repeat.
        T = float(np.sum(tab.dur))
        dt = opt.record_interval
        same_grid = dt > 0 and abs(T / dt - round(T / dt)) <= 1e-9 * (T / dt)
        self.opt = dataclasses.replace(opt, cycle_tol=0.0, record_interval=dt if same_grid else 0.0, save_at=None,
                                       cycle="direct")
        self.qs = METHODS[opt.integrator].quasistatic
        self.li = np.flatnonzero(c.learn)
        self.theta_base = np.array(theta_base, dtype=np.float64)
        self.V_base = np.array(V_base, dtype=np.float64).reshape(c.T, c.N)
        if self.qs:
            self.free = np.zeros((c.T, c.N), dtype=bool)
        else:                      # free nodes with a capacitance and an edge: an isolated node never moves
            touched = np.zeros(c.N, dtype=bool)
            touched[c.ea] = touched[c.eb] = True
            self.free = (c.hold == HOLD_NONE) & (c.cap > 0) & touched[None, :]
        self.n_theta = len(self.li)
        self.n = self.n_theta + int(self.free.sum())
        self.calls = 0
        # an exact-Jacobian integrator carries forward sensitivities (core/sensitivity.py): the
        # Jacobian of P comes with one period instead of n + 1
        self.exact = METHODS[opt.integrator].exact_jacobian
        self.seeds = None         # records.Sensitivity seeded with the state's unit directions (jacobian)
        self.engine = None        # built by the first period (see period)
        self.st = self.start = None
        self.last = None          # x of the last period, while the engine's buffers hold its records
        # where the state can be: gates within their limits; node voltages of a passive network within
        # the range of its drives (sources with their waveforms, labels, ground)
        drives = [0.0, *(tab.src - np.abs(tab.amp)).ravel(), *(tab.src + np.abs(tab.amp)).ravel(),
                  *np.asarray(tab.labels)[np.isfinite(tab.labels)].ravel()]
        nV = self.n - self.n_theta
        self.lo = np.concatenate([c.gmin[self.li], np.full(nV, min(drives))])
        self.hi = np.concatenate([c.gmax[self.li], np.full(nV, max(drives))])

    @property
    def sensitive(self) -> bool:
        return self.exact and self.steps is not None

    def names(self) -> list:
        tw, nd = np.nonzero(self.free)
        return ([f"theta[{self.c.edge_names[e]}]" for e in self.li]
                + [f"V[{self.c.twins[t]}, {self.c.node_names[n]}]" for t, n in zip(tw, nd)])

    def pack(self, theta, V) -> np.ndarray:
        return np.concatenate([np.asarray(theta)[self.li], np.asarray(V).reshape(self.c.T, self.c.N)[self.free]])

    def unpack(self, x):
        theta = self.theta_base.copy()
        theta[self.li] = x[:self.n_theta]
        V = self.V_base.copy()
        V[self.free] = x[self.n_theta:]
        return theta, V

    def run(self, x, opt=None, repeat=1) -> Trajectory:
        """The trajectory of ``repeat`` periods from x (quasi-static: V solved from θ)."""
        tab = self.one if repeat == 1 else dataclasses.replace(self.one, repeat=repeat)
        self.calls += repeat
        opt = opt or self.opt
        return simulate(self.c, tab, opt, state=self._start(*self.unpack(x), tab, opt))

    def _start(self, theta, V, tab, opt) -> State:
        """The initial state of a run from (θ, V) (quasi-static: V solved from θ)."""
        st = initial_state(self.c, tab, opt, theta, None if self.qs else V)
        if self.steps is not None:
            # The run's first step (0.1 x the shortest RC at its start state) is also the step every
            # segment restarts from. Taken from x it would move with x, and every step of the period
            # with it: P would change by the integrator's error under any perturbation (noise in
            # the differences), and differ from the map a direct run iterates, whose restart step
            # is that of its own start. So every period restarts from the direct run's step.
            st.fstate[F_H], st.fstate[F_HEVENT] = self.steps
        return st

    def period(self, x) -> State:
        """The state one period after x: ``run(x).state`` without simulate's per-call set-up (its
        engine arguments, record buffers, initial-state solve and numba's type dispatch cost
        ~0.2 ms a call, more than the 2+1 circuit's period itself). One engine and one State are
        built on the first call and refilled in place; the compiled loop is called on the same
        arguments as simulate's, so the period is the same to the bit. The returned State is
        the map's own (valid until the next call)."""
        if self.steps is None:                    # the first step depends on x: simulate's own set-up
            return self.run(x).state
        theta, V = self.unpack(x)
        if self.qs:
            V = kirchhoff_solve(self.c, theta, self.one)
        self._build(theta, V)
        st, st0 = self.st, self.start
        st.V[...] = V
        st.theta[...] = theta
        st.th_period[...] = theta
        st.fstate[...] = st0.fstate
        st.istate[...] = st0.istate
        self.calls += 1
        self.last = None
        whole = True
        while (status := self.engine.advance(st)) == FULL:
            whole = False                         # records beyond one buffer are not kept (run records)
        if self.engine.kernel is None:            # compiled or loaded by now: skip numba's dispatch from here on
            self.engine.bind()
        if status != DONE:                        # (cycle_tol = 0: no CONVERGED) a failure, raised with its records
            check_status(self.c, self.engine, st, status, V, theta, [self.engine.recorded(st)])
        if whole:
            self.last = np.array(x, dtype=np.float64)     # the engine's buffers hold this period's records
        return st

    def jacobian(self, x, skip=None):
        """(P(x), J = dP/dx at x) from one period with forward sensitivities (``sensitive`` maps
        only). J is TR-BDF2 on the variational equation along the period's own steps: second order
        in rodas's steps (core/sensitivity.py: 9e-4 at rtol 1e-6 on the 2+1 circuit), enough for
        Newton and the multipliers. ``skip``: components whose columns are left zero (not seeded:
        their solves are skipped, as for every column that dies, e.g. a gate clipped on a limit)."""
        c = self.c
        if self.seeds is None:
            self.seeds = records.sensitivity(self.n, c.T, c.N, c.E)
        for a in self.seeds:
            a[...] = 0
        sV, sth = self.seeds.V, self.seeds.theta
        seed = np.ones(self.n, dtype=bool) if skip is None else ~np.asarray(skip, dtype=bool)
        k = np.arange(self.n_theta)[seed[:self.n_theta]]
        sth[k, self.li[k]] = 1.0
        tw, nd = np.nonzero(self.free)
        k = np.arange(self.n - self.n_theta)[seed[self.n_theta:]]
        sV[self.n_theta + k, tw[k], nd[k]] = 1.0
        self._build(*self.unpack(x))
        off = self.engine.sens
        self.engine.sens = self.seeds
        try:
            st = self.period(x)
        finally:
            self.engine.sens = off
        J = np.concatenate([sth[:, self.li], sV[:, self.free]], axis=1).T.copy()
        return self.pack(st.theta, st.V), J

    def _build(self, theta, V) -> None:
        """The engine and the State the periods refill (once: their fstate and istate do not depend on x)."""
        if self.engine is None:
            self.start = self._start(theta, V, self.one, self.opt)
            self.st = self.start.copy()
            self.engine = engine(self.c, self.one, self.opt)

    def record(self, x, opt=None, repeat=1) -> Trajectory:
        """``run(x, opt, repeat)``; where the map's last period started from x (with the map's own
        options, ``opt`` None, and its records in one buffer) that period is the first of them,
        and the others are the run resumed from its end (as simulate resumes after every chunk)."""
        if opt is not None or self.last is None or not np.array_equal(self.last, x):
            return self.run(x, opt, repeat)
        first = records.Recording(*(a.copy() for a in self.engine.recorded(self.st)))
        st = self.st.copy()
        if repeat == 1:
            return finished([first], st, DONE)
        rest = simulate(self.c, dataclasses.replace(self.one, repeat=repeat), self.opt, state=st)
        self.calls += repeat - 1
        return finished([first, records.Recording(rest.t, rest.V, rest.theta, rest.event_t, rest.event_seg,
                                                  rest.event_V, rest.event_theta)], rest.state, DONE)

    def __call__(self, x) -> np.ndarray:
        st = self.period(x)
        return self.pack(st.theta, st.V)


def _difference_step(opt: Options, x: np.ndarray) -> float:
    """Step of the directional differences of P. P comes from an error-controlled integration: its
    value carries an error of relative size ~rtol whose non-smooth part (accepted/rejected steps
    and step counts change with x) does not cancel in a difference. A forward difference of step δ
    then errs by ~|P''| δ (truncation) + rtol·|x| / δ (noise), smallest at δ ≈ sqrt(rtol)·|x|
    (Dennis & Schnabel 5.4): 1e-3 V at rtol 1e-6 on gates of ~1 V, a Jacobian good to ~1e-3
    relative, which costs Newton a linear factor ~1e-3 per iteration and the multipliers ~0.1 %."""
    eps = max(opt.rtol, np.finfo(float).eps)
    return float(np.sqrt(eps) * max(1.0, float(np.max(np.abs(x), initial=0.0))))


def _truncated_solve(A, b, flat_tol):
    """The minimum-norm least-squares solution of A y = b with the singular values of A below
    ``flat_tol`` dropped (truncated SVD). On a family of cycles J − I is singular along the family's
    tangent; there the step is left out: Newton solves on the complement and leaves the flat
    coordinates where they are, moving to the family member nearest the current state."""
    if A.shape[0] == 0:
        return np.zeros(0)
    U, s, Vt = np.linalg.svd(A)
    keep = s > flat_tol
    return Vt[keep].T @ ((U[:, keep].T @ b) / s[keep])


def _bounded_newton_step(A, r, x, lo, hi, flat_tol=FLAT_TOL, held=None):
    """Solve A dx = −r (truncated: _truncated_solve) with x + dx kept in [lo, hi] by an active set: a
    component whose step would leave the box is put on its bound and the system solved again for the
    others. ``held``: components held where they are (at the limit they drift toward), dx = 0."""
    n = len(r)
    at = np.zeros(n, dtype=bool) if held is None else held.copy()
    dx = np.zeros(n)
    for _ in range(n):
        free = ~at
        rhs = -r[free] - A[np.ix_(free, at)] @ dx[at]
        dx[free] = _truncated_solve(A[np.ix_(free, free)], rhs, flat_tol)
        xn = x + dx
        out = free & ((xn < lo) | (xn > hi))
        if not out.any():
            break
        at |= out
        # onto the bound crossed where the residual (a direct period's move) points there too; where
        # it points back the step is the linear model's alone (a multiplier ≥ 1 sends Newton to an
        # unstable fixed point behind the state): the component stays. (Sending it to the bound the
        # residual points to, as before, jumped a gate across its whole range, 0 -> 10 V, when the
        # solve pushed it below 0 against r > 0: measured on the 4x4 CLLN.)
        down, up = xn[out] < lo[out], xn[out] > hi[out]
        dx[out] = np.where(down & (r[out] < 0), lo[out] - x[out], np.where(up & (r[out] > 0), hi[out] - x[out], 0.0))
    return dx


@dataclass
class Drift:
    """Components of the state that drift on their own: their Jacobian column and row are those of
    the identity (within DRIFT_TOL: they act on nothing else and nothing else acts on them, as a gate
    in cut-off whose learning signal does not depend on the rest), and their residual has the same
    sign at two consecutive states. They move by the same amount every period, so their only fixed
    point is the limit they drift toward (a gate limit) and a direct run gets there at that pace."""
    index: np.ndarray          # components, in the state
    target: np.ndarray         # the bound each drifts toward


def _drifting(J, r, r_prev, held, lo, hi, unit_tol, tol, names, Tp) -> Drift:
    """The decoupled drifting components of the state at J, r (see Drift; row and column within
    ``unit_tol`` of the identity's, the residual of one sign and within 10 % of the previous
    state's), not yet held. Raises ShootingError where one drifts toward no limit (no cycle)."""
    steady = (np.sign(r) == np.sign(r_prev)) & (np.abs(r - r_prev) <= 0.1 * np.abs(r)) & ~held & (np.abs(r) >= tol)
    if not steady.any():
        return Drift(np.zeros(0, dtype=np.int64), np.zeros(0))
    A = J - np.eye(len(r))
    np.fill_diagonal(A, 0.0)          # off-diagonal parts of the column and row; the diagonal is μ − 1
    diag = np.abs(np.diag(J) - 1.0)
    unit = (diag < unit_tol) & (np.max(np.abs(A), axis=0) < unit_tol) & (np.max(np.abs(A), axis=1) < unit_tol)
    idx = np.flatnonzero(unit & steady)
    target = np.where(r[idx] > 0, hi[idx], lo[idx])
    for i, t in zip(idx, target):
        if not abs(t) < 1e299:              # elements without a limit say ±1e300
            raise ShootingError(f"shooting: no cycle: {names[i]} drifts by {r[i]:+.3g} per period on its own (its "
                                f"Jacobian row and column are the identity's: it acts on nothing and nothing acts "
                                f"on it) and has no limit in that direction", Tp, names[i])
    return Drift(idx, target)


def shoot(c: Compiled, tab: Table, opt: Options = Options(), theta0=None, V0=None, *, tol: float | None = None,
          burn_in: int = 0, max_iter: int = 50, H0: float = 10.0, dense_max: int = DENSE_MAX, modes: int = MODES,
          record_periods: int = 1, record_opt: Options | None = None, flat_tol: float = FLAT_TOL,
          jacobian: str = "auto", log=None) -> Cycle:
    """The limit cycle of the table's period (its rows, run once per period) by Newton shooting.

    ``tol``: Newton's tolerance on θ (max |P(x) − x| over the learning edges, V; default
    ``opt.cycle_tol``, else 1e-9 V). Newton starts from (theta0, V0) (default: the circuit's θ and
    the run's initial voltages), after ``burn_in`` direct periods from there (default 0). The returned cycle's ``trajectory``
    holds ``record_periods`` exact periods from the cycle state, recorded with ``record_opt``
    (default: the map's own options, ``opt`` with its record_interval where that grid repeats
    every period, else segment ends only). ``log(line)``, if given, receives one line per Newton
    iteration (residuals, step length, periods so far). ``flat_tol``: singular values of the
    continuation's matrix (and |μ − 1| of the family count) below it are flat. ``jacobian``:
    "sensitivities" (forward sensitivities along the period: exact-Jacobian integrators only),
    "differences" (directional differences of P), "auto" (sensitivities where the integrator
    allows them). Raises
    ShootingError when Newton does not reach ``tol`` within ``max_iter`` iterations (naming the
    residual and the iterations), when the residual drifts along the flat directions or a gate
    drifts toward no limit (no cycle), and SpecError for a protocol without a deterministic period
    map (check_shootable)."""
    t0 = time.perf_counter()
    opt.validate()
    check_shootable(c, tab)
    tol = tol if tol is not None else (opt.cycle_tol or 1e-9)
    if not (tol > 0 and np.isfinite(tol)):
        raise SpecError("cycle_tol", f"shooting needs a positive Newton tolerance, got {tol!r}")
    Tp = float(np.sum(tab.dur))
    P = PeriodMap(c, tab, opt, c.theta0 if theta0 is None else theta0, np.zeros((c.T, c.N)))
    # the initial state (the run's own initial voltages), after burn_in direct periods if any
    st0 = initial_state(c, P.one, P.opt, P.theta_base, V0)
    P.steps = (float(st0.fstate[F_H]), float(st0.fstate[F_HEVENT]))
    if burn_in > 0:
        st = simulate(c, dataclasses.replace(P.one, repeat=burn_in), P.opt, theta0=P.theta_base, V0=V0).state
    else:
        st = st0
    theta_b, V_b = st.theta, st.V
    P.theta_base, P.V_base = theta_b.copy(), V_b.copy()
    if jacobian not in ("auto", "sensitivities", "differences"):
        raise SpecError("jacobian", f"shooting's Jacobian is 'auto', 'sensitivities' or 'differences', not {jacobian!r}")
    if jacobian == "sensitivities" and not P.exact:
        raise SpecError("jacobian", f"forward sensitivities need an exact-Jacobian integrator (rodas4), not "
                                    f"{opt.integrator!r}; use jacobian = 'differences'")
    P.exact = P.exact and jacobian != "differences"
    P.calls = burn_in
    n, nth = P.n, P.n_theta
    if nth == 0:
        raise SpecError("cycle", "no edge learns: there is no learning state to shoot for")
    x = P.pack(theta_b, V_b)
    method = "dense" if n <= dense_max else "krylov"
    # with sensitivities a small state's Jacobian costs little more than its period (n columns
    # solved per step against the step's own stages): every trial state gets its own, and Newton
    # converges quadratically instead of Broyden's superlinear rate
    every = P.sensitive and method == "dense" and n <= SENS_EVERY

    def checked(xx, what, with_jacobian=False):
        """P(xx), or (P(xx), J at xx) from its period's sensitivities (held components: zero columns,
        not carried); a failed period is a ShootingError."""
        try:
            return P.jacobian(xx, held) if with_jacobian else P(xx)
        except SimulationError as err:
            raise ShootingError(f"shooting: a period from {what} failed ({err.message})", err.time, err.where) from None

    def norms(r):
        return float(np.max(np.abs(r[:nth]))), float(np.max(np.abs(r[nth:]), initial=0.0))

    def jacobian(x, Px, held):
        """By forward sensitivities (one period, ``P.sensitive``) or by columns; a held component
        (at the limit it drifts toward, where P keeps it whatever the rest does) has a zero row and
        column, and costs no period."""
        if P.sensitive:
            J = checked(x, "a state with sensitivities", True)[1]
            J[held, :], J[:, held] = 0.0, 0.0
            return J
        delta = _difference_step(opt, x)
        J = np.zeros((n, n))
        for j in np.flatnonzero(~held):
            e = np.zeros(n)
            e[j] = delta
            J[:, j] = (checked(x + e, "a perturbed state (Jacobian column)") - Px) / delta
        return J

    def operator(x, Px):
        from scipy.sparse.linalg import LinearOperator
        delta = _difference_step(opt, x)

        def jv(v):
            v = np.asarray(v, dtype=np.float64).ravel()
            s = float(np.linalg.norm(v))
            if s == 0.0:
                return np.zeros(n)
            return (checked(x + (delta / s) * v, "a perturbed state (Jacobian product)") - Px) * (s / delta)
        return LinearOperator((n, n), matvec=jv, dtype=np.float64)

    held = np.zeros(n, dtype=bool)         # components held at the limit they drift toward (Drift)
    # (every: the first period with its Jacobian)
    Px, J0 = checked(x, "the burn-in state", True) if every else (checked(x, "the burn-in state"), None)
    r = Px - x
    r_prev = None                  # the residual at the previous state (a drift keeps its sign)
    names = P.names()
    no_jump = np.zeros(n, dtype=bool)      # ... whose jump there was refused: left to the continuation
    no_jump[nth:] = True                   # only gates have limits to drift to
    pinned = []
    history = []
    it = 0
    J, fresh = None, False
    J_cols, x_cols = None, None    # the last Jacobian by columns and where it was taken (None once a gate is held since)
    # pseudo-time step, in periods (pseudo-transient continuation); with a Jacobian of its own at
    # every state, Newton's step first (H_MAX), and the continuation from H0 after a refusal
    H = H_MAX if every else H0
    if J0 is not None:
        J, fresh = J0, True
        J_cols, x_cols = J0, x
    eye = np.eye(n)
    drifting, merit_prev = 0, np.inf       # iterations in a row the residual lay along the flat directions
    drift_run = 0                  # drift steps (|r| not falling, within DRIFT_RISE) accepted in a row

    def flat_share(J, r):
        """The part of |r| in the flat left-singular subspace of J − I (singular values < flat_tol,
        held components left out): what Newton cannot remove, the drift along the family."""
        free = ~held
        U, sv, _ = np.linalg.svd((J - eye)[np.ix_(free, free)])
        rf = U[:, sv < flat_tol].T @ r[free]
        return float(np.linalg.norm(rf)) / max(float(np.linalg.norm(r[free])), 1e-300)

    while True:
        rth, rV = norms(r)
        history.append((rth, rV))
        if log is not None:
            worst = int(np.argmax(np.abs(r)))
            log(f"shooting: iteration {it}: residual θ {rth:.3g} V, V {rV:.3g} V (largest {names[worst]} = "
                f"{x[worst]:.4g}: {r[worst]:+.3g}); {P.calls} periods; H = {H:.3g}"
                + (f"; {int(held.sum())} held at a limit" if held.any() else ""))
        if rth < tol:
            break
        if method == "dense" and J is not None and it > 0:
            # the residual left along the flat directions, not falling: the flow drifts along the
            # family (e.g. full RC: each segment's RC transient leaves a learning signal on the
            # zero-error set), so there is no cycle near; a direct run drifts there the same way
            slow = merit_prev - float(np.linalg.norm(r)) < 0.1 * merit_prev
            drifting = drifting + 1 if slow and flat_share(J, r) > 0.9 else 0
            if drifting and r_prev is not None:
                # ... unless a gate drifts at a steady rate to a limit it reaches within LIMIT_PERIODS
                # periods: the flow's way to a cycle, which the continuation follows
                steady = (np.sign(r) == np.sign(r_prev)) & (np.abs(r) >= 0.5 * np.max(np.abs(r[:nth])))
                room = np.where(r > 0, P.hi - x, x - P.lo) / np.maximum(np.abs(r), 1e-300)
                if np.any(steady[:nth] & ~held[:nth] & (room[:nth] < LIMIT_PERIODS)):
                    drifting = 0
            if drifting >= STALL:
                k = int(np.sum(np.linalg.svd((J - eye)[np.ix_(~held, ~held)], compute_uv=False) < flat_tol))
                raise ShootingError(f"shooting: no cycle near: for {STALL} iterations the residual ({rth:.3g} V on θ) "
                                    f"has lain along the {k} flat directions of the period map (singular values of "
                                    f"J − I below flat_tol = {flat_tol:.3g}: a family of states that P moves along "
                                    f"at {rth:.3g} V per period); a direct run drifts the same way. Loosen cycle_tol "
                                    "above that drift, or use cycle = 'direct'", Tp, "the period map")
        if it >= max_iter:
            raise ShootingError(f"shooting did not converge: after {it} Newton iterations the residual on θ is "
                                f"{rth:.3g} V (node voltages {rV:.3g} V), above cycle_tol = {tol:.3g} V; "
                                "loosen cycle_tol, tighten rtol, or use cycle = 'direct'",
                                Tp, "the period map")
        it += 1
        # a held component whose residual points back into the box leaves its limit
        at_lo = x <= P.lo
        held &= ~((at_lo & (r >= tol)) | (~at_lo & (r <= -tol)))
        merit = merit_prev = float(np.linalg.norm(r))
        accepted = False
        jump = Drift(np.zeros(0, dtype=int), np.zeros(0))
        for attempt in range(6):
            # Pseudo-transient continuation (Kelley & Keyes 1998): the backward-Euler step of
            # dx/ds = P(x) − x over H periods, (J − (1 + 1/H) I) dx = −r. Small H: dx ≈ H r, the
            # direct periods' direction (safe far from the cycle); large H: Newton, quadratic at the
            # cycle. The solve is truncated (_truncated_solve): once 1/H is below flat_tol, the
            # directions along which J − I is singular (the family's tangent) are left out.
            shift = 1.0 + 1.0 / H
            if method == "dense":
                if J is None:                     # by columns; after an accepted step a Broyden update instead
                    J = jacobian(x, Px, held)
                    fresh = True
                    J_cols, x_cols = J, x
                jump = (_drifting(J, r, r_prev, held | no_jump, P.lo, P.hi, DRIFT_TOL, tol, names, Tp)
                        if r_prev is not None else jump)
                fix = held.copy()
                fix[jump.index] = True
                dx = _bounded_newton_step(J - shift * eye, r, x, P.lo, P.hi, flat_tol, fix)
                dx[jump.index] = jump.target - x[jump.index]      # a drifting gate: to its limit at once
            else:
                from scipy.sparse.linalg import LinearOperator, gmres
                A = operator(x, Px)
                M = LinearOperator((n, n), matvec=lambda v, A=A, sh=shift: A.matvec(v) - sh * np.asarray(v).ravel(),
                                   dtype=np.float64)
                # inexact Newton: solve to a forcing term a little below the residual's own decrease
                dx, _ = gmres(M, -r, rtol=1e-3, restart=min(n, 40), maxiter=3)
            # keep the step in the state's box: gates within their limits; a node joined to the rest
            # only through cut-off channels (RC of hours) within the drives' range
            dx = np.clip(x + dx, P.lo, P.hi) - x
            xn = x + dx
            Jn = None
            try:
                # a step shorter than the difference step: J there differs from this one by less
                # than its own error (chord: the trial without sensitivities, J kept)
                if every and float(np.max(np.abs(dx))) >= _difference_step(opt, x):
                    Pn, Jn = P.jacobian(xn, held)
                else:
                    Pn = P(xn)
            except SimulationError:
                Pn = None                         # the step leaves where the circuit runs: a shorter one
            if Pn is not None:
                rn = Pn - xn
                # accept a decrease of |r|; at H <= 1 any step without a jump: it goes no further along
                # the flow than one direct period, which a direct run takes whatever |r| does (far
                # from the cycle, where gates still travel, |P(x) − x| need not fall period by period);
                # at H <= the drift cap one that leaves |r| within 10 %: a steady drift (gates moving at
                # their bias), which H periods of flow extrapolate and no step makes smaller
                rise = float(np.linalg.norm(rn)) / merit
                if (rise < 1 - 1e-4 or (H <= 1.0 and not len(jump.index))
                        or (H <= H_FLOW * 2.0 ** drift_run and rise <= DRIFT_RISE and not len(jump.index))):
                    accepted = True
                    break
            if log is not None:
                log(f"shooting:   step max|dx| = {float(np.max(np.abs(dx))):.3g} V at H = {H:.3g} refused"
                    + (f" ({len(jump.index)} drifting gates sent to their limits)" if len(jump.index) else ""))
            drift_run = 0
            if len(jump.index):
                no_jump[jump.index] = True        # it does not drift on its own as far as its limit
            else:
                if method == "dense" and not fresh and H > H_FLOW:
                    J = None                      # a Broyden Jacobian may be what failed a Newton-like step
                # (a step of a few periods' flow: too long, not J's fault); a refused Newton step
                # (every: H_MAX first) hands over to the continuation at its start
                H = H0 if every and H >= H_MAX else max(H / 4, H_MIN)
        if log is not None:
            log(f"shooting:   step max|dx| = {float(np.max(np.abs(dx))):.3g} V, H = {H:.3g}"
                + ("" if accepted else " (refused: one direct period instead)")
                + (f", {len(jump.index)} drifting gates sent to their limits" if accepted and len(jump.index) else "")
                + ("" if method != "dense" else ", fresh Jacobian" if fresh else ", Broyden Jacobian"))
        if not accepted:
            xn = Px
            what = "a direct period (continuation step refused)"
            # every: a period with its Jacobian (J is x's, a period away)
            Pn, Jn = checked(xn, what, True) if every else (checked(xn, what), None)
            rn = Pn - xn
        else:
            held[jump.index] = True
            pinned += [names[i] for i in jump.index]
            if len(jump.index):
                J_cols = None                     # its held rows and columns are not zero
        if Jn is not None:
            J = Jn                                # the new state's own Jacobian (its period's sensitivities)
            J[held, :], J[:, held] = 0.0, 0.0
            fresh = True
            if not held.any():
                J_cols, x_cols = J, xn
        elif method == "dense" and J is not None and not every:
            # Broyden's update with the secant the step measured (held components: zero rows and
            # columns), instead of n periods for a new Jacobian, at any H: at small H the step is the
            # flow's (≈ H r) whatever J is; in the Newton regime a slow step asks for a new one below
            s_ = xn - x
            y_ = Pn - Px
            s_[held], y_[held] = 0.0, 0.0
            if float(s_ @ s_) > 0:
                J = J + np.outer(y_ - J @ s_, s_) / float(s_ @ s_)
            J[held, :], J[:, held] = 0.0, 0.0
            fresh = False
        if accepted:
            # switched evolution relaxation (H grows as the residual falls), at least doubling after
            # every accepted step, tenfold where the residual fell by a third and lives in the
            # contracting subspace (Newton removes it; a flat part only the flow can move): where a
            # slow mode keeps the residual's decrease small, pure SER grows H by ~1 % per step and
            # never reaches Newton
            ratio = merit / max(float(np.linalg.norm(rn)), 1e-300)
            complement = (method == "dense" and J is not None and (H < H_MAX or not every)
                          and flat_share(J, rn) < 0.5)        # (every at H_MAX: H stays, J is fresh)
            if complement and H * flat_tol >= 1.0 and ratio < 2.0 and not every:
                J = None                          # Newton regime, slow on what Newton solves: J is off
            H = min(H * max(10.0 if complement and ratio > 1.5 else 2.0, ratio), H_MAX)
            if ratio <= 1.0:
                # a drift: H periods of flow per step, doubling with every drift step taken in a row
                # (a gate moving at its bias toward a limit gets there in a few steps, not in
                # (distance / drift) / H_FLOW); a refused step starts over from H_FLOW
                drift_run += 1
                H = min(H, H_FLOW * 2.0 ** drift_run)
            else:
                drift_run = 0
        x, Px, r_prev, r = xn, Pn, r, rn
    # the recorded periods first: the last period of the map started from x, and is their first
    traj = P.record(x, opt=None if record_opt is None else dataclasses.replace(record_opt, cycle_tol=0.0, cycle="direct"),
                    repeat=record_periods)
    # Floquet multipliers at the cycle. The last Jacobian by columns was taken at x_cols; where that is
    # less than the difference step from x it is as good as a new one at x (both err by ~sqrt(rtol):
    # the difference's own error is |P''| δ, the distance adds less), and n periods are saved. (Not a
    # Broyden Jacobian: its secants over steps far below δ carry the integrator's noise, rtol |x| / |s|.)
    # Held gates: multiplier 0 (P keeps them at their limit).
    if method == "dense":
        near = x_cols is not None and float(np.max(np.abs(x - x_cols))) < _difference_step(opt, x)
        mult = np.linalg.eigvals(J_cols if near else jacobian(x, Px, held))
    else:
        from scipy.sparse.linalg import eigs
        k = max(1, min(modes, n - 2))
        mult = eigs(operator(x, Px), k=k, which="LM", return_eigenvectors=False, tol=1e-6)
    mult = np.asarray(mult, dtype=np.complex128)
    mult = mult[np.lexsort((-mult.imag, -np.abs(mult)))]
    theta_c, V_c = P.unpack(x)
    if P.qs:                 # node voltages are no state: report the Kirchhoff solution at the period end
        V_c = traj.state.V.copy()        # (after record_periods periods on the cycle)
    rth, rV = norms(r)
    family = int(np.sum(np.abs(mult - 1.0) < flat_tol))
    return Cycle(theta_c, V_c, mult, it, rth, rV, P.calls, traj, names, history, method,
                 time.perf_counter() - t0, family, flat_tol, pinned)
