"""Training protocols: data points, tasks and schedules that compile to segments (the event table).
``segments()`` returns a ``Schedule``: one period (or pass) and how many times it runs.

- ``Cycling``: one task's points in order, each held for t_h, for a number of passes;
- ``TwoTask``: task α for τ/2 then task β for τ/2 (Dillavou Fig. 1B), for a number of periods or
  until the limit cycle is reached (``Options.cycle_tol``: θ at two consecutive period ends within
  the tolerance);
- ``Nudge``: standard clamping (Eq. 1), the classification hinge (App. A), overclamping (Eq. 8,
  step time t_h = r0|δ|, r0 rescaled after every pass to hold the pass time), or the Equilibrium
  Propagation force: a current β (L − O) into each nudged twin's outputs (McGinnis Eq. 2.2).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tdsim.errors import SpecError
from tdsim.core.nudges import rule
from tdsim.model.schedule import Schedule, Segment, Waveform, check_memory, check_span


@dataclass
class DataPoint:
    inputs: dict                      # source node -> V
    labels: dict                      # output node -> V (both outputs of a differential pair)


@dataclass
class Task:
    name: str
    points: list
    classification: bool = False      # hinge error (Dillavou Eq. A2) instead of A1


@dataclass
class Nudge:
    rule: str = "standard"            # a rule of tdsim.core.nudges.RULES
    eta: float = 1.0                  # clamping amplitude (rules whose amplitude is "eta")
    L0: float = 0.0                   # overclamping target magnitude, V (rules that need L0)
    beta: float = 0.0                 # force nudge strength, S (rules whose amplitude is "beta")

    def validate(self):
        r = rule(self.rule, "nudge.rule")
        if r.needs_L0 and not self.L0 > 0:
            raise SpecError("nudge.L0", f"the {r.name} nudge needs L0 > 0")
        if r.amplitude == "beta" and not (isinstance(self.beta, (int, float)) and 0 < self.beta < float("inf")):
            raise SpecError("nudge.beta", f"the {r.name} nudge needs a conductance beta > 0, got {self.beta!r}")


def points(task: Task, t_h: float, span: float | None, nudge: Nudge, learn: bool, waveforms: dict,
            last_flags: dict) -> list:
    """Segments cycling ``task``'s points, each for t_h, over ``span`` (None: one pass). The last
    point of the span is shortened to fit; consecutive holds of a single point are merged. Full
    holds of one point are one shared Segment object (a span of 10⁶ holds costs a list of 10⁶
    references); the last segment is its own object, carrying ``last_flags``."""
    if not task.points:
        raise SpecError(f"task {task.name!r}", "has no data points")
    overclamp = nudge.rule == "overclamp"
    n = len(task.points)
    if span is None or overclamp:
        full, rest = n, None
    elif n == 1:
        full, rest = 0, span
    else:
        full, rest = divmod(span, t_h)
        full, rest = int(full), (rest if rest > 1e-12 * t_h else None)
    count = full + (rest is not None)
    row = 8 * (16 + 4 * len(task.points[0].inputs) + 2 * len(task.points[0].labels))  # list entry + table row
    if span is not None:
        check_memory(count * row, "t_h", f"holding each point for t_h = {t_h:.3g} s over {span:.3g} s "
                                         f"({count:.3g} holds)")

    def hold(i, d):
        p = task.points[i % n]
        return Segment(d, dict(p.inputs), dict(p.labels), nudge.eta, learn,
                       "hinge" if (task.classification and nudge.rule == "standard") else nudge.rule,
                       dict(waveforms), nudge.L0,
                       ("overclamp_class" if task.classification else "overclamp") if overclamp else "fixed",
                       pass_end=overclamp and i == count - 1,
                       pass_tau=t_h * n if overclamp else 0.0, record=False, beta=nudge.beta)

    last = count - 1
    shared = [hold(i, t_h) for i in range(min(n, last))]
    segs = [shared[i % n] for i in range(last)]
    segs.append(hold(last, t_h if rest is None else rest))
    for k, v in last_flags.items():
        setattr(segs[-1], k, v)
    return segs


@dataclass(kw_only=True)
class _Schedule:
    """What every protocol shares: hold time, nudge, learning flag, source waveforms, outputs, the
    sources' switching ramp ``rise`` (s; 0: they switch at once) and a ``prologue`` of segments run
    once before the first period."""
    t_h: float = 100e-6
    nudge: Nudge = field(default_factory=Nudge)
    learn: bool = True
    waveforms: dict = field(default_factory=dict)
    differential: list = field(default_factory=list)
    rise: float = 0.0
    prologue: list = field(default_factory=list)

    def _schedule(self, one: list, repeat: int, repeat_key: str) -> Schedule:
        if not (isinstance(self.rise, (int, float)) and 0 <= self.rise < float("inf")):
            raise SpecError("rise", f"must be a time >= 0, got {self.rise!r}")
        if self.rise > 0:
            for seg in {id(x): x for x in one}.values():     # distinct Segment objects
                seg.rise = self.rise
        check_span(list(self.prologue) + one, repeat, repeat_key)
        return Schedule(one, repeat, self.prologue)


@dataclass
class Cycling(_Schedule):
    """One task's points cycled in order, each for t_h, for ``passes`` passes."""
    task: Task
    passes: int = 1

    @property
    def tasks(self):
        return [self.task]

    def segments(self) -> Schedule:
        """One pass, repeated ``passes`` times."""
        self.nudge.validate()
        _positive("t_h", self.t_h)
        count("passes", self.passes)
        one = points(self.task, self.t_h, None, self.nudge, self.learn, self.waveforms,
                      {"record": True, "period_end": True})
        return self._schedule(one, self.passes, "passes")


@dataclass
class TwoTask(_Schedule):
    """Task α for τ/2, then task β for τ/2, repeated ``periods`` times (Dillavou Fig. 1B); the
    state is recorded at the end of each half period."""
    alpha: Task
    beta: Task
    tau: float
    periods: int = 100

    @property
    def tasks(self):
        return [self.alpha, self.beta]

    def segments(self) -> Schedule:
        """One period (α for τ/2, β for τ/2), repeated ``periods`` times."""
        self.nudge.validate()
        _positive("tau", self.tau)
        _positive("t_h", self.t_h)
        count("periods", self.periods)
        if self.nudge.rule == "overclamp":
            raise SpecError("nudge.rule", "two-task alternation uses fixed half periods; overclamping is "
                                          "for cycling protocols")
        a = points(self.alpha, self.t_h, self.tau / 2, self.nudge, self.learn, self.waveforms, {"record": True})
        b = points(self.beta, self.t_h, self.tau / 2, self.nudge, self.learn, self.waveforms,
                    {"record": True, "period_end": True})
        return self._schedule(a + b, self.periods, "periods")


def _positive(key, x):
    if not (isinstance(x, (int, float)) and x > 0 and x < float("inf")):
        raise SpecError(key, f"must be a positive time, got {x!r}")


def count(key, n):
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise SpecError(key, f"must be a positive integer, got {n!r}")


__all__ = ["DataPoint", "Task", "Nudge", "Cycling", "TwoTask", "Schedule", "Waveform"]
