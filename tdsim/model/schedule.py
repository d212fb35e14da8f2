"""Protocol schedules as the user writes them: ``Segment`` (one stretch of constant drive: sources or
waveforms, labels, η, the nudge rule, learning on or off), ``Waveform`` (a sinusoidal or |sin|
source), ``Pulse`` and ``PiecewiseLinear`` (SPICE PULSE and PWL sources) and ``Schedule`` (one period of segments run ``repeat`` times), with the names of the
nudge rules, waveforms and segment timings mapped to the engine's codes (tdsim.core.codes).
tdsim.compile.table turns a schedule into the arrays the compiled loop walks.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tdsim.errors import SpecError
from tdsim.core.codes import DUR_FIXED, DUR_OVERCLAMP, DUR_OVERCLAMP_CLASS, WAVE_ABS_SIN, WAVE_CONSTANT, WAVE_PWL, WAVE_SIN
from tdsim.core.nudges import CODES as NUDGES, FORCE_NAMES as FORCES   # the rules: tdsim.core.nudges
DURATIONS = {"fixed": DUR_FIXED, "overclamp": DUR_OVERCLAMP, "overclamp_class": DUR_OVERCLAMP_CLASS}
WAVES = {"constant": WAVE_CONSTANT, "sin": WAVE_SIN, "abs_sin": WAVE_ABS_SIN, "pulse": WAVE_PWL, "pwl": WAVE_PWL}


@dataclass
class Waveform:
    """A source value base + amplitude · w(2π frequency · t), w = sin or |sin|, t absolute time."""
    kind: str            # "sin" or "abs_sin"
    amplitude: float     # V (or A)
    frequency: float     # Hz


@dataclass
class Pulse:
    """SPICE PULSE(v1 v2 delay rise fall width period), absolute time: v1 until ``delay``, a linear
    rise to v2 over ``rise``, v2 for ``width``, a linear fall back over ``fall``, v1 for the rest of
    the ``period``, repeated (period None: one pulse). The source's value itself (its ``sources``
    base value is not used)."""
    v1: float            # V (or A)
    v2: float
    delay: float = 0.0   # s
    rise: float = 0.0    # s, > 0
    fall: float = 0.0    # s, > 0
    width: float = 0.0   # s
    period: float | None = None   # s; None: a single pulse
    kind: str = "pulse"

    def knots(self, key: str) -> tuple:
        """(times, values, repeat-from knot or -1) of the equivalent piecewise-linear source."""
        for name in ("delay", "rise", "fall", "width", "v1", "v2"):
            if not np.isfinite(getattr(self, name)):
                raise SpecError(f"{key}.{name}", "must be finite")
        for name in ("rise", "fall"):
            if not getattr(self, name) > 0:
                raise SpecError(f"{key}.{name}", f"must be a positive time (a step needs a finite slope), "
                                                 f"got {getattr(self, name)!r}")
        if not (self.delay >= 0 and self.width >= 0):
            raise SpecError(key, "delay and width must be >= 0")
        on = self.rise + self.width + self.fall
        if self.period is not None and not (np.isfinite(self.period) and self.period > on):
            raise SpecError(f"{key}.period", f"must exceed rise + width + fall = {on:.6g} s, got {self.period!r}")
        d = self.delay
        t = [d, d + self.rise, d + self.rise + self.width, d + on]
        v = [self.v1, self.v2, self.v2, self.v1]
        if self.width == 0:
            del t[2], v[2]
        if self.period is not None:
            t.append(d + self.period)
            v.append(self.v1)
        return np.array(t), np.array(v, dtype=np.float64), (0 if self.period is not None else -1)


@dataclass
class PiecewiseLinear:
    """SPICE PWL: values ``values`` at absolute times ``times`` (strictly increasing), linear in
    between, the first value before them and the last one after, or with ``repeat`` (a time
    among ``times``, SPICE ``r=``) the stretch from it to the last time repeated. The source's
    value itself (its ``sources`` base value is not used)."""
    times: tuple         # s
    values: tuple        # V (or A)
    repeat: float | None = None
    kind: str = "pwl"

    def knots(self, key: str) -> tuple:
        t, v = np.asarray(self.times, dtype=np.float64), np.asarray(self.values, dtype=np.float64)
        if t.ndim != 1 or t.shape != v.shape or t.size < 1:
            raise SpecError(key, f"times and values must be lists of equal length >= 1, got {t.size} and {v.size}")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(v))):
            raise SpecError(key, "times and values must be finite")
        if t[0] < 0 or np.any(np.diff(t) <= 0):
            raise SpecError(f"{key}.times", "must be >= 0 and strictly increasing")
        rep = -1
        if self.repeat is not None:
            hit = np.flatnonzero(t == self.repeat)
            if hit.size == 0 or hit[0] == t.size - 1:
                raise SpecError(f"{key}.repeat", f"must be one of the times before the last, got {self.repeat!r}")
            rep = int(hit[0])
        return t, v, rep


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
    rise: float = 0.0                              # s: the sources ramp linearly from their previous
                                                   # values over this time (0: they switch at once)


@dataclass(repr=False)
class Schedule(Sequence):
    """``prologue`` (run once, first) then ``segments`` (one period) run ``repeat`` times. As a
    sequence it is the unrolled run: ``len`` is Q + S·repeat and item i is ``prologue[i]``, then
    ``segments[(i − Q) % S]`` (slices give lists), so code written for a plain list keeps working;
    use ``.prologue`` / ``.segments`` / ``.repeat`` to avoid unrolling."""
    segments: list
    repeat: int = 1
    prologue: list = field(default_factory=list)

    def __post_init__(self):
        self.segments = list(self.segments)
        self.prologue = list(self.prologue)
        r = self.repeat
        if not isinstance(r, (int, np.integer)) or isinstance(r, bool) or r < 1:
            raise SpecError("repeat", f"must be a positive integer, got {r!r}")
        self.repeat = int(r)

    def __len__(self) -> int:
        return len(self.prologue) + len(self.segments) * self.repeat

    def __getitem__(self, i):
        n = len(self)
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(n))]
        if not -n <= i < n:
            raise IndexError(f"segment {i} of a schedule of {n}")
        i %= n
        Q = len(self.prologue)
        return self.prologue[i] if i < Q else self.segments[(i - Q) % len(self.segments)]

    def __iter__(self):
        yield from self.prologue
        for _ in range(self.repeat):
            yield from self.segments

    def __contains__(self, segment) -> bool:
        return segment in self.segments or segment in self.prologue

    def __repr__(self) -> str:
        pro = f", prologue of {len(self.prologue)}" if self.prologue else ""
        return f"Schedule({len(self.segments)} segments per period, repeat={self.repeat}{pro})"


def period(segments) -> tuple:
    """(one period as a list, repeat) of a Schedule, or of a plain list (repeat = 1)."""
    if isinstance(segments, Schedule):
        return segments.segments, segments.repeat
    return list(segments), 1


def prologue(segments) -> list:
    """The segments run once before the periodic ones (a plain list has none)."""
    return segments.prologue if isinstance(segments, Schedule) else []


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
