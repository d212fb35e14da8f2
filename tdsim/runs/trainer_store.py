"""The Zarr store of an outer-loop training run (tdsim.runs.trainers): one group, written once the
training has finished, readable with ``xarray.open_zarr`` or ``tdsim.open_run``.

Same conventions as the engine's run stores (tdsim.runs.store): the spec as read and as resolved, the
seed and the tdsim version are group attributes; ``complete`` turns true at the end and the
metadata are consolidated then. The group is created (``complete = false``) before the training
starts, so the path is claimed and a refusal comes before any work: an existing store is
replaced only with ``overwrite``, or when it is an unfinished store of the same spec (a training
killed part-way; it restarts from scratch: trainers keep no checkpoint). Layout: docs/storage.md.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import zarr

from tdsim.version import __version__
from tdsim.errors import SpecError
from tdsim.runs.claim import (StoreLock, aborted_creation, is_store, open_existing,
                              refuse_overwrite_of_non_store)
from tdsim.runs.store import _jsonable, finish_store


class TrainerWriter:
    def __init__(self, path, attrs: dict, overwrite: bool = False):
        self.path = Path(path)
        attrs = _jsonable(attrs)
        self.lock = StoreLock(self.path)             # held until finish(): one writer per store
        try:
            if self.path.exists():
                root = open_existing(self.path)
                ours = (is_store(root) and not root.attrs.get("complete", False)
                        and all(root.attrs.get(k) == attrs.get(k) for k in ("trainer", "resolved_spec", "seed")))
                if not (overwrite or ours or aborted_creation(self.path)):
                    state = "complete" if is_store(root) and root.attrs.get("complete") else \
                        "an unfinished store of another spec" if is_store(root) else "not a tdsim store"
                    raise SpecError("output", f"{self.path} exists ({state}); refusing to overwrite it "
                                    + ("(pass --overwrite)" if is_store(root) else "(choose another output)"))
                refuse_overwrite_of_non_store(self.path, root)
                shutil.rmtree(self.path)
            self.root = zarr.open_group(str(self.path), mode="w-")
            self.root.update_attributes({"tdsim_version": __version__, "complete": False, **attrs})
        except BaseException:
            self.lock.release()
            raise

    def array(self, name: str, dims, values, units: str | None = None, long_name: str | None = None,
              coordinates: str | None = None) -> None:
        """One variable (or coordinate: name == its only dim) with xarray's dimension names."""
        dims = (dims,) if isinstance(dims, str) else tuple(dims)
        values = np.asarray(values)
        if values.ndim != len(dims):
            raise ValueError(f"{name}: {values.ndim}-d values for dims {dims}")
        dtype = str if values.dtype.kind == "U" else values.dtype    # variable-length UTF-8 has a v3 spec
        attrs = {k: v for k, v in (("units", units), ("long_name", long_name), ("coordinates", coordinates)) if v}
        a = self.root.create_array(name, shape=values.shape, dtype=dtype, dimension_names=list(dims),
                                   attributes=attrs or None)
        if values.size:
            a[...] = values

    def finish(self, stats: dict) -> None:
        finish_store(self, stats, complete=True)


def write_freqprop(w: TrainerWriter, trainer, hist: dict) -> None:
    """An IrisTrainer after ``hist = trainer.train()``."""
    c = trainer.ev.comp
    epochs = np.asarray(hist["epoch"], dtype=np.int64)
    w.array("epoch", "epoch", epochs, long_name="epochs done (0: before training)")
    _edges(w, c.edge_names, [c.node_names[i] for i in c.ea], [c.node_names[i] for i in c.eb])
    w.array("readout", "readout", np.array([f"{p}-{m}" for p, m in trainer.outs], dtype=str),
            long_name="output pair read as O+ - O-")
    for name, long in (("train_loss", "RMS distance of the free readout to its class target (train-set "
                                      "targets), training set, at the epoch end"),
                       ("test_loss", "the same on the test set (train-set targets)"),
                       ("rms_error", "mean over the epoch's updates of the RMS error before the update"),
                       ("train_acc", "training accuracy (nearest train-set class target)"),
                       ("test_acc", "test accuracy (nearest train-set class target)"),
                       ("test_acc_test_prototypes", "test accuracy (nearest test-set class target, the paper's)")):
        w.array(name, "epoch", np.asarray(hist[name], dtype=np.float64),
                units="V" if "loss" in name or name == "rms_error" else None, long_name=long)
    w.array("theta", ("epoch", "edge"), hist["theta"], units="S", long_name="conductance κ at the epoch end",
            coordinates="edge_a edge_b")
    w.array("theta_final", "edge", trainer.theta, units="S", long_name="conductance κ after training",
            coordinates="edge_a edge_b")
    n = len(trainer.ytr)
    E = hist["sample_errors"].shape[0]
    w.array("update_epoch", "update", np.repeat(np.arange(1, E + 1), n), long_name="epoch of the update")
    w.array("update_sample", "update", hist["sample_order"].reshape(-1),
            long_name="training example (train_sample) of the update")
    w.array("sample_error", "update", hist["sample_errors"].reshape(-1), units="V",
            long_name="RMS error of the output pairs before the update", coordinates="update_epoch update_sample")
    _split(w, trainer.train_index, trainer.test_index, trainer.ytr, trainer.yte, "load_iris()")
    w.array("X_train", ("train_sample", "feature"), trainer.Xtr, units="A", long_name="scaled input currents")
    w.array("X_test", ("test_sample", "feature"), trainer.Xte, units="A", long_name="scaled input currents")


