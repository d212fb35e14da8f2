"""Batch sweeps: a grid of parameter points over a base run spec, run as tasks on dask.distributed.

A sweep spec (``sweeps/*.toml``) names a base run spec and the axes to vary, by dotted path
into the run spec (``parameters.tau``, ``imperfections.bias.G1``, ``simulation.rtol``, ``seed``).
``[grid]`` axes are crossed; each ``[[zip]]`` table holds axes varied together. Values: a list,
``{linspace = [a, b], num = n}``, ``{logspace = [a, b], num = n}`` (endpoints with one unit) or,
for seeds, ``{range = n}``.

Storage: one Zarr store per sweep, ``<store>/runs/<id>`` one run group each (written only by the
task that owns the run), and the index in the root group's attributes, written only by the
driver. A rerun skips complete runs and resumes interrupted ones from their checkpoints.
"""
from __future__ import annotations

import contextlib
import copy
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tdsim.errors import SimulationError, SpecError, StoreMismatch
from tdsim.io.spec import check_keys, default_output, read
from tdsim.runs.claim import StoreLock
from tdsim.runs.store import _first_difference, _jsonable


@dataclass
class SweepSpec:
    name: str
    base: dict                     # the base run spec as read
    base_dir: Path                 # where the base spec's relative paths point from
    points: list                   # list of {dotted path: value}
    output: Path
    retries: int = 2
    source: dict = field(default_factory=dict)
    ensemble: int = 1              # parameter points per worker task (1: one task per run)
    durations: dict = field(default_factory=dict)   # point (JSON) -> its job's work (ordering key)


def _axis(values, key: str) -> list:
    if isinstance(values, list):
        if not values:
            raise SpecError(key, "an axis needs at least one value")
        return values
    if not isinstance(values, dict):
        return [values]
    if "range" in values:
        check_keys(values, {"range"}, key)
        n = values["range"]
        if not isinstance(n, int) or n < 1:
            raise SpecError(key + ".range", f"must be a positive integer, got {n!r}")
        return list(range(n))
    kind = "linspace" if "linspace" in values else "logspace" if "logspace" in values else None
    if kind is None:
        raise SpecError(key, "an axis is a list, {linspace = [a, b], num = n}, {logspace = ...} or {range = n}")
    check_keys(values, {kind, "num"}, key)
    ends, num = values[kind], values.get("num")
    if not (isinstance(ends, list) and len(ends) == 2):
        raise SpecError(f"{key}.{kind}", "needs two endpoints")
    if not isinstance(num, int) or num < 1:
        raise SpecError(key + ".num", f"must be a positive integer, got {num!r}")
    from tdsim.model.units import parse_unit
    nums, units = [], []
    for x in ends:
        parts = str(x).split(None, 1)
        try:
            nums.append(float(parts[0]))
            units.append(parse_unit(parts[1]) if len(parts) > 1 else (1.0, (0, 0, 0)))
        except ValueError as exc:
            raise SpecError(f"{key}.{kind}", f"cannot read {x!r}: {exc}") from None
    if units[0][1] != units[1][1]:
        raise SpecError(f"{key}.{kind}", "the endpoints have different dimensions")
    nums[1] *= units[1][0] / units[0][0]               # both in the first endpoint's unit
    unit = str(ends[0]).split(None, 1)[1] if len(str(ends[0]).split(None, 1)) > 1 else ""
    if kind == "logspace":
        if min(nums) <= 0:
            raise SpecError(f"{key}.{kind}", "logspace endpoints must be positive")
        grid = np.logspace(np.log10(nums[0]), np.log10(nums[1]), num)
    else:
        grid = np.linspace(nums[0], nums[1], num)
    return [f"{v:.12g} {unit}".strip() if unit else float(v) for v in grid]


