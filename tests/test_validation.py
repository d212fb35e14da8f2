"""Bad input fails before any work starts, naming the offending key, node or edge; a run that
goes numerically wrong stops, says where and when, and keeps what it recorded."""
import math
import re
import textwrap

import numpy as np
import pytest

from tdsim import Circuit, Conductance, Mosfet, Options, Resistor, Segment, SimulationError, SpecError

from tdsim import build

from tdsim import simulate
from tdsim.compile.table import table
from tdsim.io.spec import load_model, model_from_dict
from tdsim.runs.jobs import load_run
from tdsim.model.units import example

from helpers import two_plus_one

GOOD = {
    "capacitance": "1 nF",
    "sources": [{"node": "in", "kind": "voltage", "value": "1 V"}],
    "nodes": [{"name": "a"}],
    "edges": [{"name": "r1", "a": "in", "b": "a", "element": "resistor", "R": "1 kOhm"},
              {"name": "r2", "a": "a", "b": "gnd", "element": "resistor", "R": "2 kOhm"}],
}


def variant(**changes):
    d = {k: (list(v) if isinstance(v, list) else v) for k, v in GOOD.items()}
    d["edges"] = [dict(e) for e in GOOD["edges"]]
    for path, value in changes.items():
        d_, *rest = path.split("__")
        if rest:
            d["edges"][int(rest[0])][rest[1]] = value
        else:
            d[d_] = value
    return d


def rejects(d, *needles):
    with pytest.raises(SpecError) as exc:
        c = model_from_dict(d)
        c.validate()
    for n in needles:
        assert n in str(exc.value), str(exc.value)


def test_good_model_loads():
    c = model_from_dict(variant())
    c.validate()
    assert c.edges[0].element.R == 1e3 and c.capacitance == 1e-9


def test_unknown_element_named():
    rejects(variant(edges__0__element="memristor"), "edges[0]", "element", "memristor")


def test_unknown_key_named():
    rejects(variant(edges__1__Rr="1 kOhm"), "edges[1] (r2).Rr", "unknown key")
    rejects(variant(capacitence="1 nF"), "capacitence")


def test_missing_unit_named():
    rejects(variant(edges__0__R=1000), "edges[0] (r1).R", "missing unit")
    rejects(variant(capacitance="1"), "capacitance", "missing unit")


def test_wrong_unit_named():
    rejects(variant(edges__0__R="1 kV"), "edges[0] (r1).R", "not a resistance")


def test_impossible_values_named():
    rejects(variant(edges__0__R="-1 kOhm"), "edge 'r1'.R", "> 0")
    rejects(variant(capacitance="0 F"), "capacitance")
    rejects(variant(edges__0__R="nan kOhm"), "edges[0] (r1).R", "finite")


def test_duplicate_names():
    rejects(variant(edges__1__name="r1"), "edge 'r1'", "duplicate")
    c = Circuit()
    c.add_node("a")
    with pytest.raises(SpecError, match="node 'a'.*duplicate"):
        c.add_node("a")


def test_floating_node_named():
    d = variant()
    d["nodes"] = [{"name": "a"}, {"name": "island"}, {"name": "island2"}]
    d["edges"] = d["edges"] + [{"name": "r3", "a": "island", "b": "island2", "element": "resistor", "R": "1 kOhm"}]
    rejects(d, "node 'island'", "no conducting path")


def test_undeclared_endpoint_named():
    rejects(variant(edges__1__b="gdn"), "edge 'r2'", "'gdn'")


def test_nonpositive_capacitance_named():
    c = Circuit()
    c.add_voltage_source("in", 1.0).add_node("a", -1e-9).add_edge("r", "in", "a", Resistor(1e3))
    with pytest.raises(SpecError, match="node 'a'.capacitance"):
        c.validate()
    c2 = Circuit()
    c2.add_voltage_source("in", 1.0).add_node("a").add_edge("r", "in", "a", Resistor(1e3))
    with pytest.raises(SpecError, match="node 'a'.capacitance.*needed"):
        build(c2)


