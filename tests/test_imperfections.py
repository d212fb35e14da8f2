"""Each imperfection against its analytic consequence, with the learning signal switched off
(η = 0: the clamped twin equals the free one, so Dillavou Eq. 3 gives exactly zero)."""
import numpy as np
import pytest

from tdsim import Options, Segment, SpecError

from tdsim import build

from tdsim import simulate
from tdsim.model.imperfections import Imperfections
from tdsim.model.protocols import Cycling, DataPoint, Task
from tdsim.compile.table import table
from tdsim.io.spec import protocol_from_dict
from tdsim.runs.jobs import run_from_dict

from helpers import two_plus_one

T_END = 20e-3


def run(imp, eta=0.0, n=20, integrator="quasistatic", G=(3.0, 3.5, 3.0), seed=0, **opt):
    comp = build(two_plus_one(G=G), imperfections=imp, seed=seed)
    segs = [Segment(T_END / n, {"V1": 0.435}, {"O": 0.31}, eta, True) for _ in range(n)]
    return comp, simulate(comp, table(segs, comp), Options(integrator=integrator, rtol=1e-10, atol=1e-12, **opt))


def test_zero_nudge_means_no_update():
    _, tr = run(Imperfections())
    assert np.array_equal(tr.event_theta[-1], tr.event_theta[0])


def test_constant_bias_drifts_linearly():
    _, tr = run(Imperfections(bias={"G1": -1.79, "G2": 0.68}))
    np.testing.assert_allclose(tr.event_theta[-1, :2] - [3.0, 3.5], np.array([-1.79, 0.68]) * T_END, rtol=1e-9)


def test_bias_function_relaxes_exponentially():
    """b(G) = -k (G - G0): G(t) = G0 + (G(0) - G0) exp(-k t)."""
    k, G0 = 200.0, 3.2
    _, tr = run(Imperfections(bias_function=f"-{k}*(G-{G0})"))
    t = tr.event_t
    for e, g0 in ((0, 3.0), (1, 3.5)):
        np.testing.assert_allclose(tr.event_theta[:, e], G0 + (g0 - G0) * np.exp(-k * t), rtol=1e-8)


def test_bias_function_from_python_and_expression_agree():
    import math
    def b(G, dvf, dvc):
        return 0.3 * math.sin(G) + 0.0 * dvf * dvc
    _, a = run(Imperfections(bias_function=b))
    _, s = run(Imperfections(bias_function="0.3*math.sin(G)"))
    np.testing.assert_array_equal(a.event_theta, s.event_theta)


def test_drainage_discharges_the_gate():
    Rd, C0 = 34e3, 2.2e-6                                     # App. E resistor, C0 of the 2+1 hardware
    comp, tr = run(Imperfections(drainage={"G1": Rd}))
    C0 = comp.circuit.edges[0].element.C0
    np.testing.assert_allclose(tr.event_theta[:, 0], 3.0 * np.exp(-tr.event_t / (Rd * C0)), rtol=1e-8)
    assert np.all(tr.event_theta[:, 1] == 3.5)


def test_gate_limits_hold_exactly():
    c = two_plus_one()
    c.edges[0].element.G_max = 3.01
    comp = build(c, imperfections=Imperfections(bias={"G1": 5.0}))
    segs = [Segment(1e-3, {"V1": 0.435}, {"O": 0.31}, 0.0, True) for _ in range(10)]
    tr = simulate(comp, table(segs, comp), Options(integrator="rosenbrock"))
    assert tr.event_theta[-1, 0] == 3.01 and np.all(tr.event_theta[:, 0] <= 3.01)


def test_A0_spread_is_seeded_with_the_requested_width():
    from tdsim.model.library import clln_lattice
    c = clln_lattice(20, 20)
    a = build(c, imperfections=Imperfections(A0_spread=0.1), seed=3)
    b = build(c, imperfections=Imperfections(A0_spread=0.1), seed=3)
    d = build(c, imperfections=Imperfections(A0_spread=0.1), seed=4)
    rel = a.A0 / c.A0 - 1
    assert np.array_equal(a.A0, b.A0) and not np.array_equal(a.A0, d.A0)
    assert abs(rel.std() - 0.1) < 0.1 * 4 / np.sqrt(2 * len(rel))       # 4 sigma of the std estimate


