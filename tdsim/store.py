"""One run = one Zarr group, appended chunk by chunk while the run goes (DESIGN.md §4).

Layout (see docs/storage.md): dimensions ``time`` (decimated samples), ``event`` (segment ends),
``twin``, ``node``, ``edge``, ``output``. A run's full spec, seed, tdsim version and integrator
settings are group attributes; ``complete`` turns true when the run has finished.
"""
from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import zarr

from . import __version__
from .build import Compiled
from .errors import SpecError

_SERIES = {  # name: (dims after the append dim, units, long name)
    "V": (("twin", "node"), "V", "node voltage"),
    "theta": (("edge",), "V", "edge state: gate voltage G (MOSFET) or conductance parameter"),
    "O": (("twin", "output"), "V", "output node voltage"),
}


class RunWriter:
    """Creates the group and appends chunks; ``finish`` marks it complete and consolidates."""

    def __init__(self, path, c: Compiled, attrs: dict, chunk: int = 4096, overwrite: bool = False):
        self.path = Path(path)
        if self.path.exists():
            if not overwrite:
                raise SpecError("output", f"{self.path} exists; refusing to overwrite it (pass --overwrite)")
            shutil.rmtree(self.path)
        self.c = c
        self.root = zarr.open_group(str(self.path), mode="w-")
        self.root.attrs.update({"tdsim_version": __version__, "complete": False, **_jsonable(attrs)})
        sizes = {"twin": c.T, "node": c.N, "edge": c.E, "output": len(c.output_nodes)}
        self._coord("twin", np.array(c.twins, dtype=str), "twin")
        self._coord("node", np.array(c.node_names, dtype=str), "node")
        self._coord("edge", np.array(c.edge_names, dtype=str), "edge")
        self._coord("output", np.array(c.output_nodes, dtype=str), "output")
        self._coord("edge_a", np.array([c.node_names[i] for i in c.ea], dtype=str), "edge")
        self._coord("edge_b", np.array([c.node_names[i] for i in c.eb], dtype=str), "edge")
        self._coord("edge_element", np.array([type(e.element).__name__ for e in _edges(c)], dtype=str), "edge")
        self._coord("edge_learns", c.learn.astype(bool), "edge")
        self._coord("node_capacitance", c.cap, ("twin", "node"), "F")
        for dim, prefix in (("time", ""), ("event", "event_")):
            t = self.root.create_array(prefix + "time" if prefix else "time", shape=(0,), chunks=(chunk,),
                                       dtype="f8", dimension_names=[dim])
            t.attrs.update({"units": "s", "long_name": "segment end time" if prefix else "sample time"})
            if prefix:
                seg = self.root.create_array("event_segment", shape=(0,), chunks=(chunk,), dtype="i8",
                                             dimension_names=[dim])
                seg.attrs.update({"long_name": "index of the segment that ended"})
            for name, (dims, units, long) in _SERIES.items():
                shape = (0,) + tuple(sizes[d] for d in dims)
                a = self.root.create_array(prefix + name, shape=shape, chunks=(chunk,) + shape[1:], dtype="f8",
                                           dimension_names=[dim, *dims])
                coords = "edge_a edge_b edge_element edge_learns" if "edge" in dims else ""
                if prefix:
                    coords = (coords + " event_time event_segment").strip()
                a.attrs.update({"units": units, "long_name": long, **({"coordinates": coords} if coords else {})})

    def _coord(self, name, values, dims, units=None):
        dims = (dims,) if isinstance(dims, str) else dims
        dtype = str if values.dtype.kind == "U" else values.dtype      # variable-length UTF-8 has a v3 spec
        a = self.root.create_array(name, shape=values.shape, dtype=dtype, dimension_names=list(dims))
        a[...] = values
        if units:
            a.attrs["units"] = units

    def append(self, t, V, theta, ev_t, ev_seg, ev_V, ev_theta):
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

    def finish(self, stats: dict, complete: bool = True):
        self.root.attrs.update({"complete": complete, "stats": _jsonable(stats)})
        with warnings.catch_warnings():   # consolidated metadata is not yet in the v3 spec; xarray reads it
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(str(self.path))


def open_run(path):
    """The run at ``path`` as an xarray.Dataset (lazy, dask-backed)."""
    import xarray as xr
    return xr.open_zarr(str(path), consolidated=None)


def _edges(c: Compiled):
    from .build import _hidden_edge
    edges = list(c.circuit.edges)
    by_name = {e.name for e in edges}
    for name in c.edge_names:
        if name not in by_name:                      # hidden series resistor of a source
            node = name[:-2]
            edges.append(_hidden_edge(f"{node}:src", node, c.circuit.sources[node].resistance))
    return edges


def _jsonable(x):
    """Attributes must be JSON: convert dataclasses, numpy scalars and paths."""
    return json.loads(json.dumps(x, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__")
                                 else o.item() if isinstance(o, np.generic) else str(o)))
