"""The engine's interface: the named records the compiled kernels receive, and the slots of the
state arrays the event loop carries between calls.

Each record is a ``typing.NamedTuple``: numba compiles it as the tuple it is (a field read is a
static extract, no cost), the kernels read it by name (``circ.hold``, ``drv.learn_on``). Each is
built in one place: ``Circuit`` and ``LearningRule`` by ``tdsim.compile.build``, ``Table`` by
``tdsim.compile.table.Table.record``, ``Coupled`` by ``tdsim.compile.coupled``, ``Drive`` by
``drive`` below, the tableaus by ``tdsim.core.tableaus``, the work arrays by ``loop.integrate``.
"""
from typing import NamedTuple

import numpy as np
from numba import njit

# istate slots (integers carried between calls of the loop)
I_SEG, I_SAMPLE, I_NREC, I_NEV, I_STEPS, I_REJ, I_FACT, I_WHERE, I_NEWSEG, I_PERIODS = range(10)
N_ISTATE = 10
# fstate slots: time, step size, end of the current segment, overclamping r0, start of the pass,
# start of the segment, step after each segment start (0: keep the current one)
F_T, F_H, F_SEGEND, F_R0, F_PASS0, F_SEGSTART, F_HEVENT = range(7)
N_FSTATE = 7


class Circuit(NamedTuple):
    """A compiled circuit's arrays (tdsim.compile.build.Compiled): T twins, N nodes, E edges."""
    ea: np.ndarray          # (E,) node a of each edge
    eb: np.ndarray          # (E,) node b
    code: np.ndarray        # (E,) element code (codes.py)
    par: np.ndarray         # (T, E, 4) element parameters per twin
    learn: np.ndarray       # (E,) bool: the edge learns
    A0: np.ndarray          # (E,) learning rate
    B: np.ndarray           # (E,) learning bias, V/s
    gmin: np.ndarray        # (E,) limits of θ
    gmax: np.ndarray
    cap: np.ndarray         # (T, N) node capacitances, F
    hold: np.ndarray        # (T, N) HOLD_* code
    hidx: np.ndarray        # (T, N) source column or output index of a held node
    inj: np.ndarray         # (N,) current-source column or -1
    nudge: np.ndarray       # (T,) nudge sign of each twin
    out_node: np.ndarray    # (K,) output nodes
    unk_nodes: np.ndarray   # (nu,) nodes solved for (not sources, not ground)
    diag_slot: np.ndarray   # (nu,) slot of each unknown's diagonal in the LU values
    s_ab: np.ndarray        # (E,) slots of each edge's entries (-1: none)
    s_ba: np.ndarray
    s_aa: np.ndarray
    s_bb: np.ndarray
    row_ptr: np.ndarray     # the LU pattern on the unknowns (linalg.Pattern)
    col: np.ndarray
    ldiag: np.ndarray
    perm: np.ndarray


class LearningRule(NamedTuple):
    """Parameters of the learning rule dθ/dt (kernels.gate_rates)."""
    la: int                 # twin whose ΔV² adds
    lb: int                 # twin whose ΔV² subtracts
    scale: float            # 1, or ½ for symmetric nudging
    bias_fn: object         # numba cfunc b(θ, ΔV_la, ΔV_lb) (a zero one when unused)
    use_bias_fn: bool
    leak: np.ndarray        # (E,) 1/(R_d C0), 1/s
    read_noise: np.ndarray  # (T, N) this segment's read offsets, V (written by the loop)


class Table(NamedTuple):
    """One period of segments (tdsim.compile.table.Table), S rows, run ``repeat`` times."""
    dur: np.ndarray         # (S,) s
    src: np.ndarray         # (S, n_src) source base values
    amp: np.ndarray         # (S, n_src) waveform amplitudes
    omega: np.ndarray       # (S, n_src) rad/s
    wave: np.ndarray        # (S, n_src) WAVE_* codes
    labels: np.ndarray      # (S, K)
    eta: np.ndarray         # (S,) η, or β (S) for a force nudge
    learn_on: np.ndarray    # (S,) bool
    mode: np.ndarray        # (S,) NUDGE_* codes
    offset: np.ndarray      # (K,) measurement offset of each output
    L0: np.ndarray          # (S,) overclamping amplitude
    partner: np.ndarray     # (K,) the other output of a differential pair, or -1
    osign: np.ndarray       # (K,) +1 (O+ and single outputs), -1 (O-)
    timing: np.ndarray      # (S,) DUR_* codes
    pass_end: np.ndarray    # (S,) bool
    pass_tau: np.ndarray    # (S,) s
    period_end: np.ndarray  # (S,) bool
    record: np.ndarray      # (S,) bool: an event record at the segment's end
    repeat: int
    rise: np.ndarray        # (S,) s: the sources ramp linearly from their values at the segment's start (0: jump)
    knot_t: np.ndarray      # (M,) knot times of every piecewise-linear source (WAVE_PWL), absolute s
    knot_v: np.ndarray      # (M,) knot values
    k_first: np.ndarray     # (S, n_src) first knot of a WAVE_PWL source
    k_end: np.ndarray       # (S, n_src) one past its last knot
    k_rep: np.ndarray       # (S, n_src) knot from which it repeats after its last one, or -1 (holds)
    prologue: int           # the first rows run once; the rest (one period) ``repeat`` times


