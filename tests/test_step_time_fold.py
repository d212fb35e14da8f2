"""The overclamping step time t_h = r0|δ| (Dillavou Eq. 8) needs the free output settled with the
next point's inputs. On the biased 4×4 CLLN at the smallest ring (ε = 83 mV, split 6), Newton on
Kirchhoff's laws from the present state stops converging after ~2600 passes: the settled branch
ends in a fold (the ohmic-only MOSFET law is not monotone), and the run used to stop there. The
circuit's RC dynamics settle somewhere all the same; the step time now takes that state
(core.kirchhoff.relax_free: backward Euler with growing steps). Checked against scipy's
solve_ivp integrating the same free twin's RC equations C dV/dt = I(V) to rest."""
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from tdsim.compile.build import build
from tdsim.compile.table import table
from tdsim.core import kernels
from tdsim.core.codes import DONE
from tdsim.io.spec import read
from tdsim.runs.jobs import run_from_dict
from tdsim.runs.sweep import apply_point
from tdsim.simulation.probes import Kirchhoff, segment_drive
from tdsim.simulation.simulate import simulate

RUNS = Path(__file__).resolve().parent.parent / "runs"


def fold_case(passes):
    d = apply_point(read(RUNS / "fig5_ring.toml"),
                    {"parameters.passes": passes, "parameters.task.diameter": "83 mV", "parameters.task.split": 6,
                     "parameters.nudge": {"rule": "overclamp", "eta": 0.25, "L0": "0.435 V"}})
    spec = run_from_dict(d, RUNS)
    c = build(spec.circuit, spec.twins, spec.imperfections, spec.seed)
    return spec, c, table(spec.segments, c, differential=spec.differential)


def rc_rest(c, theta, drv, src, V0):
    """The free twin's node voltages after its RC dynamics ran 1 ms (~10^4 RC times) from V0,
    integrated by scipy (Radau, rtol 1e-10) on tdsim's node currents."""
    circ, unk = c.arrays(), np.asarray(c.unk_nodes)
    free = np.array([n for n in unk if circ.hold[0][n] == kernels.HOLD_NONE])
    V = V0.copy()
    kernels.fill_held(V, circ.hold, circ.hidx, src, drv, circ.nudge, circ.out_node)   # this point's inputs
    I = np.zeros(c.N)

    def f(_, y):
        V[0, free] = y
        kernels.node_currents(V[0], theta, circ.ea, circ.eb, circ.code, circ.par[0], circ.inj, src, I)
        return I[free] / circ.cap[0][free]

    sol = solve_ivp(f, (0.0, 1e-3), V[0, free].copy(), method="Radau", rtol=1e-10, atol=1e-13)
    assert sol.success
    return free, sol.y[:, -1]


def test_step_time_past_a_fold_is_where_the_rc_dynamics_settle():
    spec, c, tab = fold_case(2601)
    traj = simulate(c, tab, spec.options)                 # 2601 passes (t = 0.5201 s): up to the fold
    theta, V = traj.state.theta, traj.state.V
    kir = Kirchhoff(c)
    P = len(tab.dur)
    failing = []
    for row in range(P):
        drv, src = segment_drive(tab, row)
        _, st = kir.solve(theta, drv, src, V, tol=spec.options.newton_tol, maxit=50)   # as loop._segment_duration
        if st != DONE:
            failing.append(row)
    assert failing, "no point's Newton solve fails at this state: the case no longer tests the fold"
    for row in failing:
        drv, src = segment_drive(tab, row)
        Vr, st = kir.relax(theta, drv, src, V)
        assert st == DONE
        free, ref = rc_rest(c, theta, drv, src, V)
        # relax_free stops at changes below 1e-12 (1 + |V|) per ms-long step, Radau at rtol 1e-10
        # after 10^4 RC times; measured agreement 2e-15 V, 1e-9 V leaves Radau's error room
        np.testing.assert_allclose(Vr[0, free], ref, atol=1e-9, rtol=0)


def test_overclamping_trains_past_the_fold():
    """The run that stopped at t = 0.52 s (pass 2601) now trains its 3000 passes."""
    spec, c, tab = fold_case(3000)
    traj = simulate(c, tab, spec.options)
    assert traj.event_seg[-1] == 3000 * len(tab.dur) - 1  # every pass ran (each held near 200 us by r0)
    assert traj.stats["t_end"] == pytest.approx(3000 * 200e-6, rel=0.01)
