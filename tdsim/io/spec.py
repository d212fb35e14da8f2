"""TOML model files and run specs -> Circuit, segments and Options. Every key is checked:
unknown keys, missing units and impossible values raise SpecError naming the key path."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tdsim.model.circuit import Circuit
from tdsim.core.elements import ELEMENTS
from tdsim.core.nudges import RULES as NUDGE_RULES
from tdsim.errors import SpecError
from tdsim.model.imperfections import Imperfections
from tdsim.model.protocols import Cycling, DataPoint, Nudge, Task, TwoTask, count
from tdsim.model.schedule import FORCES, PiecewiseLinear, Pulse, Schedule, Segment, Waveform, check_span, period
from tdsim.simulation.simulate import Options
from tdsim.model.units import DIMENSIONS, example, quantity, quantity_any

_EDGE_KEYS = {"name", "a", "b", "element", "A0", "B"}


def read(path) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise SpecError(str(path), "file not found") from None
    except IsADirectoryError:
        raise SpecError(str(path), "is a folder, not a TOML file") from None
    except UnicodeDecodeError as exc:
        raise SpecError(str(path), f"not UTF-8 text (byte {exc.start}): TOML files are UTF-8") from None
    except OSError as exc:
        raise SpecError(str(path), f"cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(str(path), f"not valid TOML: {exc}") from None


def check_keys(d: dict, allowed, where: str) -> None:
    if not isinstance(d, dict):
        raise SpecError(where, f"expected a table, got {type(d).__name__}")
    for k in d:
        if k not in allowed:
            raise SpecError(f"{where}.{k}" if where else k,
                            f"unknown key; allowed: {', '.join(sorted(allowed))}")


def _value(raw, kind, key):
    if kind is bool:
        if not isinstance(raw, bool):
            raise SpecError(key, f"expected true or false, got {raw!r}")
        return raw
    if kind is str or isinstance(kind, tuple):
        if not isinstance(raw, str):
            raise SpecError(key, f"expected a string, got {raw!r}")
        if isinstance(kind, tuple) and raw not in kind:          # one of the allowed names
            raise SpecError(key, f"unknown {raw!r} ({', '.join(kind)})")
        return raw
    return quantity(raw, kind, key)


# the learning rate A0 of an edge, dθ/dt = A0 f(θ) (ΔV_F² − ΔV_C²) (kernels.gate_rates), has the
# dimension of θ / (s V² f), f the element's dκ/dθ (kernels.kappa_factor): the element says which
# (Element.a0_unit; None for one that never learns: its A0 is unused and keeps the MOSFET unit).
_A0_UNITS = {kind: what for cls in ELEMENTS.values() for kind, what in cls.a0_units()}


# The other learning fields act on θ itself, so their unit is θ's (kernels.gate_rates, the update
# noise of core/loop.py, the limits of kernels.clip_gates): theta_min/theta_max bound θ; B (and
# imperfections.bias, bias_spread) adds to dθ/dt: θ's unit per s; noise_update is the σ of a
# random walk on θ: θ's unit per √s. θ's unit is the element's (Element.theta_unit: G in V on a
# MOSFET gate; κ (S), ρ (Ohm) or log κ (1) on a conductance). _THETA_FIELDS: what the field is of
# θ -> {θ's kind: the field's kind}.
_THETA_FIELDS = {
    "theta": {"voltage": "voltage", "conductance": "conductance", "resistance": "resistance",
              "dimensionless": "dimensionless"},
    "rate": {"voltage": "voltage_rate", "conductance": "conductance_rate", "resistance": "resistance_rate",
             "dimensionless": "rate"},
    "noise": {"voltage": "noise_density", "conductance": "conductance_noise_density",
              "resistance": "resistance_noise_density", "dimensionless": "rate_noise_density"},
}
_FIELD_IS = {"theta_min": "theta", "theta_max": "theta", "B": "rate", "bias": "rate", "bias_spread": "rate",
             "noise_update": "noise"}


def _theta_field(el, field: str):
    """(dimension kind, edge description) that learning field ``field`` (theta_min, theta_max, B,
    bias, bias_spread, noise_update) needs on element ``el``; None for an element without θ (a
    resistor, a diode: the field is unused there and keeps the MOSFET unit, as before)."""
    need = el.theta_unit()
    if need is None:
        return None
    theta, what = need
    return _THETA_FIELDS[_FIELD_IS[field]][theta], what


def _number_or_quantity(raw, key: str):
    """(SI float, dimension exponents or None, unit text or None); a number, or a number in a
    string without a unit, gives no dimension."""
    if isinstance(raw, str) and len(raw.split()) == 1:
        return quantity(raw, "dimensionless", key), None, None
    return quantity_any(raw, key)


def _unit_hint(kind: str) -> str:
    return example(kind) or "no unit (dimensionless)"


def _edge_quantity(raw, kind: str, what: str, key: str, where: str, field: str) -> float:
    """SI value of ``raw`` for ``field`` of edge ``where`` (``what``), whose dimension must be
    ``kind``: a unit of another dimension, or a nonzero number without a unit where one is
    needed, is refused naming the edge, the field and the unit it needs."""
    value, dims, unit = _number_or_quantity(raw, key)
    ex = example(kind)
    if dims is None:
        if value != 0 and ex:
            raise SpecError(key, f"missing unit: edge {where} is {what}, whose {field} needs one, "
                            f"e.g. \"{value:g} {ex}\"")
    elif dims != _dims(kind):
        fix = f"in {ex}: write a unit of that dimension (e.g. \"1 {ex}\")" if ex else "without a unit (dimensionless)"
        raise SpecError(key, f"unit {unit!r} does not fit edge {where}: {what} needs {field} {fix}")
    return value


def _model_wide(raw, field: str, key: str, circuit: Circuit) -> float:
    """An imperfection that is one σ for every learning edge (bias_spread, noise_update): in the
    unit of their θ (_theta_field); a model whose learning edges have θ in different units can
    only take 0. Without learning edges it is unused: any of the field's units is accepted."""
    need = {}
    for i, e in enumerate(circuit.edges):
        if e.element.learns():
            where = f"edges[{i}] ({e.name})"
            kind, what = _theta_field(e.element, field)
            need.setdefault(kind, (where, what))
    if len(need) == 1:
        ((kind, (where, what)),) = need.items()
        return _edge_quantity(raw, kind, what, key, where, field)
    value, dims, unit = _number_or_quantity(raw, key)
    if value == 0:
        return 0.0
    if len(need) > 1:
        which = "; ".join(f"edge {w} is {what} and needs {_unit_hint(k)}" for k, (w, what) in need.items())
        raise SpecError(key, f"one {field} acts on every learning edge, but their θ have different units "
                        f"({which}): a model mixing them cannot take one nonzero {field}"
                        + (" (give each edge its own imperfections.bias instead)" if field == "bias_spread" else ""))
    kinds = list(_THETA_FIELDS[_FIELD_IS[field]].values())
    if dims is None:
        raise SpecError(key, f"missing unit in {value!r}: e.g. \"{value:g} {example(kinds[0])}\"")
    if dims not in [_dims(k) for k in kinds]:
        raise SpecError(key, f"unit {unit!r} does not fit {field} ({', '.join(_unit_hint(k) for k in kinds)} "
                        "for MOSFET gates and conductances with parametrization kappa, rho, logkappa)")
    return value