def test_gate_outside_limits_named():
    c = two_plus_one()
    c.edges[0].element.G = 12.0
    with pytest.raises(SpecError, match="edge 'G1'.G"):
        build(c)


def test_bad_segment_named():
    comp = build(two_plus_one())
    with pytest.raises(SpecError, match=r"segments\[1\].sources.V2"):
        table([Segment(1e-3), Segment(1e-3, {"V2": 0.1})], comp)
    with pytest.raises(SpecError, match=r"segments\[0\].duration"):
        table([Segment(-1.0)], comp)
    with pytest.raises(SpecError, match=r"segments\[0\].labels.X"):
        table([Segment(1e-3, labels={"X": 0.1})], comp)


def test_run_spec_unknown_key_and_option(tmp_path):
    model = tmp_path / "m.toml"
    model.write_text(textwrap.dedent("""
        capacitance = "1 nF"
        outputs = ["a"]
        [[sources]]
        node = "in"
        kind = "voltage"
        value = "1 V"
        [[nodes]]
        name = "a"
        [[edges]]
        a = "in"
        b = "a"
        element = "resistor"
        R = "1 kOhm"
    """))
    spec = tmp_path / "r.toml"
    base = 'model = "m.toml"\n[schedule]\n[[schedule.segments]]\nduration = "1 ms"\n'
    spec.write_text(base)
    load_run(spec)
    spec.write_text(base.replace('model = "m.toml"\n', 'model = "m.toml"\n[simulation]\nintegrator = "euler"\n'))
    with pytest.raises(SpecError, match="integrator"):
        load_run(spec)
    spec.write_text(base + 'durration = "1 ms"\n')
    with pytest.raises(SpecError, match=r"schedule.segments\[0\].durration"):
        load_run(spec)
    spec.write_text(base.replace('"1 ms"', '"1"'))
    with pytest.raises(SpecError, match=r"schedule.segments\[0\].duration.*missing unit"):
        load_run(spec)


def test_model_library_files_load():
    from pathlib import Path
    for f in sorted((Path(__file__).parent.parent / "models").glob("*.toml")):
        load_model(f)


def test_nan_stops_with_time_and_edge_and_keeps_records():
    """A conductance driven up by a huge bias makes the explicit step unstable: the voltages blow up.
    The reported time is that of the last finite state."""
    c = Circuit(capacitance=1e-9)
    c.add_voltage_source("in", 1.0).add_node("a").add_output("a")
    c.add_edge("runaway", "in", "a", Conductance(1e-3), B=1e8)
    c.add_edge("leak", "a", "gnd", Resistor(1e3))
    comp = build(c, twins=("free",))
    tab = table([Segment(1e-3, learn=True)], comp)
    with pytest.raises(SimulationError) as exc:
        simulate(comp, tab, Options(integrator="explicit", dt=1e-7, record_interval=1e-6))
    err = exc.value
    assert math.isfinite(err.time) and 0 < err.time < 1e-3
    assert "runaway" in str(err) or "'a'" in str(err)
    tr = err.trajectory
    assert len(tr.t) >= 1 and np.all(np.isfinite(tr.V)) and tr.t[-1] <= err.time


def test_errors_survive_pickling():
    """Sweep workers send errors to the driver by pickle: the named field and the time must arrive intact."""
    import pickle
    e = pickle.loads(pickle.dumps(SpecError("edges.G1.S", "must be positive")))
    assert (type(e), e.key, str(e)) == (SpecError, "edges.G1.S", "edges.G1.S: must be positive")
    s = pickle.loads(pickle.dumps(SimulationError("NaN", 0.25, "edge G1")))
    assert (s.time, s.where, str(s)) == (0.25, "edge G1", "NaN at t = 0.25 s in edge G1")


