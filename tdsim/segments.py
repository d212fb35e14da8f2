"""The event table the engine walks: consecutive segments with constant sources, labels, η and
learning on/off. Protocols compile to this; the engine never sees Python objects."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import SpecError


@dataclass
class Segment:
    duration: float                                # s
    sources: dict = field(default_factory=dict)    # source node -> V (or A)
    labels: dict = field(default_factory=dict)     # output node -> V
    eta: float = 0.0
    learn: bool = False


@dataclass
class Table:
    t_end: np.ndarray    # (S,) segment end times, s
    src: np.ndarray      # (S, n_src)
    labels: np.ndarray   # (S, n_out)
    eta: np.ndarray      # (S,)
    learn: np.ndarray    # (S,) bool


def table(segments, compiled) -> Table:
    """Compile segments against a compiled circuit; unspecified sources keep their defaults."""
    if not segments:
        raise SpecError("segments", "at least one segment is needed")
    col = {n: j for j, n in enumerate(compiled.source_nodes)}
    out = {n: k for k, n in enumerate(compiled.output_nodes)}
    S = len(segments)
    src = np.repeat(compiled.default_sources()[None], S, axis=0)
    labels = np.zeros((S, len(out)))
    t, t_end = 0.0, np.empty(S)
    for i, seg in enumerate(segments):
        key = f"segments[{i}]"
        if not (seg.duration > 0 and np.isfinite(seg.duration)):
            raise SpecError(key + ".duration", f"must be a positive time, got {seg.duration!r}")
        _fill(src[i], seg.sources, col, f"{key}.sources", "no source on this node")
        _fill(labels[i], seg.labels, out, f"{key}.labels", "not an output node")
        if not np.isfinite(seg.eta):
            raise SpecError(key + ".eta", "must be finite")
        t += seg.duration
        t_end[i] = t
    return Table(t_end, src, labels, np.array([s.eta for s in segments], dtype=np.float64),
                 np.array([bool(s.learn) for s in segments]))


def _fill(row, values: dict, index: dict, key: str, unknown: str) -> None:
    for node, v in values.items():
        if node not in index:
            raise SpecError(f"{key}.{node}", unknown)
        if not np.isfinite(v):
            raise SpecError(f"{key}.{node}", "must be finite")
        row[index[node]] = v
