"""Analysis of stored runs and the linear bias theory (Dillavou App. A, D, E) against independent
references: numpy Laplacian solves, scipy integration of the linear ODE, and full simulations."""
import copy
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from tdsim.analysis import stats as an
from tdsim import open_run
from tdsim.compile.build import build
from tdsim.model.protocols import DataPoint, Nudge, Task
from tdsim.runs.runner import run_spec
from tdsim.runs.jobs import load_run, run_from_dict
from tdsim.analysis.theory import BiasTheory, TaskField, drift_rate, infer_bias

ROOT = Path(__file__).resolve().parent.parent
TAU = {"2 ms": 2e-3, "20 ms": 20e-3, "200 ms": 0.2}


@pytest.fixture(scope="module")
def base():
    return load_run(ROOT / "runs" / "two_plus_one.toml")


@pytest.fixture(scope="module")
def theory(base):
    return BiasTheory(base, center=[3.9, 3.2])


def _run(spec_dict, tmp_path, name):
    path, _ = run_spec(run_from_dict(spec_dict), tmp_path / f"{name}.zarr", progress=False)
    return open_run(path)


def _two_task(base, tau, integrator="quasistatic", bias=True, capacitance=None, periods=3000):
    d = copy.deepcopy(base.resolved)
    d["parameters"] = {"tau": tau, "periods": periods}
    d["simulation"] = {"integrator": integrator, "record_interval": "0 s", "cycle_tol": "1 nV",
                       "rtol": 1e-8, "atol": "1 pV"}
    if not bias:
        d["imperfections"] = {}
    if capacitance:
        d["model"]["capacitance"] = capacitance
    return d


def test_loglog_fit_and_plateaus_recover_a_known_curve():
    x = np.logspace(-4, 3, 36)
    y = 0.002 * x / (1 + x / 5) + 1e-4           # plateau 1e-4, slope 1 in between, plateau 0.01
    fit = an.loglog_fit(x, y - 1e-4, x_max=0.05)
    assert fit.slope == pytest.approx(1.0, abs=0.03) and fit.stderr < 0.02
    exact = an.loglog_fit(x, 3 * x ** 1.5)
    assert exact.slope == pytest.approx(1.5, rel=1e-12) and 10 ** exact.intercept == pytest.approx(3, rel=1e-12)
    assert an.plateau(x, y, "low", rel=0.1).level == pytest.approx(1e-4, rel=0.1)
    assert an.plateau(x, y, "high", rel=0.1).level == pytest.approx(0.0101, rel=0.1)
    assert an.plateau(x, y, "high", rel=0.1).x_min > 10
    with pytest.raises(ValueError):
        an.loglog_fit(x[:2], y[:2])


def test_conserved_mass_follows_the_parametrization():
    th = np.array([[1.0, 2.0, 3.0]])
    assert an.conserved_mass(th, "kappa")[0] == 7.0
    assert an.conserved_mass(th, ["kappa", "rho", "logkappa"])[0] == 0.5 * (1 + 4) + 3