def _learning_model(A0, element="conductance", where="model", **fields):
    """in —e1— a —r2— gnd, e1 a learning edge; A0 given at model level or on e1."""
    d = variant()
    e1 = {"name": "e1", "a": "in", "b": "a", "element": element, **fields}
    d["edges"][0] = e1
    (d if where == "model" else e1)["A0"] = A0
    return d


@pytest.mark.parametrize("where", ["model", "edge"])
@pytest.mark.parametrize("param, unit, si", [
    ("kappa", "2 S/(V^2*s)", 2.0),
    ("kappa", "2 mS/(V^2*ms)", 2.0),
    ("rho", "2 Ohm/(S^2*V^2*s)", 2.0),
    ("logkappa", "2 1/(S*V^2*ms)", 2e3),
])
def test_conductance_A0_unit_follows_parametrization(where, param, unit, si):
    """A conductance's A0 has the unit its rule dθ/dt = A0 f(θ) ΔV² needs (kernels.kappa_factor):
    S/(V² s) for κ, Ω/(S² V² s) for ρ, 1/(S V² s) for log κ, converted to SI; without a unit it
    is refused, naming the edge and that unit."""
    fields = {"kappa": "1 mS", "parametrization": param}
    c = model_from_dict(_learning_model(unit, where=where, **fields))
    c.validate()
    A0 = c.A0 if where == "model" else c.edges[0].A0
    assert A0 == pytest.approx(si, rel=1e-15)
    with pytest.raises(SpecError, match=r"missing unit: edge edges\[0\] \(e1\).*" + re.escape(example(
            {"kappa": "learning_rate_kappa", "rho": "learning_rate_rho", "logkappa": "learning_rate_logkappa"}[param]))):
        model_from_dict(_learning_model(si, where=where, **fields))
    assert build(c, ("free",)).A0[0] == pytest.approx(si, rel=1e-15)


@pytest.mark.parametrize("where, key", [("model", "A0"), ("edge", "edges[0] (e1).A0")])
@pytest.mark.parametrize("param, expected", [("kappa", "S/(V^2*s)"), ("rho", "Ohm/(S^2*V^2*s)"),
                                             ("logkappa", "1/(S*V^2*s)")])
def test_conductance_A0_in_mosfet_unit_refused_naming_edge(where, key, param, expected):
    """1/(V s) is a MOSFET gate's learning rate; on a conductance it is refused, naming the edge
    and the unit it needs."""
    with pytest.raises(SpecError) as exc:
        model_from_dict(_learning_model("2 1/(V*s)", where=where, kappa="1 mS", parametrization=param))
    assert exc.value.key == key
    msg = str(exc.value)
    assert "edges[0] (e1)" in msg and expected in msg and "1/(V*s)" in msg, msg


def test_mosfet_A0_unit_unchanged():
    """A MOSFET gate keeps A0 in 1/(V s) (dG/dt = A0 ΔV²), at model level and per edge; the
    conductance unit is refused for it; a model-level A0 is not checked against a conductance
    that does not learn."""
    for where in ("model", "edge"):
        c = model_from_dict(_learning_model("2.8 1/(V*ms)", "mosfet", where, G="3 V"))
        c.validate()
        assert (c.A0 if where == "model" else c.edges[0].A0) == pytest.approx(2.8e3, rel=1e-15)
        with pytest.raises(SpecError, match=r"edges\[0\] \(e1\).*1/\(V\*s\)"):
            model_from_dict(_learning_model("2 S/(V^2*s)", "mosfet", where, G="3 V"))
    d = _learning_model("2.8 1/(V*ms)", "mosfet", G="3 V")
    d["edges"][1] = {"name": "k2", "a": "a", "b": "gnd", "element": "conductance", "kappa": "1 mS", "learn": False}
    assert model_from_dict(d).A0 == pytest.approx(2.8e3, rel=1e-15)
    d["edges"][1]["learn"] = True
    with pytest.raises(SpecError, match=r"edges\[1\] \(k2\)"):
        model_from_dict(d)


