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
systems (J − I) dx = −(P(x) − x), J = dP/dx, are solved with the dense Jacobian built column by
column from directional differences of P where the state is small (n ≤ ``dense_max``, default
50: n + 1 periods per iteration), and matrix-free by GMRES on a ``LinearOperator`` whose product is
one directional difference (one period per product) above that (Telichevesky, Kundert & White
1995). The Floquet multipliers are the eigenvalues of J at the cycle: all n of the dense
Jacobian (``numpy.linalg.eigvals``), or the ``modes`` leading ones by ARPACK
(``scipy.sparse.linalg.eigs``) on the same operator. Globalization: pseudo-transient
continuation (Kelley & Keyes 1998) from the initial state (or after ``burn_in`` direct periods,
default none: at small H the continuation follows their flow anyway): each step is backward Euler on
dx/ds = P(x) − x over a pseudo-time H (in periods), (J − (1 + 1/H) I) dx = −(P(x) − x). At small H
it follows the direct periods' flow (far from the cycle, and along multipliers ≈ 1: gates that do
not learn and drift, flat directions of an underdetermined task, where J − I is singular); H grows
after every accepted step (at least doubling, more when the residual falls faster) and the step
becomes Newton's near the cycle. A step that does not lower |P(x) − x| is refused and H quartered
(one period each); at H ≤ 1 every step is accepted (no further along the flow than a direct period).
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

    @property
    def leading(self) -> complex:
        """The multiplier of largest modulus: the contraction per period of the slowest mode."""
        return complex(self.multipliers[0]) if len(self.multipliers) else 0j

    @property
    def stable(self) -> bool:
        return bool(abs(self.leading) < 1.0)


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
        if self.engine is None:
            self.start = self._start(theta, V, self.one, self.opt)     # its fstate and istate do not depend on x
            self.st = self.start.copy()
            self.engine = engine(self.c, self.one, self.opt)
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


def _bounded_newton_step(A, r, x, lo, hi):
    """Solve A dx = −r with x + dx kept in [lo, hi] by an active set: a component whose step would
    leave the box is put on its bound and the system solved again for the others (a gate drifting
    under its bias alone has a multiplier 1 and a singular row; its cycle is at its limit)."""
    n = len(r)
    at = np.zeros(n, dtype=bool)
    dx = np.zeros(n)
    for _ in range(n):
        free = ~at
        rhs = -r[free] - A[np.ix_(free, at)] @ dx[at]
        Af = A[np.ix_(free, free)]
        try:
            dx[free] = np.linalg.solve(Af, rhs)
        except np.linalg.LinAlgError:
            dx[free] = np.linalg.lstsq(Af, rhs, rcond=None)[0]
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


