"""Sweeps on a real dask.distributed cluster: local, with a worker killed, with the driver
interrupted, and through an external scheduler."""
import copy
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import zarr

from tdsim import open_run, open_sweep
from tdsim.errors import SpecError
from tdsim.runs.runner import run_spec
from tdsim.runs.sweep import load_sweep, point_spec, run_sweep, warm_marker

ROOT = Path(__file__).resolve().parent.parent


def sweep_spec(tmp_path, taus=("5 ms", "10 ms", "20 ms", "40 ms"), integrator="quasistatic", periods=30,
               extra="") -> Path:
    base = (ROOT / "runs" / "two_plus_one.toml").read_text().replace("../", str(ROOT) + "/")
    (tmp_path / "base.toml").write_text(base)
    (tmp_path / "sweep.toml").write_text(
        f'name = "t"\nrun = "base.toml"\nretries = 3\n[grid]\n"parameters.tau" = {list(taus)!r}\n'
        f'"parameters.periods" = [{periods}]\n"simulation.integrator" = ["{integrator}"]\n'
        f'"simulation.cycle_tol" = ["0 V"]\n{extra}'.replace("'", '"'))
    return tmp_path / "sweep.toml"


def serial(spec, i, tmp_path):
    path, _ = run_spec(point_spec(spec, spec.points[i]), tmp_path / f"serial{i}.zarr", progress=False)
    return open_run(path)


def same_run(a, b):
    for name in ("V", "theta", "event_time", "event_V", "event_theta"):
        np.testing.assert_array_equal(a[name].values, b[name].values)


def test_local_cluster_of_two_matches_serial_runs(tmp_path):
    spec = load_sweep(sweep_spec(tmp_path))
    index = run_sweep(spec, workers=2, progress=False, output=tmp_path / "s.zarr")
    assert all(r["status"] == "complete" and r["attempts"] == 1 for r in index.values())
    assert len({r["pid"] for r in index.values()}) == 2          # both workers ran points
    tree = open_sweep(tmp_path / "s.zarr")
    np.testing.assert_allclose(tree["/"].ds["parameters.tau"].values, [5e-3, 10e-3, 20e-3, 40e-3])
    for i in range(4):
        same_run(tree[f"runs/r{i:05d}"].ds, serial(spec, i, tmp_path))


