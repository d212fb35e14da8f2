"""A run spec end to end: real Zarr in a temporary folder, read back with xarray; the CLI."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tdsim import SpecError, open_run
from tdsim.runs.runner import run_spec
from tdsim.runs.jobs import load_run

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "runs" / "two_plus_one.toml"


@pytest.fixture(scope="module")
def short_spec():
    spec = load_run(SPEC)
    spec.segments = spec.segments[:4]        # two periods
    return spec


def test_store_round_trip(short_spec, tmp_path):
    path, traj = run_spec(short_spec, tmp_path / "run.zarr", progress=False)
    ds = xr.open_zarr(path)
    assert ds.attrs["complete"] is True and ds.attrs["seed"] == 0
    assert ds.attrs["spec"]["model"] == "../models/two_plus_one.toml"
    assert ds.attrs["integrator"]["integrator"] == "rodas4"
    assert ds["time"].attrs["units"] == "s" and ds["V"].attrs["units"] == "V" and ds["theta"].attrs["units"] == "V"
    assert list(ds["twin"].values) == ["free", "clamped"]
    assert list(ds["edge_a"].values) == ["V1", "V+", "V-"] and list(ds["edge_b"].values) == ["O", "O", "O"]
    np.testing.assert_array_equal(ds["V"].values, traj.V)
    np.testing.assert_array_equal(ds["event_theta"].values, traj.event_theta)
    np.testing.assert_array_equal(ds["O"].values[:, :, 0], traj.V[:, :, list(ds["node"].values).index("O")])
    assert len(ds["event"]) == 4 and np.allclose(ds["event_time"].values, [0.01, 0.02, 0.03, 0.04])
    assert open_run(path)["theta"].dims == ("time", "edge")


def test_existing_store_is_never_overwritten(short_spec, tmp_path):
    path, _ = run_spec(short_spec, tmp_path / "run.zarr", progress=False)
    before = xr.open_zarr(path)["theta"].values.copy()
    with pytest.raises(SpecError, match="exists"):
        run_spec(short_spec, path, progress=False)
    np.testing.assert_array_equal(xr.open_zarr(path)["theta"].values, before)
    run_spec(short_spec, path, overwrite=True, progress=False)


def test_cli_run_and_export(tmp_path):
    spec = tmp_path / "spec.toml"
    text = SPEC.read_text().replace("periods = 150", "periods = 2").replace("../", str(ROOT) + "/")
    spec.write_text(text)
    out = tmp_path / "o.zarr"
    r = subprocess.run([sys.executable, "-m", "tdsim.cli", "run", str(spec), "-o", str(out), "-q"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o_gates.png").stat().st_size > 1000
    assert open_run(out).attrs["complete"]
    r = subprocess.run([sys.executable, "-m", "tdsim.cli", "run", str(spec), "-o", str(out), "-q"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "exists" in r.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("rtol = 1e-6", "rtoll = 1e-6"))
    r = subprocess.run([sys.executable, "-m", "tdsim.cli", "run", str(bad), "-o", str(tmp_path / "b.zarr")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "simulation.rtoll" in r.stderr
    assert not (tmp_path / "b.zarr").exists()
    deck = tmp_path / "deck.cir"
    r = subprocess.run([sys.executable, "-m", "tdsim.cli", "export-spice", str(spec), "-o", str(deck)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    text = deck.read_text()
    assert ".tran" in text and "O_clamped".lower() in text.lower()
    if shutil.which("ngspice"):
        r = subprocess.run(["ngspice", "-b", str(deck)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert r.returncode == 0, r.stdout[-2000:]