class Drive(NamedTuple):
    """What drives the circuit during one segment (one table row)."""
    base: np.ndarray        # (n_src,) source base values
    amp: np.ndarray         # (n_src,)
    omega: np.ndarray       # (n_src,)
    wave: np.ndarray        # (n_src,)
    labels: np.ndarray      # (K,)
    eta: float              # η (clamping rules) or β (force)
    learn_on: bool
    mode: int               # NUDGE_* code
    offset: np.ndarray      # (K,)
    L0: float
    partner: np.ndarray     # (K,)
    osign: np.ndarray       # (K,)
    knot_t: np.ndarray      # (M,) knots of the piecewise-linear sources
    knot_v: np.ndarray
    k_first: np.ndarray     # (n_src,)
    k_end: np.ndarray       # (n_src,)
    k_rep: np.ndarray       # (n_src,)
    rise: float             # s, ramp from ``start`` at the segment's start (0: the sources jump)
    t_start: float          # the segment's start time, s
    start: np.ndarray       # (n_src,) source values at the segment's start, before the switch


@njit(cache=True, inline="always")
def row_of(tab, seg):
    """The table row of segment ``seg`` of the run: the prologue's rows once, then the period's."""
    Q = tab.prologue
    return seg if seg < Q else Q + (seg - Q) % (tab.dur.shape[0] - Q)


@njit(cache=True, inline="always")
def drive(tab, row, t_start, start):
    """The drive of table row ``row`` (views into the table) for a segment that starts at
    ``t_start`` from source values ``start`` (its sources ramp from them over ``tab.rise[row]``)."""
    return Drive(tab.src[row], tab.amp[row], tab.omega[row], tab.wave[row], tab.labels[row], tab.eta[row],
                 tab.learn_on[row], tab.mode[row], tab.offset, tab.L0[row], tab.partner, tab.osign, tab.knot_t,
                 tab.knot_v, tab.k_first[row], tab.k_end[row], tab.k_rep[row], tab.rise[row], t_start, start)


class Coupled(NamedTuple):
    """The pattern of the exact Jacobian of the twin system (tdsim.compile.coupled)."""
    row_ptr: np.ndarray     # LU pattern on all twins' unknowns (index t·nu + u)
    col: np.ndarray
    ldiag: np.ndarray
    perm: np.ndarray
    cdiag: np.ndarray       # (T, nu) diagonal slots
    cs_ab: np.ndarray       # (T, E) edge slots per twin
    cs_ba: np.ndarray
    cs_aa: np.ndarray
    cs_bb: np.ndarray
    gslot: np.ndarray       # (E, 2T, 4+K) slots of the eliminated gates' coupling
    oslot: np.ndarray       # (T, E, K) held-output neighbours' columns of the free outputs
    fslot: np.ndarray       # (T, K) force-from-free columns
    unk: np.ndarray         # (N,) a node's unknown index or -1


class Rosenbrock(NamedTuple):
    """A Rosenbrock tableau in the engine's k-form (tableaus.py)."""
    a: np.ndarray
    c: np.ndarray
    m: np.ndarray
    e: np.ndarray
    gamma: float
    order: float            # step control exponent 1/order
    ct: np.ndarray          # stage times / h
    d: np.ndarray           # h² ∂f/∂t coefficients (exact Jacobian only)


class Explicit(NamedTuple):
    """An explicit FSAL Runge–Kutta pair (tableaus.py)."""
    a: np.ndarray
    c: np.ndarray
    e: np.ndarray           # b − b̂
    order: float


# slots of the step-control array ``tol`` (an array, not a record: passed as a NamedTuple of
# scalars to the explicit and W-method steps it made them 10-20 % slower per step on the 2+1 circuit)
TOL_RTOL, TOL_ATOL, TOL_RTOL_V, TOL_ATOL_V, TOL_W_MAX, TOL_V_BOUND = range(6)


