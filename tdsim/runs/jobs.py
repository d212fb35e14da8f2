"""What ``tdsim run`` and ``tdsim sweep`` accept: a run spec of the engine (tdsim.io.spec.RunSpec)
or of an outer-loop trainer (tdsim.runs.trainers.TrainerSpec, recognised by its protocol's
``kind``). One reader for both, so nothing above this layer dispatches on the kind."""
from __future__ import annotations

from pathlib import Path

from tdsim.io import spec
from tdsim.runs import trainers


def run_from_dict(d: dict, base: Path = Path("."), name: str = "run"):
    """The job a run spec's table describes: a trainer's spec if its protocol has a trainer
    ``kind`` (trainers.KINDS), else an engine RunSpec."""
    if trainers.protocol_kind(d, base) in trainers.KINDS:
        return trainers.trainer_from_dict(d, base, name)
    return spec.run_from_dict(d, base, name)


def load_run(path):
    """The job of a run spec file (relative paths in it are read from its folder)."""
    path = Path(path)
    return run_from_dict(spec.read(path), path.parent, path.stem)
