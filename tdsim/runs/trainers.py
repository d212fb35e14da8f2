"""Run specs of the outer-loop trainers, recognised by their protocol's ``kind``:

- ``freqprop``: frequency propagation on Iris (tdsim.studies.freqprop_iris; run spec keys as
  runs/freqprop_iris.toml: ``[model]`` generator table, ``[simulation]``, ``parameters``);
- ``omega_training``: Ω-projector / two-phase training of edge networks (tdsim.studies.omega_train;
  run spec keys: ``estimator`` or ``estimators``, ``variants``, ``seed``, ``parameters``).

tdsim.runs.jobs hands such specs here; a TrainerSpec is a job as an engine run is (``run``,
``warm``, ``integrator``, ``work``), so ``tdsim run`` and ``tdsim sweep`` take it as they take
engine runs. Read as engine run specs are (tdsim.io.spec: units, named unknown keys);
``parameters`` overrides protocol keys, dotted (``"training.p_freeze" = 0.2``) or nested (what a
sweep axis ``parameters.training.p_freeze`` makes)."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from tdsim.errors import SpecError
from tdsim.io.spec import check_keys, default_output, integer, merge, overrides, read

KINDS = ("freqprop", "omega_training")
_OMEGA_RUN_KEYS = {"name", "description", "protocol", "parameters", "seed", "output", "estimator", "estimators",
                   "variants"}


@dataclass
class TrainerSpec:
    kind: str                      # a protocol kind of KINDS
    config: object                 # IrisConfig (freqprop) or OmegaPlan (omega_training)
    seed: int
    output: Path
    source: dict = field(default_factory=dict)      # the spec as read, stored with the run
    resolved: dict = field(default_factory=dict)    # with the protocol file inlined
    figures = "trainer_figures"    # its figure writer in tdsim.analysis.plots

    @property
    def integrator(self) -> str:
        return self.config.options.integrator if self.kind == "freqprop" else "quasistatic"

    @property
    def work(self) -> float:
        """Updates to make: the sweep's ordering key (longest first)."""
        if self.kind == "freqprop":
            return float(self.config.epochs * 3 * self.config.per_class_train)
        return float(sum(cfg.steps for _, cfg in self.config.trainings))

    def run(self, output=None, overwrite: bool = False, progress: bool = True, resume: bool = True):
        """Train and store the history: (path, TrainerResult). A trainer keeps no checkpoint: an
        unfinished store of the same spec is trained again from the start (``resume`` is for the
        engine's runs), a complete one is replaced only with ``overwrite``."""
        return run_trainer(self, output, overwrite, progress)

    def warm(self) -> None:
        """Compile (or load) the engine kernels the trainer uses, in this process: one evaluation."""
        import numpy as np
        if self.kind == "freqprop":
            from tdsim.studies.freqprop_iris import IrisTrainer
            tr = IrisTrainer(dataclasses.replace(self.config, epochs=0))
            labels = dict(zip(tr.ev.names, np.zeros(len(tr.ev.names))))
            tr.ev.evaluate(tr.theta, tr.inputs(tr.Xtr[0]), labels)
        else:
            from tdsim.rules.omega import EdgeSimulator
            net = self.config.protocol["network"]
            EdgeSimulator(net).infer(np.ones(net.E), self.config.protocol["data"]["X_train"][:1])

    def summary(self, result) -> str:
        """The command line's note on a finished run."""
        return f"({self.kind} training, {result.stats['wall_s']:.1f} s)"

    def netlist(self, tstep=None) -> str:
        raise SpecError("protocol.kind", f"{self.kind!r}: a trainer spec has no one circuit to export")


@dataclass
class OmegaPlan:
    protocol: dict                 # omega_train.protocol_from_dict: network, data, training
    trainings: list                # (variant name, TrainConfig), variant-major as the analysis plots them


@dataclass
class TrainerResult:
    history: object                # freqprop: the train() dict; omega: a list of History
    stats: dict


def protocol_kind(d: dict, base=Path(".")) -> str | None:
    """The ``kind`` of a run spec's protocol (a file or an inline table), if it has one."""
    p = d.get("protocol") if isinstance(d, dict) else None
    if isinstance(p, str):
        p = read(Path(base) / p)
    return p.get("kind") if isinstance(p, dict) else None


