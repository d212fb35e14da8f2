"""A run killed with SIGKILL keeps everything up to its last flush, and resuming it ends in the
same state as an uninterrupted run, bit for bit. Real processes, real Zarr, real SIGKILL."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from tdsim import open_run
from tdsim.runs.runner import run_spec
from tdsim.runs.jobs import load_run

ROOT = Path(__file__).resolve().parent.parent


def slow_spec(tmp_path) -> Path:
    """The default job made slow enough to kill mid-run (explicit steps ≲ RC, ~5 s of wall time),
    with small chunks so it flushes often."""
    text = (ROOT / "runs" / "two_plus_one.toml").read_text().replace("../", str(ROOT) + "/")
    for a, b in (('integrator = "rodas4"', 'integrator = "explicit"'), ('cycle_tol = "1 uV"', "chunk = 128"),
                 ("periods = 150", "periods = 40"), ("rtol = 1e-6", "rtol = 1e-9"),
                 ('record_interval = "0.5 ms"', 'record_interval = "0.1 ms"')):
        assert a in text
        text = text.replace(a, b)
    spec = tmp_path / "slow.toml"
    spec.write_text(text)
    return spec


def committed(path: Path) -> int:
    try:
        ck = zarr.open_group(str(path), mode="r").attrs.get("checkpoint")
    except Exception:
        return 0
    return ck["n_time"] if ck else 0


@pytest.mark.slow
def test_sigkill_keeps_flushed_data_and_resume_is_bit_identical(tmp_path):
    spec = slow_spec(tmp_path)
    reference, _ = run_spec(load_run(spec), tmp_path / "uninterrupted.zarr", progress=False)
    ref = open_run(reference).load()

    killed = tmp_path / "killed.zarr"
    cmd = [sys.executable, "-m", "tdsim.cli", "run", str(spec), "-o", str(killed), "-q", "--no-figures"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while committed(killed) < 1000 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed: make it slower"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    part = open_run(killed).load()
    assert part.attrs["complete"] is False
    n, m = part.sizes["time"], part.sizes["event"]
    assert 1000 <= n < ref.sizes["time"] and m < ref.sizes["event"]
    for name in ("V", "theta", "O"):                     # everything up to the last flush, exactly
        np.testing.assert_array_equal(part[name].values, ref[name].values[:n])
        np.testing.assert_array_equal(part["event_" + name].values, ref["event_" + name].values[:m])
    np.testing.assert_array_equal(part["event_task_error"].values, ref["event_task_error"].values[:m])

    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    done = open_run(killed).load()
    assert done.attrs["complete"] is True and done.attrs["stats"]["resumed_from_t"] > 0
    for name in ("time", "V", "theta", "O", "event_time", "event_V", "event_theta", "event_task_error"):
        np.testing.assert_array_equal(done[name].values, ref[name].values)


def test_complete_store_is_not_rerun_and_other_spec_is_not_resumed(tmp_path):
    spec = tmp_path / "s.toml"
    text = (ROOT / "runs" / "two_plus_one.toml").read_text().replace("../", str(ROOT) + "/")
    spec.write_text(text.replace("periods = 150", "periods = 2"))
    out = tmp_path / "o.zarr"
    run_spec(load_run(spec), out, progress=False)
    from tdsim import SpecError
    with pytest.raises(SpecError, match="complete"):
        run_spec(load_run(spec), out, progress=False)
    # an unfinished store of another spec is never resumed nor silently replaced
    g = zarr.open_group(str(out), mode="r+")
    g.attrs["complete"] = False
    spec.write_text(text.replace("periods = 150", "periods = 3"))
    with pytest.raises(SpecError, match=r"different spec.*\(spec: stored parameters\.periods = '\d+', asked '3'"):
        run_spec(load_run(spec), out, progress=False)


def test_run_killed_while_writing_its_attributes_is_rerun(tmp_path):
    """zarr's ``attrs.update`` writes zarr.json once per key, so a run killed while creating its
    group could leave a group holding its spec but not yet its seed and integrator, and no
    checkpoint (seen in the killed-worker sweep test). Rerunning must start it afresh, not refuse
    it as another spec; a partial group of another spec is still refused."""
    spec = tmp_path / "s.toml"
    text = (ROOT / "runs" / "two_plus_one.toml").read_text().replace("../", str(ROOT) + "/")
    spec.write_text(text.replace("periods = 150", "periods = 2"))
    ref, _ = run_spec(load_run(spec), tmp_path / "ref.zarr", progress=False)
    stored = dict(zarr.open_group(str(ref), mode="r").attrs)
    out = tmp_path / "o.zarr"
    g = zarr.open_group(str(out), mode="w-")
    g.update_attributes({k: stored[k] for k in ("tdsim_version", "spec")} | {"complete": False})
    run_spec(load_run(spec), out, progress=False)
    done, want = open_run(out).load(), open_run(ref).load()
    assert done.attrs["complete"] is True and done.attrs["seed"] == stored["seed"]
    for name in ("V", "theta", "event_theta"):
        np.testing.assert_array_equal(done[name].values, want[name].values)

    other = tmp_path / "other.zarr"
    g = zarr.open_group(str(other), mode="w-")
    g.update_attributes({"tdsim_version": stored["tdsim_version"], "complete": False,
                         "spec": stored["spec"] | {"name": "another"}})
    from tdsim import SpecError
    with pytest.raises(SpecError, match="different spec"):
        run_spec(load_run(spec), other, progress=False)