_A0_OF = {"kappa": "1 S/(V^2*s)", "rho": "1 Ohm/(S^2*V^2*s)", "logkappa": "1 1/(S*V^2*s)"}


@pytest.mark.parametrize("param, fields, si", [
    ("kappa", {"theta_min": "0.1 mS", "theta_max": "5 mS", "B": "2 mS/s"}, (1e-4, 5e-3, 2e-3)),
    ("rho", {"theta_min": "10 Ohm", "theta_max": "2 kOhm", "B": "3 kOhm/s"}, (10.0, 2e3, 3e3)),
    ("logkappa", {"theta_min": -9, "theta_max": "-2", "B": "2 1/ms"}, (-9.0, -2.0, 2e3)),
])
@pytest.mark.parametrize("in_defaults", [False, True])
def test_conductance_theta_limits_and_B_unit_follow_parametrization(param, fields, si, in_defaults):
    """θ_min, θ_max bound θ and B adds to dθ/dt (kernels.gate_rates, clip_gates), so they are in
    θ's unit and θ's unit per second: S and S/s for κ, Ω and Ω/s for ρ, none and 1/s for log κ
    (a bare number for log κ's limits), converted to SI, also from [defaults.conductance]."""
    if in_defaults:     # parametrization and limits from the defaults, B on the edge
        d = _learning_model(_A0_OF[param], kappa="1 mS", B=fields["B"])
        d["defaults"] = {"conductance": {"parametrization": param,
                                         **{k: v for k, v in fields.items() if k != "B"}}}
    else:
        d = _learning_model(_A0_OF[param], kappa="1 mS", parametrization=param, **fields)
    c = model_from_dict(d)
    c.validate()
    el, e = c.edges[0].element, c.edges[0]
    assert (el.theta_min, el.theta_max, e.B) == pytest.approx(si, rel=1e-15)
    comp = build(c, ("free",))
    assert (comp.gmin[0], comp.gmax[0], comp.B[0]) == pytest.approx(si, rel=1e-15)


@pytest.mark.parametrize("param, field, value, needs", [
    ("kappa", "B", "1 V/s", "needs B in S/s"),
    ("rho", "B", "1 V/s", "needs B in Ohm/s"),
    ("logkappa", "B", "1 V/s", "needs B in 1/s"),
    ("kappa", "theta_min", "1 V", "needs theta_min in S"),
    ("rho", "theta_max", "1 V", "needs theta_max in Ohm"),
    ("logkappa", "theta_max", "1 V", "needs theta_max without a unit"),
    ("kappa", "theta_max", 0.5, "whose theta_max needs one, e.g. \"0.5 S\""),
    ("rho", "B", 2, "whose B needs one, e.g. \"2 Ohm/s\""),
])
def test_conductance_theta_field_in_mosfet_unit_refused_naming_edge(param, field, value, needs):
    """A MOSFET gate's unit (V, V/s) on a conductance, or a unit-less nonzero number where θ has a
    unit, is refused naming the edge, the field and the unit it needs."""
    with pytest.raises(SpecError) as exc:
        model_from_dict(_learning_model(_A0_OF[param], kappa="1 mS", parametrization=param, **{field: value}))
    assert exc.value.key == f"edges[0] (e1).{field}"
    msg = exc.value.message
    assert "edge edges[0] (e1)" in msg and f"parametrization {param!r}" in msg and needs in msg, msg