def expand(grid: dict, zips: list) -> list:
    """The sweep's points: crossed [grid] axes times each zipped group."""
    axes = [([k], [[v] for v in _axis(vals, f"grid.{k}")]) for k, vals in grid.items()]
    for i, z in enumerate(zips):
        cols = {k: _axis(v, f"zip[{i}].{k}") for k, v in z.items()}
        lengths = {len(v) for v in cols.values()}
        if len(lengths) > 1:
            raise SpecError(f"zip[{i}]", f"zipped axes need equal lengths, got {sorted(lengths)}")
        axes.append((list(cols), [list(row) for row in zip(*cols.values())]))
    paths = [k for keys, _ in axes for k in keys]
    for k in paths:
        inner = [j for j in paths if j.startswith(k + ".")]
        if inner:
            raise SpecError(f"grid.{inner[0]}", f"lies inside axis {k!r}: one axis would overwrite the other")
    points = []
    for combo in itertools.product(*[rows for _, rows in axes]):
        p = {}
        for (keys, _), row in zip(axes, combo):
            p.update(dict(zip(keys, row)))
        points.append(p)
    return points


def load_sweep(path) -> SweepSpec:
    path = Path(path)
    d = read(path)
    check_keys(d, {"name", "description", "run", "output", "retries", "ensemble", "grid", "zip"}, "")
    if "run" not in d:
        raise SpecError("run", "missing: the base run spec (relative to the sweep spec)")
    if not isinstance(d["run"], str):
        raise SpecError("run", f"expected the path of the base run spec, got {d['run']!r}")
    run_path = path.parent / d["run"]
    base = read(run_path)
    if not isinstance(d.get("grid", {}), dict):
        raise SpecError("grid", f"expected a table of \"dotted.path\" = axis, got {d['grid']!r}")
    if not isinstance(d.get("zip", []), list) or not all(isinstance(z, dict) for z in d.get("zip", [])):
        raise SpecError("zip", f"expected a list of tables ([[zip]]), got {d['zip']!r}")
    points = expand(d.get("grid", {}), d.get("zip", []))
    name = d.get("name", path.stem)
    out = default_output(d, path.parent, path.stem)
    retries = d.get("retries", 2)
    if not isinstance(retries, int) or retries < 0:
        raise SpecError("retries", f"must be a non-negative integer, got {retries!r}")
    ensemble = _ensemble(d.get("ensemble", 1), "ensemble")
    spec = SweepSpec(name, base, run_path.parent, points, out, retries, d, ensemble)
    for i, p in enumerate(points):             # every point must make a valid run spec before any work
        spec.durations[_point_key(p)] = point_spec(spec, p, f"points[{i}]").work
    return spec


