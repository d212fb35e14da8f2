"""The public API and the spec folders: ``import tdsim`` gives every name of its ``__all__``; the
README's Python example runs as written (with fewer periods); every file in runs/ is a job that
``tdsim run`` takes and every file in sweeps/ a sweep whose base run lies in runs/."""
import re
from pathlib import Path

import numpy as np
import pytest

import tdsim
from tdsim.runs.jobs import load_run
from tdsim.runs.sweep import load_sweep

ROOT = Path(__file__).resolve().parents[1]


def test_every_public_name_resolves():
    missing = [n for n in tdsim.__all__ if not hasattr(tdsim, n)]
    assert not missing, missing
    for n in ("load_model", "load_run", "run_spec", "build", "simulate", "open_run", "open_sweep", "Options",
              "Segment", "Schedule", "Waveform", "Task", "DataPoint", "Nudge", "Cycling", "TwoTask", "Circuit",
              "Conductance", "Mosfet", "SpecError", "SimulationError"):
        assert n in tdsim.__all__, n


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    """The README's block, as written but with 2 periods instead of 150 (default job) and 10 (in
    memory): the stored run ends where the Trajectory run_spec returned ends, and in memory the
    gates of the nudged free twin move from their start."""
    code = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    spec = (ROOT / "runs" / "two_plus_one.toml").read_text()
    assert "periods = 150" in spec and '"periods": 10' in code and '"runs/two_plus_one.toml"' in code
    short = tmp_path / "two_plus_one.toml"
    short.write_text(spec.replace("periods = 150", "periods = 2").replace('"../', f'"{ROOT}/'))
    code = (code.replace('"runs/two_plus_one.toml"', repr(str(short))).replace('"periods": 10', '"periods": 2')
            .replace('"out/two_plus_one.zarr"', repr(str(tmp_path / "out.zarr"))))
    monkeypatch.chdir(ROOT)
    scope = {}
    exec(compile(code, "<README example>", "exec"), scope)
    ds, job = scope["ds"], scope["job"]
    assert job.integrator == "rodas4" and job.work == pytest.approx(2 * 20e-3)       # 2 periods of τ = 20 ms
    # the store holds what the engine computes when called directly on the job's pieces
    c = tdsim.build(job.circuit, job.twins, job.imperfections, job.seed)
    direct = tdsim.simulate(c, tdsim.table(job.segments, c), job.options)
    np.testing.assert_array_equal(ds["theta"].values[-1], direct.theta[-1])
    np.testing.assert_array_equal(ds["event_theta"].values, direct.event_theta)
    # in memory: the learning gates moved, the fixed edge did not
    theta, learn = scope["traj"].theta, np.array([e.element.learn for e in scope["circuit"].edges])
    assert learn.any() and not learn.all()
    assert np.all(theta[-1][learn] != theta[0][learn]) and np.all(theta[-1][~learn] == theta[0][~learn])
    assert capsys.readouterr().out.strip()


@pytest.mark.parametrize("path", sorted((ROOT / "runs").glob("*.toml")), ids=lambda p: p.name)
def test_every_run_spec_is_a_job(path):
    job = load_run(path)
    tdsim.Options(integrator=job.integrator).validate()      # a method the engine has
    assert job.work > 0
    assert job.output == path.parent / "out" / f"{job.source.get('name', path.stem)}.zarr"


@pytest.mark.parametrize("path", sorted((ROOT / "sweeps").glob("*.toml")), ids=lambda p: p.name)
def test_every_sweep_spec_is_a_sweep_over_a_run_spec(path):
    sweep = load_sweep(path)
    assert sweep.base_dir.resolve() == (ROOT / "runs").resolve() and len(sweep.points) > 1
    assert sweep.output == path.parent / "out" / f"{sweep.name}.zarr"


def test_the_folders_hold_nothing_else():
    """A sweep spec is not a job and a job is not a sweep: each folder holds one kind."""
    with pytest.raises(tdsim.SpecError, match="run"):
        load_run(ROOT / "sweeps" / "tau_sweep.toml")
    with pytest.raises(tdsim.SpecError, match="run"):
        load_sweep(ROOT / "runs" / "two_plus_one.toml")