def _dims(kind: str) -> tuple:
    return tuple(float(e) for e in DIMENSIONS[kind])


def _check_a0(a0, el, key: str, where: str) -> None:
    """Refuse an A0 (``a0`` from units.quantity_any) whose dimension is not the one edge ``where``
    needs, or that has no unit (like every dimensional field; 0 needs none)."""
    value, dims, unit = a0
    need = el.a0_unit()
    kind, what, rule = need if need else ("learning_rate", "an element that does not learn", "")
    if dims is None and value != 0:
        raise SpecError(key, f"missing unit: edge {where} is {what}, whose A0 needs one, "
                        f"e.g. \"{value:g} {example(kind)}\"")
    if dims is not None and dims != _dims(kind):
        rule = f" ({rule})" if rule else ""
        own = ", or give the edge its own A0" if key == "A0" else ""
        raise SpecError(key, f"unit {unit!r} does not fit edge {where}: {what} needs A0 in "
                        f"{example(kind)}{rule}: write a unit of that dimension "
                        f"(e.g. \"1 {example(kind)}\"){own}")


def _element(kind: str, fields: dict, key: str):
    if kind not in ELEMENTS:
        raise SpecError(key + ".element", f"unknown element {kind!r}; known: {', '.join(ELEMENTS)}")
    schema = ELEMENTS[kind].units
    kw, theta = {}, {}
    for k, raw in fields.items():
        if k not in schema:
            raise SpecError(f"{key}.{k}", f"unknown key for a {kind}; allowed: "
                            f"{', '.join(sorted(set(schema) | _EDGE_KEYS))}")
        if schema[k] == "theta":            # in θ's unit: known once the element is
            theta[k] = raw
        else:
            kw[k] = _value(raw, schema[k], f"{key}.{k}")
    try:
        el = ELEMENTS[kind](**kw)
    except TypeError as exc:
        raise SpecError(key, f"{kind}: {exc}") from None
    for k, raw in theta.items():
        setattr(el, k, _edge_quantity(raw, *_theta_field(el, k), f"{key}.{k}", key, k))
    return el


