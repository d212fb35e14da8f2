"""Envelope following for long periodic runs (docs/integrators.md, "Long runs: envelope following").

A periodic schedule runs one period (a pass of the data points, or the two-task period) again and
again. Write x_k for the state at the end of k passes: the edge states θ and the node voltages V
of every twin (they carry over from one pass to the next under full RC). The pass map
x_{k+1} = P(x_k) is what ``simulate`` computes, exactly, over one pass. When the gates move little
per pass, x_k are samples at integer k of a smooth envelope X(k) with dX/dk = f(X) (f = log P
near a slow manifold), and the envelope can be integrated with steps of many passes
(Petzold 1981; Kundert, White & Sangiovanni-Vincentelli 1988; projective integration,
Gear & Kevrekidis 2003):

1. **Exact passes.** From the current state run ``passes`` (m) passes exactly with ``simulate``
   (any integrator, full RC included). They re-synchronize the fast node voltages with the gates
   (an extrapolated V relaxes within the first pass) and give the envelope's slope at the last of
   them by the backward differentiation formula of order m,
   d = Σ_{j=1..m} ∇^j x / j (error X^{(m+1)}/(m+1) per pass).
2. **Envelope step.** A variable-step Adams–Bashforth step of order q (``order``, default 2) of
   H passes on dX/dk = d for the gates θ: the integral over the step of the polynomial through
   the slopes at the last q base points (forward Euler while fewer are known). θ is clipped at
   its limits afterwards. Under full RC the node voltages of the last exact pass are moved with
   the gates, by the change of the Kirchhoff solution at the pass's last segment (``_Settled``):
   left as they were, the next exact pass starts with an RC transient that kicks θ, an error per
   step that no tolerance controls (on the 4x4 CLLN over 10 s it held the gate error near
   1.2e-5 V whatever the tolerance). Extrapolating them along their own slope was measured worse:
   the extrapolated V lies off the slow manifold.
3. **Error control.** After the exact passes at the step's end, the new slope gives the step
   once more with one order more (the polynomial through the last q base points and the new
   one, integrated over the same step): their difference estimates the step's local error
   (the predictor–corrector difference of Adams methods). Its maximum over learning edges is
   compared with a tenth of ``envelope_tol`` (V; ``LOCAL``: the local errors of many steps add
   up, and with the full tolerance per step the error after 300 passes of the 2+1 network was
   1.2–3.8 times ``envelope_tol``): above, the step is rejected (the state goes back to the
   base point, H shrinks; below H_MIN the run goes on pass by pass for a while); otherwise the
   next H = H · clip(0.9 (tol/err)^{1/(q+1)}, 0.2, 3), and the state after the exact passes is
   moved by the difference (local extrapolation, as Adams predictor–corrector codes do: the step
   taken is the one of order q + 1, the estimate that of order q, so it is conservative). The
   local errors of an order-q step share their sign along a smooth decay and add up step after
   step: on the 4x4 CLLN (2500 passes, tol 1e-5 V) the gate error grew by ~1e-6 V per step to
   2.5e-5 V; corrected it is 5.8e-6 V with the same steps.

The scheme is explicit, so its steps are bounded by stability as well as accuracy: H λ must stay
inside the Adams–Bashforth stability interval (2, 1, 0.55 for q = 1, 2, 3) for the fastest
decaying gate mode, λ its rate per pass. Envelope steps therefore cover at most about one time
constant of the fastest learning mode; the gain over direct stepping is large only where every
learning mode is slow compared with a pass.

Passes start at the same drive phase: waveforms use absolute time, so the pass period must hold
a whole number of periods of every source waveform (checked), and an envelope step of H passes
advances time by exactly H pass periods. Update and read noise (their streams are indexed by the
global segment counter) and overclamping (pass durations depend on the state) are refused. The
last pass of the schedule is always exact.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from tdsim.compile.build import Compiled
from tdsim.compile.table import Table, aperiodic_drive
from tdsim.core.codes import DONE
from tdsim.core.methods import METHODS
from tdsim.core.records import F_PASS0, F_T, I_FACT, I_NEWSEG, I_REJ, I_SAMPLE, I_SEG, I_STEPS
from tdsim.errors import SpecError
from tdsim.simulation.probes import Kirchhoff, segment_drive
from tdsim.simulation.simulate import Options, State, Trajectory, engine, initial_state, simulate

GROW, SHRINK, SAFETY = 3.0, 0.2, 0.9     # step-size controller: largest growth, largest cut, safety factor
H_MIN = 2             # passes: a shorter envelope step is not worth its error estimate; the run goes
DIRECT_PASSES = 2     # on pass by pass for this many times ``passes`` exact passes, then tries H_MIN again
LOCAL = 0.1           # each step's estimated local error is held below LOCAL x envelope_tol, so that the
                      # accumulated error stays below envelope_tol (2+1 network, 300 passes: 1.2-3.8x tol at 1)
DEBUG = False
EXTRAPOLATE_V = False   # measured worse: the extrapolated V is off the slow manifold and kicks θ


@dataclass
class Envelope:
    """What ``envelope`` hands back. States are indexed by passes done: ``passes[i]`` passes after the
    start (0: the initial state), at time ``t[i]`` (the end of that pass)."""
    passes: np.ndarray        # (K,) passes done at each state
    t: np.ndarray             # (K,) s
    theta: np.ndarray         # (K, E)
    V: np.ndarray             # (K, T, N)
    exact: np.ndarray         # (K,) bool: from an exact pass (True) or an envelope step (False)
    event_t: np.ndarray       # (M,) segment ends recorded in the exact passes (as a direct run records them)
    event_seg: np.ndarray     # (M,) their segment index over the whole run (pass j, row r: j·P + r)
    event_V: np.ndarray       # (M, T, N)
    event_theta: np.ndarray   # (M, E)
    exact_passes: dict = field(default_factory=dict)   # pass j (from state j to j+1) -> its Trajectory,
                                                       # samples at the run's record_interval / save_at
    stats: dict = field(default_factory=dict)
    state: State | None = None                         # the state at the end


def check_envelope(c: Compiled, tab: Table) -> float:
    """Refuse what envelope following cannot represent (one-line SpecError naming the key); return the
    pass period, s."""
    if c.noise_update > 0 or c.noise_read > 0:
        key = "noise_update" if c.noise_update > 0 else "noise_read"
        raise SpecError(key, "envelope following needs a deterministic pass map: noise is drawn per segment of "
                             "the whole run and no pass repeats another (set envelope = false, or no noise)")
    why = aperiodic_drive(tab, c.source_nodes)
    if why:
        raise SpecError("envelope", f"envelope following needs passes that repeat the same map: {why}")
    return float(np.sum(tab.dur))


def _bdf_slope(xs: list) -> np.ndarray:
    """Slope at the last of equally spaced (one pass) states by the backward differentiation formula
    of order len(xs) − 1: Σ_j ∇^j x / j."""
    diffs = [np.asarray(x) for x in xs]
    d = np.zeros_like(diffs[-1])
    for j in range(1, len(xs)):
        diffs = [b - a for a, b in zip(diffs[:-1], diffs[1:])]
        d += diffs[-1] / j
    return d


def _adams(points: list, k0: float, H: float) -> np.ndarray:
    """∫ from k0 to k0 + H of the polynomial through the slopes ``points`` [(k_i, d_i)]: the
    increment of a variable-step Adams–Bashforth step of order len(points)."""
    ks = np.array([p[0] for p in points], dtype=float)
    u = (ks - k0) / H                                   # scaled nodes: the step is [0, 1]
    inc = np.zeros_like(points[0][1])
    for i, (_, di) in enumerate(points):
        others = np.delete(u, i)
        L = np.poly(others) / np.prod(u[i] - others) if len(others) else np.array([1.0])
        w = np.polyval(np.polyint(L), 1.0) - np.polyval(np.polyint(L), 0.0)
        inc = inc + (H * w) * di
    return inc


class _Settled:
    """The Kirchhoff solution at the pass's last segment (row ``row`` of one pass, at its end ``t``):
    what the node voltages at a pass end settle to. An envelope step moves the base state's node
    voltages by its change from the base gates to the stepped ones (``moved``): what the base pass
    left unsettled stays, the settled part follows the gates, and the next exact pass starts
    without the RC transient (and the kick on θ) that stale voltages would give it."""

    def __init__(self, c: Compiled, one: Table, row: int, t: float):
        self.solver = Kirchhoff(c)
        self.drv, self.src = segment_drive(one, row, t)

    def moved(self, base: State, theta: np.ndarray) -> np.ndarray:
        """V of ``base`` moved to the gates ``theta`` (unmoved where a Kirchhoff solve fails)."""
        before, st = self.solver.solve(base.theta, self.drv, self.src, base.V)
        if st == DONE:
            after, st = self.solver.solve(theta, self.drv, self.src, before)
        return base.V + (after - before) if st == DONE else base.V.copy()


def envelope(c: Compiled, tab: Table, opt: Options = Options(), theta0=None, V0=None, tol: float | None = None,
             passes: int | None = None, order: int = 2, exact_at=(), on_pass=None) -> Envelope:
    """Follow the envelope of the periodic run ``tab`` (``tab.repeat`` passes of its rows) with
    error-controlled steps of many passes (module docstring). ``tol``: the local error allowed per
    envelope step on the learning gates, V (default ``opt.envelope_tol``); ``passes``: exact passes
    per base point (order of the slope estimate, ≥ 2; default ``opt.envelope_passes``);
    ``exact_at``: times (s) whose pass is run exactly and kept with its samples (``Envelope.exact_passes``; the last pass always is);
    ``on_pass(k, t)`` is called after every pass done or stepped over."""
    opt.validate()
    tol = float(opt.envelope_tol if tol is None else tol)
    passes = opt.envelope_passes if passes is None else passes
    if not (tol > 0 and math.isfinite(tol)):
        raise SpecError("envelope_tol", f"must be a positive voltage, got {tol!r}")
    if isinstance(passes, bool) or not isinstance(passes, (int, np.integer)) or passes < 2:
        raise SpecError("passes", f"exact passes per envelope step: an integer >= 2, got {passes!r}")
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 1 <= order <= 4:
        raise SpecError("order", f"order of the envelope steps: 1 to 4, got {order!r}")
    q = int(order)
    Tp = check_envelope(c, tab)
    one = dataclasses.replace(tab, repeat=1)          # one pass; state j runs it from t_j on
    P, N, m = len(tab.dur), int(tab.repeat), int(passes)
    inner = dataclasses.replace(opt, record_interval=0.0, save_at=None, cycle_tol=0.0, envelope=False)
    outer = dataclasses.replace(opt, cycle_tol=0.0, envelope=False)
    wanted = {N - 1} | {min(N - 1, max(0, int(math.floor(t / Tp * (1 + 1e-12))))) for t in exact_at}
    learn = np.asarray(c.learn, dtype=bool)
    gmin, gmax = c.gmin[learn], c.gmax[learn]
    E = c.E

    st = initial_state(c, one, opt, theta0, V0)
    passes_engine = engine(c, one, inner)             # the unrecorded passes' (built once)
    # full RC: V carries over and follows the gates over a step (quasi-static: solved from θ anyway)
    settled = None if METHODS[opt.integrator].quasistatic else _Settled(c, one, P - 1, Tp)
    states = [(0, float(st.fstate[F_T]), st.theta.copy(), st.V.copy(), True)]
    events = []                                       # (t, seg, V, θ) arrays of each exact pass
    kept = {}
    count = {"exact": 0, "rejected": 0, "steps": 0, "wasted": 0, "steps_in_passes": 0, "factorizations": 0,
             "rejected_in_passes": 0}

    def pack(s):
        return np.concatenate([s.theta, s.V.ravel()])

    def run_pass(s: State, j: int) -> State:
        s = s.copy()
        s.istate[I_SEG], s.istate[I_NEWSEG] = 0, 1
        s.th_period[:] = s.theta
        s.fstate[F_PASS0] = s.fstate[F_T]
        o = inner
        if j in wanted:
            o = outer
            t0 = float(s.fstate[F_T])
            if opt.save_at is not None:
                s.istate[I_SAMPLE] = int(np.searchsorted(np.asarray(opt.save_at), t0 * (1 - 1e-12), "left"))
            elif opt.record_interval > 0:
                s.istate[I_SAMPLE] = int(math.ceil(t0 / opt.record_interval * (1 - 1e-12)))
        before = s.istate[I_STEPS], s.istate[I_FACT], s.istate[I_REJ]
        traj = simulate(c, one, o, state=s, eng=None if j in wanted else passes_engine)
        count["exact"] += 1
        count["steps_in_passes"] += int(traj.state.istate[I_STEPS] - before[0])
        count["factorizations"] += int(traj.state.istate[I_FACT] - before[1])
        count["rejected_in_passes"] += int(traj.state.istate[I_REJ] - before[2])
        events.append((traj.event_t, traj.event_seg + j * P, traj.event_V, traj.event_theta))
        if j in wanted:
            kept[j] = traj
        s = traj.state
        states.append((j + 1, float(s.fstate[F_T]), s.theta.copy(), s.V.copy(), True))
        if on_pass is not None:
            on_pass(j + 1, float(s.fstate[F_T]))
        return s

    k = 0
    hist = []                 # accepted base points: (k, slope)
    base = None               # before the last envelope step: (k, state, len(hist), len(states), len(events),
                              # slope there, the step's increment)
    H = float(m)
    H_last = 0
    direct = 0                # passes left to run exactly before the next envelope step is tried
    converged = False
    while k < N:
        # exact passes: re-synchronize and measure the slope
        xs = [pack(st)]
        for _ in range(min(m, N - k)):
            prev = st.theta[learn].copy()
            st = run_pass(st, k)
            k += 1
            xs.append(pack(st))
            if opt.cycle_tol > 0 and k > 1 and np.max(np.abs(st.theta[learn] - prev), initial=0.0) < opt.cycle_tol:
                converged = True
                break
        if converged or k >= N:
            break
        d = _bdf_slope(xs)
        if base is not None:                          # the error of the envelope step just taken
            kb = base[0]
            nodes = hist[-order:]
            new = _adams(nodes + [(k, d)], kb, H_last)   # one degree higher, with the slope just measured
            est_v = np.abs(new - base[6])
            est = float(np.max(est_v[:E][learn], initial=0.0))
            err = est / (LOCAL * tol)
            fac = GROW if err == 0 else min(GROW, max(SHRINK, SAFETY * err ** (-1.0 / (order + 1))))
            if err > 1.0:                             # reject: back to the base point, shorter step
                count["rejected"] += 1
                count["wasted"] += k - kb - H_last
                k, st = kb, base[1]
                del hist[base[2]:], states[base[3]:], events[base[4]:]
                for j in [j for j in kept if j >= kb]:
                    del kept[j]
                H = math.floor(H_last * min(fac, 0.9))
                d = base[5]
                base = None
                if H < H_MIN:                         # too fast for the envelope here: go on pass by pass
                    direct = DIRECT_PASSES * m
                    H = H_MIN
            else:
                H = max(1.0, math.floor(H_last * fac), H_last + 1.0 if fac >= 1.2 else 0.0)
                # local extrapolation: the accepted step is corrected to the higher-order value, and
                # the exact passes run since carry the correction (their map is ~ the identity on
                # it: every multiplier within 1 % of 1 where envelope steps pay)
                st = st.copy()
                st.theta[learn] = np.clip(st.theta[learn] + (new - base[6])[:E][learn], gmin, gmax)
                states[-1] = (*states[-1][:2], st.theta.copy(), *states[-1][3:])
            if DEBUG:
                print(f"envelope: k {k} H_last {H_last} est {est:.3g} -> {'rejected' if base is None else 'ok'}, H {H}")
        if base is not None or not hist or hist[-1][0] != k:
            hist.append((k, d))
        # the envelope step: leave m exact passes at the end, land on the start of a wanted pass
        Hs = min(H, N - m - k, *(j - k for j in wanted if j >= k))
        Hs = int(Hs)
        if direct > 0:
            Hs, direct = 0, max(0, direct - m)
        if Hs < 1:
            base = None
            continue
        order = min(q, len(hist))
        inc = _adams(hist[-order:], k, Hs)
        base = (k, st.copy(), len(hist), len(states), len(events), d, inc)
        x = pack(st) + inc
        st = st.copy()
        st.theta[:] = x[:E]
        st.theta[learn] = np.clip(st.theta[learn], gmin, gmax)
        if EXTRAPOLATE_V:
            st.V[:] = x[E:].reshape(st.V.shape)
        elif settled is not None:
            st.V[:] = settled.moved(base[1], st.theta)
        st.fstate[F_T] = float(st.fstate[F_T]) + Hs * Tp
        k += Hs
        H_last = Hs
        count["steps"] += 1
        states.append((k, float(st.fstate[F_T]), st.theta.copy(), st.V.copy(), False))
        if on_pass is not None:
            on_pass(k, float(st.fstate[F_T]))

    ks, ts, ths, Vs, ex = zip(*states)
    ev = [np.concatenate(a) for a in zip(*events)] if events else \
        [np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros((0, c.T, c.N)), np.zeros((0, E))]
    stats = {"passes": int(ks[-1]), "passes_exact": count["exact"], "envelope_steps": count["steps"],
             "envelope_rejected": count["rejected"], "rejected": count["rejected_in_passes"], "passes_wasted": int(count["wasted"]), "converged": converged,
             "t_end": float(ts[-1]), "pass_period": Tp, "envelope_tol": tol, "exact_per_step": m,
             "steps": count["steps_in_passes"], "factorizations": count["factorizations"]}
    return Envelope(np.array(ks), np.array(ts), np.array(ths), np.array(Vs), np.array(ex), *ev,
                    exact_passes=kept, stats=stats, state=st)