def _ensemble(k, key: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise SpecError(key, f"must be a positive integer (points per worker task), got {k!r}")
    return k


def apply_point(base: dict, point: dict, base_dir=".") -> dict:
    """The base run spec with each dotted path set to the point's value; a path through the
    ``model`` or ``protocol`` file (``model.capacitance``) inlines that file first."""
    from tdsim.io.spec import read
    d = copy.deepcopy(base)
    for key, value in point.items():
        node = d
        *head, last = key.split(".")
        if head and head[0] in ("model", "protocol") and isinstance(d.get(head[0]), str):
            d[head[0]] = read(Path(base_dir) / d[head[0]])
        for k in head:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise SpecError(key, f"{k!r} is not a table in the run spec")
        node[last] = value
    return d


def point_spec(spec: SweepSpec, point: dict, where: str = "point"):
    """The job (tdsim.runs.jobs) of one point of the sweep."""
    from tdsim.runs.jobs import run_from_dict
    try:
        return run_from_dict(apply_point(spec.base, point, spec.base_dir), spec.base_dir, spec.name)
    except SpecError as exc:
        raise SpecError(f"{where}: {exc.key}", str(exc).split(": ", 1)[-1]) from None


def run_point(base: dict, base_dir: str, point: dict, output: str, redo: bool = False) -> dict:
    """Run one point (on a worker). Never raises for a failed simulation: the error is returned.
    ``redo``: replace what ``output`` holds (the user named the run in ``--redo``)."""
    from tdsim.runs.jobs import run_from_dict
    t0 = time.time()
    if _complete(Path(output)) and not redo:     # a retry after the run finished: nothing to do
        import zarr
        stats = zarr.open_group(output, mode="r").attrs.get("stats", {})
        return {"status": "complete", "wall_s": stats.get("wall_s", 0.0), "pid": os.getpid(), "stats": stats}
    try:
        job = run_from_dict(apply_point(base, point, base_dir), Path(base_dir), "run")
        _, result = job.run(output, overwrite=redo, progress=False)
        return {"status": "complete", "wall_s": time.time() - t0, "pid": os.getpid(), "stats": result.stats}
    except StoreMismatch as exc:                 # the hint a sweep user can act on
        msg = str(exc).replace("pass --overwrite to replace it",
                               f"rerun the sweep with --redo {Path(output).name} to replace it")
        return {"status": "failed", "wall_s": time.time() - t0, "pid": os.getpid(), "error": msg}
    except (SimulationError, SpecError) as exc:
        return {"status": "failed", "wall_s": time.time() - t0, "pid": os.getpid(), "error": str(exc)}


def run_group(base: dict, base_dir: str, items: list, redo: tuple = ()) -> list:
    """Run a group of points one after another in one worker call (one dask task): the ensemble
    mode. ``items``: (point, output) pairs; returns one result per point, as run_point does. A
    point that fails, even by an unexpected exception, fails alone; a group retried after its
    worker was lost skips its complete runs and resumes the interrupted one."""
    results = []
    for point, output in items:
        t0 = time.time()
        try:
            results.append(run_point(base, base_dir, point, output, redo=Path(output).name in redo))
        except Exception as exc:                  # a bug in one point must not cost the others
            results.append({"status": "failed", "wall_s": time.time() - t0, "pid": os.getpid(),
                            "error": f"{type(exc).__name__}: {exc}"})
    return results


def run_id(i: int) -> str:
    return f"r{i:05d}"


def warm_cache(spec: SweepSpec) -> None:
    """Compile (or load) the engine once in this process, so workers start from a warm cache: one
    point of each integrator the sweep uses warms it."""
    for _, job in _warm_jobs(spec):
        job.warm()


def _warm_jobs(spec: SweepSpec) -> list:
    """(point, job) of the first point of each integrator the sweep uses, by integrator."""
    first = {}
    for p in spec.points:
        job = point_spec(spec, p)
        first.setdefault(job.integrator, (p, job))
    return [first[k] for k in sorted(first)]


def warm_marker(spec: SweepSpec) -> Path:
    """A file beside numba's cache that exists once warm_cache(spec) has run against the compiled
    sources as they are now. Its name hashes what decides whether numba's cache still holds that
    machine code: the sources' stamps (numba's own staleness test; tdsim._cache drops every
    marker when their content changes), numba's and Python's versions, the cache location, and
    what warm_cache runs. With it present, the driver skips the warm-up: on an idle 2-core
    machine the warm-up, run beside the cluster's start, delays it by ~0.6 s."""
    import hashlib
    import sys
    import numba
    from tdsim import _cache
    stamps = [(str(f.relative_to(_cache.CORE)), f.stat().st_mtime_ns, f.stat().st_size) for f in _cache.sources()]
    warms = [(job.integrator, apply_point(spec.base, p, spec.base_dir)) for p, job in _warm_jobs(spec)]
    key = json.dumps([stamps, numba.__version__, sys.version, os.environ.get("NUMBA_CACHE_DIR"), warms],
                     sort_keys=True, default=str)
    return _cache.CACHE / f"tdsim-warm-{hashlib.sha256(key.encode()).hexdigest()[:20]}"


def warm_once(spec: SweepSpec) -> None:
    """warm_cache unless its marker says numba's cache already holds what it would compile."""
    marker = warm_marker(spec)
    if marker.exists():
        return
    warm_cache(spec)
    try:
        marker.parent.mkdir(exist_ok=True)
        marker.touch()
    except OSError:            # a read-only install: warm every time
        pass


def nominal_duration(spec: SweepSpec, point: dict) -> float:
    """The point's size (an engine run's scheduled time span, s; a trainer's count of updates):
    the ordering key that starts the longest runs first (kept from the validation in load_sweep;
    computed for points set since)."""
    key = _point_key(point)
    if key not in spec.durations:
        try:
            spec.durations[key] = point_spec(spec, point).work
        except SpecError:
            spec.durations[key] = 0.0
    return spec.durations[key]


def _point_key(point: dict) -> str:
    return json.dumps(point, sort_keys=True, default=str)


def groups(spec: SweepSpec, todo: list, k: int) -> list:
    """The tasks: ``todo`` (id, point) pairs, longest scheduled time first (so that no long run is
    left for the end while the other workers idle), in groups of k consecutive points."""
    order = sorted(todo, key=lambda item: -nominal_duration(spec, item[1]))
    return [order[i:i + k] for i in range(0, len(order), k)]


def run_sweep(spec: SweepSpec, scheduler: str | None = None, workers: int | None = None,
              progress: bool = True, output=None, ensemble: int | None = None, redo=()) -> dict:
    """Run every point not yet complete; returns the index (id -> record). ``ensemble``: points
    per worker task (default: the spec's ``ensemble``, 1). ``redo``: run ids (``r00024``) run again
    from the start, replacing what their stores hold (an unfinished run of an older spec or tdsim
    version is otherwise refused, and a complete run kept)."""
    k = _ensemble(spec.ensemble if ensemble is None else ensemble, "ensemble")
    redo = tuple(redo)
    ids = {run_id(i) for i in range(len(spec.points))}
    for rid in redo:
        if rid not in ids:
            raise SpecError("redo", f"{rid!r} is not a run of this sweep ({run_id(0)} to {run_id(len(ids) - 1)})")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SpecError("workers", f"local worker processes: an integer >= 1, got {workers!r}")
    if scheduler:
        _check_scheduler(scheduler)
    out = Path(output or spec.output)
    lock = StoreLock(out)              # one driver per sweep store (its runs take their own locks)
    try:
        return _run_sweep(spec, scheduler, workers, progress, out, k, redo)
    finally:
        lock.release()


def _run_sweep(spec: SweepSpec, scheduler, workers, progress: bool, out: Path, k: int, redo: tuple) -> dict:
    import zarr
    from dask.distributed import as_completed
    root = zarr.open_group(str(out), mode="a")
    root.require_group("runs")
    index = dict(root.attrs.get("index", {}))
    source = _identity(spec.source)
    if index and _identity(root.attrs.get("sweep", {})) != source:
        raise SpecError("output", f"{out} holds another sweep; choose another output")
    root.attrs["sweep"] = json.loads(json.dumps(spec.source, default=str))
    todo = []
    for i, p in enumerate(spec.points):
        rid = run_id(i)
        rec = index.get(rid, {"params": p, "status": "pending", "attempts": 0})
        if rid not in redo and _complete(out / "runs" / rid):   # finished, even if the driver died first
            stale = _stale(out / "runs" / rid, spec, p)
            if stale:
                raise SpecError("output", f"{out / 'runs' / rid} was run from other model or protocol contents than "
                                          f"the files hold now ({stale}): a sweep never mixes the two; choose "
                                          "another output (the stored runs are kept)")
            if rec["status"] != "complete":
                stats = zarr.open_group(str(out / "runs" / rid), mode="r").attrs.get("stats", {})
                rec.update({"status": "complete", "wall_s": stats.get("wall_s"), "t_end": stats.get("t_end"),
                            "attempts": max(1, rec.get("attempts", 0))})
                rec.pop("error", None)
            index[rid] = rec
            continue
        rec["status"] = "pending"
        index[rid] = rec
        todo.append((rid, p))
    root.attrs["index"] = index
    if todo:
        tasks = groups(spec, todo, k)
        warm = _Background(warm_once, spec)     # load the kernels here while the workers start
        os.environ["NUMBA_NUM_THREADS"] = "1"
        try:
            with _client(scheduler, workers, spec.retries) as client:
                warm.join()
                futures = {client.submit(run_group, spec.base, str(spec.base_dir),
                                         [(p, str(out / "runs" / rid)) for rid, p in group], redo,
                                         key=f"{spec.name}-{group[0][0]}" + (f"+{len(group) - 1}" if len(group) > 1 else ""),
                                         pure=False, priority=len(tasks) - j): [rid for rid, _ in group]
                           for j, group in enumerate(tasks)}
                bar = _bar(len(spec.points), len(spec.points) - len(todo), progress)
                writes = _Throttle(root, index)
                try:
                    for fut in as_completed(futures):
                        rids = futures[fut]
                        try:
                            results = fut.result()
                        except Exception as exc:          # worker lost more often than allowed, or a bug
                            results = [{"status": "failed", "error": f"{type(exc).__name__}: {exc}"}] * len(rids)
                        for rid, result in zip(rids, results):
                            rec = index[rid]
                            rec["attempts"] = rec.get("attempts", 0) + 1
                            rec.update({key: v for key, v in result.items() if key != "stats"})
                            if result.get("stats"):
                                rec["t_end"] = result["stats"].get("t_end")
                            bar.update(rec["status"])
                        writes.note()
                finally:
                    writes.flush()                        # the driver is the index's only writer
                    bar.close()
        finally:
            warm.join(reraise=False)
    _consolidate(out)
    return index


def _check_scheduler(address: str, timeout: float = 5.0) -> None:
    """Refuse, within ``timeout``, a scheduler address that is malformed or where nothing listens
    (dask's own connect retries for 30 s and then raises OSError)."""
    import socket
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port
    try:
        protocol, loc = parse_address(address)
        host, port = parse_host_port(loc) if protocol in ("tcp", "tls") else (None, None)
    except (ValueError, TypeError) as exc:
        raise SpecError("--scheduler", f"{address!r} is not a scheduler address ({exc})") from None
    if host is None:
        return                          # another transport: dask reports it
    try:
        socket.create_connection((host, port or 8786), timeout=timeout).close()   # dask's default port
    except OSError as exc:
        raise SpecError("--scheduler", f"nothing answers at {address} ({exc.strerror or exc}): start a "
                                       "dask scheduler there, or leave --scheduler out for a local cluster") from None


@contextlib.contextmanager
def _client(scheduler: str | None, workers: int | None, retries: int):
    """A client of the external scheduler, or of a LocalCluster that lives as long as the block.
    The LocalCluster's workers are forked from a fork server that has already imported tdsim and
    its dependencies, rather than spawned: measured (docs/sweeps.md), each worker's start-up
    import is paid once, in the server, and closing the cluster takes 0.1 s instead of 1-2 s.
    The settings hold for the cluster's lifetime: its nannies read them again to restart a lost
    worker. An external scheduler keeps its own allowed-failures setting."""
    from dask.distributed import Client, LocalCluster
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    import multiprocessing
    import dask
    from distributed.utils import get_mp_context
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"   # Windows
    with dask.config.set({"distributed.scheduler.allowed-failures": retries,
                          "distributed.worker.multiprocessing-method": method}):
        if method == "forkserver":         # takes effect when the server starts: once per driver process
            get_mp_context().set_forkserver_preload(["distributed", "tdsim.runs.runner", "tdsim.runs.sweep"])
        n = workers or os.cpu_count() or 1
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                          env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}) as cluster, \
                Client(cluster) as client:
            yield client