def model_from_dict(d: dict, name: str = "model") -> Circuit:
    check_keys(d, {"name", "description", "ground", "capacitance", "A0", "defaults", "nodes", "sources",
                    "edges", "outputs"}, "")
    for k in ("name", "description", "ground"):
        if k in d:
            _value(d[k], str, k)
    for k in ("nodes", "sources", "edges"):
        if not isinstance(d.get(k, []), list):
            raise SpecError(k, f"expected a list of tables ([[{k}]]), got {d[k]!r}")
    c = Circuit(name=d.get("name", name), ground=d.get("ground", "gnd"))
    if "capacitance" in d:
        c.capacitance = quantity(d["capacitance"], "capacitance", "capacitance")
    a0 = quantity_any(d["A0"], "A0") if "A0" in d else None   # checked against each edge it drives
    a0_used = False
    if a0 is not None:
        c.A0 = a0[0]
    defaults = d.get("defaults", {})
    check_keys(defaults, set(ELEMENTS), "defaults")
    for kind, fields in defaults.items():
        check_keys(fields, set(ELEMENTS[kind].units), f"defaults.{kind}")
    for i, nd in enumerate(d.get("nodes", [])):
        key = f"nodes[{i}]"
        check_keys(nd, {"name", "capacitance"}, key)
        if "name" not in nd:
            raise SpecError(key + ".name", "missing")
        cap = quantity(nd["capacitance"], "capacitance", key + ".capacitance") if "capacitance" in nd else None
        c.add_node(str(nd["name"]), cap)
    for i, sd in enumerate(d.get("sources", [])):
        key = f"sources[{i}]"
        check_keys(sd, {"node", "kind", "value", "resistance"}, key)
        for req in ("node", "kind"):
            if req not in sd:
                raise SpecError(f"{key}.{req}", "missing")
        kind = sd["kind"]
        if kind == "voltage":
            c.add_voltage_source(str(sd["node"]), quantity(sd.get("value", 0), "voltage", key + ".value"),
                                 quantity(sd.get("resistance", 0), "resistance", key + ".resistance"))
        elif kind == "current":
            c.add_current_source(str(sd["node"]), quantity(sd.get("value", 0), "current", key + ".value"))
        else:
            raise SpecError(key + ".kind", f"unknown source kind {kind!r} (voltage or current)")
    for i, ed in enumerate(d.get("edges", [])):
        key = f"edges[{i}]"
        if not isinstance(ed, dict):
            raise SpecError(key, "expected a table")
        for req in ("a", "b", "element"):
            if req not in ed:
                raise SpecError(f"{key}.{req}", "missing")
        name = str(ed.get("name", f"e{i}"))
        key = f"edges[{i}] ({name})"
        kind = ed["element"]
        fields = dict(defaults.get(kind, {}))
        fields.update({k: v for k, v in ed.items() if k not in _EDGE_KEYS})
        el = _element(kind, fields, key)
        if "A0" in ed:
            own = quantity_any(ed["A0"], key + ".A0")
            _check_a0(own, el, key + ".A0", key)
            A0 = own[0]
        else:
            A0 = None
            if a0 is not None and el.learns():   # the model's A0 drives this edge
                _check_a0(a0, el, "A0", key)
                a0_used = True
        need = _theta_field(el, "B")
        B = (quantity(ed.get("B", 0), "voltage_rate", key + ".B") if need is None else
             _edge_quantity(ed.get("B", 0), *need, key + ".B", key, "B"))
        c.add_edge(name, str(ed["a"]), str(ed["b"]), el, A0, B)
    if a0 is not None and not a0_used and a0[1] is None and a0[0] != 0:
        raise SpecError("A0", f"missing unit in {a0[0]!r}: a learning rate needs one, e.g. "
                        f"\"{a0[0]:g} 1/(V*s)\" for MOSFET gates")
    if a0 is not None and not a0_used and a0[1] is not None and a0[1] not in [_dims(k) for k in _A0_UNITS]:
        raise SpecError("A0", f"unit {a0[2]!r} is not a learning rate ("
                        + "; ".join(f"{example(k)} for {what}" for k, what in _A0_UNITS.items()) + ")")
    outputs = d.get("outputs", [])
    if not isinstance(outputs, list):
        raise SpecError("outputs", "expected a list of node names")
    for o in outputs:
        c.add_output(str(o))
    return c


