"""The event table the engine walks: consecutive segments with sources (constant or a waveform),
labels, η, the nudge rule and learning on/off. Protocols compile to this; the engine never sees
Python objects.

A schedule is periodic: an optional prologue run once, then one period (or pass) of segments run
``repeat`` times (``Schedule``); the table holds the prologue's rows, then the period's, and the
repeat count, and the engine reads row ``Table.row(seg)`` (seg for the prologue, then Q + (seg − Q)
mod S) for the global segment counter ``seg`` (0 … Q + S·repeat). A plain list of segments is a
schedule with repeat = 1. A period may list one Segment object several times (a point held
again and again): it is compiled once, so long periods cost one list entry per hold.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tdsim.errors import SpecError
from tdsim.core import records
from tdsim.core.codes import DUR_FIXED, DUR_OVERCLAMP, DUR_OVERCLAMP_CLASS, WAVE_ABS_SIN, WAVE_CONSTANT, WAVE_PWL
from tdsim.model.schedule import DURATIONS, FORCES, NUDGES, WAVES, Schedule, Segment, Waveform, period, prologue


UNROLL_LIMIT = 2_000_000     # rows Table.unrolled builds at most (about 0.3 GB of arrays)


@dataclass
class Table:
    """The compiled arrays of one period (S rows) and how many times it runs."""
    dur: np.ndarray      # (S,) durations, s (the nominal ones for overclamping segments)
    src: np.ndarray      # (S, n_src) base values
    amp: np.ndarray      # (S, n_src) waveform amplitudes
    omega: np.ndarray    # (S, n_src) angular frequencies, rad/s
    wave: np.ndarray     # (S, n_src) WAVE_* codes
    labels: np.ndarray   # (S, n_out)
    eta: np.ndarray      # (S,) nudge amplitude: η (clamping rules) or β in S (force)
    learn: np.ndarray    # (S,) bool
    mode: np.ndarray     # (S,) NUDGE_* codes
    offset: np.ndarray   # (n_out,) offset added to the measured free output that drives the clamp
    L0: np.ndarray       # (S,)
    partner: np.ndarray  # (n_out,) index of the other output of a differential pair, or -1
    osign: np.ndarray    # (n_out,) +1 for O+ (and single outputs), -1 for O-
    timing: np.ndarray   # (S,) DUR_* codes
    pass_end: np.ndarray   # (S,) bool
    pass_tau: np.ndarray   # (S,)
    period_end: np.ndarray  # (S,) bool
    record: np.ndarray   # (S,) bool: event record at the end
    repeat: int = 1      # periods run: the engine's segment counter goes 0 … S·repeat
    rise: np.ndarray | None = None     # (S,) s: ramp time of the sources at the segment's start
    knot_t: np.ndarray | None = None   # (M,) knots of the piecewise-linear sources (PULSE, PWL), s
    knot_v: np.ndarray | None = None   # (M,)
    k_first: np.ndarray | None = None  # (S, n_src) a WAVE_PWL source's first knot
    k_end: np.ndarray | None = None    # (S, n_src) one past its last
    k_rep: np.ndarray | None = None    # (S, n_src) the knot it repeats from after its last, or -1
    prologue: int = 0    # the first rows run once, before the period (the other rows) runs ``repeat`` times

    def __post_init__(self):
        S, J = self.src.shape
        if self.rise is None:
            self.rise = np.zeros(S)
        if self.knot_t is None:
            self.knot_t, self.knot_v = np.zeros(1), np.zeros(1)
        for name in ("k_first", "k_end", "k_rep"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros((S, J), dtype=np.int64))

    @property
    def period_rows(self) -> int:
        """Rows of one period (the rows after the prologue)."""
        return len(self.dur) - self.prologue

    @property
    def segments(self) -> int:
        """Segments in the whole run, Q + S·repeat (Q prologue rows, S per period)."""
        return self.prologue + self.period_rows * self.repeat

    @property
    def duration(self) -> float:
        """Nominal duration of the whole run, s (exact for fixed-duration segments)."""
        Q = self.prologue
        return float(self.dur[:Q].sum()) + float(self.dur[Q:].sum()) * self.repeat

    @property
    def t_end(self) -> np.ndarray:
        """Nominal end times of every segment of the run (Q + S·repeat of them; exact for
        fixed-duration segments)."""
        return self.unrolled().t_end if (self.repeat > 1 or self.prologue) else np.cumsum(self.dur)

    def row(self, seg: int) -> int:
        """The table row of segment ``seg`` of the run (records.row)."""
        Q = self.prologue
        return seg if seg < Q else Q + (seg - Q) % self.period_rows

    def unrolled(self, limit: int = UNROLL_LIMIT) -> "Table":
        """The same run as one period of Q + S·repeat rows (repeat = 1, no prologue); refused above
        ``limit`` rows."""
        if self.repeat == 1 and not self.prologue:
            return self
        if self.segments > limit:
            raise SpecError("repeat", f"{self.period_rows} segments per period x {self.repeat} periods = "
                            f"{self.segments} segments: too many to unroll (limit {limit}); work on one "
                            "period (the table's rows, Table.duration) or run fewer periods")
        per_row = {"offset", "partner", "osign", "knot_t", "knot_v"}
        order = np.concatenate([np.arange(self.prologue)] +
                               [np.arange(self.prologue, len(self.dur))] * self.repeat).astype(np.int64)
        return Table(**{k: (v if k in per_row else v[order])
                        for k, v in vars(self).items() if k not in ("repeat", "prologue")})

    def arrays(self) -> records.Table:
        """The engine's view of the table."""
        return records.Table(self.dur, self.src, self.amp, self.omega, self.wave, self.labels, self.eta, self.learn,
                             self.mode, self.offset, self.L0, self.partner, self.osign, self.timing, self.pass_end,
                             self.pass_tau, self.period_end, self.record, self.repeat, self.rise, self.knot_t,
                             self.knot_v, self.k_first, self.k_end, self.k_rep, self.prologue)


