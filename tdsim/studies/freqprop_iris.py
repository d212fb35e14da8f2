"""The Iris demonstration of frequency propagation (Anisetti et al. §4, App. A).

Network (App. A.1): a Barabási–Albert graph of N nodes with connection parameter 1 (N − 1 edges)
plus random extra edges up to M; every edge a trainable conductance κ ~ U(κ_init), kept in
κ_limits. One node is ground; 4 input pairs carry the normalized features as currents (+x into
I+, −x into I−, App. A.2); 3 output pairs are read as voltage drops O+ − O−.

Task (App. A): per class, ``per_class_train`` training and ``per_class_test`` test examples drawn
with the seed (the paper: 25 + 25); features scaled to [0, λ] with the training set's min and max.
The targets are the network's own responses to the class-mean training inputs, recomputed at the
start of every epoch (Dillavou et al.'s attainable targets). A sample is classified by the nearest
class target; the paper builds the test targets from the test set's class means ("test
prototypes"), we also report targets from the training set ("train prototypes"), which uses no
test label.

Training is an outer Python loop: per training example (shuffled each epoch), one time-domain
evaluation (``freqprop.Evaluator``: DC free phase, then the AC nudge for settle + periods whole
periods, lock-in readout) and the update Δκ = −α (b_j − b_k)(a_j − a_k), clipped to κ_limits.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import networkx as nx
import numpy as np

from tdsim.model.circuit import Circuit
from tdsim.model.elements import Conductance, ShockleyDiode
from tdsim.errors import SpecError
from tdsim.io.spec import check_keys, fields_from_dict, integer, merge, options_from_dict, overrides, read
from tdsim.rules.freqprop import Evaluator, FreqProp
from tdsim.simulation.simulate import Options
from tdsim.model.units import quantity


@dataclass
class IrisConfig:
    # network (App. A.1)
    nodes: int = 40
    edges: int = 239
    input_pairs: int = 4
    output_pairs: int = 3
    kappa_init: tuple = (1e-5, 1.0)      # S, uniform
    kappa_limits: tuple = (1e-5, 20.0)   # S
    capacitance: float = 1e-3            # F per node (τ ≪ 1/ω)
    # nonlinear variant (not in the paper): this many of the edges are fixed Shockley diodes,
    # randomly oriented, I = Is (exp(ΔV/(n V_t)) − 1); they do not learn (Theorem 1)
    diodes: int = 0
    diode_Is: float = 0.05               # A
    diode_n: float = 4.0                 # n V_t ≈ 0.10 V
    # task
    per_class_train: int = 25
    per_class_test: int = 25
    scale: float = 5.0                   # λ, A: features scaled to [0, λ]
    # learning
    epochs: int = 30
    alpha: float = 0.01                  # S/V²
    nudge: FreqProp = field(default_factory=lambda: FreqProp(gamma=1.0, frequency=1.0, periods=5, settle=1,
                                                             samples=20))
    options: Options = field(default_factory=lambda: Options(integrator="rosenbrock"))
    seed: int = 0

    def validate(self) -> None:
        for key in ("nodes", "edges", "input_pairs", "output_pairs", "per_class_train", "per_class_test", "epochs"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if key == "epochs" else 1):
                raise SpecError(key, f"must be a positive integer, got {v!r}")
        if 2 * (self.input_pairs + self.output_pairs) + 1 > self.nodes:
            raise SpecError("nodes", f"{self.nodes} nodes cannot hold {self.input_pairs} input and "
                            f"{self.output_pairs} output pairs plus ground")
        if not self.nodes - 1 <= self.edges <= self.nodes * (self.nodes - 1) // 2:
            raise SpecError("edges", f"must lie in [{self.nodes - 1}, {self.nodes * (self.nodes - 1) // 2}]")
        if self.input_pairs != 4:
            raise SpecError("input_pairs", "Iris has 4 features: 4 input pairs")
        if self.output_pairs < 1:
            raise SpecError("output_pairs", "must be >= 1")
        lo, hi = self.kappa_limits
        if not 0 < lo < hi:
            raise SpecError("kappa_limits", f"need 0 < min < max, got {self.kappa_limits!r}")
        if not lo <= self.kappa_init[0] < self.kappa_init[1] <= hi:
            raise SpecError("kappa_init", f"must be an interval inside kappa_limits, got {self.kappa_init!r}")
        if isinstance(self.diodes, bool) or not isinstance(self.diodes, int) or not 0 <= self.diodes < self.edges:
            raise SpecError("diodes", f"must be an integer in [0, edges), got {self.diodes!r}")
        for key in ("capacitance", "scale", "alpha", "diode_Is", "diode_n"):
            v = getattr(self, key)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise SpecError(key, f"must be > 0, got {v!r}")
        self.nudge.validate()
        self.options.validate()


def ba_network(cfg: IrisConfig):
    """The App. A.1 network as a Circuit, with the input pairs [(I+, I−)] and output pairs."""
    rng = np.random.default_rng([cfg.seed, 0])
    g = nx.barabasi_albert_graph(cfg.nodes, 1, seed=int(rng.integers(2**31)))
    missing = cfg.edges - g.number_of_edges()
    absent = [(u, v) for u in range(cfg.nodes) for v in range(u + 1, cfg.nodes) if not g.has_edge(u, v)]
    for k in rng.choice(len(absent), missing, replace=False):
        g.add_edge(*absent[k])
    term = rng.choice(cfg.nodes, 2 * (cfg.input_pairs + cfg.output_pairs) + 1, replace=False)
    names = {int(n): f"n{n}" for n in g.nodes}
    names[int(term[0])] = "gnd"
    ins = [(f"I{k}+", f"I{k}-") for k in range(cfg.input_pairs)]
    outs = [(f"O{k}+", f"O{k}-") for k in range(cfg.output_pairs)]
    for n, name in zip(term[1:], [x for p in ins + outs for x in p]):
        names[int(n)] = name
    g = nx.relabel_nodes(g, names)
    k0 = rng.uniform(*cfg.kappa_init, g.number_of_edges())
    lo, hi = cfg.kappa_limits
    # the diodes: a stream of their own, so diodes = 0 leaves the linear network as it was
    drng = np.random.default_rng([cfg.seed, 3])
    diode = set(drng.choice(g.number_of_edges(), cfg.diodes, replace=False).tolist())
    flip = drng.random(g.number_of_edges()) < 0.5
    c = Circuit(ground="gnd", capacitance=cfg.capacitance, name="iris_ba")
    for n in g.nodes:
        if n != "gnd":
            c.add_node(str(n))
    for k, (u, v) in enumerate(g.edges):
        if k in diode:
            a, b = (v, u) if flip[k] else (u, v)
            c.add_edge(f"e{k}", a, b, ShockleyDiode(Is=cfg.diode_Is, n=cfg.diode_n))
        else:
            c.add_edge(f"e{k}", u, v, Conductance(float(k0[k]), theta_min=lo, theta_max=hi))
    for p, m in ins:
        c.add_current_source(p, 0.0)
        c.add_current_source(m, 0.0)
    for p, m in outs:
        c.add_output(p)
        c.add_output(m)
    return c, ins, outs


def iris_indices(cfg: IrisConfig):
    """(train, test): indices into scikit-learn's Iris (load_iris), per class disjoint draws
    with the seed."""
    from sklearn.datasets import load_iris
    y = load_iris().target
    rng = np.random.default_rng([cfg.seed, 1])
    tr, te = [], []
    for c in range(3):
        idx = rng.permutation(np.flatnonzero(y == c))
        if cfg.per_class_train + cfg.per_class_test > len(idx):
            raise SpecError("per_class_test", f"train + test per class exceeds the {len(idx)} examples")
        tr += list(idx[:cfg.per_class_train])
        te += list(idx[cfg.per_class_train:cfg.per_class_train + cfg.per_class_test])
    return np.array(tr), np.array(te)


def iris_split(cfg: IrisConfig):
    """(X_train, y_train, X_test, y_test): the draws of iris_indices; features scaled to [0, λ]
    by the training set's min and max (App. A)."""
    from sklearn.datasets import load_iris
    X, y = load_iris(return_X_y=True)
    tr, te = iris_indices(cfg)
    lo, hi = X[tr].min(axis=0), X[tr].max(axis=0)
    f = lambda Z: cfg.scale * (Z - lo) / (hi - lo)          # noqa: E731
    return f(X[tr]), y[tr], f(X[te]), y[te]


