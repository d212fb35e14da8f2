"""`tdsim run` / `tdsim sweep` on outer-loop trainer specs (frequency propagation on Iris, Ω /
two-phase training): the store holds what the trainer computes in-process (independent path: the
trainer called directly with a config built by hand, not from the spec), the same spec and seed
give identical stores, bad keys are named, and a 2-point sweep on a LocalCluster(2) completes."""
from pathlib import Path

import numpy as np
import pytest
import zarr

from tdsim.cli import main
from tdsim.errors import SpecError
from tdsim.rules.freqprop import FreqProp
from tdsim.studies.freqprop_iris import IrisConfig, IrisTrainer
from tdsim.studies.omega_train import TrainConfig, load_protocol, train
from tdsim.simulation.simulate import Options
from tdsim.runs.jobs import load_run
from tdsim.runs.store import open_run

ROOT = Path(__file__).resolve().parents[1]

# 20-node network, 5 + 5 examples per class, 2 epochs of 3-period nudges: ~0.3 s once compiled
FREQPROP = f"""
name = "fp_tiny"
protocol = "{ROOT / 'protocols' / 'freqprop_iris.toml'}"
seed = 1
[parameters]
epochs = 2
"nudge.periods" = 3
"nudge.samples" = 16
task = {{ per_class_train = 5, per_class_test = 5 }}
[model]
nodes = 20
edges = 60
[simulation]
integrator = "rosenbrock"
rtol = 1e-6
atol = "1 nV"
"""

# the breast-cancer protocol, 2 estimators x 2 variants, 10 updates of 4 examples: ~1 s
OMEGA = f"""
name = "om_tiny"
protocol = "{ROOT / 'protocols' / 'omega_breast_cancer.toml'}"
estimators = ["omega", "two_phase"]
variants = [{{ name = "all", freeze_outputs = false }}, {{ name = "fixed", freeze_outputs = true }}]
seed = 2
[parameters]
"training.steps" = 10
"training.eval_every" = 5
training = {{ batch = 4 }}
"""


def spec_file(tmp_path, text, name):
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    return p


def tdsim_run(spec, out, *extra):
    assert main(["run", str(spec), "-o", str(out), "-q", "--no-figures", *extra]) == 0
    return open_run(out)


def test_freqprop_store_holds_the_trainers_result(tmp_path):
    ds = tdsim_run(spec_file(tmp_path, FREQPROP, "fp"), tmp_path / "fp.zarr")
    cfg = IrisConfig(nodes=20, edges=60, per_class_train=5, per_class_test=5, epochs=2, alpha=20.0,
                     nudge=FreqProp(1.0, 1.0, "sin", periods=3, settle=1, samples=16),
                     options=Options(integrator="rosenbrock", rtol=1e-6, atol=1e-9), seed=1)
    tr = IrisTrainer(cfg)
    h = tr.train()
    # same arithmetic in the same order: equal to the last bit
    np.testing.assert_array_equal(ds["theta_final"].values, tr.theta)
    np.testing.assert_array_equal(ds["theta"].values[-1], tr.theta)
    np.testing.assert_array_equal(ds["theta"].values[0], tr.ev.comp.theta0)     # the untrained κ
    for k in ("rms_error", "train_acc", "test_acc", "test_acc_test_prototypes"):
        np.testing.assert_array_equal(ds[k].values, h[k])
    np.testing.assert_array_equal(ds["sample_error"].values, h["sample_errors"].ravel())
    assert np.isnan(ds["rms_error"].values[0]) and ds["rms_error"].values[-1] < ds["rms_error"].values[1]
    # the split: sklearn's Iris rows, 5 per class in each part, disjoint; labels are those rows'
    from sklearn.datasets import load_iris
    y = load_iris().target
    itr, ite = ds["train_index"].values, ds["test_index"].values
    assert not set(itr) & set(ite) and np.bincount(y[itr]).tolist() == [5, 5, 5]
    np.testing.assert_array_equal(ds["test_label"].values, y[ite])
    # each epoch's updates visit every training example once
    for ep in (1, 2):
        assert sorted(ds["update_sample"].values[ds["update_epoch"].values == ep]) == list(range(15))
    assert ds.attrs["complete"] and ds.attrs["trainer"] == "freqprop" and ds.attrs["seed"] == 1
    assert ds.attrs["resolved_spec"]["protocol"]["kind"] == "freqprop" and "tdsim_version" in ds.attrs