def load_model(path) -> Circuit:
    """Read and validate a model TOML file."""
    c = model_from_dict(read(path), Path(path).stem)
    c.validate(need_capacitance=False)
    return c


@dataclass
class RunSpec:
    circuit: Circuit
    segments: Schedule | list                      # one period and its repeat count (a list: repeat = 1)
    options: Options
    twins: tuple = ("free", "clamped")
    imperfections: Imperfections = field(default_factory=Imperfections)
    seed: int = 0
    output: Path | None = None
    source: dict = field(default_factory=dict)     # the spec as read, stored with the run
    tasks: list = field(default_factory=list)      # the protocol's tasks (task errors at events)
    differential: list = field(default_factory=list)
    resolved: dict = field(default_factory=dict)   # the spec with model and protocol files inlined

    @property
    def force_nudge(self) -> bool:
        """True when the schedule nudges by current (EP): the twins are built with free outputs."""
        return any(s.nudge in FORCES for s in period(self.segments)[0])


_OPTION_KINDS = {"integrator": str, "rtol": "dimensionless", "atol": "voltage", "rtol_V": "dimensionless",
                 "atol_V": "voltage", "dt": "time", "first_step": "time", "h_min": "time",
                 "record_interval": "time", "newton_tol": "dimensionless", "initial": str,
                 "chunk": "dimensionless", "cycle_tol": "voltage", "r0": "time_per_voltage", "tableau": str,
                 "w_reuse": "dimensionless", "save_at": (list, dict), "envelope": bool, "envelope_tol": "voltage",
                 "cycle": str, "cycle_max_iter": "dimensionless", "envelope_passes": "dimensionless"}


def _save_times(raw, key: str) -> tuple:
    """``save_at``: a list of times (``["1 ms", "2.5 ms"]``) or an even grid ``{ start, stop, num }``."""
    if isinstance(raw, dict):
        check_keys(raw, {"start", "stop", "num"}, key)
        for k in ("start", "stop", "num"):
            if k not in raw:
                raise SpecError(f"{key}.{k}", "missing (an even grid needs start, stop and num)")
        num = integer(raw["num"], f"{key}.num", least=1)
        start, stop = quantity(raw["start"], "time", f"{key}.start"), quantity(raw["stop"], "time", f"{key}.stop")
        return tuple(float(x) for x in np.linspace(start, stop, num))
    return tuple(quantity(v, "time", f"{key}[{i}]") for i, v in enumerate(raw))


def options_from_dict(sim: dict, where: str = "simulation", allowed=None) -> Options:
    """The integrator options of a ``[simulation]`` table, with units (``atol = "1 nV"``);
    ``allowed``: the keys a caller takes (default: every option)."""
    kinds = _OPTION_KINDS if allowed is None else {k: _OPTION_KINDS[k] for k in allowed}
    kw = fields_from_dict(sim, kinds, where)
    if "save_at" in kw:          # sample times: a list of times, or {start, stop, num} (both ends included)
        kw["save_at"] = _save_times(sim["save_at"], f"{where}.save_at")
    if "chunk" in kw:
        if not float(kw["chunk"]).is_integer():
            raise SpecError(f"{where}.chunk", f"records per buffer: a whole number, got {kw['chunk']!r}")
        kw["chunk"] = int(kw["chunk"])
    for k in ("w_reuse", "cycle_max_iter", "envelope_passes"):      # whole numbers as integers (others: validate names them)
        if k in kw and float(kw[k]).is_integer():
            kw[k] = int(kw[k])
    opt = Options(**kw)
    opt.validate()
    return opt


def _segments(sched: dict) -> Schedule:
    """A custom ``[schedule]``: ``[[schedule.segments]]`` (one period) run ``repeat`` times, after
    the optional ``[[schedule.prologue]]`` segments (run once)."""
    check_keys(sched, {"repeat", "segments", "prologue", "tasks", "differential"}, "schedule")
    repeat = sched.get("repeat", 1)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
        raise SpecError("schedule.repeat", f"must be a positive integer, got {repeat!r}")
    segs = _segment_list(sched.get("segments", []), "schedule.segments")
    if not segs:
        raise SpecError("schedule.segments", "at least one segment is needed")
    pro = _segment_list(sched.get("prologue", []), "schedule.prologue")
    check_span(pro + segs, repeat, "schedule.repeat")
    return Schedule(segs, repeat, pro)


