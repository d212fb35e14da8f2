"""κ reaching 0 under each rule (McGinnis §4, "Handling vanishing conductances"), and the force
nudge in protocol and run specs: parsing, errors that name the field, an end-to-end run."""
import numpy as np
import pytest

from tdsim import Circuit, Conductance, Options, Segment, SpecError, open_run

from tdsim import build

from tdsim import simulate
from tdsim.model.protocols import Cycling, DataPoint, Nudge, Task
from tdsim.runs.runner import run_spec
from tdsim.compile.table import table
from tdsim.io.spec import model_from_dict, protocol_from_dict
from tdsim.runs.jobs import run_from_dict

from tdsim.testing.laplacian import random_net


def divider(at_zero, param="kappa"):
    """in (1 V) —κ1— o —κ2— gnd; κ1 carries a downward bias B so it reaches 0 in finite time."""
    c = Circuit(capacitance=1e-6, A0=1e3)
    c.add_voltage_source("in", 1.0).add_node("o").add_output("o")
    c.add_edge("k1", "in", "o", Conductance(1.0, param, at_zero=at_zero), B=-100.0)
    c.add_edge("k2", "o", "gnd", Conductance(1.0, param))
    return c


def zero_run(at_zero):
    """Label 0 V for 10 ms (κ1 is driven to 0), then 1 V for 2 ms (the rule's rate at κ1 = 0 is
    A0 (1 − (1 − η)²) + B = +900 S/s: it would grow back)."""
    comp = build(divider(at_zero))
    segs = [Segment(10e-3, {}, {"o": 0.0}, 1.0, True), Segment(2e-3, {}, {"o": 1.0}, 1.0, True)]
    tr = simulate(comp, table(segs, comp), Options(integrator="quasistatic", rtol=1e-9, atol=1e-12,
                                                   record_interval=1e-4))
    return comp, tr


def test_reflecting_rule_holds_kappa_at_zero_then_lets_it_grow():
    comp, tr = zero_run("reflect")
    k1 = tr.theta[:, 0]
    assert k1.min() >= 0.0
    first_sample_of_seg2 = np.searchsorted(tr.t, 10e-3)
    hit = np.argmax(k1 == 0.0)
    assert 0 < hit < first_sample_of_seg2 - 5 and np.all(k1[hit:first_sample_of_seg2 + 1] == 0.0)
    assert tr.event_theta[0, 0] == 0.0 and tr.event_theta[1, 0] > 0.1


def test_removed_edge_stops_conducting_and_learning():
    comp, tr = zero_run("remove")
    assert tr.event_theta[0, 0] == 0.0 and tr.event_theta[1, 0] == 0.0     # removed for good
    o = comp.node_names.index("o")
    assert abs(tr.event_V[1, 0, o]) < 1e-12           # o sees only κ2 to ground: no current via κ1
    assert tr.event_theta[1, 1] != tr.event_theta[0, 1]   # the remaining edge still learns


def test_crossing_rule_lets_kappa_go_negative():
    _, tr = zero_run("cross")
    assert tr.event_theta[0, 0] < -0.01


def test_zero_rule_errors_name_the_field():
    with pytest.raises(SpecError, match="at_zero") as e:
        build(divider("bounce"))
    assert "at_zero" in e.value.key
    with pytest.raises(SpecError, match="short circuit"):
        build(divider("remove", "rho"))
    with pytest.raises(SpecError, match="at_zero"):
        model_from_dict({"nodes": [{"name": "o"}], "sources": [{"node": "i", "kind": "voltage", "value": "1 V"}],
                         "edges": [{"a": "i", "b": "o", "element": "conductance", "kappa": "1 mS",
                                    "at_zero": "bounce"}], "capacitance": "1 nF"}).validate()


PROTOCOL = {"kind": "cycling", "passes": 2, "t_h": "1 ms",
            "nudge": {"rule": "force", "beta": "0.2 S"},
            "task": {"points": [{"inputs": {"s0": "0.8 V"}, "labels": {"o0": "0.3 V", "o1": "0.1 V"}}]}}