def shoot(c: Compiled, tab: Table, opt: Options = Options(), theta0=None, V0=None, *, tol: float | None = None,
          burn_in: int = 0, max_iter: int = 25, H0: float = 10.0, dense_max: int = DENSE_MAX, modes: int = MODES,
          record_periods: int = 1, record_opt: Options | None = None, log=None) -> Cycle:
    """The limit cycle of the table's period (its rows, run once per period) by Newton shooting.

    ``tol``: Newton's tolerance on θ (max |P(x) − x| over the learning edges, V; default
    ``opt.cycle_tol``, else 1e-9 V). Newton starts from (theta0, V0) (default: the circuit's θ and
    the run's initial voltages), after ``burn_in`` direct periods from there (default 0). The returned cycle's ``trajectory``
    holds ``record_periods`` exact periods from the cycle state, recorded with ``record_opt``
    (default: the map's own options, ``opt`` with its record_interval where that grid repeats
    every period, else segment ends only). ``log(line)``, if given, receives one line per Newton
    iteration (residuals, step length, periods so far). Raises ShootingError when Newton does not
    reach ``tol`` within ``max_iter`` iterations (naming the residual and the iterations), and
    SpecError for a protocol without a deterministic period map (check_shootable)."""
    t0 = time.perf_counter()
    opt.validate()
    check_shootable(c, tab)
    tol = tol if tol is not None else (opt.cycle_tol or 1e-9)
    if not (tol > 0 and np.isfinite(tol)):
        raise SpecError("cycle_tol", f"shooting needs a positive Newton tolerance, got {tol!r}")
    Tp = float(np.sum(tab.dur))
    pm0 = PeriodMap(c, tab, opt, c.theta0 if theta0 is None else theta0, np.zeros((c.T, c.N)))
    # the initial state (the run's own initial voltages), after burn_in direct periods if any
    st0 = initial_state(c, pm0.one, pm0.opt, pm0.theta_base, V0)
    steps = (float(st0.fstate[F_H]), float(st0.fstate[F_HEVENT]))
    if burn_in > 0:
        st = simulate(c, dataclasses.replace(pm0.one, repeat=burn_in), pm0.opt, theta0=pm0.theta_base, V0=V0).state
    else:
        st = st0
    theta_b, V_b = st.theta, st.V
    P = PeriodMap(c, tab, opt, theta_b, V_b, steps)
    P.calls = burn_in
    n, nth = P.n, P.n_theta
    if nth == 0:
        raise SpecError("cycle", "no edge learns: there is no learning state to shoot for")
    x = P.pack(theta_b, V_b)
    method = "dense" if n <= dense_max else "krylov"

    def checked(xx, what):
        try:
            return P(xx)
        except SimulationError as err:
            raise ShootingError(f"shooting: a period from {what} failed ({err.message})", err.time, err.where) from None

    def norms(r):
        return float(np.max(np.abs(r[:nth]))), float(np.max(np.abs(r[nth:]), initial=0.0))

    def jacobian(x, Px):
        delta = _difference_step(opt, x)
        J = np.empty((n, n))
        for j in range(n):
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

    Px = checked(x, "the burn-in state")
    r = Px - x
    history = []
    it = 0
    J, fresh = None, False
    J_cols, x_cols = None, None    # the last Jacobian by columns and where it was taken
    H = H0                         # pseudo-time step, in periods (pseudo-transient continuation)
    while True:
        rth, rV = norms(r)
        history.append((rth, rV))
        if log is not None:
            log(f"shooting: iteration {it}: residual θ {rth:.3g} V, V {rV:.3g} V; {P.calls} periods; H = {H:.3g}")
        if rth < tol:
            break
        if it >= max_iter:
            raise ShootingError(f"shooting did not converge: after {it} Newton iterations the residual on θ is "
                                f"{rth:.3g} V (node voltages {rV:.3g} V), above cycle_tol = {tol:.3g} V; "
                                "loosen cycle_tol, tighten rtol, or use cycle = 'direct'",
                                Tp, "the period map")
        it += 1
        merit = float(np.linalg.norm(r))
        accepted = False
        for attempt in range(6):
            # Pseudo-transient continuation (Kelley & Keyes 1998): the backward-Euler step of
            # dx/ds = P(x) − x over H periods, (J − (1 + 1/H) I) dx = −r. Small H: dx ≈ H r, the
            # direct periods' direction (safe far from the cycle, and along modes with multipliers
            # ≈ 1: gates that only drift, or the flat directions of an underdetermined task, which
            # Newton's singular J − I sends anywhere); large H: Newton, quadratic at the cycle.
            shift = 1.0 + 1.0 / H
            if method == "dense":
                if J is None:                     # by columns; after a good step a Broyden update instead
                    J = jacobian(x, Px)
                    fresh = True
                    J_cols, x_cols = J, x
                dx = _bounded_newton_step(J - shift * np.eye(n), r, x, P.lo, P.hi)
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
            try:
                Pn = P(xn)
            except SimulationError:
                Pn = None                         # the step leaves where the circuit runs: a shorter one
            if Pn is not None:
                rn = Pn - xn
                # accept a decrease of |r|; at H <= 1 any step: it goes no further along the flow than
                # one direct period, which a direct run takes whatever |r| does (far from the cycle,
                # where gates still travel, |P(x) − x| need not fall period by period)
                if float(np.linalg.norm(rn)) < (1 - 1e-4) * merit or H <= 1.0:
                    accepted = True
                    break
            if log is not None:
                log(f"shooting:   step max|dx| = {float(np.max(np.abs(dx))):.3g} V at H = {H:.3g} refused")
            H = max(H / 4, H_MIN)
            if method == "dense" and not fresh:
                J = None                          # a Broyden Jacobian may be what failed: a new one
        if log is not None:
            log(f"shooting:   step max|dx| = {float(np.max(np.abs(dx))):.3g} V, H = {H:.3g}"
                + ("" if accepted else " (refused: one direct period instead)")
                + ("" if method != "dense" else ", fresh Jacobian" if fresh else ", Broyden Jacobian"))
        if accepted:
            # switched evolution relaxation (H grows as the residual falls), at least doubling after
            # every accepted step: where a slow mode keeps the residual's decrease small, pure SER
            # grows H by ~1 % per step and never reaches Newton; a refused step quarters H again
            H = min(H * max(2.0, merit / max(float(np.linalg.norm(rn)), 1e-300)), H_MAX)
            if method == "dense" and float(np.linalg.norm(rn)) < 0.5 * merit:
                s_ = xn - x                       # Broyden's update with the secant the step measured
                J = J + np.outer((Pn - Px) - J @ s_, s_) / float(s_ @ s_)
                fresh = False
            elif method == "dense":
                J = None                          # slow progress: a new Jacobian by columns
        else:
            xn, Pn = Px, checked(Px, "a direct period (continuation step refused)")
            rn = Pn - xn
            J = None
        x, Px, r = xn, Pn, rn
    # the recorded periods first: the last period of the map started from x, and is their first
    traj = P.record(x, opt=None if record_opt is None else dataclasses.replace(record_opt, cycle_tol=0.0, cycle="direct"),
                    repeat=record_periods)
    # Floquet multipliers at the cycle. The last Jacobian by columns was taken at x_cols; where that is
    # less than the difference step from x it is as good as a new one at x (both err by ~sqrt(rtol):
    # the difference's own error is |P''| δ, the distance adds less), and n periods are saved. (Not a
    # Broyden Jacobian: its secants over steps far below δ carry the integrator's noise, rtol |x| / |s|.)
    if method == "dense":
        near = x_cols is not None and float(np.max(np.abs(x - x_cols))) < _difference_step(opt, x)
        mult = np.linalg.eigvals(J_cols if near else jacobian(x, Px))
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
    return Cycle(theta_c, V_c, mult, it, rth, rV, P.calls, traj, P.names(), history, method,
                 time.perf_counter() - t0)