def test_omega_store_holds_the_trainers_result(tmp_path):
    ds = tdsim_run(spec_file(tmp_path, OMEGA, "om"), tmp_path / "om.zarr")
    proto = load_protocol(ROOT / "protocols" / "omega_breast_cancer.toml")
    assert ds.sizes["training"] == 4
    for k, (variant, est) in enumerate([(v, e) for v in ("all", "fixed") for e in ("omega", "two_phase")]):
        assert (str(ds["variant"].values[k]), str(ds["estimator"].values[k])) == (variant, est)
        cfg = TrainConfig(estimator=est, loss="hinge", readout=[-1.0, 1.0], margin=0.1, steps=10, batch=4,
                          lr=3.0, beta=0.01, r_min=0.1, r_max=10.0, eval_every=5,
                          freeze_outputs=variant == "fixed", seed=2)
        h = train(proto["network"], proto["data"], cfg)
        np.testing.assert_array_equal(ds["theta_final"].values[k], h.r[-1])
        np.testing.assert_array_equal(ds["theta"].values[k], np.array(h.r))
        for name in ("train_loss", "test_loss", "test_accuracy"):
            np.testing.assert_array_equal(ds[name].values[k], getattr(h, name))
        np.testing.assert_array_equal(ds["edge_trained"].values[k], h.mask)
    np.testing.assert_array_equal(ds["step"].values, [0, 5, 10])
    # fixed voltmeter edges stay at Lin's homogeneous start, 1 ohm; trained edges moved
    out = ds["edge_role"].values == "output"
    np.testing.assert_array_equal(ds["theta_final"].values[2:][:, out], 1.0)
    assert np.any(ds["theta_final"].values != 1.0, axis=1).all()
    np.testing.assert_array_equal(ds["X_train"].values, proto["data"]["X_train"])
    np.testing.assert_array_equal(ds["train_index"].values, proto["data"]["train_index"])


def _content(path):
    root = zarr.open_group(str(path), mode="r")
    arrays = {k: root[k][...] for k in root.array_keys()}
    attrs = dict(root.attrs)
    attrs["stats"] = {k: v for k, v in attrs["stats"].items() if "wall_s" not in k}   # the timings
    return arrays, attrs


@pytest.mark.parametrize("text", [FREQPROP, OMEGA], ids=["freqprop", "omega"])
def test_same_spec_and_seed_give_identical_stores(tmp_path, text):
    spec = spec_file(tmp_path, text, "s")
    tdsim_run(spec, tmp_path / "a.zarr")
    tdsim_run(spec, tmp_path / "b.zarr")
    (a, aa), (b, ba) = _content(tmp_path / "a.zarr"), _content(tmp_path / "b.zarr")
    assert aa == ba and a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    # a complete store is not replaced without --overwrite; with it, it is
    assert main(["run", str(spec), "-o", str(tmp_path / "a.zarr"), "-q", "--no-figures"]) == 2
    tdsim_run(spec, tmp_path / "a.zarr", "--overwrite")