class IrisTrainer:
    def __init__(self, cfg: IrisConfig):
        cfg.validate()
        self.cfg = cfg
        self.circuit, self.ins, self.outs = ba_network(cfg)
        self.ev = Evaluator(self.circuit, cfg.nudge, cfg.options, differential=self.outs)
        self.theta = self.ev.comp.theta0.copy()
        self.Xtr, self.ytr, self.Xte, self.yte = iris_split(cfg)
        self.train_index, self.test_index = iris_indices(cfg)
        self.order = np.array([], dtype=np.int64)          # the last epoch's example order
        self.lo, self.hi = cfg.kappa_limits

    def inputs(self, x) -> dict:
        d = {}
        for (p, m), v in zip(self.ins, x):
            d[p], d[m] = float(v), -float(v)
        return d

    def outputs(self, X) -> np.ndarray:
        """Free DC readouts (n, R) for inputs X."""
        return np.array([self.ev.readout(self.ev.free(self.theta, self.inputs(x))[0]) for x in X])

    def targets(self, X, y) -> np.ndarray:
        """Per class, the readout for the class-mean input (3, R)."""
        return self.outputs(np.array([X[y == c].mean(axis=0) for c in range(3)]))

    def accuracy(self, X, y, T) -> float:
        return _nearest_accuracy(self.outputs(X), y, T)

    def scores(self) -> dict:
        """Accuracies (nearest class target) and losses (RMS distance of the free readout to its
        class target, mean over examples), all with the training set's targets unless named."""
        Ttr = self.targets(self.Xtr, self.ytr)
        dtr, dte = self.outputs(self.Xtr), self.outputs(self.Xte)
        return {"train_acc": _nearest_accuracy(dtr, self.ytr, Ttr),
                "test_acc": _nearest_accuracy(dte, self.yte, Ttr),
                "test_acc_test_prototypes": _nearest_accuracy(dte, self.yte, self.targets(self.Xte, self.yte)),
                "train_loss": _rms(dtr - Ttr[self.ytr]), "test_loss": _rms(dte - Ttr[self.yte])}

    def epoch(self, rng) -> np.ndarray:
        """One pass over the training set; returns each example's RMS error (before its update)."""
        T = self.targets(self.Xtr, self.ytr)
        err = []
        self.order = rng.permutation(len(self.ytr))
        for i in self.order:
            labels = dict(zip(self.ev.names, T[self.ytr[i]]))
            r = self.ev.evaluate(self.theta, self.inputs(self.Xtr[i]), labels)
            err.append(float(np.sqrt(np.mean((r.d0 - T[self.ytr[i]]) ** 2))))
            self.theta += self.ev.update(self.theta, r, self.cfg.alpha)
            np.clip(self.theta, self.lo, self.hi, out=self.theta)
        return np.array(err)

    def train(self, log=None) -> dict:
        rng = np.random.default_rng([self.cfg.seed, 2])
        hist = {"epoch": [0], "rms_error": [np.nan], **{k: [v] for k, v in self.scores().items()}}
        errors, orders, thetas = [], [], [self.theta.copy()]
        t0 = time.perf_counter()
        for ep in range(1, self.cfg.epochs + 1):
            e = self.epoch(rng)
            errors.append(e)
            orders.append(self.order)
            thetas.append(self.theta.copy())
            hist["epoch"].append(ep)
            hist["rms_error"].append(float(e.mean()))
            for k, v in self.scores().items():
                hist[k].append(v)
            if log:
                log(f"epoch {ep:4d}  rms error {e.mean():.4g}  train acc {hist['train_acc'][-1]:.3f}  "
                    f"test acc {hist['test_acc'][-1]:.3f} (test prototypes {hist['test_acc_test_prototypes'][-1]:.3f})"
                    f"  {time.perf_counter() - t0:.0f} s")
        hist = {k: np.array(v) for k, v in hist.items()}
        n = len(self.ytr)
        hist["sample_errors"] = np.array(errors).reshape(-1, n)          # (epochs, examples in update order)
        hist["sample_order"] = np.array(orders, dtype=np.int64).reshape(-1, n)   # training-set positions
        hist["theta"] = np.array(thetas)                                 # (epochs + 1, edges): κ at epoch ends
        hist["wall_s"] = time.perf_counter() - t0
        return hist