def test_bias_spread_is_seeded_per_learning_edge_and_adds_to_bias():
    from tdsim.model.library import clln_lattice
    c = clln_lattice(20, 20)
    c.edges[0].element.learn = False
    a = build(c, imperfections=Imperfections(bias_spread=2.0, bias={c.edges[1].name: 1.0}), seed=3)
    b = build(c, imperfections=Imperfections(bias_spread=2.0), seed=3)
    assert a.B[0] == 0.0 and a.B[1] - b.B[1] == 1.0 and np.array_equal(a.B[2:], b.B[2:])
    rel = b.B[1:]
    assert abs(rel.std() - 2.0) < 2.0 * 4 / np.sqrt(2 * len(rel)) and abs(rel.mean()) < 4 * 2.0 / np.sqrt(len(rel))
    assert not np.array_equal(b.B, build(c, imperfections=Imperfections(bias_spread=2.0), seed=4).B)


def test_output_offset_biases_learning_even_without_nudge():
    """With η = 0 the clamp still drives O_C = O_F + offset: ΔV_F² ≠ ΔV_C², so G moves; the
    sign of the drift flips with the sign of the offset (App. C 'voltage measurements')."""
    _, pos = run(Imperfections(output_offset={"O": 1e-3}))
    _, neg = run(Imperfections(output_offset={"O": -1e-3}))
    dp = pos.event_theta[-1, :2] - [3.0, 3.5]
    dn = neg.event_theta[-1, :2] - [3.0, 3.5]
    assert np.all(np.abs(dp) > 1e-6) and np.all(np.sign(dp) == -np.sign(dn))


def test_update_noise_is_a_seeded_random_walk_of_the_right_size():
    sigma, n = 0.05, 400                                       # V/√s; 400 kicks of t_h = 50 µs
    _, a = run(Imperfections(noise_update=sigma), n=n)
    _, b = run(Imperfections(noise_update=sigma), n=n)
    _, c = run(Imperfections(noise_update=sigma), n=n, seed=1)
    assert np.array_equal(a.event_theta, b.event_theta) and not np.array_equal(a.event_theta, c.event_theta)
    kicks = np.diff(a.event_theta[:, :2], axis=0).ravel()
    expected = sigma * np.sqrt(T_END / n)
    assert abs(kicks.std() / expected - 1) < 4 / np.sqrt(2 * kicks.size)   # 4 sigma
    assert abs(kicks.mean()) < 4 * expected / np.sqrt(kicks.size)


def test_read_noise_perturbs_learning_reproducibly():
    _, a = run(Imperfections(noise_read=1e-3))
    _, b = run(Imperfections(noise_read=1e-3))
    assert np.array_equal(a.event_theta, b.event_theta)
    assert np.abs(a.event_theta[-1, :2] - [3.0, 3.5]).max() > 1e-6


BASE = {"kind": "cycling", "t_h": "100 us", "passes": 2, "nudge": {"rule": "standard", "eta": 1.0},
        "task": {"points": [{"inputs": {"V1": "0.435 V"}, "labels": {"O": "0.31 V"}}]}}


@pytest.mark.parametrize("change, key", [
    ({"t_hh": "1 ms"}, "t_hh"),                                  # unknown key
    ({"t_h": "100"}, "t_h"),                                     # missing unit
    ({"t_h": "-1 ms"}, "t_h"),                                   # impossible value
    ({"nudge": {"rule": "overclamp", "eta": 0.25}}, "nudge.L0"), # impossible combination
    ({"nudge": {"rule": "clamp"}}, "nudge.rule"),
    ({"task": {"points": [{"inputs": {"V1": "0.4 V"}, "lables": {}}]}}, "task.points[0].lables"),
    ({"passes": 0}, "passes"),
    ({"kind": "three_task"}, "kind"),
])
def test_bad_protocols_name_the_key(change, key):
    with pytest.raises(SpecError) as exc:
        protocol_from_dict({**BASE, **change}).segments()
    assert exc.value.key.startswith(key), exc.value.key


def test_bad_imperfections_name_the_key(tmp_path):
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    base = {"model": str(root / "models" / "two_plus_one.toml"), "protocol": BASE}
    for imp, key in (({"bias": {"G9": "1 V/s"}}, "imperfections.bias.G9"),
                     ({"bias": {"G1": "1 V"}}, "imperfections.bias.G1"),
                     ({"noise_update": "1 mV"}, "imperfections.noise_update"),
                     ({"drainage": {"G1": "-3 kOhm"}}, "imperfections.drainage.G1"),
                     ({"bias_function": "G +* 2"}, "imperfections.bias_function"),
                     ({"biass": {}}, "imperfections.biass")):
        with pytest.raises(SpecError) as exc:
            spec = run_from_dict({**base, "imperfections": imp}, root)
            build(spec.circuit, spec.twins, spec.imperfections, spec.seed)
        assert exc.value.key == key, (exc.value.key, key)