def table(segments, compiled, output_offset: dict | None = None, differential=()) -> Table:
    """Compile a schedule (a ``Schedule``, or a list of segments: repeat = 1) against a compiled
    circuit; unspecified sources keep their defaults. ``differential``: pairs (O+, O-) of outputs
    read as one differential output O+ − O-, whose label is given on both. Each distinct Segment
    object is checked and compiled once (errors name its first position in the period)."""
    one, repeat = period(segments)
    pro = prologue(segments)
    one = list(pro) + list(one)         # the prologue's rows first
    if len(one) == len(pro):
        raise SpecError("segments", "at least one segment is needed")
    index, distinct = {}, []                 # distinct Segment objects, with their first position
    row = np.empty(len(one), dtype=np.int64)   # each hold's row among them
    for i, seg in enumerate(one):
        k = index.get(id(seg))
        if k is None:
            k = index[id(seg)] = len(distinct)
            distinct.append((i, seg))
        row[i] = k
    u = _compile(distinct, compiled)
    offset = np.zeros(len(u["out"]))
    if output_offset is None:
        output_offset = getattr(compiled, "output_offset", None) or {}
    _fill(offset, output_offset, u["out"], "output_offset", "not an output node")
    partner = np.full(len(u["out"]), -1, dtype=np.int64)
    osign = np.ones(len(u["out"]))
    for pair in differential:
        if len(pair) != 2 or any(p not in u["out"] for p in pair) or pair[0] == pair[1]:
            raise SpecError("differential", f"{pair!r} is not a pair of distinct output nodes")
        p, m = u["out"][pair[0]], u["out"][pair[1]]
        if partner[p] >= 0 or partner[m] >= 0:
            raise SpecError("differential", f"output in {pair!r} already belongs to a pair")
        partner[p], partner[m], osign[m] = m, p, -1.0
    if np.any(partner >= 0) and any(s.nudge in FORCES for _, s in distinct):
        raise SpecError("differential", "the force nudge on differential outputs is not supported yet")
    x = {k: v[row] for k, v in u.items() if k not in ("out", "knot_t", "knot_v")}       # one row per hold of the period
    return Table(x["dur"], x["src"], x["amp"], x["omega"], x["wave"], x["labels"], x["eta"], x["learn"],
                 x["mode"], offset, x["L0"], partner, osign, x["timing"], x["pass_end"], x["pass_tau"],
                 x["period_end"], x["record"], repeat, x["rise"], u["knot_t"], u["knot_v"], x["k_first"], x["k_end"],
                 x["k_rep"], len(pro))