def _segment_list(raw, where: str) -> list:
    """Segments written out, ``[[schedule.segments]]`` or ``[[prologue]]`` tables."""
    if not isinstance(raw, list):
        raise SpecError(where, f"expected a list of tables ([[{where}]]), got {raw!r}")
    segs = []
    for i, sd in enumerate(raw):
        key = f"{where}[{i}]"
        if not isinstance(sd, dict):
            raise SpecError(key, f"expected a table, got {sd!r}")
        check_keys(sd, {"duration", "sources", "labels", "eta", "beta", "learn", "nudge", "waveforms", "rise"}, key)
        if "duration" not in sd:
            raise SpecError(key + ".duration", "missing")
        src = _volts(sd.get("sources", {}), f"{key}.sources")
        lab = _volts(sd.get("labels", {}), f"{key}.labels")
        learn = _value(sd.get("learn", False), bool, key + ".learn")
        segs.append(Segment(quantity(sd["duration"], "time", key + ".duration"), src, lab,
                            quantity(sd.get("eta", 0.0), "dimensionless", key + ".eta"), learn,
                            _value(sd.get("nudge", "standard"), str, key + ".nudge"),
                            _waveforms(sd.get("waveforms", {}), key + ".waveforms"),
                            beta=quantity(sd.get("beta", 0.0), "conductance", key + ".beta"),
                            rise=quantity(sd.get("rise", 0.0), "time", key + ".rise")))
    return segs


def _volts(d: dict, key: str) -> dict:
    if not isinstance(d, dict):
        raise SpecError(key, "expected a table of node = value")
    return {str(n): quantity(v, "voltage", f"{key}.{n}") for n, v in d.items()}


_PULSE = {"v1": "voltage", "v2": "voltage", "delay": "time", "rise": "time", "fall": "time", "width": "time",
          "period": "time"}


def _waveforms(d: dict, key: str) -> dict:
    """Source waveforms: ``{ kind = "sin" | "abs_sin", amplitude, frequency }`` (added to the
    source's value), ``{ kind = "pulse", v1, v2, delay, rise, fall, width, period }`` or
    ``{ kind = "pwl", times = [...], values = [...], repeat }`` (SPICE PULSE and PWL, absolute
    time: the source's value itself)."""
    if not isinstance(d, dict):
        raise SpecError(key, f"expected a table of node = {{kind, ...}}, got {d!r}")
    out = {}
    for node, w in d.items():
        k = f"{key}.{node}"
        if not isinstance(w, dict):
            raise SpecError(k, f"expected a table {{kind, ...}}, got {w!r}")
        kind = _value(w.get("kind"), str, k + ".kind") if "kind" in w else None
        if kind not in ("sin", "abs_sin", "pulse", "pwl"):
            raise SpecError(f"{k}.kind", "missing (sin, abs_sin, pulse or pwl)" if kind is None else
                            f"unknown waveform {kind!r} (sin, abs_sin, pulse or pwl)")
        if kind == "pulse":
            check_keys(w, {"kind", *_PULSE}, k)
            for req in ("v1", "v2", "rise", "fall"):
                if req not in w:
                    raise SpecError(f"{k}.{req}", "missing")
            kw = {n: quantity(w[n], u, f"{k}.{n}") for n, u in _PULSE.items() if n in w}
            out[str(node)] = Pulse(**kw)
        elif kind == "pwl":
            check_keys(w, {"kind", "times", "values", "repeat"}, k)
            for req in ("times", "values"):
                if not isinstance(w.get(req), list) or not w[req]:
                    raise SpecError(f"{k}.{req}", f"expected a non-empty list, got {w.get(req)!r}")
            times = tuple(quantity(v, "time", f"{k}.times[{i}]") for i, v in enumerate(w["times"]))
            values = tuple(quantity(v, "voltage", f"{k}.values[{i}]") for i, v in enumerate(w["values"]))
            rep = quantity(w["repeat"], "time", k + ".repeat") if "repeat" in w else None
            out[str(node)] = PiecewiseLinear(times, values, rep)
        else:
            check_keys(w, {"kind", "amplitude", "frequency"}, k)
            for req in ("amplitude", "frequency"):
                if req not in w:
                    raise SpecError(f"{k}.{req}", "missing")
            out[str(node)] = Waveform(kind, quantity(w["amplitude"], "voltage", k + ".amplitude"),
                                      quantity(w["frequency"], "frequency", k + ".frequency"))
    return out