_A0_OF = {"kappa": "1 S/(V^2*s)", "rho": "1 Ohm/(S^2*V^2*s)", "logkappa": "1 1/(S*V^2*s)"}
_SCHEDULE = {"segments": [{"duration": "1 ms", "learn": True}]}


def _divider(*params):
    """in (1 V) —k1— w —k2— gnd; edge k<i> a conductance with parametrization params[i-1], or a
    MOSFET gate where it is "mosfet"."""
    edges = []
    for i, (p, (a, b)) in enumerate(zip(params, [("in", "w"), ("w", "gnd")])):
        e = {"name": f"k{i + 1}", "a": a, "b": b}
        if p == "mosfet":
            e.update(element="mosfet", G="3 V", A0="2.8 1/(V*ms)")
        else:
            e.update(element="conductance", kappa="1 mS", parametrization=p, A0=_A0_OF[p])
        edges.append(e)
    return {"capacitance": "1 nF", "outputs": ["w"], "nodes": [{"name": "w"}],
            "sources": [{"node": "in", "kind": "voltage", "value": "1 V"}], "edges": edges}


def _run_spec(model, **imp):
    return run_from_dict({"model": model, "schedule": _SCHEDULE, "imperfections": imp})


@pytest.mark.parametrize("param, bias, spread, noise, si", [
    ("kappa", "2 mS/s", "1 uS/ms", "3 mS/s^0.5", (2e-3, 1e-3, 3e-3)),
    ("rho", "2 kOhm/s", "1 Ohm/ms", "3 kOhm/s^0.5", (2e3, 1e3, 3e3)),
    ("logkappa", "2 1/s", "1 1/ms", "3 1/s^0.5", (2.0, 1e3, 3.0)),
])
def test_conductance_bias_and_update_noise_units_follow_parametrization(param, bias, spread, noise, si):
    """bias and bias_spread add to dθ/dt and noise_update is the σ of a random walk on θ, so on a
    conductance they are in θ's unit per s and per √s: S/s, S/√s for κ; Ω/s, Ω/√s for ρ; 1/s,
    1/√s for log κ; converted to SI and applied to B."""
    spec = _run_spec(_divider(param, param), bias={"k1": bias}, bias_spread=spread, noise_update=noise)
    imp = spec.imperfections
    assert (imp.bias["k1"], imp.bias_spread, imp.noise_update) == pytest.approx(si, rel=1e-15)
    comp = build(spec.circuit, spec.twins, Imperfections(bias={"k1": imp.bias["k1"]}), spec.seed)
    assert comp.B[0] == pytest.approx(si[0], rel=1e-15) and comp.B[1] == 0.0


@pytest.mark.parametrize("param, needs", [("kappa", "S/s"), ("rho", "Ohm/s"), ("logkappa", "1/s")])
@pytest.mark.parametrize("field, value, suffix", [
    ("bias", {"k2": "1 V/s"}, ""), ("bias", {"k2": 0.5}, ""),
    ("bias_spread", "1 V/s", ""), ("noise_update", "1 V/s^0.5", "^0.5"), ("noise_update", 0.5, "^0.5")])
def test_mosfet_unit_or_no_unit_imperfection_on_conductance_refused(param, needs, field, value, suffix):
    """A MOSFET gate's V/s (V/√s), or a unit-less nonzero number, for a conductance's bias,
    bias_spread or noise_update is refused naming the field, an edge it acts on and its unit."""
    with pytest.raises(SpecError) as exc:
        _run_spec(_divider(param, param), **{field: value})
    key = "imperfections." + field + (".k2" if field == "bias" else "")
    assert exc.value.key == key
    msg = exc.value.message
    assert "edge edges[" in msg and f"parametrization {param!r}" in msg and field in msg, msg
    assert (needs + suffix) in msg, msg
    if field == "bias":
        assert "edges[1] (k2)" in msg, msg


def test_model_wide_imperfections_refused_on_mixed_learning_edges():
    """bias_spread and noise_update are one σ for every learning edge: a model whose learning
    edges have θ in different units (V and S) cannot take a nonzero one in any unit; 0 is
    accepted, a per-edge bias takes each edge's own unit, and an edge that does not learn
    does not count."""
    model = _divider("mosfet", "kappa")
    for field, value in (("bias_spread", "1 V/s"), ("bias_spread", "1 S/s"), ("noise_update", "1 V/s^0.5")):
        with pytest.raises(SpecError) as exc:
            _run_spec(model, **{field: value})
        assert exc.value.key == f"imperfections.{field}"
        msg = exc.value.message
        assert "different units" in msg and "edges[0] (k1)" in msg and "edges[1] (k2)" in msg, msg
    imp = _run_spec(model, bias_spread=0, noise_update="0 V/s^0.5",
                    bias={"k1": "1 V/s", "k2": "1 mS/s"}).imperfections
    assert (imp.bias_spread, imp.noise_update, imp.bias) == (0.0, 0.0, {"k1": 1.0, "k2": 1e-3})
    model["edges"][1]["learn"] = False
    assert _run_spec(model, bias_spread="2 V/s").imperfections.bias_spread == 2.0