def _compile(numbered, compiled) -> dict:
    """Rows of the distinct segments ``numbered`` = [(position, Segment)], checked."""
    col = {n: j for j, n in enumerate(compiled.source_nodes)}
    out = {n: k for k, n in enumerate(compiled.output_nodes)}
    S, J = len(numbered), len(col)
    src = np.repeat(compiled.default_sources()[None], S, axis=0)
    amp, omega = np.zeros((S, J)), np.zeros((S, J))
    wave = np.zeros((S, J), dtype=np.int64)
    labels = np.zeros((S, len(out)))
    dur = np.empty(S)
    k_first, k_end, k_rep = (np.zeros((S, J), dtype=np.int64) for _ in range(3))
    knot_t, knot_v, placed = [np.zeros(1)], [np.zeros(1)], {}    # knot 0: a placeholder
    segments = [seg for _, seg in numbered]
    for i, (pos, seg) in enumerate(numbered):
        key = f"segments[{pos}]"
        if not (seg.duration > 0 and np.isfinite(seg.duration)):
            raise SpecError(key + ".duration", f"must be a positive time, got {seg.duration!r}")
        _fill(src[i], seg.sources, col, f"{key}.sources", "no source on this node")
        _fill(labels[i], seg.labels, out, f"{key}.labels", "not an output node")
        for node, w in seg.waveforms.items():
            k = f"{key}.waveforms.{node}"
            if node not in col:
                raise SpecError(k, "no source on this node")
            j = col[node]
            if w.kind in ("pulse", "pwl"):
                if node in seg.sources:
                    raise SpecError(f"{key}.sources.{node}", f"the source has a {w.kind} waveform, which gives "
                                                             "its value: give one or the other")
                if id(w) not in placed:
                    t_k, v_k, r_k = w.knots(k)
                    first = sum(len(a) for a in knot_t)
                    knot_t.append(t_k)
                    knot_v.append(v_k)
                    placed[id(w)] = (first, first + len(t_k), first + r_k if r_k >= 0 else -1)
                wave[i, j] = WAVES[w.kind]
                k_first[i, j], k_end[i, j], k_rep[i, j] = placed[id(w)]
                continue
            if w.kind not in ("sin", "abs_sin"):
                raise SpecError(k + ".kind", f"unknown waveform {w.kind!r} (sin, abs_sin, pulse or pwl)")
            if not (np.isfinite(w.amplitude) and w.frequency > 0 and np.isfinite(w.frequency)):
                raise SpecError(k, "amplitude must be finite and frequency positive")
            wave[i, j], amp[i, j], omega[i, j] = WAVES[w.kind], w.amplitude, 2 * np.pi * w.frequency
        if not np.isfinite(seg.eta):
            raise SpecError(key + ".eta", "must be finite")
        if seg.nudge not in NUDGES:
            raise SpecError(key + ".nudge", f"unknown nudge {seg.nudge!r}; known: {', '.join(NUDGES)}")
        if not (np.isfinite(seg.beta) and seg.beta >= 0):
            raise SpecError(key + ".beta", f"must be a conductance >= 0, got {seg.beta!r}")
        if compiled.T > 1 and (seg.nudge in FORCES) != bool(getattr(compiled, "force_nudge", False)):
            raise SpecError(key + ".nudge", "a force nudge needs twins built with free outputs "
                            "(build(..., force_nudge=True)), and clamping needs held ones: one kind per run"
                            if seg.nudge in FORCES else
                            f"{seg.nudge!r} clamps the outputs, but the twins were built for the force nudge")
        if seg.timing not in DURATIONS:
            raise SpecError(key + ".timing", f"unknown timing {seg.timing!r}; known: {', '.join(DURATIONS)}")
        if seg.timing != "fixed" and len(out) == 0:
            raise SpecError(key + ".timing", "overclamping step times need an output")
        if not (np.isfinite(seg.rise) and seg.rise >= 0):
            raise SpecError(key + ".rise", f"must be a time >= 0, got {seg.rise!r}")
        dur[i] = seg.duration
    f = lambda name, dt=np.float64: np.array([getattr(s, name) for s in segments], dtype=dt)  # noqa: E731
    return {"out": out, "dur": dur, "src": src, "amp": amp, "omega": omega, "wave": wave, "labels": labels,
            "eta": np.array([s.beta if s.nudge in FORCES else s.eta for s in segments], dtype=np.float64),
            "learn": f("learn", np.bool_), "mode": np.array([NUDGES[s.nudge] for s in segments], dtype=np.int64),
            "L0": f("L0"), "timing": np.array([DURATIONS[s.timing] for s in segments], dtype=np.int64),
            "pass_end": f("pass_end", np.bool_), "pass_tau": f("pass_tau"), "period_end": f("period_end", np.bool_),
            "record": f("record", np.bool_), "rise": f("rise"), "knot_t": np.concatenate(knot_t),
            "knot_v": np.concatenate(knot_v), "k_first": k_first, "k_end": k_end, "k_rep": k_rep}