def test_force_nudge_in_a_protocol_spec():
    prot = protocol_from_dict(PROTOCOL)
    segs = prot.segments()
    assert all(s.nudge == "force" and s.beta == 0.2 for s in segs)
    for rule, key in (("forse", "nudge.rule"),):
        with pytest.raises(SpecError) as e:
            protocol_from_dict({**PROTOCOL, "nudge": {"rule": rule, "beta": "1 S"}})
        assert e.value.key == key
    bad = [({"rule": "force"}, "nudge.beta"), ({"rule": "force", "beta": "1 S", "eta": 0.5}, "nudge.eta"),
           ({"rule": "standard", "beta": "1 S"}, "nudge.beta"), ({"rule": "force", "beta": "1 V"}, "nudge.beta")]
    for nudge, key in bad:
        with pytest.raises(SpecError) as e:
            protocol_from_dict({**PROTOCOL, "nudge": nudge})
        assert e.value.key == key, (nudge, e.value)


def test_force_segments_need_force_twins():
    net = random_net(1)
    clamp = build(net.circuit, ("free", "clamped"))
    with pytest.raises(SpecError, match="force_nudge=True"):
        table([Segment(1e-3, nudge="force", beta=0.1)], clamp)
    force = build(net.circuit, ("free", "nudged"), force_nudge=True)
    with pytest.raises(SpecError, match="built for the force nudge"):
        table([Segment(1e-3, eta=0.5)], force)
    with pytest.raises(SpecError) as e:
        table([Segment(1e-3, nudge="force", beta=-1.0)], force)
    assert e.value.key == "segments[0].beta"
    with pytest.raises(SpecError) as e:
        table([Segment(1e-3, nudge="force", beta=0.1)], force, differential=[("o0", "o1")])
    assert e.value.key == "differential"


def test_force_run_spec_end_to_end(tmp_path):
    """A run spec with an EP protocol builds free-output twins and stores the same θ as simulate."""
    net = random_net(1)
    model = {"capacitance": "1 uF", "A0": "1000 S/(V^2*s)",
             "nodes": [{"name": n} for n in net.circuit.nodes],
             "sources": [{"node": n, "kind": "voltage", "value": f"{s.value} V"} for n, s in net.circuit.sources.items()],
             "edges": [{"name": e.name, "a": e.a, "b": e.b, "element": "conductance", "kappa": f"{e.element.kappa} S"}
                       for e in net.circuit.edges],
             "outputs": list(net.circuit.outputs)}
    spec = run_from_dict({"model": model, "protocol": PROTOCOL, "twins": ["free", "plus", "minus"],
                          "simulation": {"integrator": "quasistatic", "rtol": 1e-9}})
    assert spec.force_nudge
    path, _ = run_spec(spec, tmp_path / "ep.zarr", progress=False)
    ds = open_run(path)
    comp = build(net.circuit, ("free", "plus", "minus"), force_nudge=True)
    prot = Cycling(Task("t", [DataPoint({"s0": 0.8}, {"o0": 0.3, "o1": 0.1})]), passes=2, t_h=1e-3,
                   nudge=Nudge("force", beta=0.2))
    tr = simulate(comp, table(prot.segments(), comp), Options(integrator="quasistatic", rtol=1e-9))
    stored = ds["event_theta"].values if "event_theta" in ds else None
    assert stored is not None, list(ds.data_vars)
    assert np.allclose(stored[-1], tr.event_theta[-1], rtol=0, atol=1e-12)
    assert np.max(np.abs(tr.event_theta[-1] - comp.theta0)) > 1e-3


def test_divider_ep_run_spec_loads():
    from pathlib import Path
    from tdsim.runs.jobs import load_run
    spec = load_run(Path(__file__).parent.parent / "runs" / "divider_ep.toml")
    assert spec.force_nudge and len(spec.segments) == 400 and spec.segments[0].beta == 1e-4
    assert all(e.element.at_zero == "remove" for e in spec.circuit.edges)
