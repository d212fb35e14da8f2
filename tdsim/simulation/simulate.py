"""Python side of a run: options, initial state, chunked calls into the compiled loop."""
from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass, field

import numpy as np

from tdsim.compile import coupled
from tdsim.compile.build import Compiled
from tdsim.compile.table import Table
from tdsim.core import loop, records, tableaus
from tdsim.core.codes import CONVERGED, DONE, FULL, RUNAWAY
from tdsim.core.methods import METHODS, PAIRS
from tdsim.core.records import (F_H, F_HEVENT, F_R0, F_T, I_FACT, I_NEV, I_NEWSEG, I_NREC, I_PERIODS, I_REJ, I_STEPS,
                                I_WHERE, N_FSTATE, N_ISTATE)
from tdsim.errors import SimulationError, SpecError
from tdsim.simulation.probes import FAILURE, kirchhoff_solve
from tdsim.model.schedule import check_memory


CYCLES = ("direct", "shooting")     # Options.cycle


@dataclass
class Options:
    integrator: str = "rosenbrock"     # a name of core.methods.METHODS: explicit | rosenbrock (ROS34PW2) | ros2 |
                                       # rodas4 | quasistatic
    rtol: float = 1e-6
    atol: float = 1e-9                 # V (node and gate voltages)
    rtol_V: float | None = None        # node-voltage tolerances if looser than the gates' (None: same);
    atol_V: float | None = None        # gates integrate ΔV², so V errors reach G damped by ~A0 ΔV RC
    dt: float | None = None            # fixed step size; turns step control off
    first_step: float | None = None    # step size after each event (default: 0.1 x the shortest RC)
    h_min: float = 1e-16               # s; the floor is max(h_min, 4 ulp(t)) (docs/integrators.md)
    record_interval: float = 0.0       # s; 0 records segment ends only
    save_at: tuple | None = None       # s; samples at these times instead (sorted), steps land on them
    newton_tol: float = 1e-12          # relative Newton step tolerance (quasi-static)
    initial: str = "dc"                # node voltages at t = 0: "dc" operating point or "zero"
    chunk: int = 4096                  # records per buffer between compiled calls
    cycle_tol: float = 0.0             # V; stop when θ at two consecutive period ends differs less (0: off);
                                       # with cycle = "shooting", Newton's tolerance on θ
    cycle: str = "direct"              # how tdsim run reaches the limit cycle: "direct" (period after period)
                                       # or "shooting" (Newton on the period map, simulation/shooting.py)
    cycle_max_iter: int = 50           # cycle = "shooting": Newton iterations before it gives up
    r0: float = 1e-3                   # s/V; initial overclamping step-time scale t_h = r0 |δ|
    tableau: str = "dopri5"            # explicit pair of explicit and quasistatic: dopri5 | bs3 | heun21
    w_reuse: int | None = None         # rosenbrock/ros2: steps one factorization of W may serve (1: fresh
                                       # every step; None: W_REUSE_AUTO where the LU is not trivially cheap)
    envelope: bool = False             # periodic runs: follow the envelope over many passes (simulation/envelope.py)
    envelope_tol: float = 1e-6         # V; local error allowed per envelope step on the learning gates
    envelope_passes: int = 3           # exact passes per envelope step (its slope's order; >= 2)

    def validate(self):
        if self.integrator not in METHODS:
            raise SpecError("integrator", f"unknown {self.integrator!r}; known: {', '.join(METHODS)}")
        method = METHODS[self.integrator]
        for key in ("rtol", "atol", "h_min", "newton_tol", "rtol_V", "atol_V"):
            if getattr(self, key) is not None and not getattr(self, key) > 0:
                raise SpecError(key, f"must be > 0, got {getattr(self, key)!r}")
        for key in ("dt", "first_step"):
            v = getattr(self, key)
            if v is not None and not (v > 0 and np.isfinite(v)):
                raise SpecError(key, f"must be a positive time, got {v!r}")
        if not (self.record_interval >= 0 and np.isfinite(self.record_interval)):
            raise SpecError("record_interval", "must be >= 0")
        if self.save_at is not None:
            ts = np.asarray(self.save_at, dtype=float)
            if ts.ndim != 1 or not np.all(np.isfinite(ts)) or np.any(ts < 0) or np.any(np.diff(ts) <= 0):
                raise SpecError("save_at", "sample times must be finite, >= 0 and strictly increasing")
            if self.record_interval > 0:
                raise SpecError("save_at", "give save_at or record_interval, not both")
        if self.initial not in ("dc", "zero"):
            raise SpecError("initial", f"unknown {self.initial!r} (dc or zero)")
        if not (self.cycle_tol >= 0 and np.isfinite(self.cycle_tol)):
            raise SpecError("cycle_tol", "must be >= 0")
        if self.cycle not in CYCLES:
            raise SpecError("cycle", f"unknown {self.cycle!r} ({' or '.join(CYCLES)})")
        _whole(self.cycle_max_iter, 1, "cycle_max_iter", "Newton iterations:")
        if not (self.r0 > 0 and np.isfinite(self.r0)):
            raise SpecError("r0", "must be a positive time per volt")
        if self.tableau not in PAIRS:
            raise SpecError("tableau", f"unknown {self.tableau!r} ({', '.join(PAIRS)})")
        if self.w_reuse is not None:
            _whole(self.w_reuse, 1, "w_reuse", "must be")
        if method.exact_jacobian and self.w_reuse not in (None, 1):
            raise SpecError("w_reuse", f"{self.integrator} needs the exact Jacobian at every step (only the W-methods "
                                       f"{' and '.join(m.name for m in METHODS.values() if m.reuse_w)} can reuse W)")
        if not isinstance(self.envelope, (bool, np.bool_)):
            raise SpecError("envelope", f"expected true or false, got {self.envelope!r}")
        if isinstance(self.envelope_tol, bool) or not (isinstance(self.envelope_tol, (int, float, np.floating))
                                                       and 0 < self.envelope_tol < np.inf):
            raise SpecError("envelope_tol", f"must be a positive voltage, got {self.envelope_tol!r}")
        _whole(self.envelope_passes, 2, "envelope_passes", "exact passes per envelope step:")
        if self.envelope and self.cycle == "shooting":
            raise SpecError("envelope", "give envelope = true (follow a long run) or cycle = \"shooting\" (find its "
                                        "limit cycle), not both")
        _whole(self.chunk, 1, "chunk", "records per buffer:")


