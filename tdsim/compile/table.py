"""The event table the engine walks: consecutive segments with sources (constant or a waveform),
labels, η, the nudge rule and learning on/off. Protocols compile to this; the engine never sees
Python objects.

A schedule is periodic: one period (or pass) of segments run ``repeat`` times (``Schedule``); the
table holds the arrays of one period and the repeat count, and the engine reads row
``seg % S`` for the global segment counter ``seg`` (0 … S·repeat). A plain list of segments is a
schedule with repeat = 1. A period may list one Segment object several times (a point held
again and again): it is compiled once, so long periods cost one list entry per hold.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tdsim.errors import SpecError
from tdsim.core import records
from tdsim.core.codes import DUR_FIXED, DUR_OVERCLAMP, DUR_OVERCLAMP_CLASS
from tdsim.model.schedule import DURATIONS, FORCES, NUDGES, WAVES, Schedule, Segment, Waveform, period


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

    @property
    def segments(self) -> int:
        """Segments in the whole run, S·repeat."""
        return len(self.dur) * self.repeat

    @property
    def duration(self) -> float:
        """Nominal duration of the whole run, s (exact for fixed-duration segments)."""
        return float(self.dur.sum()) * self.repeat

    @property
    def t_end(self) -> np.ndarray:
        """Nominal end times of every segment of the run (S·repeat of them; exact for
        fixed-duration segments)."""
        return self.unrolled().t_end if self.repeat > 1 else np.cumsum(self.dur)

    def unrolled(self, limit: int = UNROLL_LIMIT) -> "Table":
        """The same run as one period of S·repeat rows (repeat = 1); refused above ``limit`` rows."""
        if self.repeat == 1:
            return self
        if self.segments > limit:
            raise SpecError("repeat", f"{len(self.dur)} segments per period x {self.repeat} periods = "
                            f"{self.segments} segments: too many to unroll (limit {limit}); work on one "
                            "period (the table's rows, Table.duration) or run fewer periods")
        per_row = {"offset", "partner", "osign", "repeat"}
        return Table(**{k: (v if k in per_row else np.concatenate([v] * self.repeat))
                        for k, v in vars(self).items() if k != "repeat"})

    def arrays(self) -> records.Table:
        """The engine's view of the table."""
        return records.Table(self.dur, self.src, self.amp, self.omega, self.wave, self.labels, self.eta, self.learn,
                             self.mode, self.offset, self.L0, self.partner, self.osign, self.timing, self.pass_end,
                             self.pass_tau, self.period_end, self.record, self.repeat)


def table(segments, compiled, output_offset: dict | None = None, differential=()) -> Table:
    """Compile a schedule (a ``Schedule``, or a list of segments: repeat = 1) against a compiled
    circuit; unspecified sources keep their defaults. ``differential``: pairs (O+, O-) of outputs
    read as one differential output O+ − O-, whose label is given on both. Each distinct Segment
    object is checked and compiled once (errors name its first position in the period)."""
    one, repeat = period(segments)
    if not one:
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
    x = {k: v[row] for k, v in u.items() if k != "out"}       # one row per hold of the period
    return Table(x["dur"], x["src"], x["amp"], x["omega"], x["wave"], x["labels"], x["eta"], x["learn"],
                 x["mode"], offset, x["L0"], partner, osign, x["timing"], x["pass_end"], x["pass_tau"],
                 x["period_end"], x["record"], repeat)


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
            if w.kind not in ("sin", "abs_sin"):
                raise SpecError(k + ".kind", f"unknown waveform {w.kind!r} (sin or abs_sin)")
            if not (np.isfinite(w.amplitude) and w.frequency > 0 and np.isfinite(w.frequency)):
                raise SpecError(k, "amplitude must be finite and frequency positive")
            j = col[node]
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
        dur[i] = seg.duration
    f = lambda name, dt=np.float64: np.array([getattr(s, name) for s in segments], dtype=dt)  # noqa: E731
    return {"out": out, "dur": dur, "src": src, "amp": amp, "omega": omega, "wave": wave, "labels": labels,
            "eta": np.array([s.beta if s.nudge in FORCES else s.eta for s in segments], dtype=np.float64),
            "learn": f("learn", np.bool_), "mode": np.array([NUDGES[s.nudge] for s in segments], dtype=np.int64),
            "L0": f("L0"), "timing": np.array([DURATIONS[s.timing] for s in segments], dtype=np.int64),
            "pass_end": f("pass_end", np.bool_), "pass_tau": f("pass_tau"), "period_end": f("period_end", np.bool_),
            "record": f("record", np.bool_)}


def _fill(row, values: dict, index: dict, key: str, unknown: str) -> None:
    for node, v in values.items():
        if node not in index:
            raise SpecError(f"{key}.{node}", unknown)
        if not np.isfinite(v):
            raise SpecError(f"{key}.{node}", "must be finite")
        row[index[node]] = v