def test_task_drift_jacobian_is_gamma_times_the_contrastive_hessian():
    """Dillavou App. D: M = γ ∂²C/∂G² with C = P_C − P_F (P = Σ κ ΔV²). Linear conductances
    (γ = A0), a task of two points, η = 1: the reference Hessian is central second differences of
    C from numpy Laplacian solves."""
    from tdsim import Circuit, Conductance
    A0 = 50.0
    c = Circuit(capacitance=1e-9, A0=A0)
    c.add_voltage_source("in1", 0.0).add_voltage_source("in2", 0.0)
    c.add_node("h").add_node("O").add_output("O")
    edges = [("in1", "h"), ("in2", "h"), ("h", "O"), ("in1", "O"), ("O", "gnd"), ("h", "gnd")]
    kappa = np.array([1.0, 0.7, 1.3, 0.4, 0.9, 0.6]) * 1e-3
    for i, ((a, b), k) in enumerate(zip(edges, kappa)):
        c.add_edge(f"e{i}", a, b, Conductance(float(k)))
    points = [DataPoint({"in1": 1.0, "in2": 0.2}, {"O": 0.45}), DataPoint({"in1": 0.1, "in2": 0.8}, {"O": 0.3})]
    cc = build(c, ("free", "clamped"))
    field = TaskField(cc, Task("a", points), Nudge("standard", 1.0), 1e-4, cc.theta0)
    M = -field.jacobian(kappa, h=1e-7)

    names = ["gnd", "in1", "in2", "h", "O"]

    def power(k, fixed):
        V = np.zeros(5)
        for n, v in fixed.items():
            V[names.index(n)] = v
        free = [i for i in range(1, 5) if names[i] not in fixed]
        Lap = np.zeros((5, 5))
        for (a, b), g in zip(edges, k):
            i, j = names.index(a), names.index(b)
            Lap[i, i] += g; Lap[j, j] += g; Lap[i, j] -= g; Lap[j, i] -= g
        known = [i for i in range(5) if i not in free]
        V[free] = np.linalg.solve(Lap[np.ix_(free, free)], -Lap[np.ix_(free, known)] @ V[known])
        return sum(g * (V[names.index(a)] - V[names.index(b)]) ** 2 for (a, b), g in zip(edges, k))

    def C(k):
        return np.mean([power(k, {"gnd": 0, **p.inputs, **p.labels}) - power(k, {"gnd": 0, **p.inputs})
                        for p in points])

    n, h = len(kappa), 1e-6
    H = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            di, dj = np.eye(n)[i] * h, np.eye(n)[j] * h
            H[i, j] = (C(kappa + di + dj) - C(kappa + di - dj) - C(kappa - di + dj) + C(kappa - di - dj)) / (4 * h * h)
    assert np.max(np.abs(M - A0 * H)) < 1e-5 * np.max(np.abs(A0 * H))


@pytest.mark.parametrize("linearize", ["solution", "center"])
def test_closed_orbit_is_a_periodic_solution_of_the_linear_dynamics(base, theory, linearize):
    """Eq. D11's Ḡ0 against scipy: integrating the linear dynamics (Eq. D2 at G*, or the affine
    expansion at the orbit centre) for task α then β from Ḡ0 returns to Ḡ0."""
    th = theory if linearize == "solution" else BiasTheory(base, center=[3.9, 3.2], linearize="center")
    if linearize == "solution":             # the paper's form: dG/dt = −M(G − G*) + B
        for mu in (0, 1):
            assert np.allclose(th.drive[mu], th.M[mu] @ th.G_star[mu] + th.B, rtol=1e-14)
    for tau in (0.02, 0.5):
        o = th.orbit(tau)

        def rhs(mu):
            return lambda t, G: -th.M[mu] @ G + th.drive[mu]
        a = solve_ivp(rhs(0), (0, tau / 2), o.G0, method="Radau", rtol=1e-11, atol=1e-13).y[:, -1]
        b = solve_ivp(rhs(1), (0, tau / 2), a, method="Radau", rtol=1e-11, atol=1e-13).y[:, -1]
        assert np.max(np.abs(a - o.G_half)) < 1e-8
        assert np.max(np.abs(b - o.G0)) < 1e-8


def test_linear_theory_matches_simulation_at_small_tau(base, theory, tmp_path):
    """Issue: at small τ the theory and the (quasi-static) simulation agree within 10% on Ē and D,
    and D ∝ τ. Measured: linearized at G* (the paper), D within 0.5% and Ē within 7% (the orbit
    sits ~0.16 V from G*); linearized at the orbit centre, both within 0.1%."""
    centre = BiasTheory(base, center=[3.9, 3.2], linearize="center")
    D = {}
    for tau in ("2 ms", "20 ms", "200 ms"):
        ds = _run(_two_task(base, tau), tmp_path, tau.replace(" ", ""))
        lc = an.limit_cycle(ds)
        assert lc.reached and lc.engine_converged
        o = theory.orbit(TAU[tau])
        D[tau] = an.cycle_span(ds)
        if tau != "200 ms":
            assert D[tau] == pytest.approx(o.D, rel=0.02)
            assert an.combined_error(ds) == pytest.approx(o.E_bar, rel=0.10)
            oc = centre.orbit(TAU[tau])
            assert D[tau] == pytest.approx(oc.D, rel=2e-3)
            assert an.combined_error(ds) == pytest.approx(oc.E_bar, rel=5e-3)
    fit = an.loglog_fit(list(TAU.values()), [D[k] for k in TAU])
    assert fit.slope == pytest.approx(1.0, abs=0.02)