def write_omega(w: TrainerWriter, net, data: dict, trainings: list, histories: list) -> None:
    """``trainings``: (variant name, TrainConfig) pairs; ``histories``: their omega_train.History."""
    steps = [np.asarray(h.step) for h in histories]
    if any(not np.array_equal(s, steps[0]) for s in steps):
        raise SpecError("variants", "the trainings of one store must share steps and eval_every")
    w.array("training", "training", np.arange(len(trainings)), long_name="training (variant x estimator)")
    w.array("estimator", "training", np.array([cfg.estimator for _, cfg in trainings], dtype=str))
    w.array("variant", "training", np.array([v for v, _ in trainings], dtype=str))
    w.array("training_seed", "training", np.array([cfg.seed for _, cfg in trainings], dtype=np.int64),
            long_name="mask and batch seed")
    w.array("step", "step", steps[0].astype(np.int64), long_name="updates done (0: before training)")
    role = np.full(net.E, "hidden", dtype=object)
    role[net.inputs], role[net.outputs] = "input", "output"
    _edges(w, [f"e{e}" for e in range(net.E)], [net.node_name(int(a)) for a in net.edges[:, 0]],
           [net.node_name(int(b)) for b in net.edges[:, 1]])
    w.array("edge_role", "edge", role.astype(str))
    for name, long in (("train_loss", "mean loss on the training set"), ("test_loss", "mean loss on the test set"),
                       ("test_accuracy", "test accuracy (hinge tasks; NaN for regression)")):
        w.array(name, ("training", "step"), np.array([getattr(h, name) for h in histories], dtype=np.float64),
                long_name=long, coordinates="estimator variant")
    w.array("theta", ("training", "step", "edge"), np.array([h.r for h in histories]), units="ohm",
            long_name="edge resistance r at each evaluation", coordinates="estimator variant edge_a edge_b")
    w.array("theta_final", ("training", "edge"), np.array([h.r[-1] for h in histories]), units="ohm",
            long_name="edge resistance r after training", coordinates="estimator variant edge_a edge_b")
    w.array("edge_trained", ("training", "edge"), np.array([h.mask for h in histories], dtype=bool),
            long_name="true where the edge learns (not frozen)")
    w.array("tdsim_runs", "training", np.array([h.runs for h in histories], dtype=np.int64))
    if "train_index" in data:
        _split(w, data["train_index"], data["test_index"], data["Y_train"], data["Y_test"], "load_breast_cancer()")
    for part, dim in (("train", "train_sample"), ("test", "test_sample")):
        w.array(f"X_{part}", (dim, "feature"), np.asarray(data[f"X_{part}"]), long_name="inputs x")
        Y = np.asarray(data[f"Y_{part}"])
        w.array(f"Y_{part}", (dim,) + (("target",) if Y.ndim == 2 else ()), Y, long_name="labels y")
    if "M" in data:
        w.array("M", ("target", "feature"), np.asarray(data["M"]), long_name="the linear map to learn")


def _edges(w, names, a, b):
    w.array("edge", "edge", np.array(names, dtype=str))
    w.array("edge_a", "edge", np.array(a, dtype=str), long_name="tail node")
    w.array("edge_b", "edge", np.array(b, dtype=str), long_name="head node")


def _split(w, train_index, test_index, y_train, y_test, source):
    w.array("train_index", "train_sample", np.asarray(train_index, dtype=np.int64),
            long_name=f"row of {source} of each training example")
    w.array("test_index", "test_sample", np.asarray(test_index, dtype=np.int64),
            long_name=f"row of {source} of each test example")
    w.array("train_label", "train_sample", np.asarray(y_train))
    w.array("test_label", "test_sample", np.asarray(y_test))