def _task(d: dict, key: str) -> Task:
    if not isinstance(d, dict):
        raise SpecError(key, f"expected a table (a task: points or a generator), got {d!r}")
    if "generator" in d:
        return _generated_task(d, key)
    check_keys(d, {"name", "classification", "points"}, key)
    pts = d.get("points", [])
    if not isinstance(pts, list) or not pts:
        raise SpecError(key + ".points", "a task needs at least one data point")
    points = []
    for i, p in enumerate(pts):
        k = f"{key}.points[{i}]"
        check_keys(p, {"inputs", "labels"}, k)
        points.append(DataPoint(_volts(p.get("inputs", {}), k + ".inputs"), _volts(p.get("labels", {}), k + ".labels")))
    return Task(str(d.get("name", key)), points, _value(d.get("classification", False), bool, key + ".classification"))


def _generated_task(d: dict, key: str) -> Task:
    """A task made by a generator of tdsim.library, e.g. the ring of Dillavou Fig. 5."""
    from tdsim.model.library import grid_tasks, ring_task
    if d["generator"] == "grid":
        check_keys(d, {"generator", "n", "label", "half"}, key)
        half = d.get("half", key)
        if half not in ("alpha", "beta"):
            raise SpecError(key + ".half", f"must be alpha or beta, got {half!r}")
        n = _int(d.get("n", 4), key + ".n")
        if n < 2:
            raise SpecError(key + ".n", f"a grid needs n >= 2 (n x n points less the n on its diagonal), got {n}")
        tasks = grid_tasks(n, quantity(d.get("label", "63 mV"), "voltage", key + ".label"))
        return tasks[0] if half == "alpha" else tasks[1]
    if d["generator"] != "ring":
        raise SpecError(key + ".generator", f"unknown generator {d['generator']!r} (ring or grid)")
    check_keys(d, {"generator", "diameter", "radius", "split", "n", "label"}, key)
    if ("diameter" in d) == ("radius" in d):
        raise SpecError(key + ".diameter", "give the ring's size once: diameter (Dillavou's ε, the input variation "
                                           "of Fig. 5) or radius")
    radius = quantity(d["diameter"], "voltage", key + ".diameter") / 2 if "diameter" in d else \
        quantity(d["radius"], "voltage", key + ".radius")
    return ring_task(radius, integer(d.get("split", 0), key + ".split"),
                     _int(d.get("n", 8), key + ".n"), quantity(d.get("label", "18 mV"), "voltage", key + ".label"))


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def overrides(params, where: str = "parameters") -> dict:
    """A run spec's ``parameters`` as a nested table to merge into its protocol: each key dotted
    (``"nudge.gamma" = "1 S"``) or nested (``nudge = { gamma = "1 S" }``, what a sweep axis
    ``parameters.nudge.gamma`` makes)."""
    if not isinstance(params, dict):
        raise SpecError(where, f"expected a table, got {type(params).__name__}")
    nested = {}
    for k, v in params.items():
        for head in reversed(k.split(".")):
            v = {head: v}
        nested = merge(nested, v)
    return nested


def integer(x, key: str, least: int = 0) -> int:
    """An integer of at least ``least`` (TOML booleans are not integers)."""
    if isinstance(x, bool) or not isinstance(x, int) or x < least:
        what = {0: "a non-negative integer", 1: "a positive integer"}.get(least, f"an integer >= {least}")
        raise SpecError(key, f"must be {what}, got {x!r}")
    return x


def fields_from_dict(d: dict, kinds: dict, where: str) -> dict:
    """The fields of table ``d`` read by their kind (``kinds``: key -> bool, str, int (>= 0), list,
    dict (a table, read by the caller) or a dimension of tdsim.model.units, whose value takes a unit); an unknown key is refused
    naming it. Keys ``d`` does not give are absent from the result."""
    check_keys(d, set(kinds), where)
    out = {}
    for k, raw in d.items():
        kind, key = kinds[k], f"{where}.{k}" if where else k
        if kind is int:
            out[k] = integer(raw, key)
        elif kind == (list, dict):
            if not isinstance(raw, kind):
                raise SpecError(key, f"expected a list or a table, got {raw!r}")
            out[k] = raw
        elif kind in (list, dict):
            if not isinstance(raw, kind):
                raise SpecError(key, f"expected a {'list' if kind is list else 'table'}, got {raw!r}")
            out[k] = raw
        else:
            out[k] = _value(raw, kind, key)
    return out