def test_mosfet_B_and_gate_limits_unchanged():
    """A MOSFET gate keeps B in V/s and G_min, G_max in V; a conductance's unit for B is refused
    for it, naming the edge and V/s."""
    c = model_from_dict(_learning_model("2.8 1/(V*ms)", "mosfet", G="3 V", B="-1.79 V/s", G_min="1 V",
                                        G_max="8000 mV"))
    assert (c.edges[0].B, c.edges[0].element.G_min, c.edges[0].element.G_max) == pytest.approx((-1.79, 1.0, 8.0))
    with pytest.raises(SpecError) as exc:
        model_from_dict(_learning_model("2.8 1/(V*ms)", "mosfet", G="3 V", B="1 S/s"))
    assert exc.value.key == "edges[0] (e1).B"
    assert "edge edges[0] (e1)" in exc.value.message and "MOSFET gate" in exc.value.message \
        and "needs B in V/s" in exc.value.message, exc.value.message
    rejects(_learning_model("2.8 1/(V*ms)", "mosfet", G="3 V", B=1.5), "edges[0] (e1).B", "missing unit")


def test_model_A0_without_learning_edges_must_be_a_learning_rate():
    assert model_from_dict(variant(A0="1 S/(V^2*s)")).A0 == 1.0
    rejects(variant(A0="1 V"), "A0", "not a learning rate")
    rejects(variant(A0=2800), "A0", "missing unit")


_TINY_SEGMENT = """
import sys
sys.path.insert(0, "tests")
from tdsim import Options, Segment, SimulationError
from tdsim import build
from tdsim import simulate
from tdsim.compile.table import table
from helpers import two_plus_one
comp = build(two_plus_one(capacitance=1e-15), ("free", "clamped"))       # RC ~ 1e-12 s: stiff
out = []
for d in (1e-15, 1e-14, 3e-14):
    segs = [Segment(100.0, {"V1": 0.435}, {"O": 0.31}, 1.0, False),
            Segment(d, {"V1": 0.02}, {"O": 0.14}, 1.0, True),
            Segment(1e-3, {"V1": 0.435}, {"O": 0.31}, 1.0, True)]
    try:
        tr = simulate(comp, table(segs, comp), Options(integrator="rosenbrock"))
        out.append(repr((d, "ok", [float(t) for t in tr.event_t])))
    except SimulationError as e:
        out.append(repr((d, "error", str(e))))
print("\\n".join(out))
"""


def test_segment_shorter_than_time_resolution_at_late_time():
    """At t = 100 s one ulp of t is 1.4e-14 s. A segment of 1e-14 s there (an overclamping step time
    r0|δ| can be that short) ended at t + 1 ulp; on a stiff circuit the controller's landing step
    of 1 ulp was rejected, the shorter retry rounded back onto the same landing step, and the run
    looped for ever (t fixed, h never below h_min = 1e-16). Now a segment shorter than 4 ulp of t
    ends at once and no step is shorter than max(h_min, 4 ulp(t)): the run ends (or fails naming
    the time). Run in a subprocess: a compiled endless loop cannot be interrupted in-process."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    try:
        p = subprocess.run([sys.executable, "-c", _TINY_SEGMENT], capture_output=True, text=True,
                           timeout=300, env=env, cwd=root)
    except subprocess.TimeoutExpired:
        pytest.fail("the run with a 1e-14 s segment at t = 100 s did not end (stalled step control)")
    assert p.returncode == 0, p.stderr[-2000:]
    import ast
    results = [ast.literal_eval(line) for line in p.stdout.strip().splitlines()]
    assert [r[0] for r in results] == [1e-15, 1e-14, 3e-14]
    for d, kind, ev in results:
        assert kind == "ok", (d, ev)
        assert ev[0] == 100.0 and 100.0 <= ev[1] <= 100.0 + 4 * 1.5e-14 and ev[2] == pytest.approx(100.001, abs=1e-12)


def test_rodas4_refuses_a_reused_w():
    """rodas4 is a classical Rosenbrock method: a W held over steps is not its Jacobian, so
    w_reuse > 1 is refused by name instead of silently losing the order."""
    from tdsim import Options
    with pytest.raises(SpecError, match="w_reuse"):
        Options(integrator="rodas4", w_reuse=4).validate()
    Options(integrator="rodas4", w_reuse=1).validate()
    Options(integrator="rosenbrock", w_reuse=4).validate()
