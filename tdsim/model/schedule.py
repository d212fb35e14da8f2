"""Protocol schedules as the user writes them: ``Segment`` (one stretch of constant drive: sources or
waveforms, labels, η, the nudge rule, learning on or off), ``Waveform`` (a sinusoidal or |sin|
source) and ``Schedule`` (one period of segments run ``repeat`` times), with the names of the
nudge rules, waveforms and segment timings mapped to the engine's codes (tdsim.core.codes).
tdsim.compile.table turns a schedule into the arrays the compiled loop walks.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tdsim.errors import SpecError
from tdsim.core.codes import DUR_FIXED, DUR_OVERCLAMP, DUR_OVERCLAMP_CLASS, WAVE_ABS_SIN, WAVE_CONSTANT, WAVE_SIN
from tdsim.core.nudges import CODES as NUDGES, FORCE_NAMES as FORCES   # the rules: tdsim.core.nudges
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
    nudge: str = "standard"                        # a rule of tdsim.core.nudges (NUDGES)
    waveforms: dict = field(default_factory=dict)  # source node -> Waveform
    L0: float = 0.0                                # overclamping target magnitude, V
    timing: str = "fixed"                          # "fixed", or t_h = r0|δ|: "overclamp", "overclamp_class"
    pass_end: bool = False                         # last point of a pass: rescale r0 to hold pass_tau
    pass_tau: float = 0.0                          # target pass duration, s
    period_end: bool = False                       # end of a protocol period (limit-cycle test)
    record: bool = True                            # write an event record at the segment's end
    beta: float = 0.0                              # force nudge strength β, S (force nudges)


@dataclass(repr=False)
class Schedule(Sequence):
    """``segments`` (one period) run ``repeat`` times. As a sequence it is the unrolled run:
    ``len`` is S·repeat and item i is ``segments[i % S]`` (slices give lists), so code written for
    a plain list keeps working; use ``.segments`` / ``.repeat`` to avoid unrolling."""
    segments: list
    repeat: int = 1

    def __post_init__(self):
        self.segments = list(self.segments)
        r = self.repeat
        if not isinstance(r, (int, np.integer)) or isinstance(r, bool) or r < 1:
            raise SpecError("repeat", f"must be a positive integer, got {r!r}")
        self.repeat = int(r)

    def __len__(self) -> int:
        return len(self.segments) * self.repeat

    def __getitem__(self, i):
        n = len(self)
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(n))]
        if not -n <= i < n:
            raise IndexError(f"segment {i} of a schedule of {n}")
        return self.segments[i % n % len(self.segments)]

    def __iter__(self):
        for _ in range(self.repeat):
            yield from self.segments

    def __contains__(self, segment) -> bool:
        return segment in self.segments

    def __repr__(self) -> str:
        return f"Schedule({len(self.segments)} segments per period, repeat={self.repeat})"


def period(segments) -> tuple:
    """(one period as a list, repeat) of a Schedule, or of a plain list (repeat = 1)."""
    if isinstance(segments, Schedule):
        return segments.segments, segments.repeat
    return list(segments), 1


SEGMENT_COUNTER_LIMIT = 2**62      # the engine counts the run's segments in an int64


def check_span(segments: list, repeat: int, repeat_key: str) -> None:
    """Refuse a repeat count that float64 time or the engine's segment counter cannot hold: S·repeat
    segments overflow the counter, or the run ends where the time axis no longer resolves one
    period (4 ulp of the end time, the engine's step floor)."""
    S = len(segments)
    if S * repeat >= SEGMENT_COUNTER_LIMIT:
        raise SpecError(repeat_key, f"{repeat} x {S} segments overflow the engine's segment counter (2^62)")
    one = float(sum(s.duration for s in segments))
    if not one > 0:                 # refused where durations are checked, naming the segment
        return
    end = one * repeat
    if not (np.isfinite(end) and one > 4 * np.spacing(end)):
        raise SpecError(repeat_key, f"{repeat} periods of {one:.3g} s would end at t = {end:.3g} s, where float64 "
                                    f"time resolves only steps of {4 * np.spacing(end):.3g} s")


def check_memory(nbytes: float, key: str, what: str) -> None:
    """Refuse, with the figure, what would need more memory than this machine has free."""
    import os
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):       # not on this platform: no estimate to compare
        return
    if nbytes > free:
        raise SpecError(key, f"{what} would need about {nbytes / 2**30:.3g} GiB of memory; "
                             f"{free / 2**30:.3g} GiB are free")
