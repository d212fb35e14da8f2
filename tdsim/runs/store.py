"""One run = one Zarr group, appended chunk by chunk while the run goes (docs/storage.md).

Layout (docs/storage.md): dimensions ``time`` (decimated samples), ``event`` (recorded segment
ends: half-period ends for two-task protocols), ``twin``, ``node``, ``edge``, ``output``, ``task``.
The run's full spec, seed, tdsim version and integrator settings are group attributes.

Crash safety: every flush appends the data, then commits ``attrs["checkpoint"]`` (the engine state
after the flush and how many samples and events it covers) in one atomic metadata write. Zarr's
local store writes every file atomically, so a run killed at any moment leaves a store whose
committed part is intact; ``open_run`` trims anything appended after the last commit, and a rerun
resumes from the checkpoint. ``complete`` turns true when the run has finished.
"""
from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import zarr

from tdsim.version import __version__
from tdsim.compile.build import Compiled
from tdsim.errors import SpecError, StoreMismatch
from tdsim.runs.claim import (StoreLock, aborted_creation, is_store, open_existing,
                              refuse_overwrite_of_non_store)

_SERIES = {  # name: (dims after the append dim, units, long name)
    "V": (("twin", "node"), "V", "node voltage"),
    "theta": (("edge",), "V", "edge state: gate voltage G (MOSFET) or conductance parameter"),
    "O": (("twin", "output"), "V", "output node voltage"),
}
_COORDS_EDGE = "edge_a edge_b edge_element edge_learns"