def _fill(row, values: dict, index: dict, key: str, unknown: str) -> None:
    for node, v in values.items():
        if node not in index:
            raise SpecError(f"{key}.{node}", unknown)
        if not np.isfinite(v):
            raise SpecError(f"{key}.{node}", "must be finite")
        row[index[node]] = v


PERIODIC_RTOL = 1e-9     # how close a waveform's cycles per protocol period must be to a whole number


def aperiodic_drive(tab: Table, source_nodes) -> str | None:
    """Why one period of ``tab`` (its rows, started at t = 0) is not the map every period of the run
    iterates, or None when it is: the period map of shooting and envelope following (which restart
    each period at t = 0 from the state alone) needs fixed durations (overclamping step times make
    the period's length part of the state), no prologue, no switching ramps (a period's first
    segment ramps from the previous period's end, which a restart at t = 0 does not see), sine
    waveforms completing whole cycles per period (|sin|: whole half cycles), and PULSE/PWL
    sources repeating from t = 0 with a period dividing it."""
    if np.any(tab.timing != DUR_FIXED):
        return ("overclamping step times r0|δ| make the period's length part of the state (not supported: "
                "needs fixed segment durations)")
    if tab.prologue:
        return "the schedule has a prologue: the map starts at the period (not supported yet)"
    if np.any(tab.rise > 0):
        return "switching ramps (rise) carry the previous period's end into the next period (not supported yet)"
    T = float(np.sum(tab.dur))
    for r, j in zip(*np.nonzero(tab.wave != WAVE_CONSTANT)):
        w, node = int(tab.wave[r, j]), source_nodes[j]
        if w == WAVE_PWL:
            a, b, rep = int(tab.k_first[r, j]), int(tab.k_end[r, j]), int(tab.k_rep[r, j])
            if b - a == 1:
                continue                                   # one knot: constant
            per = float(tab.knot_t[b - 1] - tab.knot_t[rep]) if rep >= 0 else 0.0
            k = T / per if per > 0 else 0.0
            if rep < 0 or tab.knot_t[rep] != 0.0 or abs(k - round(k)) > PERIODIC_RTOL * max(1.0, k) or round(k) < 1:
                return (f"the PULSE/PWL source {node!r} does not repeat every protocol period ({T:.6g} s) from t = 0: "
                        "it needs a repeat from time 0 (a PULSE without delay) with a period dividing it")
        elif tab.amp[r, j] != 0.0:
            half = math.pi if w == WAVE_ABS_SIN else 2 * math.pi
            k = tab.omega[r, j] * T / half
            if abs(k - round(k)) > PERIODIC_RTOL * max(1.0, k):
                return (f"the waveform of source {node!r} ({tab.omega[r, j] / 2 / math.pi:.6g} Hz) makes {k:.6g} cycles "
                        f"per protocol period ({T:.6g} s): a period must start at the same drive phase")
    return None