def _stale(path: Path, spec: SweepSpec, point: dict) -> str | None:
    """Where a complete stored run's resolved spec (model and protocol contents inlined) differs
    from what the point resolves to now (an edited model.toml), or None when it is the same run.
    The sweep's own identity holds only the sweep file: the files it names can change under it."""
    import zarr
    stored = zarr.open_group(str(path), mode="r").attrs.get("resolved_spec")
    want = getattr(point_spec(spec, point), "resolved", None)
    if stored is None or want is None:
        return None
    want = _jsonable(want)
    return None if stored == want else _first_difference(stored, want)


def _identity(source: dict) -> dict:
    """What makes a sweep store one sweep's: its spec, less the execution settings."""
    d = json.loads(json.dumps(source, default=str))
    d.pop("ensemble", None)
    return d


class _Background:
    """Call f(*args) in a thread; join() re-raises its exception here."""

    def __init__(self, f, *args):
        import threading
        self.error = None

        def target():
            try:
                f(*args)
            except BaseException as exc:      # noqa: BLE001 -- handed to the caller by join()
                self.error = exc
        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def join(self, reraise: bool = True):
        self.thread.join()
        if reraise and self.error is not None:
            raise self.error


class _Throttle:
    """Writes the index at most every ``interval`` seconds: each write is the whole index (JSON),
    so writing it at every completion costs O(runs²) in a sweep of many short runs. Nothing is
    lost by waiting: a rerun finds complete runs from their own stores."""

    def __init__(self, root, index, interval: float = 1.0):
        self.root, self.index, self.interval = root, index, interval
        self.last = time.monotonic()
        self.dirty = False

    def note(self):
        self.dirty = True
        if time.monotonic() - self.last >= self.interval:
            self.flush()

    def flush(self):
        if self.dirty:
            self.root.attrs["index"] = self.index
            self.last = time.monotonic()
            self.dirty = False