def _whole(value, least: int, key: str, what: str) -> None:
    """SpecError naming ``key`` unless ``value`` is an integer (not a bool) >= ``least``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise SpecError(key, f"{what} an integer >= {least}, got {value!r}")


@dataclass
class Trajectory:
    t: np.ndarray            # (K,) sample times
    V: np.ndarray            # (K, T, N)
    theta: np.ndarray        # (K, E)
    event_t: np.ndarray      # (M,) segment end times
    event_seg: np.ndarray    # (M,)
    event_V: np.ndarray      # (M, T, N)
    event_theta: np.ndarray  # (M, E)
    stats: dict = field(default_factory=dict)
    state: object = None     # the State at the end (resume from it)


def shortest_rc(c: Compiled, V: np.ndarray, theta: np.ndarray, src: np.ndarray) -> float:
    """min over free nodes of C_n / (sum of conductances at n): the fastest relaxation time."""
    from tdsim.core.kernels import edge_current
    g = np.zeros(c.N)
    for e in range(c.E):
        _, dia, _ = edge_current(c.code[e], *c.par[0, e, :4], theta[e], V[0, c.ea[e]], V[0, c.eb[e]])
        g[c.ea[e]] += abs(dia)
        g[c.eb[e]] += abs(dia)
    free = (c.hold[0] == 0) & (g > 0)
    return float(np.min(c.cap[0, free] / g[free])) if free.any() else np.inf


@dataclass
class State:
    """Everything the compiled loop carries between calls: enough to resume a run exactly."""
    V: np.ndarray            # (T, N)
    theta: np.ndarray        # (E,)
    th_period: np.ndarray    # (E,) θ at the last period end (limit-cycle test)
    fstate: np.ndarray       # records.F_* slots
    istate: np.ndarray       # records.I_* slots

    def copy(self) -> "State":
        return State(*(a.copy() for a in (self.V, self.theta, self.th_period, self.fstate, self.istate)))


def initial_state(c: Compiled, tab: Table, opt: Options, theta0=None, V0=None) -> State:
    theta = (c.theta0 if theta0 is None else np.asarray(theta0, dtype=np.float64)).copy()
    if V0 is not None:
        V = np.array(V0, dtype=np.float64).reshape(c.T, c.N)
    elif opt.initial == "dc" or METHODS[opt.integrator].quasistatic:
        V = kirchhoff_solve(c, theta, tab)
    else:
        V = np.zeros((c.T, c.N))
    fstate = np.zeros(N_FSTATE + tab.src.shape[1])     # then the sources' values at the segment's start
    fstate[F_H] = _first_step(c, tab, opt, V, theta)
    fstate[F_HEVENT] = 0.0 if METHODS[opt.integrator].quasistatic else fstate[F_H]
    fstate[F_R0] = opt.r0
    istate = np.zeros(N_ISTATE, dtype=np.int64)
    istate[I_NEWSEG] = 1
    return State(V, theta, theta.copy(), fstate, istate)


def _first_step(c, tab, opt, V, theta) -> float:
    """The first step: a thousandth of the first segment (quasi-static: no RC to resolve), else
    a tenth of the shortest RC."""
    if METHODS[opt.integrator].quasistatic:
        return opt.first_step or 1e-3 * float(tab.dur[0])
    return opt.first_step or 0.1 * min(shortest_rc(c, V, theta, tab.src[0]), float(tab.dur[0]))


@dataclass
class Engine:
    """Everything the compiled loop takes besides the State, for one (circuit, table, options):
    ``simulate`` builds one per call; a caller that runs the same table again and again from new
    states (shooting's period map) builds it once and calls ``advance`` per run."""
    family: int
    adaptive: bool
    tol: np.ndarray            # records.tolerances
    h_fixed: float
    h_min: float
    dt_rec: float
    t_save: np.ndarray
    newton_tol: float
    cycle_tol: float
    circ: records.Circuit
    cpl: records.Coupled
    lrn: records.LearningRule
    noise: records.Noise
    ros: records.Rosenbrock
    erk: records.Explicit
    rows: records.Table
    drive_class: np.ndarray
    rec: records.Recording     # the buffers every call records into (from its start)
    v_bound: float             # node voltages beyond this: RUNAWAY
    sens: records.Sensitivity  # forward sensitivities carried (EXACT family; no columns: none)
    kernel: object = None      # loop.integrate, or its compiled overload for fixed state arrays (bind)

    def advance(self, st: State) -> int:
        """Run the compiled loop on ``st`` (in place) until the table ends, the cycle is reached, the
        buffers are full or a failure: its status (core.codes)."""
        return (self.kernel or loop.integrate)(
            self.family, self.adaptive, self.tol, self.h_fixed, self.h_min, self.dt_rec, self.t_save, self.newton_tol,
            self.cycle_tol, self.circ, self.cpl, self.lrn, self.noise, self.ros, self.erk, self.rows,
            self.drive_class, st.V, st.theta, st.th_period, st.fstate, st.istate, self.rec, self.sens)

    def bind(self) -> None:
        """Call numba's compiled overload directly from now on, skipping its type dispatch (~30 µs a
        call, most of it typing the learning rule's record in Python: a sixth of a 2+1-circuit
        period). Only for a caller that has made one call through the dispatcher (which compiled or
        loaded the overload) and passes arguments of the same types every time (shooting's period
        map refills one State in place; envelope following's exact passes pass copies of one State).
        Bound only where the dispatcher holds exactly one
        overload: then it is the one the dispatcher itself calls with these arguments (telling
        several apart would cost a Python typing of every argument, ~1 ms, more than it saves);
        else, or where numba does not expose its overloads, the calls stay with the dispatcher."""
        fn = loop.integrate
        overloads = getattr(fn, "overloads", {})        # (dict.values: an OrderedDict's own iteration
        one = len(overloads) == 1                       # hashes every signature, ~0.1 ms)
        self.kernel = getattr(next(iter(dict.values(overloads))), "entry_point", fn) if one else fn

    def recorded(self, st: State) -> records.Recording:
        """Views of what the last call recorded (valid until the next call)."""
        nrec, nev = st.istate[I_NREC], st.istate[I_NEV]
        r = self.rec
        return records.Recording(r.t[:nrec], r.V[:nrec], r.theta[:nrec], r.ev_t[:nev], r.ev_seg[:nev], r.ev_V[:nev],
                                 r.ev_theta[:nev])


def engine(c: Compiled, tab: Table, opt: Options) -> Engine:
    """The compiled loop's arguments for this circuit, table and (validated) options, with record
    buffers of ``opt.chunk`` records."""
    method = METHODS[opt.integrator]
    K = opt.chunk
    check_memory(8.0 * K * (3 + 2 * c.T * c.N + 2 * c.E), "chunk", f"buffers of chunk = {K} records")
    rec = records.Recording(np.zeros(K), np.zeros((K, c.T, c.N)), np.zeros((K, c.E)), np.zeros(K),
                            np.zeros(K, dtype=np.int64), np.zeros((K, c.T, c.N)), np.zeros((K, c.E)))
    rows = tab.arrays()
    drive_class = _drive_classes(tab, rows, c.T * (c.N + c.pattern.nnz)) if method.quasistatic else _NO_CLASSES
    v_bound = RUNAWAY_FACTOR * max(1.0, float(np.max(np.abs(tab.src), initial=0.0)), float(np.max(np.abs(tab.amp), initial=0.0)),
                            float(np.max(np.abs(tab.knot_v), initial=0.0)), float(np.nanmax(np.abs(tab.labels), initial=0.0)))
    tol = records.tolerances(opt.rtol, opt.atol, opt.rtol_V or opt.rtol, opt.atol_V or opt.atol, w_reuse(c, opt),
                             v_bound)
    return Engine(method.family, opt.dt is None, tol, opt.dt or 0.0, opt.h_min, opt.record_interval,
                  _NO_SAVE if opt.save_at is None else np.asarray(opt.save_at, dtype=np.float64), opt.newton_tol,
                  opt.cycle_tol, c.arrays(), coupled.structure(c) if method.exact_jacobian else coupled.empty(c.T),
                  c.rule(), records.Noise(int(c.noise_seed), float(c.noise_update), float(c.noise_read)),
                  _tableau(method.rosenbrock or tableaus.ros34pw2),     # (a W-method's only fixes the types elsewhere)
                  _tableau(PAIRS[opt.tableau]), rows, drive_class, rec, v_bound, records.sensitivity(0, c.T, c.N, c.E))


def finished(parts: list, st: State, status: int) -> Trajectory:
    """The Trajectory of a run's recorded parts (records.Recording) ending in ``st`` with ``status``."""
    istate, fstate = st.istate, st.fstate
    return Trajectory(*(np.concatenate(field) for field in zip(*parts)),
                      stats={"steps": int(istate[I_STEPS]), "rejected": int(istate[I_REJ]),
                             "factorizations": int(istate[I_FACT]), "t_end": float(fstate[F_T]),
                             "converged": status == CONVERGED,
                             "periods": int(istate[I_PERIODS]), "r0": float(fstate[F_R0])},
                      state=st)


def check_status(c: Compiled, eng: Engine, st: State, status: int, V0: np.ndarray, theta0: np.ndarray,
                 parts: list) -> None:
    """Raise SimulationError for a run that ended in a failure (naming its likely cause, from the
    start state V0, theta0), with the trajectory of its recorded ``parts`` attached."""
    if status in (DONE, CONVERGED):
        return
    traj = finished(parts, st, status)
    if status == RUNAWAY:
        _runaway(c, st, eng.v_bound, traj)
    err = SimulationError(FAILURE[status] + _fastest_cause(c, V0, theta0), float(st.fstate[F_T]),
                          _where(c, int(st.istate[I_WHERE])))
    err.trajectory = traj
    raise err


def simulate(c: Compiled, tab: Table, opt: Options = Options(), theta0=None, V0=None,
             on_chunk=None, state: State | None = None, keep: bool = True, eng: Engine | None = None) -> Trajectory:
    """Run the table from its start (or from ``state``, to resume). ``on_chunk(t, V, theta, ev_t,
    ev_seg, ev_V, ev_theta, state)`` receives each flushed chunk and the state after it (views
    valid during the call); the returned Trajectory holds what this call recorded, or with
    ``keep=False`` only the last chunk (memory stays flat when chunks are streamed to a store).
    ``eng``: an Engine that ``engine(c, tab, opt)`` built for these same arguments, for a caller
    that runs one table many times (envelope following's exact passes): its set-up (record
    buffers of ``chunk`` records, the compiled records) is then done once; it is bound to numba's
    overload after its first call (Engine.bind)."""
    opt.validate()
    st = initial_state(c, tab, opt, theta0, V0) if state is None else state.copy()
    reused = eng is not None
    eng = eng or engine(c, tab, opt)
    parts = []
    V0, theta0 = st.V.copy(), st.theta.copy()
    while True:
        status = eng.advance(st)
        chunk = eng.recorded(st)
        if on_chunk is not None:
            on_chunk(*chunk, st)
        if keep or status != FULL:
            parts.append(records.Recording(*(a.copy() for a in chunk)))
        if reused and eng.kernel is None:           # compiled or loaded by now
            eng.bind()
        if status == FULL:
            continue
        check_status(c, eng, st, status, V0, theta0, parts)
        return finished(parts, st, status)


# W reuse pays where the LU factorization is a noticeable part of a step (measured on clln_lattice at
# rtol 1e-6: break-even on the 4x4 CLLN, 41 flops per factorization; 1.1x faster at 5x10, 1,270 flops;
# 1.7x at 16x32, 133k flops), so by default it is on from W_REUSE_FLOPS flops per factorization.
W_REUSE_AUTO, W_REUSE_FLOPS = 16, 1000


def w_reuse(c: Compiled, opt: Options) -> int:
    """Steps one factorization of the Rosenbrock matrix W may serve (records.TOL_W_MAX)."""
    if opt.w_reuse is not None:
        return int(opt.w_reuse)
    return W_REUSE_AUTO if c.pattern.flops() >= W_REUSE_FLOPS else 1


_NO_CLASSES = np.zeros(1, dtype=np.int64)
_NO_SAVE = np.zeros(0)     # no chosen sample times: samples every record_interval
_CLASS_CACHE = {}      # id(table) -> (weak reference, per_class, classes): tables are reused across runs


def _drive_classes(tab: Table, rows: records.Table, per_class: int) -> np.ndarray:
    hit = _CLASS_CACHE.get(id(tab))
    if hit is not None and hit[0]() is tab and hit[1] == per_class:
        return hit[2]
    cls = drive_classes(rows, per_class)
    for k in [k for k, v in _CLASS_CACHE.items() if v[0]() is None]:
        del _CLASS_CACHE[k]
    _CLASS_CACHE[id(tab)] = (weakref.ref(tab), per_class, cls)
    return cls


def drive_classes(rows: records.Table, per_class: int, budget: int = 1 << 22) -> np.ndarray:
    """Class of every table row: rows whose drives (sources, waveforms, ramps, labels, η, nudge rule, L0)
    are equal share one (numbered in order of first appearance). The quasi-static engine keeps
    ``per_class`` floats per class (a solution and factorizations to start Newton from); over
    ``budget`` floats in all, every row gets class 0 (one shared slot, as without classes)."""
    P = len(rows.src)
    drives = (rows.src, rows.amp, rows.omega, rows.wave, rows.labels, rows.eta, rows.mode, rows.L0, rows.rise,
              rows.k_first, rows.k_end, rows.k_rep)
    key = np.concatenate([np.asarray(a, dtype=np.float64).reshape(P, -1) for a in drives], axis=1)
    key = np.ascontiguousarray(np.nan_to_num(key, nan=np.inf))     # unlabelled rows compare equal
    rows = key.view(np.dtype((np.void, key.itemsize * key.shape[1]))).reshape(P)
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))          # number classes by first appearance
    cls = order[inverse.reshape(-1)].astype(np.int64)
    if (cls.max() + 1) * per_class > budget:
        cls[:] = 0
    return cls