def test_failed_run_is_recorded_and_others_finish(tmp_path):
    # one point's bias function overflows (caught when its circuit is built, on the worker)
    path = sweep_spec(tmp_path, taus=("10 ms",), extra='"imperfections.bias_function" = ["0.0", "1e308*G*G"]\n')
    spec = load_sweep(path)
    index = run_sweep(spec, workers=2, progress=False, output=tmp_path / "s.zarr")
    status = sorted(r["status"] for r in index.values())
    assert status == ["complete", "failed"]
    failed = [r for r in index.values() if r["status"] == "failed"][0]
    assert "imperfections.bias_function" in failed["error"] and "inf" in failed["error"]
    r = subprocess.run([sys.executable, "-m", "tdsim.cli", "sweep", str(path), "-o", str(tmp_path / "s.zarr"),
                        "--workers", "1", "-q"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1 and "1 failed" in r.stdout


def _workers(pid):
    """dask worker processes under this process: the children of the multiprocessing fork server
    (not the server itself, nor the resource tracker)."""
    procs = psutil.Process(pid).children(recursive=True)
    servers = {p.pid for p in procs if any("forkserver" in a for a in p.cmdline())}
    return [p for p in procs if p.ppid() in servers]


@pytest.mark.slow
def test_killed_worker_costs_only_its_run(tmp_path):
    # explicit integrator: each run takes a few seconds, long enough to be killed mid-run
    path = sweep_spec(tmp_path, taus=("10 ms", "20 ms", "40 ms", "80 ms"), integrator="explicit", periods=8)
    spec = load_sweep(path)
    out = tmp_path / "s.zarr"
    result = {}
    th = threading.Thread(target=lambda: result.update(run_sweep(spec, workers=2, progress=False, output=out)))
    th.start()
    killed = None
    deadline = time.time() + 120
    while killed is None and time.time() < deadline and th.is_alive():
        for rid in ("r00000", "r00001", "r00002", "r00003"):
            try:
                ck = zarr.open_group(str(out / "runs" / rid), mode="r").attrs.get("checkpoint")
            except Exception:
                ck = None
            if ck and ck["n_event"] >= 2:
                procs = _workers(os.getpid())
                victims = [p for p in procs if p.is_running()]
                if victims:
                    victims[-1].send_signal(signal.SIGKILL)
                    killed = rid
                break
        time.sleep(0.05)
    th.join(timeout=300)
    assert killed is not None, "no worker was killed"
    index = result
    assert all(r["status"] == "complete" for r in index.values()), \
        {k: (r["status"], r.get("error")) for k, r in index.items()}
    tree = open_sweep(out)
    for i in range(4):
        run = tree[f"runs/r{i:05d}"].ds
        assert run.attrs["complete"]
        same_run(run, serial(spec, i, tmp_path))


@pytest.mark.slow
def test_interrupted_driver_rerun_computes_no_completed_run_twice(tmp_path):
    path = sweep_spec(tmp_path, taus=("10 ms", "20 ms", "40 ms", "80 ms", "160 ms", "320 ms"),
                      integrator="explicit", periods=4)
    out = tmp_path / "s.zarr"
    cmd = [sys.executable, "-m", "tdsim.cli", "sweep", str(path), "-o", str(out), "--workers", "2", "-q"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done_before = {}
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        try:
            index = zarr.open_group(str(out), mode="r").attrs.get("index", {})
        except Exception:
            index = {}
        done_before = {k: v for k, v in index.items() if v["status"] == "complete"}
        if len(done_before) >= 2:
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the sweep finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    stamps = {k: (out / "runs" / k / "zarr.json").stat().st_mtime_ns for k in done_before}
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    index = zarr.open_group(str(out), mode="r").attrs["index"]
    assert all(v["status"] == "complete" for v in index.values())
    for k, stamp in stamps.items():                      # completed runs were not touched again
        assert (out / "runs" / k / "zarr.json").stat().st_mtime_ns == stamp
        assert index[k]["attempts"] == done_before[k]["attempts"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_external_scheduler(tmp_path):
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    sched = subprocess.Popen(["dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    worker = None
    try:
        worker = subprocess.Popen(["dask", "worker", addr, "--nthreads", "1", "--nworkers", "1", "--no-dashboard"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        path = sweep_spec(tmp_path, taus=("5 ms", "10 ms"))
        r = subprocess.run([sys.executable, "-m", "tdsim.cli", "sweep", str(path), "--scheduler", addr,
                            "-o", str(tmp_path / "s.zarr"), "-q"], capture_output=True, text=True, cwd=ROOT,
                           timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        index = open_sweep(tmp_path / "s.zarr")["/"].ds
        assert list(index["status"].values) == ["complete", "complete"]
    finally:
        for p in (worker, sched):
            if p is not None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()


def _stamps(out, ids):
    return {k: (out / "runs" / k / "zarr.json").stat().st_mtime_ns for k in ids}


def test_ensemble_matches_serial_and_reruns_recompute_nothing(tmp_path):
    # ensemble = 2 in the sweep spec: 4 points in 2 tasks, the longest runs grouped first
    spec = load_sweep(_with_key(sweep_spec(tmp_path), "ensemble = 2"))
    assert spec.ensemble == 2
    out = tmp_path / "s.zarr"
    index = run_sweep(spec, workers=2, progress=False, output=out)
    assert all(r["status"] == "complete" and r["attempts"] == 1 for r in index.values())
    assert index["r00003"]["pid"] == index["r00002"]["pid"]      # 40 ms and 20 ms: one task
    # the driver's warm-up left its marker; another integrator set would need its own warm-up
    assert warm_marker(spec).exists()
    other = copy.copy(spec)
    other.points = [{**p, "simulation.integrator": "rosenbrock"} for p in spec.points]
    assert warm_marker(other) != warm_marker(spec)
    assert index["r00001"]["pid"] == index["r00000"]["pid"]
    tree = open_sweep(out)
    refs = [serial(spec, i, tmp_path) for i in range(4)]
    for i, ref in enumerate(refs):
        run = tree[f"runs/r{i:05d}"].ds
        same_run(run, ref)
        np.testing.assert_array_equal(run["event_task_error"].values, ref["event_task_error"].values)
    # a rerun, even with another group size, recomputes nothing
    stamps = _stamps(out, index)
    again = run_sweep(spec, workers=2, progress=False, output=out, ensemble=3)
    assert _stamps(out, index) == stamps
    assert {k: r["attempts"] for k, r in again.items()} == {k: 1 for k in index}
    # a run lost from the store is the only one recomputed
    shutil.rmtree(out / "runs" / "r00001")
    again = run_sweep(spec, workers=2, progress=False, output=out)
    assert {k: r["attempts"] for k, r in again.items()} == {"r00000": 1, "r00001": 2, "r00002": 1, "r00003": 1}
    assert {k: v for k, v in _stamps(out, index).items() if k != "r00001"} == \
        {k: v for k, v in stamps.items() if k != "r00001"}
    same_run(open_sweep(out)["runs/r00001"].ds, refs[1])


def _with_key(path: Path, line: str) -> Path:
    path.write_text(line + "\n" + path.read_text())
    return path


def test_failed_point_in_an_ensemble_fails_alone(tmp_path):
    # all four points in one task; the two whose bias function overflows fail, the others complete
    path = sweep_spec(tmp_path, taus=("10 ms", "20 ms"),
                      extra='"imperfections.bias_function" = ["0.0", "1e308*G*G"]\n')
    spec = load_sweep(path)
    out = tmp_path / "s.zarr"
    index = run_sweep(spec, workers=2, progress=False, output=out, ensemble=4)
    assert len({r["pid"] for r in index.values()}) == 1
    for i, r in enumerate(index[f"r{i:05d}"] for i in range(4)):
        bad = spec.points[i]["imperfections.bias_function"] != "0.0"
        assert r["status"] == ("failed" if bad else "complete") and r["attempts"] == 1
        if bad:
            assert "imperfections.bias_function" in r["error"] and "inf" in r["error"]
        else:
            same_run(open_sweep(out)[f"runs/r{i:05d}"].ds, serial(spec, i, tmp_path))
    with pytest.raises(SpecError, match="ensemble"):
        run_sweep(spec, workers=1, progress=False, output=out, ensemble=0)
    with pytest.raises(SpecError, match="ensemble"):
        load_sweep(_with_key(path, "ensemble = 1.5"))


def test_edited_model_file_is_not_mixed_with_stored_runs(tmp_path):
    """A rerun after the model file the base run names was edited (A0 changed) is refused, naming
    the stored run and the changed field, instead of reporting the stale runs as complete; the
    stored runs are untouched."""
    model = (ROOT / "models" / "two_plus_one.toml").read_text()
    (tmp_path / "model.toml").write_text(model)
    base = (ROOT / "runs" / "two_plus_one.toml").read_text().replace("../", str(ROOT) + "/")
    base = base.replace(f'model = "{ROOT}/models/two_plus_one.toml"', 'model = "model.toml"')
    (tmp_path / "base.toml").write_text(base)
    (tmp_path / "sweep.toml").write_text('name = "t"\nrun = "base.toml"\n[grid]\n"parameters.tau" = ["5 ms"]\n'
                                         '"parameters.periods" = [3]\n"simulation.integrator" = ["quasistatic"]\n')
    spec = load_sweep(tmp_path / "sweep.toml")
    run_sweep(spec, workers=1, progress=False, output=tmp_path / "s.zarr")
    before = open_sweep(tmp_path / "s.zarr")["runs/r00000"].ds["theta"].values.copy()
    assert 'A0 = "2.8 1/(V*ms)"' in model
    (tmp_path / "model.toml").write_text(model.replace('A0 = "2.8 1/(V*ms)"', 'A0 = "3 1/(V*ms)"'))
    with pytest.raises(SpecError, match=r"r00000.*A0"):
        run_sweep(load_sweep(tmp_path / "sweep.toml"), workers=1, progress=False, output=tmp_path / "s.zarr")
    np.testing.assert_array_equal(open_sweep(tmp_path / "s.zarr")["runs/r00000"].ds["theta"].values, before)


def test_unfinished_run_of_an_older_version_is_kept_until_redo_names_it(tmp_path):
    """A run store left unfinished by another tdsim version (or spec) is neither resumed nor
    replaced: the sweep reports it failed with the command that replaces it, and leaves it as it
    was; ``redo`` naming it reruns it from the start, equal to a serial run of the point. An id
    that is not a run of the sweep is refused before any work."""
    spec = load_sweep(sweep_spec(tmp_path, taus=("5 ms",), periods=3))
    out = tmp_path / "s.zarr"
    run_sweep(spec, workers=1, progress=False, output=out)
    run = zarr.open_group(str(out / "runs" / "r00000"), mode="r+")
    run.attrs.update({"complete": False, "tdsim_version": "0.0.1"})     # as an older tdsim left it
    before = run["theta"][:]
    index = run_sweep(spec, workers=1, progress=False, output=out)
    assert index["r00000"]["status"] == "failed"
    assert "--redo r00000" in index["r00000"]["error"] and "tdsim_version" in index["r00000"]["error"]
    np.testing.assert_array_equal(zarr.open_group(str(out / "runs" / "r00000"), mode="r")["theta"][:], before)
    with pytest.raises(SpecError, match=r"redo: 'r00001' is not a run of this sweep \(r00000 to r00000\)"):
        run_sweep(spec, workers=1, progress=False, output=out, redo=["r00001"])
    index = run_sweep(spec, workers=1, progress=False, output=out, redo=["r00000"])
    assert index["r00000"]["status"] == "complete"
    same_run(open_sweep(out)["runs/r00000"].ds, serial(spec, 0, tmp_path))


def test_warm_up_steps_a_shooting_point_directly():
    """The driver's warm-up runs a point's first two segments to compile its kernels; for a point
    with cycle = "shooting" it must step them, not shoot for the cycle of that two-segment
    "period" (which failed on the Fig. 1 grid protocol, whose period has hundreds of segments, and
    stopped a whole sweep before any run started). Real run: shooting the two segments raises
    ShootingError (checked first, so the test fails if that stops being the case and the fix is no
    longer what makes warm() pass)."""
    import tomllib
    from tdsim import build, table
    from tdsim.io.spec import run_from_dict
    from tdsim.runs import jobs
    from tdsim.simulation.shooting import ShootingError, shoot
    root = Path(__file__).resolve().parent.parent
    d = tomllib.loads((root / "runs/fig1_clln_bias.toml").read_text())
    d["simulation"] = {**d["simulation"], "integrator": "rodas4", "cycle": "shooting", "rtol": 1e-4, "atol": "1 uV"}
    spec = run_from_dict(d, root / "runs")
    c = build(spec.circuit, spec.twins, spec.imperfections, spec.seed, force_nudge=spec.force_nudge)
    with pytest.raises(ShootingError):
        shoot(c, table(spec.segments[:2], c), spec.options)      # what warm() used to do
    job = jobs.EngineRun.of(spec)
    job.warm()                                 # steps the two segments: no error
    assert job.options.cycle == "shooting"