def _nearest_accuracy(d, y, T) -> float:
    pred = np.argmin(((d[:, None, :] - T[None]) ** 2).sum(axis=2), axis=1)
    return float(np.mean(pred == y))


def _rms(diff) -> float:
    return float(np.mean(np.sqrt(np.mean(diff ** 2, axis=1))))


# ---- spec files: read as engine run specs are (tdsim.io.spec: units, named unknown keys) ------
_PROTOCOL = {"name": str, "description": str, "kind": str, "epochs": int, "alpha": "dimensionless",
             "nudge": dict, "task": dict}
_NUDGE = {"waveform": str, "gamma": "conductance", "frequency": "frequency", "periods": int, "settle": int,
          "samples": int}
_TASK = {"dataset": str, "per_class_train": int, "per_class_test": int, "scale": "current"}
_MODEL = {"generator": str, "nodes": int, "edges": int, "input_pairs": int, "output_pairs": int,
          "kappa_init": list, "kappa_limits": list, "capacitance": "capacitance", "diodes": int,
          "diode_Is": "current", "diode_n": "dimensionless"}
RUN_KEYS = {"name", "description", "protocol", "seed", "model", "simulation", "parameters", "output"}
SIMULATION_KEYS = ("integrator", "rtol", "atol")


def config_from_dicts(protocol: dict, run: dict) -> IrisConfig:
    """An IrisConfig from a protocol table (kind = "freqprop") and a run table; ``run.parameters``
    overrides protocol keys, dotted for nested ones (e.g. "nudge.gamma", "epochs")."""
    check_keys(run, RUN_KEYS, "")
    protocol = merge(protocol, overrides(run.get("parameters", {})))
    p = fields_from_dict(protocol, _PROTOCOL, "protocol")
    if p.get("kind") != "freqprop":
        raise SpecError("protocol.kind", f"expected 'freqprop', got {protocol.get('kind')!r}")
    cfg = IrisConfig()
    cfg.epochs = p.get("epochs", cfg.epochs)
    cfg.alpha = p.get("alpha", cfg.alpha)
    cfg.nudge = replace(cfg.nudge, **fields_from_dict(protocol.get("nudge", {}), _NUDGE, "protocol.nudge"))
    task = fields_from_dict(protocol.get("task", {}), _TASK, "protocol.task")
    if task.pop("dataset", "iris") != "iris":
        raise SpecError("protocol.task.dataset", f"only 'iris' is available, got {protocol['task']['dataset']!r}")
    model = fields_from_dict(run.get("model", {}), _MODEL, "model")
    if model.pop("generator", "barabasi_albert") != "barabasi_albert":
        raise SpecError("model.generator", f"only 'barabasi_albert' is available, got {run['model']['generator']!r}")
    for k in ("kappa_init", "kappa_limits"):
        if k in model:
            if len(model[k]) != 2:
                raise SpecError(f"model.{k}", "must be [min, max]")
            model[k] = tuple(quantity(x, "conductance", f"model.{k}") for x in model[k])
    for k, v in {**task, **model}.items():
        setattr(cfg, k, v)
    cfg.options = options_from_dict(run.get("simulation", {}), allowed=SIMULATION_KEYS)
    cfg.seed = integer(run.get("seed", cfg.seed), "seed")
    cfg.validate()
    return cfg


def load_config(run_path, parameters: dict | None = None) -> IrisConfig:
    """Read a run spec (runs/freqprop_iris.toml) and the protocol it names."""
    run_path = Path(run_path)
    run = read(run_path)
    if "protocol" not in run:
        raise SpecError(f"{run_path}.protocol", "missing")
    run.setdefault("parameters", {}).update(parameters or {})
    return config_from_dicts(read(run_path.parent / run["protocol"]), run)


__all__ = ["IrisConfig", "IrisTrainer", "ba_network", "iris_indices", "iris_split", "load_config", "config_from_dicts"]