def tolerances(rtol: float, atol: float, rtol_v: float, atol_v: float, w_max: int,
               v_bound: float = np.inf) -> np.ndarray:
    """The step-control array: relative and absolute tolerances of the gates θ and of the node
    voltages, the steps one factorization of W may serve (W-methods), and the node voltage
    |V| a passive network cannot exceed (the loop stops with RUNAWAY past it)."""
    tol = np.empty(6)
    tol[TOL_RTOL], tol[TOL_ATOL], tol[TOL_RTOL_V], tol[TOL_ATOL_V], tol[TOL_W_MAX] = rtol, atol, rtol_v, atol_v, w_max
    tol[TOL_V_BOUND] = v_bound
    return tol


class Noise(NamedTuple):
    seed: int
    update: float           # σ of the gates' random walk, V/√s
    read: float             # σ of the per-segment read offsets, V


class Recording(NamedTuple):
    """The buffers the loop records into: samples, then segment-end events."""
    t: np.ndarray           # (K,)
    V: np.ndarray           # (K, T, N)
    theta: np.ndarray       # (K, E)
    ev_t: np.ndarray        # (M,)
    ev_seg: np.ndarray      # (M,)
    ev_V: np.ndarray        # (M, T, N)
    ev_theta: np.ndarray    # (M, E)


class Sensitivity(NamedTuple):
    """Forward sensitivities carried by an exact-Jacobian run (core/sensitivity.py): column j is
    ∂(V, θ)/∂(seeded direction j), advanced with every accepted step. No columns: none carried."""
    V: np.ndarray           # (M, T, N) node voltages (held nodes: 0, they are algebraic)
    theta: np.ndarray       # (M, E)
    dV: np.ndarray          # (M, T, N) C dS_V/dt at the last step's end (TR-BDF2's trapezoidal stage)
    dtheta: np.ndarray      # (M, E) dS_θ/dt there
    V0: np.ndarray          # (M, T, N) work: S at the step's start
    theta0: np.ndarray      # (M, E)
    rV: np.ndarray          # (T, N) work: a stage's right-hand side
    rtheta: np.ndarray      # (E,)
    live: np.ndarray        # (M,) bool work: the columns not identically zero this step


def sensitivity(M: int, T: int, N: int, E: int) -> Sensitivity:
    """M columns, all zero (M = 0: none carried)."""
    return Sensitivity(np.zeros((M, T, N)), np.zeros((M, E)), np.zeros((M, T, N)), np.zeros((M, E)),
                       np.zeros((M, T, N)), np.zeros((M, E)), np.zeros((T, N)), np.zeros(E),
                       np.zeros(M, dtype=np.bool_))


class Work(NamedTuple):
    """Work arrays of the steps (allocated by loop.integrate)."""
    kV: np.ndarray          # (7, T, N) stage slopes of the nodes
    kth: np.ndarray         # (7, E) stage slopes of the gates
    V1: np.ndarray          # (T, N) state at the step's end
    Vs: np.ndarray          # (T, N) stage state
    th1: np.ndarray         # (E,)
    ths: np.ndarray         # (E,)
    errv: np.ndarray        # (T, N) error estimate
    errth: np.ndarray       # (E,)
    vals_c: np.ndarray      # (classes, T, nnz) per drive class (quasi-static): each twin's last factorization,
    Vg_c: np.ndarray        # (classes, T, N) the solution at its last segment's end,
    fact_c: np.ndarray      # (classes,) whether the factorization is usable,
    seen_c: np.ndarray      # (classes,) whether a solution is held
    thg_c: np.ndarray       # (classes, E) and at which gates
    Vb: np.ndarray          # (T, N) the stage-0 solution (quasi-static prediction)
    I: np.ndarray           # (N,) node currents
    rhs: np.ndarray         # (nu,)
    x: np.ndarray           # (nu,)
    work: np.ndarray        # (nu,)
    src: np.ndarray         # (n_src,) source values at a stage


class ExactWork(NamedTuple):
    """Work arrays of the exact-Jacobian step (rodas.rodas_step)."""
    vals: np.ndarray        # coupled LU values
    rhs: np.ndarray         # (T·nu,)
    x: np.ndarray
    work: np.ndarray
    Iall: np.ndarray        # (T, N) currents
    Dh: np.ndarray          # (T, N, K) held-output slopes
    Vp: np.ndarray          # (T, N) a state copy
    eff: np.ndarray         # (E, 4+K) J_θV rows
    gcol: np.ndarray        # (E, T) ∂I/∂θ
    gfac: np.ndarray        # (E,) 1/(1 − γh J_θθ)
    rth: np.ndarray         # (E,) gate rhs
    ftV: np.ndarray         # (T, N) ∂I/∂t
    ftth: np.ndarray        # (E,) ∂r/∂t
    Itmp: np.ndarray        # (N,) a current vector