@functools.lru_cache(maxsize=None)
def _tableau(make) -> tuple:
    """The engine record of a tableau (``make``: a factory of tableaus.py), built once per
    process (read-only in the engine)."""
    return make().args()


RUNAWAY_FACTOR = 10.0       # node voltages beyond this many times the largest source or label: the network is active
FASTEST = 1e-12      # s; a relaxation or learning time below this is no device of these circuits


def _runaway(c: Compiled, st: State, bound: float, traj: Trajectory) -> None:
    """Stop a run whose node voltages left the range a passive network allows (the sources and
    labels, RUNAWAY times over; the loop checks after every step): a conductance that crossed
    zero (at_zero = "cross") makes the network active and its voltages grow without bound."""
    from tdsim.core.codes import CONDUCTANCE, PARAM_LOGKAPPA, ZERO_CROSS
    v = float(np.max(np.abs(st.V)))
    where = _where(c, int(st.istate[I_WHERE]))
    negative = [e for e in range(c.E) if c.code[e] == CONDUCTANCE and c.par[0, e, 1] == ZERO_CROSS
                and c.par[0, e, 0] != PARAM_LOGKAPPA and st.theta[e] < 0]
    if negative:
        e = negative[0]
        cause = (f"edge {c.edge_names[e]!r} crossed zero (at_zero = 'cross', θ = {st.theta[e]:.3g}) "
                 "and its negative conductance drives the network")
        where = f"edge {c.edge_names[e]!r}"
    else:
        cause = "an element supplies power (check elements with negative parameters)"
    err = SimulationError(f"node voltages reached {v:.3g} V, beyond {RUNAWAY_FACTOR:g}x the sources and labels "
                          f"({bound:.3g} V): {cause}", float(st.fstate[F_T]), where)
    err.trajectory = traj
    raise err