def test_mosfet_imperfection_units_unchanged():
    """MOSFET gates keep bias and bias_spread in V/s and noise_update in V/√s; a conductance's
    unit for them is refused naming the edge and V/s."""
    model = _divider("mosfet", "mosfet")
    imp = _run_spec(model, bias={"k1": "-1.79 V/s"}, bias_spread="2 mV/ms", noise_update="2 mV/s^0.5").imperfections
    assert (imp.bias["k1"], imp.bias_spread, imp.noise_update) == pytest.approx((-1.79, 2.0, 2e-3), rel=1e-15)
    for field, value in (("bias", {"k1": "1 S/s"}), ("bias_spread", "1 S/s"), ("noise_update", "1 S/s^0.5")):
        with pytest.raises(SpecError) as exc:
            _run_spec(model, **{field: value})
        msg = exc.value.message
        assert "edge edges[0] (k1)" in msg and "MOSFET gate" in msg and \
            ("V/s^0.5" if field == "noise_update" else "needs " + field + " in V/s") in msg, msg


# A spec file never runs code: a bias expression is parsed into a syntax tree and checked against a
# whitelist (arithmetic, comparisons, conditional expressions, math functions on G, dvf, dvc)
# before anything is compiled. Each attempt below would create `pwned` in the test folder.
_ATTACKS = ('G\nimport os; os.system("touch {p}")',
            '__import__("os").system("touch {p}")',
            'open("{p}", "w").close() or 0.0',
            '(lambda: __import__("os").system("touch {p}"))()',
            'math.__loader__.load_module("os").system("touch {p}")',
            '[c for c in ().__class__.__base__.__subclasses__()][0]',
            'G if __import__("pathlib").Path("{p}").touch() else 0.0',
            'eval("1")',
            'G; __import__("os").system("touch {p}")',
            'G.__class__')


@pytest.mark.parametrize("attack", _ATTACKS)
def test_bias_expression_that_runs_code_is_refused_at_load(tmp_path, attack):
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    target = tmp_path / "pwned"
    spec = {"model": str(root / "models" / "two_plus_one.toml"), "protocol": BASE,
            "imperfections": {"bias_function": attack.format(p=target)}}
    with pytest.raises(SpecError) as exc:
        run_from_dict(spec, root)
    assert exc.value.key == "imperfections.bias_function"
    assert not target.exists()


def test_bias_expression_attack_through_the_cli_is_one_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    target = tmp_path / "pwned"
    (tmp_path / "spec.toml").write_text(
        f'model = "{root / "models" / "two_plus_one.toml"}"\nprotocol = "{root / "protocols" / "fig2b_two_task.toml"}"\n'
        f'[imperfections]\nbias_function = """__import__("os").system("touch {target}")"""\n')
    r = subprocess.run([sys.executable, "-m", "tdsim.cli", "run", str(tmp_path / "spec.toml"), "-q", "--no-figures"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode != 0 and not target.exists()
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "imperfections.bias_function" in r.stderr and "not allowed" in r.stderr


def test_whitelisted_bias_expressions_compute_what_they_say():
    """The checked expressions evaluate as Python would evaluate them (the reference)."""
    import math
    from tdsim.model.imperfections import compile_bias
    G, dvf, dvc = 3.0, 0.1, -0.2
    for expr, ref in (("-0.5*(G-3.5) + 2*dvf*dvc", -0.5 * (G - 3.5) + 2 * dvf * dvc),
                      ("0.3*math.sin(G) + exp(-G)", 0.3 * math.sin(G) + math.exp(-G)),
                      ("dvf**2 - dvc**2 if G > 2.5 else 0.0", dvf ** 2 - dvc ** 2),
                      ("max(G - 4, 0) + abs(dvc) * pi", max(G - 4, 0) + abs(dvc) * math.pi),
                      ("math.tanh(G) * (dvf < 0 or dvc < 0)", math.tanh(G))):
        assert compile_bias(expr).ctypes(G, dvf, dvc) == pytest.approx(ref, rel=1e-15, abs=1e-300)