def _complete(path: Path) -> bool:
    import zarr
    try:
        return bool(zarr.open_group(str(path), mode="r").attrs.get("complete", False))
    except Exception:
        return False


def _consolidate(out: Path) -> None:
    import warnings
    import zarr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(str(out))


class _bar:
    def __init__(self, total, done, enabled):
        self.counts = {"complete": done, "failed": 0}
        self.total = total
        self.t = None
        if enabled:
            from tqdm import tqdm
            self.t = tqdm(total=total, initial=done, unit="run")

    def update(self, status):
        self.counts[status] = self.counts.get(status, 0) + 1
        if self.t is not None:
            self.t.update(1)
            self.t.set_postfix(done=self.counts["complete"], failed=self.counts["failed"],
                               running=self.total - self.counts["complete"] - self.counts["failed"])

    def close(self):
        if self.t is not None:
            self.t.close()


def summary(index: dict) -> str:
    """A table of runs: id, status, attempts, wall time, parameters, error."""
    lines = [f"{'run':8} {'status':9} {'tries':>5} {'wall s':>8}  parameters / error"]
    for rid in sorted(index):
        r = index[rid]
        params = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in r["params"].items())
        wall = f"{r['wall_s']:.2f}" if "wall_s" in r else "-"
        lines.append(f"{rid:8} {r['status']:9} {r.get('attempts', 0):>5} {wall:>8}  {params}"
                     + (f"  !! {r['error']}" if r.get("error") and r["status"] != "complete" else ""))
    n = {s: sum(r["status"] == s for r in index.values()) for s in ("complete", "failed", "pending")}
    lines.append(f"{n['complete']} complete, {n['failed']} failed, {n['pending']} pending of {len(index)}")
    return "\n".join(lines)