def protocol_from_dict(d: dict):
    """A Cycling or TwoTask protocol from its TOML form (docs/protocol-format.md)."""
    check_keys(d, {"name", "description", "kind", "tau", "periods", "passes", "t_h", "learn", "nudge",
                    "differential", "task", "alpha", "beta", "waveforms", "rise", "prologue"}, "")
    kind = d.get("kind")
    nd = d.get("nudge", {})
    check_keys(nd, {"rule", "eta", "L0", "beta"}, "nudge")
    rule = _value(nd.get("rule", "standard"), str, "nudge.rule")
    Nudge(rule, L0=1.0, beta=1.0).validate()          # an unknown rule is named before its fields
    takes_beta = NUDGE_RULES[rule].amplitude == "beta"
    if takes_beta and "eta" in nd:
        raise SpecError("nudge.eta", "the force nudge takes beta (a conductance, e.g. \"10 uS\"), not eta")
    if not takes_beta and "beta" in nd:
        raise SpecError("nudge.beta", f"beta is the force nudge's strength; rule {rule!r} takes eta")
    nudge = Nudge(rule, quantity(nd.get("eta", 1.0), "dimensionless", "nudge.eta"),
                  quantity(nd.get("L0", 0), "voltage", "nudge.L0"), quantity(nd.get("beta", 0), "conductance", "nudge.beta"))
    nudge.validate()
    common = dict(t_h=quantity(d.get("t_h", "100 us"), "time", "t_h"), nudge=nudge,
                  learn=_value(d.get("learn", True), bool, "learn"),
                  waveforms=_waveforms(d.get("waveforms", {}), "waveforms"),
                  differential=_pairs(d.get("differential", []), "differential"),
                  rise=quantity(d.get("rise", 0.0), "time", "rise"),
                  prologue=_segment_list(d.get("prologue", []), "prologue"))
    if kind == "two_task":
        for k in ("alpha", "beta", "tau"):
            if k not in d:
                raise SpecError(k, "missing for a two_task protocol")
        for k in ("task", "passes"):
            if k in d:
                raise SpecError(k, "belongs to a cycling protocol, not two_task")
        return TwoTask(_task(d["alpha"], "alpha"), _task(d["beta"], "beta"), quantity(d["tau"], "time", "tau"),
                       _int(d.get("periods", 100), "periods"), **common)
    if kind == "cycling":
        if "task" not in d:
            raise SpecError("task", "missing for a cycling protocol")
        for k in ("alpha", "beta", "tau", "periods"):
            if k in d:
                raise SpecError(k, "belongs to a two_task protocol, not cycling")
        return Cycling(_task(d["task"], "task"), passes=_int(d.get("passes", 1), "passes"), **common)
    raise SpecError("kind", f"unknown protocol kind {kind!r} (two_task or cycling)")


def _pairs(x, key: str) -> list:
    """Differential outputs: a list of [O+, O-] node-name pairs."""
    if not isinstance(x, list) or not all(isinstance(p, list) and len(p) == 2 and all(isinstance(n, str) for n in p)
                                          for p in x):
        raise SpecError(key, f"expected a list of [O+, O-] node-name pairs, got {x!r}")
    return [tuple(p) for p in x]


def load_protocol(path, parameters: dict | None = None):
    return protocol_from_dict(merge(read(path), parameters or {}))


def _int(x, key):
    count(key, x)
    return x


def _imperfections(d: dict, circuit: Circuit) -> Imperfections:
    """The [imperfections] table; bias, bias_spread and noise_update act on θ and take the unit of
    the edges they reach (_theta_field)."""
    check_keys(d, {"bias", "bias_function", "A0_spread", "bias_spread", "mismatch", "output_offset", "noise_update",
                    "noise_read", "drainage"}, "imperfections")
    k = "imperfections"
    index = {e.name: i for i, e in enumerate(circuit.edges)}

    def bias(name, v):
        key = f"{k}.bias.{name}"
        if name not in index:
            raise SpecError(key, "no such edge")
        el, where = circuit.edges[index[name]].element, f"edges[{index[name]}] ({name})"
        need = _theta_field(el, "bias")
        return quantity(v, "voltage_rate", key) if need is None else _edge_quantity(v, *need, key, where, "bias")

    for table in ("bias", "drainage"):
        if not isinstance(d.get(table, {}), dict):
            raise SpecError(f"{k}.{table}", f"expected a table of edge = value, got {d[table]!r}")
    mm = d.get("mismatch", {})
    check_keys(mm, {"S", "VT", "capacitance"}, k + ".mismatch")
    for m, v in mm.items():
        if quantity(v, "voltage" if m == "VT" else "dimensionless", f"{k}.mismatch.{m}") < 0:
            raise SpecError(f"{k}.mismatch.{m}", f"a spread (σ) must be >= 0, got {v!r}")
    return Imperfections(
        bias={str(e): bias(str(e), v) for e, v in d.get("bias", {}).items()},
        bias_function=_value(d["bias_function"], str, k + ".bias_function") if "bias_function" in d else None,
        A0_spread=quantity(d.get("A0_spread", 0), "dimensionless", k + ".A0_spread"),
        bias_spread=_model_wide(d.get("bias_spread", 0), "bias_spread", k + ".bias_spread", circuit),
        mismatch={m: quantity(v, "voltage" if m == "VT" else "dimensionless", f"{k}.mismatch.{m}") for m, v in mm.items()},
        output_offset=_volts(d.get("output_offset", {}), k + ".output_offset"),
        noise_update=_model_wide(d.get("noise_update", 0), "noise_update", k + ".noise_update", circuit),
        noise_read=quantity(d.get("noise_read", 0), "voltage", k + ".noise_read"),
        drainage={str(e): quantity(v, "resistance", f"{k}.drainage.{e}") for e, v in d.get("drainage", {}).items()})