@pytest.mark.parametrize("text, change, key", [
    (FREQPROP, ("[model]", "[model]\ngeneratr = \"barabasi_albert\""), "model.generatr"),
    (FREQPROP, ("epochs = 2", "epochs = 2\n\"nudge.gama\" = 1"), "protocol.nudge.gama"),
    (OMEGA, ("estimators =", "estimatrs ="), "estimatrs"),
    (OMEGA, ("\"training.steps\"", "\"training.stepz\""), "protocol.training.stepz"),
    (OMEGA, ("freeze_outputs = true", "freeze_output = true"), "variants[1].freeze_output"),
    (OMEGA, ("\"omega\", \"two_phase\"", "\"omega\", \"three_phase\""), "estimators"),
    (OMEGA, ("training = {", "network = { rows = 1 }\ntraining = {"), "protocol.mesh"),
    (FREQPROP, ('atol = "1 nV"', "atol = 1e-9"), "simulation.atol"),                # a voltage needs its unit
    (OMEGA, ("training = {", '"training.margin" = 0.1\ntraining = {'), "protocol.training.margin"),
], ids=lambda x: x if isinstance(x, str) and len(x) < 40 else "")
def test_bad_keys_fail_before_work_and_name_the_key(tmp_path, text, change, key):
    spec = spec_file(tmp_path, text.replace(*change), "bad")
    with pytest.raises(SpecError) as err:
        load_run(spec)
    assert err.value.key == key
    assert main(["run", str(spec), "-o", str(tmp_path / "x.zarr"), "-q"]) == 2
    assert not (tmp_path / "x.zarr").exists()


def test_trainer_specs_take_units_as_engine_specs_do(tmp_path):
    """Quantities in any unit of their dimension: the Ω training's margin (100 mV = 0.1 V),
    resistance bound (2 kOhm = 2000 Ohm) and probe scale (5 mS = 0.005 S); frequency
    propagation's integrator tolerance (2 uV) and nudge amplitude (500 mS = 0.5 S)."""
    job = load_run(spec_file(tmp_path, OMEGA.replace("training = {", '"training.margin" = "100 mV"\n'
                                                     '"training.r_max" = "2 kOhm"\n"training.eta" = "5 mS"\n'
                                                     "training = {"), "units"))
    for _, cfg in job.config.trainings:
        assert cfg.margin == pytest.approx(0.1, rel=1e-15) and cfg.r_max == pytest.approx(2000.0, rel=1e-15)
        assert cfg.eta == pytest.approx(5e-3, rel=1e-15)
    fp = load_run(spec_file(tmp_path, FREQPROP.replace('atol = "1 nV"', 'atol = "2 uV"')
                            .replace("epochs = 2", 'epochs = 2\n"nudge.gamma" = "500 mS"'), "fp_units"))
    assert fp.config.options.atol == pytest.approx(2e-6, rel=1e-15)
    assert fp.config.nudge.gamma == pytest.approx(0.5, rel=1e-15)


def test_two_point_sweep_over_p_freeze_on_a_local_cluster(tmp_path):
    from tdsim.runs.sweep import load_sweep, open_sweep, run_sweep
    spec_file(tmp_path, OMEGA.replace('["omega", "two_phase"]', '["omega"]').replace(
        'variants = [{ name = "all", freeze_outputs = false }, { name = "fixed", freeze_outputs = true }]', ""),
        "base")
    sweep = spec_file(tmp_path, 'run = "base.toml"\noutput = "sw.zarr"\n'
                      '[grid]\n"parameters.training.p_freeze" = [0.0, 0.6]\n', "sw")
    index = run_sweep(load_sweep(sweep), workers=2, progress=False)
    assert [index[r]["status"] for r in sorted(index)] == ["complete", "complete"], index
    tree = open_sweep(tmp_path / "sw.zarr")
    proto = load_protocol(ROOT / "protocols" / "omega_breast_cancer.toml")
    for rid, p in (("r00000", 0.0), ("r00001", 0.6)):
        ds = tree[f"runs/{rid}"].to_dataset()
        assert ds.attrs["complete"] and ds.attrs["spec"]["parameters"]["training"]["p_freeze"] == p
        cfg = TrainConfig(estimator="omega", loss="hinge", readout=[-1.0, 1.0], margin=0.1, steps=10, batch=4,
                          lr=3.0, beta=0.01, eval_every=5, p_freeze=p, seed=2)
        h = train(proto["network"], proto["data"], cfg)
        np.testing.assert_array_equal(ds["theta_final"].values[0], h.r[-1])
        frozen = ~ds["edge_trained"].values[0]
        assert frozen.any() == (p > 0)
        np.testing.assert_array_equal(ds["theta_final"].values[0][frozen], 1.0)
