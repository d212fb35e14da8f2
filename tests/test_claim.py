"""Nothing a user stored is lost, overwritten or mixed (issue 14): one writer per store, overwrite
replaces only tdsim stores, and a rerun resumes only the very same run (spec, model and protocol
contents, seed, integrator, tdsim version). Real processes, real Zarr in a temporary folder."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tdsim import SpecError, open_run
from tdsim.runs.claim import StoreLock
from tdsim.runs.jobs import load_run
from tdsim.runs.runner import run_spec

ROOT = Path(__file__).resolve().parent.parent


def _spec(tmp_path, A0="2.8 1/(V*ms)", periods=2, name="spec.toml"):
    """The 2+1-edge run with a private copy of its model (so a test can edit the model file)."""
    model = (ROOT / "models" / "two_plus_one.toml").read_text()
    (tmp_path / "model.toml").write_text(model.replace('"2.8 1/(V*ms)"', f'"{A0}"') if A0 else model)
    p = tmp_path / name
    p.write_text(f'model = "model.toml"\nprotocol = "{ROOT / "protocols" / "fig2b_two_task.toml"}"\n'
                 f'[parameters]\ntau = "20 ms"\nperiods = {periods}\n'
                 '[simulation]\nintegrator = "rosenbrock"\nrecord_interval = "1 ms"\nchunk = 8\n')
    return p


def test_model_file_mentions_the_learning_rate_we_edit():
    assert '"2.8 1/(V*ms)"' in (ROOT / "models" / "two_plus_one.toml").read_text()


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "tdsim.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


def test_a_second_writer_is_refused_while_the_first_holds_the_store(tmp_path):
    out = tmp_path / "run.zarr"
    first = StoreLock(out)
    with pytest.raises(SpecError) as exc:
        StoreLock(out)
    assert exc.value.key == "output" and str(os.getpid()) in str(exc.value)
    first.release()
    StoreLock(out).release()           # free again once the first writer is done


def test_two_concurrent_runs_on_one_store(tmp_path):
    """Two `tdsim run` on one output: one writes, the other is refused in one line; the store is the
    first run's, complete and readable (was: both exited 0, twice the samples, unreadable)."""
    spec = _spec(tmp_path, periods=40)
    out = tmp_path / "run.zarr"
    a = subprocess.Popen([sys.executable, "-m", "tdsim.cli", "run", spec, "-o", out, "-q", "--no-figures"],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / ".run.zarr.lock"
    deadline = time.time() + 120
    while not (out / "zarr.json").exists() and time.time() < deadline and a.poll() is None:
        time.sleep(0.05)
    b = _cli("run", spec, "-o", out, "-q", "--no-figures", cwd=tmp_path)
    a_out, a_err = a.communicate(timeout=600)
    assert a.returncode == 0, a_err
    if b.returncode == 0:
        pytest.fail("the second writer ran too: " + b.stdout)
    assert "Traceback" not in b.stderr and len(b.stderr.strip().splitlines()) == 1, b.stderr
    assert "another tdsim process" in b.stderr and lock.exists()
    ds = open_run(out)
    assert ds.attrs["complete"] and ds.sizes["time"] == int(round(40 * 0.020 / 1e-3)) + 1      # 40 periods of tau = 20 ms, a sample per ms


def test_overwrite_never_deletes_a_folder_that_is_not_a_store(tmp_path):
    spec = _spec(tmp_path)
    data = tmp_path / "mydata"
    data.mkdir()
    (data / "notes.txt").write_text("a week of measurements")
    for extra in ((), ("--overwrite",)):
        r = _cli("run", spec, "-o", data, "-q", "--no-figures", *extra, cwd=tmp_path)
        assert r.returncode != 0 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert "not a tdsim store" in r.stderr
        assert (data / "notes.txt").read_text() == "a week of measurements"


def test_overwrite_replaces_a_tdsim_store(tmp_path):
    spec = _spec(tmp_path)
    out = tmp_path / "run.zarr"
    run_spec(load_run(spec), out, progress=False)
    with pytest.raises(SpecError, match="pass --overwrite"):
        run_spec(load_run(spec), out, progress=False)
    run_spec(load_run(spec), out, overwrite=True, progress=False)
    assert open_run(out).attrs["complete"]


def test_output_under_a_file_or_being_a_file_is_refused(tmp_path):
    spec = load_run(_spec(tmp_path))
    f = tmp_path / "afile"
    f.write_text("x")
    for out, what in ((f / "run.zarr", "is a file, not a folder"), (f, "is a file, not a store")):
        with pytest.raises(SpecError, match=what):
            run_spec(spec, out, progress=False)
    assert f.read_text() == "x"


def test_resume_refuses_an_edited_model_file(tmp_path):
    """Kill a run, edit A0 in its model file, rerun: refused naming what changed (was: resumed,
    marked complete, a trajectory of two circuits under a stale resolved_spec)."""
    spec = _spec(tmp_path, periods=60)
    out = tmp_path / "run.zarr"
    p = subprocess.Popen([sys.executable, "-m", "tdsim.cli", "run", spec, "-o", out, "-q", "--no-figures"],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        try:
            if (open_run(out).attrs.get("checkpoint") or {}).get("n_time", 0) > 0:
                break
        except Exception:   # noqa: BLE001 (not created yet)
            pass
        time.sleep(0.05)
    if p.poll() is not None:
        pytest.skip("the run finished before it could be killed")
    p.send_signal(signal.SIGKILL)
    p.wait()
    _spec(tmp_path, A0="5.6 1/(V*ms)", periods=60)          # the same spec file, the model edited
    r = _cli("run", spec, "-o", out, "-q", "--no-figures", cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "different spec" in r.stderr and "resolved_spec: stored model" in r.stderr and "A0" in r.stderr
    assert not open_run(out).attrs["complete"]
    _spec(tmp_path, periods=60)                              # the model as it was: resumes
    r = _cli("run", spec, "-o", out, "-q", "--no-figures", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert open_run(out).attrs["complete"]


def test_open_run_reads_a_store_killed_between_two_appends(tmp_path):
    """A kill between the appends of one flush leaves `V` longer than `time` (and `event_theta`
    longer than `event_time`); open_run trims every array to the last checkpoint and gives the
    committed values (was: 'conflicting sizes'). The state is made exactly: a finished run's store,
    its arrays resized as a cut flush leaves them, the checkpoint moved back, not consolidated."""
    import json
    import numpy as np
    import zarr
    out = tmp_path / "run.zarr"
    run_spec(load_run(_spec(tmp_path)), out, progress=False)
    full = open_run(out).load()
    g = zarr.open_group(str(out), mode="r+")
    ck = dict(g.attrs["checkpoint"], n_time=10, n_event=2)
    g.update_attributes({"complete": False, "checkpoint": ck})
    g["time"].resize((8,))                              # the flush after the commit: time cut short,
    g["V"].resize((15,) + g["V"].shape[1:])             # V and event_theta further on
    g["event_theta"].resize((3,) + g["event_theta"].shape[1:])
    meta = json.loads((out / "zarr.json").read_text())
    meta.pop("consolidated_metadata", None)             # an unfinished run is never consolidated
    (out / "zarr.json").write_text(json.dumps(meta))
    g["time"].resize((10,))
    g["time"][8:10] = full.time.values[8:10]
    ds = open_run(out)
    assert ds.sizes["time"] == 10 and ds.sizes["event"] == 2
    for name in ("V", "theta", "O"):
        np.testing.assert_array_equal(ds[name].values, full[name].values[:10])
    np.testing.assert_array_equal(ds.event_theta.values, full.event_theta.values[:2])
    np.testing.assert_array_equal(ds.event_time.values, full.event_time.values[:2])
    assert set(ds.coords) >= {"time", "event_time", "event_segment", "edge_a", "edge_element"}


def test_a_second_sweep_driver_on_one_store_is_refused(tmp_path):
    """Two `tdsim sweep` drivers on one output (was: both reported success, every run unreadable):
    the second is refused in one line while the first holds the sweep store, and the first's
    sweep is complete and readable."""
    from tdsim import open_sweep
    base = (ROOT / "runs" / "two_plus_one.toml").read_text().replace("../", str(ROOT) + "/")
    (tmp_path / "base.toml").write_text(base)
    (tmp_path / "sweep.toml").write_text(
        'name = "t"\nrun = "base.toml"\n[grid]\n"parameters.tau" = ["5 ms", "10 ms"]\n'
        '"parameters.periods" = [20]\n"simulation.integrator" = ["quasistatic"]\n"simulation.cycle_tol" = ["0 V"]\n')
    out = tmp_path / "s.zarr"
    a = subprocess.Popen([sys.executable, "-m", "tdsim.cli", "sweep", tmp_path / "sweep.toml", "-o", out, "-q",
                          "--workers", "1"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "zarr.json").exists() and time.time() < deadline and a.poll() is None:
        time.sleep(0.05)
    b = _cli("sweep", tmp_path / "sweep.toml", "-o", out, "-q", "--workers", "1", cwd=tmp_path)
    a.communicate(timeout=600)
    assert a.returncode == 0
    assert b.returncode != 0 and "another tdsim process" in b.stderr and "Traceback" not in b.stderr, b.stderr
    tree = open_sweep(out)
    assert all(tree[f"runs/r{i:05d}"].ds.attrs["complete"] for i in range(2))


@pytest.mark.parametrize("name", ["../../escape", "a/b", "..", "sub\\\\x", ""])
def test_a_spec_name_cannot_move_the_default_output(tmp_path, name):
    from tdsim.runs.jobs import run_from_dict
    d = {"name": name, "model": str(ROOT / "models" / "two_plus_one.toml"),
         "protocol": str(ROOT / "protocols" / "fig2b_two_task.toml")}
    with pytest.raises(SpecError) as exc:
        run_from_dict(d, tmp_path)
    assert exc.value.key == "name"


def test_a_plain_spec_name_gives_out_name_beside_the_spec(tmp_path):
    from tdsim.runs.jobs import run_from_dict
    d = {"name": "fig2", "model": str(ROOT / "models" / "two_plus_one.toml"),
         "protocol": str(ROOT / "protocols" / "fig2b_two_task.toml")}
    assert run_from_dict(d, tmp_path).output == tmp_path / "out" / "fig2.zarr"


def test_progress_shows_compilation_apart_and_ends_saying_why(tmp_path, capfd):
    """The bar starts after the kernels are compiled (its own line), and a run that stops early at
    its limit cycle ends its bar saying so (was: left at 37 %, compile time in its rate)."""
    spec = _spec(tmp_path, periods=400).read_text().replace('chunk = 8\n', 'chunk = 4096\ncycle_tol = "1 uV"\n')
    (tmp_path / "cyc.toml").write_text(spec.replace('integrator = "rosenbrock"', 'integrator = "quasistatic"'))
    path, traj = run_spec(load_run(tmp_path / "cyc.toml"), tmp_path / "c.zarr", progress=True)
    err = capfd.readouterr().err
    assert traj.stats["converged"] and traj.stats["periods"] < 400
    assert "kernels compiled or loaded in" in err
    assert f"limit cycle reached after {traj.stats['periods']} periods" in err
    assert err.index("kernels compiled") < err.index("limit cycle reached")
