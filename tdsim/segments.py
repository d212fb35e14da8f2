"""The event table the engine walks: consecutive segments with sources (constant or a waveform),
labels, η, the nudge rule and learning on/off. Protocols compile to this; the engine never sees
Python objects."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import SpecError
from .kernels import NUDGE_HINGE, NUDGE_STANDARD, WAVE_ABS_SIN, WAVE_CONSTANT, WAVE_SIN

NUDGES = {"standard": NUDGE_STANDARD, "hinge": NUDGE_HINGE}
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
    nudge: str = "standard"                        # "standard" or "hinge" (Dillavou App. A)
    waveforms: dict = field(default_factory=dict)  # source node -> Waveform


@dataclass
class Table:
    t_end: np.ndarray    # (S,) segment end times, s
    src: np.ndarray      # (S, n_src) base values
    amp: np.ndarray      # (S, n_src) waveform amplitudes
    omega: np.ndarray    # (S, n_src) angular frequencies, rad/s
    wave: np.ndarray     # (S, n_src) WAVE_* codes
    labels: np.ndarray   # (S, n_out)
    eta: np.ndarray      # (S,)
    learn: np.ndarray    # (S,) bool
    mode: np.ndarray     # (S,) NUDGE_* codes
    offset: np.ndarray   # (n_out,) offset added to the measured free output that drives the clamp

    def args(self) -> tuple:
        return (self.t_end, self.src, self.amp, self.omega, self.wave, self.labels, self.eta, self.learn,
                self.mode, self.offset)


def table(segments, compiled, output_offset: dict | None = None) -> Table:
    """Compile segments against a compiled circuit; unspecified sources keep their defaults."""
    if not segments:
        raise SpecError("segments", "at least one segment is needed")
    col = {n: j for j, n in enumerate(compiled.source_nodes)}
    out = {n: k for k, n in enumerate(compiled.output_nodes)}
    S, J = len(segments), len(col)
    src = np.repeat(compiled.default_sources()[None], S, axis=0)
    amp, omega = np.zeros((S, J)), np.zeros((S, J))
    wave = np.zeros((S, J), dtype=np.int64)
    labels = np.zeros((S, len(out)))
    t, t_end = 0.0, np.empty(S)
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
        t += seg.duration
        t_end[i] = t
    offset = np.zeros(len(out))
    _fill(offset, output_offset or {}, out, "output_offset", "not an output node")
    return Table(t_end, src, amp, omega, wave, labels, np.array([s.eta for s in segments], dtype=np.float64),
                 np.array([bool(s.learn) for s in segments]),
                 np.array([NUDGES[s.nudge] for s in segments], dtype=np.int64), offset)


def _fill(row, values: dict, index: dict, key: str, unknown: str) -> None:
    for node, v in values.items():
        if node not in index:
            raise SpecError(f"{key}.{node}", unknown)
        if not np.isfinite(v):
            raise SpecError(f"{key}.{node}", "must be finite")
        row[index[node]] = v