def test_unbiased_compatible_tasks_vanish_quasistatically_and_keep_an_rc_floor(base, tmp_path):
    """B = 0, compatible tasks: quasi-statically the system settles at G* (Ē, D → 0); with finite
    node capacitance the settling transient after each switch leaves a cycle ∝ RC (D ∝ C, Ē ∝ C²)."""
    ds = _run(_two_task(base, "20 ms", bias=False), tmp_path, "qs")
    assert an.cycle_span(ds) < 1e-8 and an.combined_error(ds) < 1e-16
    floors = {}
    for C in ("10 nF", "1 nF"):
        ds = _run(_two_task(base, "20 ms", "rosenbrock", bias=False, capacitance=C, periods=400), tmp_path, C[:2])
        assert an.limit_cycle(ds).reached
        floors[C] = (an.cycle_span(ds), an.combined_error(ds))
    assert floors["1 nF"][0] > 1e-7                                  # far above the quasi-static zero
    assert floors["10 nF"][0] / floors["1 nF"][0] == pytest.approx(10, rel=0.02)
    assert floors["10 nF"][1] / floors["1 nF"][1] == pytest.approx(100, rel=0.05)


def test_bias_is_recovered_from_drift_along_solution_lines(base, theory, tmp_path):
    """App. E: single-task runs drift along their solution lines at N_μ B; two tasks determine B."""
    drifts = {}
    for mu, (v1, label) in enumerate([(0.435, 0.31), (0.02, 0.14)]):
        d = copy.deepcopy(base.resolved)
        d.pop("protocol"), d.pop("parameters")
        d["schedule"] = {"segments": [{"duration": "0.3 s", "sources": {"V1": f"{v1} V"},
                                       "labels": {"O": f"{label} V"}, "eta": 1.0, "learn": True}]}
        d["simulation"] = {"integrator": "quasistatic", "record_interval": "1 ms"}
        drifts[mu] = drift_rate(_run(d, tmp_path, f"single{mu}"), window=0.1)
    B = infer_bias(theory, drifts)
    assert B == pytest.approx(theory.B, rel=0.01)


def test_stored_spec_rebuilds_the_run(base, tmp_path):
    """A store is self-contained: its inline spec rebuilds the same circuit and protocol."""
    ds = _run(_two_task(base, "20 ms", periods=3), tmp_path, "short")
    spec = an.run_spec_of(ds)
    assert [e.name for e in spec.circuit.edges] == [e.name for e in base.circuit.edges]
    assert len(spec.segments) == 6 and spec.segments[0].duration == pytest.approx(0.01)
    path = an.gate_path(ds, periods=1)
    assert path.sizes["edge"] == 2