class RunWriter:
    """Creates (or reopens, to resume) a run group, appends chunks, commits checkpoints."""

    def __init__(self, path, c: Compiled, attrs: dict, chunk: int = 4096, tasks=(), overwrite: bool = False,
                 resume: bool = False):
        self.path = Path(path)
        self.c = c
        self.tasks = list(tasks)
        self.resumed_from = None
        self.lock = StoreLock(self.path)             # held until finish(): one writer per store
        try:
            self._claim(attrs, chunk, overwrite, resume)
        except BaseException:
            self.lock.release()
            raise

    def _claim(self, attrs, chunk, overwrite, resume):
        if resume and aborted_creation(self.path):
            shutil.rmtree(self.path)                 # killed before the group existed: nothing to keep
        if self.path.exists():
            root = open_existing(self.path)
            if is_store(root) and resume and not root.attrs.get("complete", False) and not overwrite:
                if root.attrs.get("checkpoint") is None and _same_run(root, attrs, partial=True):
                    shutil.rmtree(self.path)         # killed before its first commit: nothing to keep
                    self._create(attrs, chunk)
                    return
                self._reopen(root, attrs)
                return
            if not overwrite:
                if is_store(root) and root.attrs.get("complete"):
                    state = "complete"
                elif not is_store(root):
                    state = "not a tdsim store: holds " + ", ".join(sorted(p.name for p in self.path.iterdir())[:8])
                else:
                    state = "an unfinished run, not resumable here"
                raise SpecError("output", f"{self.path} exists ({state}); refusing to overwrite it "
                                          + ("(pass --overwrite)" if is_store(root) else "(choose another output)"))
            refuse_overwrite_of_non_store(self.path, root)
            shutil.rmtree(self.path)
        self._create(attrs, chunk)

    # ---- create / reopen -------------------------------------------------------------------------------------
    def _create(self, attrs, chunk):
        c = self.c
        self.root = zarr.open_group(str(self.path), mode="w-")
        self.root.update_attributes({"tdsim_version": __version__, "complete": False, **_jsonable(attrs)})
        sizes = {"twin": c.T, "node": c.N, "edge": c.E, "output": len(c.output_nodes), "task": len(self.tasks)}
        self._coord("twin", np.array(c.twins, dtype=str), "twin")
        self._coord("node", np.array(c.node_names, dtype=str), "node")
        self._coord("edge", np.array(c.edge_names, dtype=str), "edge")
        self._coord("output", np.array(c.output_nodes, dtype=str), "output")
        self._coord("edge_a", np.array([c.node_names[i] for i in c.ea], dtype=str), "edge")
        self._coord("edge_b", np.array([c.node_names[i] for i in c.eb], dtype=str), "edge")
        self._coord("edge_element", np.array(c.edge_elements, dtype=str), "edge")
        self._coord("edge_learns", c.learn.astype(bool), "edge")
        self._coord("node_capacitance", c.cap, ("twin", "node"), "F")
        series = dict(_SERIES)
        if self.tasks:
            self._coord("task", np.array([t.name for t in self.tasks], dtype=str), "task")
        for dim, prefix in (("time", ""), ("event", "event_")):
            self.root.create_array(prefix + "time" if prefix else "time", shape=(0,), chunks=(chunk,), dtype="f8",
                                   dimension_names=[dim], attributes={
                                       "units": "s", "long_name": "segment end time" if prefix else "sample time"})
            if prefix:
                self.root.create_array("event_segment", shape=(0,), chunks=(chunk,), dtype="i8", dimension_names=[dim],
                                       attributes={"long_name": "index of the segment that ended"})
                if self.tasks:
                    series["task_error"] = (("task",), "V^2", "task error E (Dillavou Eq. A1, A2 for classification)")
            for name, (dims, units, long) in series.items():
                if name == "task_error" and not prefix:
                    continue
                shape = (0,) + tuple(sizes[d] for d in dims)
                coords = _COORDS_EDGE if "edge" in dims else ""
                if prefix:
                    coords = (coords + " event_time event_segment").strip()
                self.root.create_array(prefix + name, shape=shape, chunks=(chunk,) + shape[1:], dtype="f8",
                                       dimension_names=[dim, *dims], attributes={
                                           "units": units, "long_name": long,
                                           **({"coordinates": coords} if coords else {})})

    def _reopen(self, root, attrs):
        same = {k: root.attrs.get(k) for k in RESUME_KEYS}
        want = {k: _wanted(attrs).get(k) for k in same}
        if same != want:
            diff = [k for k in same if same[k] != want[k]]
            detail = "; ".join(f"{k}: stored {_first_difference(same[k], want[k])}" for k in diff)
            raise StoreMismatch("output", f"{self.path} holds an unfinished run of a different spec, model, protocol "
                                      "or tdsim version "
                                      f"({detail}); pass --overwrite to replace it")
        self.root = root
        ck = root.attrs.get("checkpoint")
        n_time, n_event = (ck["n_time"], ck["n_event"]) if ck else (0, 0)
        for name in list(root.array_keys()):
            a = root[name]
            dims = a.metadata.dimension_names or ()
            if dims and dims[0] in ("time", "event"):
                n = n_time if dims[0] == "time" else n_event
                if a.shape[0] != n:
                    a.resize((n,) + a.shape[1:])            # drop what was appended after the commit
        self.resumed_from = ck

    def _coord(self, name, values, dims, units=None):
        dims = (dims,) if isinstance(dims, str) else dims
        dtype = str if values.dtype.kind == "U" else values.dtype      # variable-length UTF-8 has a v3 spec
        a = self.root.create_array(name, shape=values.shape, dtype=dtype, dimension_names=list(dims),
                                   attributes={"units": units} if units else None)
        a[...] = values

    # ---- writing ------------------------------------------------------------------------------------------------
    def append(self, t, V, theta, ev_t, ev_seg, ev_V, ev_theta, task_error=None):
        out = self.c.out_node
        for prefix, tt, VV, th in (("", t, V, theta), ("event_", ev_t, ev_V, ev_theta)):
            if len(tt) == 0:
                continue
            self.root[prefix + "time" if prefix else "time"].append(tt)
            self.root[prefix + "V"].append(VV, axis=0)
            self.root[prefix + "theta"].append(th, axis=0)
            self.root[prefix + "O"].append(VV[:, :, out], axis=0)
        if len(ev_t):
            self.root["event_segment"].append(ev_seg)
            if task_error is not None:
                self.root["event_task_error"].append(task_error, axis=0)

    def floquet(self, multipliers):
        """The Floquet multipliers of a shooting run's cycle: variable ``floquet`` (dimension
        ``mode``, complex128, largest modulus first; docs/storage.md)."""
        m = np.asarray(multipliers, dtype=np.complex128)
        a = self.root.create_array("floquet", shape=m.shape, dtype="c16", dimension_names=["mode"], attributes={
            "units": "1", "long_name": "Floquet multiplier (eigenvalue of the period map's Jacobian), "
                                      "largest modulus first"})
        a[...] = m

    def checkpoint(self, state):
        """Commit: the engine state after the data written so far (one atomic metadata write)."""
        self.root.attrs["checkpoint"] = {
            "n_time": int(self.root["time"].shape[0]), "n_event": int(self.root["event_time"].shape[0]),
            "V": state.V.tolist(), "theta": state.theta.tolist(), "th_period": state.th_period.tolist(),
            "fstate": state.fstate.tolist(), "istate": state.istate.tolist()}

    def finish(self, stats: dict, complete: bool = True):
        finish_store(self, stats, complete)


