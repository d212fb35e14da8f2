"""The event table the engine walks: consecutive segments with sources (constant or a waveform),
labels, η, the nudge rule and learning on/off. Protocols compile to this; the engine never sees
Python objects."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import SpecError
from .engine import DUR_FIXED, DUR_OVERCLAMP, DUR_OVERCLAMP_CLASS
from .kernels import (NUDGE_FORCE, NUDGE_FORCE_FROM_FREE, NUDGE_HINGE, NUDGE_OVERCLAMP, NUDGE_STANDARD, WAVE_ABS_SIN, WAVE_CONSTANT,
                      WAVE_SIN)

NUDGES = {"standard": NUDGE_STANDARD, "hinge": NUDGE_HINGE, "overclamp": NUDGE_OVERCLAMP, "force": NUDGE_FORCE,
          "force_from_free": NUDGE_FORCE_FROM_FREE}
FORCES = ("force", "force_from_free")
DURATIONS = {"fixed": DUR_FIXED, "overclamp": DUR_OVERCLAMP, "overclamp_class": DUR_OVERCLAMP_CLASS}
WAVES = {"constant": WAVE_CONSTANT, "sin": WAVE_SIN, "abs_sin": WAVE_ABS_SIN}


@dataclass
class Waveform:
    """A source value base + amplitude · w(2π frequency · t), w = sin or |sin|, t absolute time."""
    kind: str            # "sin" or "abs_sin"
    amplitude: float     # V (or A)
    frequency: float     # Hz


@dataclass
class Segment:
    duration: float                                # s
    sources: dict = field(default_factory=dict)    # source node -> V (or A): the base value
    labels: dict = field(default_factory=dict)     # output node -> V
    eta: float = 0.0
    learn: bool = False
    nudge: str = "standard"                        # "standard", "hinge" (App. A), "overclamp" (Eq. 8)
                                                   # or "force" / "force_from_free" (EP current nudge)
    waveforms: dict = field(default_factory=dict)  # source node -> Waveform
    L0: float = 0.0                                # overclamping target magnitude, V
    timing: str = "fixed"                          # "fixed", or t_h = r0|δ|: "overclamp", "overclamp_class"
    pass_end: bool = False                         # last point of a pass: rescale r0 to hold pass_tau
    pass_tau: float = 0.0                          # target pass duration, s
    period_end: bool = False                       # end of a protocol period (limit-cycle test)
    record: bool = True                            # write an event record at the segment's end
    beta: float = 0.0                              # force nudge strength β, S (force nudges)


@dataclass
class Table:
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

    @property
    def t_end(self) -> np.ndarray:
        """Nominal segment end times (exact for fixed-duration segments)."""
        return np.cumsum(self.dur)

    def args(self) -> tuple:
        return (self.dur, self.src, self.amp, self.omega, self.wave, self.labels, self.eta, self.learn,
                self.mode, self.offset, self.L0, self.partner, self.osign, self.timing, self.pass_end,
                self.pass_tau, self.period_end, self.record)


def table(segments, compiled, output_offset: dict | None = None, differential=()) -> Table:
    """Compile segments against a compiled circuit; unspecified sources keep their defaults.
    ``differential``: pairs (O+, O-) of outputs read as one differential output O+ − O-, whose
    label is given on both."""
    if not segments:
        raise SpecError("segments", "at least one segment is needed")
    col = {n: j for j, n in enumerate(compiled.source_nodes)}
    out = {n: k for k, n in enumerate(compiled.output_nodes)}
    S, J = len(segments), len(col)
    src = np.repeat(compiled.default_sources()[None], S, axis=0)
    amp, omega = np.zeros((S, J)), np.zeros((S, J))
    wave = np.zeros((S, J), dtype=np.int64)
    labels = np.zeros((S, len(out)))
    dur = np.empty(S)
    for i, seg in enumerate(segments):
        key = f"segments[{i}]"
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
    offset = np.zeros(len(out))
    if output_offset is None:
        output_offset = getattr(compiled, "output_offset", None) or {}
    _fill(offset, output_offset, out, "output_offset", "not an output node")
    partner = np.full(len(out), -1, dtype=np.int64)
    osign = np.ones(len(out))
    for pair in differential:
        if len(pair) != 2 or any(p not in out for p in pair) or pair[0] == pair[1]:
            raise SpecError("differential", f"{pair!r} is not a pair of distinct output nodes")
        p, m = out[pair[0]], out[pair[1]]
        if partner[p] >= 0 or partner[m] >= 0:
            raise SpecError("differential", f"output in {pair!r} already belongs to a pair")
        partner[p], partner[m], osign[m] = m, p, -1.0
    if np.any(partner >= 0) and any(s.nudge in FORCES for s in segments):
        raise SpecError("differential", "the force nudge on differential outputs is not supported yet")
    f = lambda name, dt=np.float64: np.array([getattr(s, name) for s in segments], dtype=dt)  # noqa: E731
    amplitude = np.array([s.beta if s.nudge in FORCES else s.eta for s in segments], dtype=np.float64)
    return Table(dur, src, amp, omega, wave, labels, amplitude, f("learn", np.bool_),
                 np.array([NUDGES[s.nudge] for s in segments], dtype=np.int64), offset, f("L0"), partner, osign,
                 np.array([DURATIONS[s.timing] for s in segments], dtype=np.int64), f("pass_end", np.bool_),
                 f("pass_tau"), f("period_end", np.bool_), f("record", np.bool_))


def _fill(row, values: dict, index: dict, key: str, unknown: str) -> None:
    for node, v in values.items():
        if node not in index:
            raise SpecError(f"{key}.{node}", unknown)
        if not np.isfinite(v):
            raise SpecError(f"{key}.{node}", "must be finite")
        row[index[node]] = v
