"""Frequency propagation (Anisetti et al., §3–5): learning from one network's AC response.

One evaluation, for gates θ, inputs x and labels y:

1. free phase: the DC operating point of the circuit with the inputs on (the state the network
   settles to when one waits ≫ its RC time); the readouts d0 (node voltages, or O+ − O− for a
   differential pair) give the error e = d0 − y, C = ½ Σ e²;
2. nudge phase, in the time domain (the engine, full RC unless the quasi-static integrator is
   asked for): a current i(t) = −γ f(t) ∂C/∂v = γ f(t) (y − d0) is injected at each output node
   (for a pair, +i at O+ and −i at O−), f = sin(ωt) (§3) or |sin(ωt)| (§5); the amplitude is
   computed once from the free phase, the paper's App. A procedure (Fig. 1B), so it is a plain
   current source with a waveform, switched on at t = 0 and held for ``settle`` + ``periods``
   whole periods;
3. readout: every node's trajectory, sampled ``samples`` times a period, gives a (DC) and b (AC):
   - ``sin``: the lock-in of Eq. 3.4 over the last ``periods`` whole periods,
     a = ⟨v⟩, b = 2 ⟨v sin ωt⟩ (phase-referenced: it needs the nudge's clock);
   - ``abs_sin``: no clock (Eqs. 5.1–5.3). For v = a + b |sin(ω(t + t_j))| the cusp is the value
     a (Eq. 5.2) and the smooth extremum a + b (Eq. 5.3); the smooth extremum is the one nearer
     the mean m = a + (2/π) b, and is located to sub-sample accuracy by a parabola, so
     b = (v_ext − m)/(1 − 2/π) and a = m − (2/π) b (the sampled cusp, whose value is off by
     O(b/samples), is not used);
4. update (Eq. 3.5): Δθ_jk = −α g'(θ) (b_j − b_k)(a_j − a_k), g' = dκ/dθ (1 for θ = κ), which is
   −α γ ∂L/∂θ + O(γ³) for the sine nudge (Theorem 2, Eq. 3.6) and + O(γ²) for |sin| (Eq. 5.1).

With the amplitude fixed from the free phase, a *linear* network responds exactly linearly in γ, so
the estimate carries no γ bias there (its error is the RC lag and the integrator's); the O(γ²)
(sine) and O(γ) (|sin|) terms come from the network's nonlinear elements. The lag: with node
capacitances the response to sin(ωt) is Im[H(iω) e^{iωt}], H(iω) = (G + iωC)⁻¹, whose in-phase
part, the one the lock-in reads, is G⁻¹ − ω² G⁻¹CG⁻¹CG⁻¹ + …: a relative error O((ωτ)²), τ the
slowest relaxation time (Remark 1 leaves this regime open; ``analysis/freqprop_gradient.py``
measures it).

The lock-in is post-processing of the engine's recorded samples (steps land exactly on sample
times); the update is applied by the caller between evaluations (``Trainer``), not inside the
engine. Only ``Conductance`` edges learn this way (Theorem 1 needs linear learning branches).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np

from tdsim.compile.build import build
from tdsim.model.circuit import Circuit
from tdsim.core.codes import CONDUCTANCE
from tdsim.core.elements import kappa_factor
from tdsim.errors import SpecError
from tdsim.model.schedule import Segment, Waveform
from tdsim.compile.table import table
from tdsim.simulation.probes import kirchhoff_solve
from tdsim.simulation.simulate import Options, simulate

WAVEFORMS = ("sin", "abs_sin")
MEAN_ABS_SIN = 2.0 / math.pi          # ⟨|sin|⟩ over a period


@dataclass
class FreqProp:
    """The nudge and the readout of one evaluation."""
    gamma: float                # nudge strength, S: output current γ f(t) (y − d0)
    frequency: float            # Hz, of sin(2π f t) (|sin| then repeats at 2f)
    waveform: str = "sin"       # "sin" (lock-in, Eq. 3.4) or "abs_sin" (clock-free, Eqs. 5.1–5.3)
    periods: int = 4            # whole periods read out
    settle: int = 1             # periods discarded first (switch-on transient, ~ e^{-t/τ})
    samples: int = 64           # samples per period

    def validate(self) -> None:
        if not (isinstance(self.gamma, (int, float)) and math.isfinite(self.gamma) and self.gamma > 0):
            raise SpecError("freqprop.gamma", f"must be a conductance > 0, got {self.gamma!r}")
        if not (isinstance(self.frequency, (int, float)) and math.isfinite(self.frequency) and self.frequency > 0):
            raise SpecError("freqprop.frequency", f"must be a frequency > 0, got {self.frequency!r}")
        if self.waveform not in WAVEFORMS:
            raise SpecError("freqprop.waveform", f"unknown {self.waveform!r} ({' or '.join(WAVEFORMS)})")
        for key, lo in (("periods", 1), ("settle", 0), ("samples", 8)):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise SpecError(f"freqprop.{key}", f"must be an integer >= {lo}, got {v!r}")

    @property
    def period(self) -> float:
        return 1.0 / self.frequency


@dataclass
class Response:
    """One evaluation: the free readouts d0, and a, b at every node (ground first)."""
    d0: np.ndarray          # (R,) free readouts
    a: np.ndarray           # (N,) DC coefficient
    b: np.ndarray           # (N,) AC coefficient
    t: np.ndarray = None    # (K,) the samples read out (last ``periods`` periods)
    V: np.ndarray = None    # (K, N)
    stats: dict = field(default_factory=dict)


def with_nudge_sources(circuit: Circuit) -> Circuit:
    """A copy of ``circuit`` with a current source (0 A by default) at every output node."""
    c = copy.deepcopy(circuit)
    for o in c.outputs:
        if o in c.sources:
            raise SpecError(f"output {o!r}", "already has a source; the frequency-propagation nudge "
                            "needs a free output to inject its current into")
        c.add_current_source(o, 0.0)
    return c


def lockin_sin(t: np.ndarray, V: np.ndarray, omega: float):
    """Eq. 3.4 on samples covering whole periods uniformly: a = ⟨v⟩, b = 2⟨v sin ωt⟩ (the
    rectangle rule, exact for harmonics below samples/period)."""
    return V.mean(axis=0), 2.0 * (np.sin(omega * t) @ V) / len(t)


def extract_abs_sin(V: np.ndarray):
    """Eqs. 5.1–5.3 without the nudge's clock, for samples covering whole periods uniformly:
    v = a + b|sin(ω(t + t_j))| has its cusp at a and its smooth extremum at a + b, the extremum
    nearer the mean m = a + (2/π) b. The smooth extremum is refined by a parabola through its
    sample and the two neighbours (periodic wrap), then b = (v_ext − m)/(1 − 2/π), a = m − (2/π) b."""
    K = V.shape[0]
    m = V.mean(axis=0)
    i_hi, i_lo = np.argmax(V, axis=0), np.argmin(V, axis=0)
    cols = np.arange(V.shape[1])
    hi, lo = V[i_hi, cols], V[i_lo, cols]
    top = (hi - m) <= (m - lo)                # the max is the smooth extremum: b > 0
    i = np.where(top, i_hi, i_lo)
    y0, y1, y2 = V[(i - 1) % K, cols], V[i, cols], V[(i + 1) % K, cols]
    curv = y0 - 2.0 * y1 + y2
    with np.errstate(divide="ignore", invalid="ignore"):
        ext = np.where(curv != 0.0, y1 - 0.125 * (y2 - y0) ** 2 / curv, y1)
    b = (ext - m) / (1.0 - MEAN_ABS_SIN)
    return m - MEAN_ABS_SIN * b, b


class Evaluator:
    """Runs evaluations of one circuit: ``evaluate(theta, inputs, labels)`` -> Response.

    ``differential``: pairs (O+, O−) of outputs read as one readout O+ − O− (its label keyed by O+);
    other outputs are read alone. ``options``: the engine's (record_interval is set here)."""

    def __init__(self, circuit: Circuit, fp: FreqProp, options: Options | None = None, differential=()):
        fp.validate()
        self.fp = fp
        self.circuit = with_nudge_sources(circuit)
        self.comp = build(self.circuit, ("free",))
        outs = list(circuit.outputs)
        if not outs:
            raise SpecError("outputs", "frequency propagation needs at least one output node")
        paired = {}
        for pair in differential:
            if len(pair) != 2 or pair[0] == pair[1] or any(p not in outs or p in paired for p in pair):
                raise SpecError("differential", f"{pair!r} is not a pair of distinct, unpaired output nodes")
            paired[pair[0]], paired[pair[1]] = pair[1], None
        self.readouts = [(o, paired.get(o)) for o in outs if not (o in paired and paired[o] is None)]
        idx = {n: i for i, n in enumerate(self.comp.node_names)}
        self.plus = np.array([idx[p] for p, _ in self.readouts])
        self.minus = np.array([idx[m] if m is not None else 0 for _, m in self.readouts])   # 0: ground
        self.names = [p for p, _ in self.readouts]
        self.edge_a, self.edge_b = self.comp.ea, self.comp.eb
        self.opt = copy.copy(options) if options is not None else Options(integrator="rosenbrock")
        self.opt.record_interval = fp.period / fp.samples
        self.opt.initial = "dc"
        conductance = (self.comp.code == CONDUCTANCE) & self.comp.learn
        bad = [n for n, l, c in zip(self.comp.edge_names, self.comp.learn, conductance) if l and not c]
        if bad:
            raise SpecError(f"edge {bad[0]!r}", "frequency propagation trains Conductance edges only "
                            "(Theorem 1: linear learning branches)")
        self.trainable = conductance

    # ---- one evaluation -----------------------------------------------------------------
    def readout(self, V: np.ndarray) -> np.ndarray:
        """Readouts from node voltages (N,): v(O+) − v(O−), or v(O)."""
        return V[self.plus] - V[self.minus]

    def free(self, theta, inputs: dict) -> np.ndarray:
        """The free phase: DC operating point (1, N) with the inputs on and no nudge."""
        return kirchhoff_solve(self.comp, np.asarray(theta, dtype=float), self._table(inputs, np.zeros(len(self.readouts))))

    def evaluate(self, theta, inputs: dict, labels: dict, keep: bool = False) -> Response:
        theta = np.asarray(theta, dtype=np.float64)
        y = self._labels(labels)
        V0 = self.free(theta, inputs)
        d0 = self.readout(V0[0])
        tab = self._table(inputs, self.fp.gamma * (y - d0))
        tr = simulate(self.comp, tab, self.opt, theta0=theta, V0=V0)
        fp = self.fp
        k = np.rint(tr.t / (fp.period / fp.samples)).astype(np.int64)
        sel = (k >= fp.settle * fp.samples) & (k < (fp.settle + fp.periods) * fp.samples)
        t, V = tr.t[sel], tr.V[sel, 0, :]
        if len(t) != fp.periods * fp.samples:
            raise RuntimeError(f"expected {fp.periods * fp.samples} samples, the engine recorded {len(t)}")
        if fp.waveform == "sin":
            a, b = lockin_sin(t, V, 2.0 * math.pi * fp.frequency)
        else:
            a, b = extract_abs_sin(V)
        return Response(d0, a, b, t if keep else None, V if keep else None, tr.stats)

    def gradient(self, theta, r: Response) -> np.ndarray:
        """The estimate of ∂L/∂θ (Eq. 3.16 divided by γ): g'(θ)(a_j − a_k)(b_j − b_k)/γ per
        trainable edge, 0 elsewhere."""
        return self.update(theta, r, 1.0) / -self.fp.gamma

    def update(self, theta, r: Response, alpha: float) -> np.ndarray:
        """Δθ = −α g'(θ) (b_j − b_k)(a_j − a_k) (Eq. 3.5) on trainable edges."""
        theta = np.asarray(theta, dtype=float)
        ea, eb = self.edge_a, self.edge_b
        d = -alpha * (r.b[ea] - r.b[eb]) * (r.a[ea] - r.a[eb]) * kappa_slope(self.comp, theta)
        return np.where(self.trainable, d, 0.0)

    # ---- helpers --------------------------------------------------------------------------
    def _labels(self, labels: dict) -> np.ndarray:
        for k in labels:
            if k not in self.names:
                raise SpecError(f"labels.{k}", f"not a readout (the readouts are {', '.join(self.names)})")
        missing = [n for n in self.names if n not in labels]
        if missing:
            raise SpecError(f"labels.{missing[0]}", "missing label")
        y = np.array([float(labels[n]) for n in self.names])
        if not np.all(np.isfinite(y)):
            raise SpecError("labels", "must be finite")
        return y

    def _table(self, inputs: dict, current: np.ndarray):
        """One segment of settle + periods whole periods; ``current`` (R,) the nudge amplitudes, A."""
        fp = self.fp
        for k in inputs:
            if k in self.names or any(k == m for _, m in self.readouts):
                raise SpecError(f"inputs.{k}", "is an output: its source is the nudge")
        waves = {}
        for (p, m), i in zip(self.readouts, current):
            waves[p] = Waveform(fp.waveform, float(i), fp.frequency)
            if m is not None:
                waves[m] = Waveform(fp.waveform, -float(i), fp.frequency)
        seg = Segment((fp.settle + fp.periods) * fp.period, dict(inputs), waveforms=waves)
        return table([seg], self.comp)


def kappa_slope(comp, theta) -> np.ndarray:
    """g'(θ) = dκ/dθ per edge, the element's own (tdsim.core.elements.kappa_factor): 1 (κ), −κ² (ρ),
    κ (log κ); 1 for other edges."""
    theta = np.asarray(theta, dtype=np.float64)
    return np.array([kappa_factor(int(c), p0, th) for c, p0, th in zip(comp.code, comp.par[0, :, 0], theta)])


__all__ = ["FreqProp", "Evaluator", "Response", "lockin_sin", "extract_abs_sin", "with_nudge_sources",
           "kappa_slope"]