def open_sweep(path):
    """The sweep as an xarray.DataTree: the root holds the index (dimension ``run``, each parameter
    a coordinate, status, attempts, wall time); ``runs/<id>`` holds each run's Dataset, lazily
    (dask). A tree, not one Dataset with a ``run`` dimension: runs of a sweep have different time
    axes (a τ sweep changes the length and sampling of every run), and stacking them would pad
    every variable with NaN to the longest run."""
    import xarray as xr
    import zarr
    from tdsim.runs.store import open_run
    root = zarr.open_group(str(path), mode="r")
    index = dict(root.attrs.get("index", {}))
    ids = sorted(index)
    coords = {"run": ids}
    keys = sorted({k for r in index.values() for k in r["params"]})
    for k in keys:
        vals = [_si(index[i]["params"].get(k)) for i in ids]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals)
        coords[k] = ("run", np.array(vals, dtype=float) if numeric else np.array([str(v) for v in vals]))
    data = {"status": ("run", np.array([index[i]["status"] for i in ids])),
            "attempts": ("run", np.array([index[i].get("attempts", 0) for i in ids])),
            "wall_s": ("run", np.array([index[i].get("wall_s", np.nan) for i in ids], dtype=float))}
    tree = {"/": xr.Dataset(data, coords=coords, attrs={"sweep": json.dumps(root.attrs.get("sweep", {}))})}
    for i in ids:
        if _complete(Path(path) / "runs" / i):
            tree[f"/runs/{i}"] = open_run(Path(path) / "runs" / i)
    return xr.DataTree.from_dict(tree)


def _si(v):
    """A parameter value as an SI number where it is one ("20 ms" -> 0.02), else unchanged."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        from tdsim.model.units import parse_unit
        parts = v.split(None, 1)
        try:
            x = float(parts[0])
            return x * (parse_unit(parts[1])[0] if len(parts) > 1 else 1.0)
        except (ValueError, IndexError):
            return v
    return v