def test_analyze_a_real_tau_sweep(tmp_path, capsys):
    """`tdsim analyze` on a sweep run by a real LocalCluster(2): the table, D ∝ τ fitted to slope
    1 ± 0.1 over two decades (the issue's criterion; measured 1.0001), and the figure."""
    from tdsim.cli import main
    from tdsim.runs.sweep import load_sweep, run_sweep
    spec = tmp_path / "sweep.toml"
    spec.write_text(f'''name = "small"
run = "{ROOT / 'runs' / 'fig2_bias.toml'}"
output = "{tmp_path / 'small.zarr'}"
[grid]
"parameters.tau" = {{ logspace = ["2 ms", "200 ms"], num = 4 }}
''')
    run_sweep(load_sweep(spec), workers=2, progress=False)
    assert main(["analyze", str(tmp_path / "small.zarr"), "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    slope = float(out.split("D ∝ x^")[1].split()[0])
    assert slope == pytest.approx(1.0, abs=0.1)
    assert (tmp_path / "small_tau.png").stat().st_size > 10_000
    table = an.tau_table(tmp_path / "small.zarr")
    assert table.sizes["run"] == 4 and bool(table["reached"].all())


def test_incompatible_tasks_cycle_without_bias(tmp_path):
    """Dillavou Fig. 3: with no joint solution the system cycles even at B = 0: D ∝ τ and Ē sits at a
    non-zero floor, both as the linear theory (G*_α and β's nearest solution) predicts. Measured:
    D and Ē within 0.01% of the theory linearized at the orbit centre."""
    base = load_run(ROOT / "runs" / "fig3_bias.toml")
    d0 = copy.deepcopy(base.resolved)
    d0["imperfections"] = {}
    theory = BiasTheory(run_from_dict(d0), solution="nearest", linearize="center")
    assert np.linalg.norm(theory.G_star[0] - theory.G_star[1]) > 0.05           # no joint solution
    D = []
    for tau in (2e-3, 4e-3):
        d = copy.deepcopy(d0)
        d["parameters"] = {"tau": f"{tau * 1e3:g} ms", "periods": 1500}
        ds = _run(d, tmp_path, f"inc{tau * 1e3:g}")
        assert an.limit_cycle(ds).reached
        o = theory.orbit(tau)
        D.append(an.cycle_span(ds))
        assert D[-1] == pytest.approx(o.D, rel=1e-3)
        assert an.combined_error(ds) == pytest.approx(o.E_bar, rel=1e-3) and o.E_bar > 1e-5
    assert np.log(D[1] / D[0]) / np.log(2) == pytest.approx(1.0, abs=0.1)


def test_incompatible_tasks_with_bias_three_levels(tmp_path):
    """Dillavou Fig. 3A with B = (−1.79, 0.68) V/s: Ē sits at three levels. Small τ: the linear theory
    at G* holds (issue: within 10%; measured Ē 3.7%, D 5.6% at 2 ms). Middle τ: the cycle touches both
    solution sets, so Ē is the unbiased incompatibility floor (measured −10% at 0.23 s; 25% allowed,
    the bias still shifts the orbit) and well above the small-τ level (×1.65). Large τ: the bias has
    driven the gates along β's line to their limits; Ē no longer depends on τ (13 s vs 50 s, 1%) and
    is > 10× the middle level (measured ×28)."""
    base = load_run(ROOT / "runs" / "fig3_bias.toml")
    theory = BiasTheory(base, solution="nearest", linearize="solution")

    def run(tau, periods, bias=True):
        d = copy.deepcopy(base.resolved)
        d["parameters"] = {"tau": tau, "periods": periods}
        if not bias:
            d["imperfections"] = {}
        ds = _run(d, tmp_path, f"b{bias}_{tau.replace(' ', '')}")
        assert an.limit_cycle(ds).reached, tau
        return an.combined_error(ds), an.cycle_span(ds)

    E_small, D_small = run("2 ms", 1500)
    o = theory.orbit(2e-3)
    assert E_small == pytest.approx(o.E_bar, rel=0.1) and D_small == pytest.approx(o.D, rel=0.1)
    E_mid, _ = run("230 ms", 40)
    E_mid0, _ = run("230 ms", 40, bias=False)
    assert E_mid == pytest.approx(E_mid0, rel=0.25) and E_mid > 1.3 * E_small
    E_high, D_high = run("13 s", 6)
    E_high2, D_high2 = run("50 s", 6)
    assert E_high == pytest.approx(E_high2, rel=0.01) and D_high == pytest.approx(D_high2, rel=0.01)
    assert E_high > 10 * E_mid