def trainer_from_dict(d: dict, base=Path("."), name: str = "run") -> TrainerSpec:
    base = Path(base)
    proto = d["protocol"]
    proto = read(base / proto) if isinstance(proto, str) else proto
    kind = proto.get("kind")
    resolved = {**d, "protocol": proto}
    if kind == "freqprop":
        from tdsim.studies.freqprop_iris import config_from_dicts
        cfg = config_from_dicts(proto, d)
        seed = cfg.seed
    elif kind == "omega_training":
        cfg, seed = _omega_plan(d, proto)
    else:
        raise SpecError("protocol.kind", f"not a trainer protocol: {kind!r} ({', '.join(KINDS)})")
    return TrainerSpec(kind, cfg, seed, default_output(d, base, name), d, resolved)


def _omega_plan(d: dict, proto: dict):
    from tdsim.studies.omega_train import ESTIMATORS, TrainConfig, protocol_from_dict
    check_keys(d, _OMEGA_RUN_KEYS, "")
    raw = merge(proto, overrides(d.get("parameters", {})))
    p = protocol_from_dict(raw, "protocol.")
    if "estimator" in d and "estimators" in d:
        raise SpecError("estimators", "give estimator or estimators, not both")
    ests = d.get("estimators", [d.get("estimator", p["training"].estimator)])
    if not isinstance(ests, list) or not ests:
        raise SpecError("estimators", f"a non-empty list of {', '.join(ESTIMATORS)}")
    for e in ests:
        if e not in ESTIMATORS:
            raise SpecError("estimators" if "estimators" in d else "estimator",
                            f"unknown {e!r} ({', '.join(ESTIMATORS)})")
    seed = integer(d.get("seed", p["training"].seed), "seed")
    variants = d.get("variants", [{"name": ""}])
    if not isinstance(variants, list) or not variants:
        raise SpecError("variants", "a non-empty list of tables (name + training keys)")
    trainings = []
    for i, var in enumerate(variants):
        if not isinstance(var, dict):
            raise SpecError(f"variants[{i}]", "expected a table")
        var = dict(var)
        vname = str(var.pop("name", f"variant {i}"))
        for key in ("estimator", "seed"):
            if key in var:
                raise SpecError(f"variants[{i}].{key}", "set at the top level of the run spec")
        for e in ests:        # the protocol's [training] as written, with the variant's keys over it
            cfg = TrainConfig.from_dict({**raw["training"], **var, "estimator": e, "seed": seed}, f"variants[{i}]")
            trainings.append((vname, cfg))
    return OmegaPlan(p, trainings), seed


def run_trainer(spec: TrainerSpec, output=None, overwrite: bool = False, progress: bool = True):
    """Train as ``spec`` says and store the history (tdsim.runs.trainer_store); returns (path,
    TrainerResult). The path is claimed (or refused) before the training starts."""
    from tdsim.runs.trainer_store import TrainerWriter, write_freqprop, write_omega
    path = Path(output or spec.output)
    attrs = {"trainer": spec.kind, "spec": spec.source, "resolved_spec": spec.resolved, "seed": spec.seed}
    log = print if progress else None
    if spec.kind == "freqprop":
        from tdsim.studies.freqprop_iris import IrisTrainer
        trainer = IrisTrainer(spec.config)
        w = TrainerWriter(path, {**attrs, "integrator": dataclasses.asdict(spec.config.options)}, overwrite)
        hist = trainer.train(log=log)
        write_freqprop(w, trainer, hist)
        stats = {"wall_s": hist["wall_s"], "epochs": spec.config.epochs,
                 "final_test_acc": float(hist["test_acc"][-1]), "final_train_acc": float(hist["train_acc"][-1])}
    else:
        from tdsim.rules.omega import EdgeSimulator
        from tdsim.studies.omega_train import train
        plan = spec.config
        w = TrainerWriter(path, attrs, overwrite)
        net, data = plan.protocol["network"], plan.protocol["data"]
        t0 = time.perf_counter()
        hist, walls = [], []
        for vname, cfg in plan.trainings:
            t1 = time.perf_counter()
            hist.append(train(net, data, cfg, sim=EdgeSimulator(net)))
            walls.append(time.perf_counter() - t1)
            if log:
                log(f"[{vname or 'run'}] {cfg.estimator}: final test loss {hist[-1].test_loss[-1]:.4g}, "
                    f"test accuracy {hist[-1].test_accuracy[-1]:.3f}")
        write_omega(w, net, data, plan.trainings, hist)
        stats = {"wall_s": time.perf_counter() - t0, "training_wall_s": walls, "trainings": len(hist),
                 "tdsim_runs": int(sum(h.runs for h in hist))}
    w.finish(stats)
    return path, TrainerResult(hist, stats)