def run_from_dict(d: dict, base: Path = Path("."), name: str = "run") -> RunSpec:
    """The engine run a run spec's table describes (tdsim.runs.jobs reads every run spec, the
    outer-loop trainers' too, and hands engine runs here)."""
    check_keys(d, {"name", "description", "model", "protocol", "parameters", "twins", "imperfections", "seed",
                    "output", "simulation", "schedule"}, "")
    if "model" not in d:
        raise SpecError("model", "missing: path of a model TOML file (relative to the spec)")
    if not isinstance(d["model"], (str, dict)):
        raise SpecError("model", f"expected the path of a model TOML file or a [model] table, got {d['model']!r}")
    if isinstance(d["model"], str):
        model = read(base / d["model"])
        circuit = model_from_dict(model, Path(d["model"]).stem)
        circuit.validate(need_capacitance=False)
    else:
        model = d["model"]
        circuit = model_from_dict(model)
    resolved = {**d, "model": model}
    opt = options_from_dict(d.get("simulation", {}))
    tasks, differential = [], []
    if ("schedule" in d) == ("protocol" in d):
        raise SpecError("protocol", "give exactly one of 'protocol' (a protocol file) and 'schedule'")
    if "protocol" in d:
        proto = d["protocol"]
        if not isinstance(proto, (str, dict)):
            raise SpecError("protocol", f"expected the path of a protocol TOML file or a [protocol] table, "
                                        f"got {proto!r}")
        proto = read(base / proto) if isinstance(proto, str) else proto
        prot = protocol_from_dict(merge(proto, overrides(d.get("parameters", {}))))
        resolved["protocol"] = proto
        segments, tasks, differential = prot.segments(), prot.tasks, prot.differential
    else:
        if "parameters" in d:
            raise SpecError("parameters", "only with a protocol")
        if not isinstance(d["schedule"], dict):
            raise SpecError("schedule", f"expected a table ([schedule]), got {d['schedule']!r}")
        segments = _segments(d["schedule"])
        raw_tasks = d["schedule"].get("tasks", [])       # task errors at events, as for a protocol
        if not isinstance(raw_tasks, list):
            raise SpecError("schedule.tasks", f"expected a list of tasks ([[schedule.tasks]]), got {raw_tasks!r}")
        tasks = [_task(t, f"schedule.tasks[{i}]") for i, t in enumerate(raw_tasks)]
        differential = _pairs(d["schedule"].get("differential", []), "schedule.differential")
    twins = d.get("twins", ["free", "clamped"])
    if not isinstance(twins, list) or not all(isinstance(t, str) for t in twins) or len(set(twins)) != len(twins):
        raise SpecError("twins", f"expected a list of distinct twin names, e.g. [\"free\", \"clamped\"], got {twins!r}")
    seed = integer(d.get("seed", 0), "seed")
    return RunSpec(circuit, segments, opt, tuple(twins), _imperfections(d.get("imperfections", {}), circuit), seed,
                   default_output(d, base, name), d, tasks, differential, resolved)


def default_output(d: dict, base: Path, name: str) -> Path:
    """A run spec's store: ``output`` (relative to the spec), else ``out/<name>.zarr`` beside the
    spec. The name is a plain file name: no folders, no '..', so a default output never lands
    outside the spec's own out/ folder."""
    if "output" in d:
        if not isinstance(d["output"], str) or not d["output"].strip():
            raise SpecError("output", f"a path (a string), got {d['output']!r}")
        return base / d["output"]
    n = d.get("name", name)
    if not isinstance(n, str) or not n.strip() or n in (".", "..") or any(c in n for c in "/\\\0"):
        raise SpecError("name", f"must be a plain name (no '/', '\\', '..'), got {n!r}: it names the default "
                                "output out/<name>.zarr beside the spec")
    return base / "out" / f"{n}.zarr"


def load_run(path) -> RunSpec:
    path = Path(path)
    return run_from_dict(read(path), path.parent, path.stem)
