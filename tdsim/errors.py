"""Errors raised before a run starts (bad specs) and while it runs (numerical failure)."""


class SpecError(ValueError):
    """A model, protocol or run spec is invalid; ``key`` names the offending field, node or edge."""

    def __init__(self, key: str, message: str):
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}")

    def __reduce__(self):               # picklable: sweeps send errors across processes
        return type(self), (self.key, self.message)


class StoreMismatch(SpecError):
    """An output path holds an unfinished run of another spec, model, protocol or tdsim version:
    it is neither resumed nor replaced unless the user says so (``--overwrite``, a sweep's
    ``--redo``)."""


class SimulationError(RuntimeError):
    """A run went numerically wrong; what was recorded before ``time`` is kept."""

    def __init__(self, message: str, time: float, where: str):
        self.message = message
        self.time = time
        self.where = where
        super().__init__(f"{message} at t = {time:.9g} s in {where}")

    def __reduce__(self):
        return type(self), (self.message, self.time, self.where)