def finish_store(writer, stats: dict, complete: bool) -> None:
    """Mark a writer's store complete (or not), record its stats, consolidate its metadata, and
    free its lock whatever happens."""
    try:
        writer.root.update_attributes({"complete": complete, "stats": _jsonable(stats)})
        with warnings.catch_warnings():   # consolidated metadata is not yet in the v3 spec; xarray reads it
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(str(writer.path))
    finally:
        writer.lock.release()


def state_from_checkpoint(ck: dict):
    from tdsim.simulation.simulate import State
    return State(np.array(ck["V"], dtype=np.float64), np.array(ck["theta"], dtype=np.float64),
                 np.array(ck["th_period"], dtype=np.float64), np.array(ck["fstate"], dtype=np.float64),
                 np.array(ck["istate"], dtype=np.int64))


# What must match for a rerun to resume a store: the spec with its model and protocol files inlined
# (an edited model.toml is another run), the seed, the integrator settings and the tdsim version.
RESUME_KEYS = ("spec", "resolved_spec", "seed", "integrator", "tdsim_version")


def _wanted(attrs) -> dict:
    return {**_jsonable(attrs), "tdsim_version": __version__}


def _same_run(root, attrs, partial: bool = False) -> bool:
    """The stored run is this resolved spec, seed, integrator and version; with ``partial``, keys
    not stored yet count as equal (a group whose creation was killed before all its attributes
    were written: stores made before attributes were written in one piece wrote them one key at
    a time)."""
    want = _wanted(attrs)
    return all(root.attrs.get(k) == want.get(k) for k in RESUME_KEYS if not (partial and k not in root.attrs))


def open_run(path):
    """The run at ``path`` as an xarray.Dataset (lazy, dask-backed). An unfinished run is trimmed
    to its last committed flush, also when a kill left its arrays of one dimension at different
    lengths (appended one after the other, cut between two appends)."""
    import xarray as xr
    path = Path(path)
    root = zarr.open_group(str(path), mode="r")
    ck = root.attrs.get("checkpoint")
    if not root.attrs.get("complete", False):
        n = {"time": ck["n_time"], "event": ck["n_event"]} if ck else {"time": 0, "event": 0}
        appended = [k for k in root.array_keys() if (root[k].metadata.dimension_names or (None,))[0] in n]
        if any(root[k].shape[0] != n[root[k].metadata.dimension_names[0]] for k in appended):
            return _open_trimmed(xr, path, appended, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        ds = xr.open_zarr(str(path), consolidated=None)
    if not ds.attrs.get("complete", False) and ck:
        ds = ds.isel(time=slice(0, ck["n_time"]), event=slice(0, ck["n_event"]))
    return ds


def _open_trimmed(xr, path: Path, appended: list, n: dict):
    """The store without its appended arrays, then each of them cut to the committed length (lazy)
    and put back, as coordinate where an array's ``coordinates`` attribute names it."""
    import dask.array as da
    root = zarr.open_group(str(path), mode="r")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        ds = xr.open_zarr(str(path), consolidated=False, drop_variables=appended)
    coords = set()
    for k in root.array_keys():
        coords.update(str(root[k].attrs.get("coordinates", "")).split())
    for k in appended:
        a = root[k]
        dims = tuple(a.metadata.dimension_names)
        attrs = {key: v for key, v in a.attrs.items() if key != "coordinates"}
        var = xr.Variable(dims, da.from_array(a, chunks=a.chunks)[:n[dims[0]]], attrs)
        ds = ds.assign_coords({k: var}) if (k in coords or k == dims[0]) else ds.assign({k: var})
    return ds.set_coords([c for c in coords if c in ds.data_vars])


def complete_store_of(path, source: dict) -> bool:
    """Whether ``path`` holds a finished run of the run spec ``source`` (the table as read): what
    a script reads back instead of running it again."""
    if not Path(path).exists():
        return False
    attrs = open_run(path).attrs
    return bool(attrs.get("complete")) and attrs.get("spec") == _jsonable(source)


def _first_difference(a, b, path="") -> str:
    """Where two JSON values first differ, for error messages: 'x.y = 1 here, 2 asked'."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path or 'value'} = {str(a)[:80]!r}, asked {str(b)[:80]!r}"


def _jsonable(x):
    """Attributes must be JSON: convert dataclasses, numpy scalars and paths."""
    return json.loads(json.dumps(x, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__")
                                 else o.item() if isinstance(o, np.generic) else str(o)))
