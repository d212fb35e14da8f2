"""Source waveforms and several nudged twins."""
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from tdsim import Circuit, Options, Resistor, Segment

from tdsim import build

from tdsim import simulate
from tdsim.model.schedule import Waveform
from tdsim.compile.table import table

from helpers import two_plus_one

R, C = 1e3, 1e-9
RC = R * C


def driven_rc(kind, f, amp=1.0, integrator="rosenbrock"):
    c = Circuit()
    c.add_node("out", C).add_voltage_source("in", 0.0).add_edge("r", "in", "out", Resistor(R))
    comp = build(c, twins=("free",))
    seg = Segment(5e-6, {"in": 0.0}, waveforms={"in": Waveform(kind, amp, f)})
    tr = simulate(comp, table([seg], comp), Options(integrator=integrator, initial="zero", rtol=1e-10,
                                                    atol=1e-13, record_interval=2e-8))
    return tr.t, tr.V[:, 0, comp.node_names.index("out")]


@pytest.mark.parametrize("integrator", ["explicit", "rosenbrock"])
def test_sine_driven_rc_matches_the_analytic_response(integrator):
    f = 3e5
    w = 2 * np.pi * f
    t, v = driven_rc("sin", f, integrator=integrator)
    x = w * RC
    exact = (np.sin(w * t) - x * np.cos(w * t) + x * np.exp(-t / RC)) / (1 + x * x)
    assert np.max(np.abs(v - exact)) < 1e-6          # of a 1 V amplitude


def test_abs_sine_driven_rc_matches_solve_ivp():
    f = 3e5
    w = 2 * np.pi * f
    t, v = driven_rc("abs_sin", f)
    ref = solve_ivp(lambda s, y: (abs(np.sin(w * s)) - y) / RC, (0, t[-1]), [0.0], method="Radau",
                    t_eval=t, rtol=1e-11, atol=1e-13, max_step=RC / 50)
    assert np.max(np.abs(v - ref.y[0])) < 1e-6


def test_plus_and_minus_twins_are_nudged_symmetrically():
    comp = build(two_plus_one(), twins=("free", "plus", "minus"))
    seg = Segment(1e-3, {"V1": 0.435}, {"O": 0.31}, 0.3, True)
    tr = simulate(comp, table([seg], comp), Options(integrator="rosenbrock", record_interval=1e-4))
    o = comp.node_names.index("O")
    of = tr.V[:, 0, o]
    np.testing.assert_allclose(tr.V[:, 1, o], of + 0.3 * (0.31 - of), atol=1e-15)
    np.testing.assert_allclose(tr.V[:, 2, o], of - 0.3 * (0.31 - of), atol=1e-15)
    assert comp.learn_pair == (2, 1) and comp.learn_scale == 0.5    # symmetric rule (McGinnis Eq. 4.4)