def _fastest_cause(c: Compiled, V: np.ndarray, theta: np.ndarray) -> str:
    """The likely cause of a numerical failure: a node relaxation C/g or a gate's learning time
    (1 V of θ at ΔV = 0.1 V) at the start of the run shorter than FASTEST, named with the field
    that makes it so; "" when every time scale is plausible."""
    from tdsim.core.kernels import edge_current
    worst = (np.inf, "")
    for t in range(c.T):
        g, strongest = np.zeros(c.N), np.zeros((c.N, 2))          # sum of |dI/dV|; (largest, its edge)
        for e in range(c.E):
            _, dia, _ = edge_current(c.code[e], *c.par[t, e, :4], theta[e], V[t, c.ea[e]], V[t, c.eb[e]])
            for n in (c.ea[e], c.eb[e]):
                g[n] += abs(dia)
                if abs(dia) >= strongest[n, 0]:
                    strongest[n] = abs(dia), e
        for n in range(c.N):
            if c.hold[t, n] == 0 and g[n] > 0 and c.cap[t, n] / g[n] < worst[0]:
                worst = (c.cap[t, n] / g[n], f"node {c.node_names[n]!r} relaxes in {c.cap[t, n] / g[n]:.3g} s: "
                         f"its capacitance {c.cap[t, n]:.3g} F against {g[n]:.3g} S, most of it through edge "
                         f"{c.edge_names[int(strongest[n, 1])]!r} (check the capacitance and that edge's fields)")
    for e in np.flatnonzero(c.learn):
        rate = abs(c.A0[e]) * 0.01
        if rate > 0 and 1.0 / rate < worst[0]:
            worst = (1.0 / rate, f"edge {c.edge_names[e]!r} learns 1 unit of θ in {1.0 / rate:.3g} s at ΔV = 0.1 V "
                                 f"(A0 = {c.A0[e]:.3g}: check the edge's A0)")
    return f"; likely cause: {worst[1]}" if worst[0] < FASTEST else ""


def _where(c: Compiled, idx: int) -> str:
    if idx < 0:
        return "the circuit"
    if idx < c.T * c.N:
        return f"node {c.node_names[idx % c.N]!r} of the {c.twins[idx // c.N]} twin"
    return f"edge {c.edge_names[idx - c.T * c.N]!r}"

