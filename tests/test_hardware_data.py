"""The measured 2+1-edge hardware data of Dillavou et al. 2025 (data/hardware/dillavou2025) and
App. E's bias inference from its drift tests (tdsim.studies.dillavou_hardware).

References: the paper (App. A, B, E; Figs. 2, 3) and the authors' notebook theoretical-model.nb,
which loads these same files; its numbers quoted here are cited by name. docs/hardware.md has the
inferred values beside the paper's and what the remaining gap comes from."""
import hashlib

import numpy as np
import pytest

from tdsim.studies.dillavou_hardware import (DATA, EXPERIMENTS, DriftTest, app_e_bias, cycle_span,
                                             drift_rate, gate_noise, infer_bias, load_curve,
                                             load_drift_test)

# sha256 of the files as copied from maguzj/imperfect-learning-physical-systems @ 994f0ab
SHA256 = {
    "measured-DG2-exp1.csv": "b614627f5a306d6e1b2026fc558115ede225466c9786ee4a4b2bede43be3044e",
    "measured-DG2-exp2.csv": "054cad8920323d648879dcc0823067ca12b8cb04f389f33adb8de61515c2db4a",
    "measured-DG2-exp3.csv": "c9e7dfc3fa94668b7c246a550b2ad9d741fc791cf4ffa8b6bd9ed60201581dc4",
    "measured-MSE-exp1.csv": "edaf7aa732824ea799e7d5711ddfa340a19aae6943dc77c4dbcfb74a4d67f7c9",
    "measured-MSE-exp2.csv": "33469c652e56ea4a2d62c87996c8229b9ffd8b86dc4eb67b54fe1cdeb5fe4e92",
    "measured-MSE-exp3.csv": "2805cc1b0c823889fb5fa25302f92abf4cb93f392c8776cbf4258715451fd9c8",
    "exp1DriftTest_1.mat": "06dc0a494d255304e40b372bcf85a30df928248b46b8c9884008e52beabcb79f",
    "exp1DriftTest_2.mat": "a3969a1ab6ccf616a6b63be13e633301cd276ebf9cebe4f83a5ab95d1673d151",
    "exp2DriftTest_1.mat": "5d29c3e4e0d88f21d32e046b55519579f68e100ca44aa101c3336d589e628b77",
    "exp2DriftTest_2.mat": "808a0d0ed8824b1717597f63e38ec4412034d9171f0d58edb15d098862ddb1ed",
    "LICENSE.txt": "14e5fb8f70a7a8c0e729f35574e8ee83274605a6f5e691c79cb0be14f4840205",
}

# The authors' measured solution lines, G+ = a G- + b (notebook, "Experimental curves of the
# solution spaces": gpExpA, gpExpB of Examples 1 and 2)
LINES = {"exp1": {"alpha": (2.7257, -3.3003), "beta": (0.43914, 1.6061)},
         "exp2": {"alpha": (2.5678, -2.901), "beta": (0.74821, 1.9224)}}


def test_the_files_are_the_authors_unchanged():
    for name, digest in SHA256.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("exp, n, tau_range", [("exp1", 19, (6e-4, 2.0)), ("exp2", 19, (6e-4, 2.0)),
                                               ("exp3", 27, (4e-4, 63.3956))])
def test_curves_have_their_points_in_the_figures_ranges(exp, n, tau_range):
    E, D2 = load_curve(exp, "E"), load_curve(exp, "D2")
    for c in (E, D2):
        assert c.unit == "V^2" and c.tau.size == c.value.size == n
        assert np.all(np.diff(c.tau) > 0) and np.all(c.value > 0)
        assert (c.tau[0], c.tau[-1]) == pytest.approx(tau_range)
    np.testing.assert_array_equal(E.tau, D2.tau)
    # the notebook's axes for these points: tau from 2e-4 s to 4 s (exp1, 2) or 100 s (exp3),
    # MSE from 1e-6 to 2e-2 V^2
    assert 2e-4 <= E.tau[0] and E.tau[-1] <= (100 if exp == "exp3" else 4)
    assert 1e-6 <= E.value.min() and E.value.max() <= 2e-2


def test_exp1_levels_as_issue_16_quotes_them():
    """Ē plateaus 4.5e-5 and 1.8e-3 V², D(20 ms) = 0.13 V and the high-tau D of 2.2 V (issue 16,
    read off the same files): D is the square root of the DG2 column."""
    E, D = load_curve("exp1", "E"), cycle_span("exp1")
    assert D.unit == "V"
    assert E.value[0] == pytest.approx(4.5e-5, rel=0.01)
    assert E.value[E.tau >= 0.3] == pytest.approx(1.8e-3, rel=0.04)
    assert D.value[D.tau == 0.02][0] == pytest.approx(0.133, abs=5e-4)
    assert D.value[D.tau >= 0.3] == pytest.approx(2.22, abs=0.02)


@pytest.mark.parametrize("exp", ["exp1", "exp2"])
@pytest.mark.parametrize("number", [1, 2])
def test_drift_tests_read_as_described(exp, number):
    T = load_drift_test(exp, number)
    assert T.t.shape == (300,) and T.G.shape == (300, 2)
    assert T.t[0] == pytest.approx(1e-4, rel=0.1) and T.t[1] == pytest.approx(0.905, abs=0.01)
    dt = np.diff(T.t[2:])
    assert dt.mean() == pytest.approx(0.0305, rel=0.01) and dt.max() < 1.01 * dt.min()
    assert np.all((T.G > 1.0) & (T.G < 5.3))           # the gates stay inside the hardware's range
    assert np.all(gate_noise(T) < 2e-3)                  # reading noise: about 1 mV


@pytest.mark.parametrize("exp", ["exp1", "exp2"])
def test_each_drift_test_trains_the_task_app_e_names(exp):
    """GMINUS as G1 and GPLUS as G2, file _2 as task alpha and _1 as beta: at App. E's point each
    track sits on its task's measured solution line (within 0.03 V; the other line is at least
    0.3 V away) and drifts along it (within 2 degrees)."""
    spec = EXPERIMENTS[exp]
    for task, number in spec["tests"].items():
        r = drift_rate(load_drift_test(exp, number), spec["centre"])
        other = "beta" if task == "alpha" else "alpha"
        (a, b), (a2, b2) = LINES[exp][task], LINES[exp][other]
        assert abs(r.G[1] - (a * r.G[0] + b)) < 0.03
        assert abs(r.G[1] - (a2 * r.G[0] + b2)) > 0.3
        angle = np.degrees(np.arctan2(r.rate[1], r.rate[0]) - np.arctan(a))
        assert abs(angle) < 2.0


def _linear_drift_test(B, lines, t, G0, curvature, sigma, seed):
    """Two single-task drift records from the paper's own linear model (Eq. D5), on exp1's time
    base: task mu has curvature ``curvature`` across its line and none along it, its solution set
    the line G+ = a G- + b, and the gates start at G0 (record's sample 1, as the hardware)."""
    rng = np.random.default_rng(seed)
    out = {}
    for task, (a, b) in lines.items():
        n = np.array([1.0, a]) / np.hypot(1.0, a)                 # along the line
        m = np.array([-n[1], n[0]])                               # across it
        Gs = np.array([0.0, b])                                   # a point of the line
        M = curvature * np.outer(m, m)
        Mp = np.outer(m, m) / curvature                           # pseudo-inverse of M
        G = np.empty((t.size, 2))
        G[0] = G0
        for k, tk in enumerate(t[1:], 1):
            s = tk - t[1]
            # Eq. D5 with G* the foot of G0 on the line: exp(-Mt)G0 + (1 - exp(-Mt))(G* + M^+ B) + t N B
            Gstar = Gs + n * (n @ (G0 - Gs))
            E = np.eye(2) - (1 - np.exp(-curvature * s)) * np.outer(m, m)
            G[k] = E @ G0 + (np.eye(2) - E) @ (Gstar + Mp @ B) + s * np.outer(n, n) @ B
        out[task] = DriftTest(task, t, G + sigma * rng.standard_normal(G.shape))
    return out


def test_inference_recovers_a_known_bias_from_a_simulated_drift():
    """App. E's procedure on drift records made with a known B (exp1's lines, time base, reading
    noise and B of the order measured; curvature 30/s so the gates reach the line within 0.2 s)
    returns that B within 2 %."""
    T = load_drift_test("exp1", 1)
    B = np.array([2.5, 4.0])
    recs = _linear_drift_test(B, LINES["exp1"], T.t, T.G[1], curvature=30.0, sigma=6e-4, seed=3)
    est = infer_bias([drift_rate(recs[task], EXPERIMENTS["exp1"]["centre"])
                      for task in ("alpha", "beta")])
    assert est.B == pytest.approx(B, rel=0.02)
    assert np.all(np.abs(est.B - B) < 4 * est.err)          # and the stated error covers the miss


@pytest.mark.parametrize("exp", ["exp1", "exp2"])
def test_app_e_bias_dominant_component_matches_the_paper(exp):
    """B2, the larger component, comes out within 2 % of App. E's value in both experiments
    (exp1: 4.40 against 4.41 V/s, exp2: 1.965 against 1.98 V/s)."""
    est = app_e_bias(exp)
    assert est.B[1] == pytest.approx(EXPERIMENTS[exp]["paper_B"][1], rel=0.02)


def test_app_e_bias_exp2_matches_the_paper():
    """exp2's whole B is within 2 % of |B| of App. E's (-0.16, 1.98) V/s (B1 is near zero, so per
    component the small one is compared against |B|)."""
    est = app_e_bias("exp2")
    paper = np.array(EXPERIMENTS["exp2"]["paper_B"])
    assert np.linalg.norm(est.B - paper) < 0.02 * np.linalg.norm(paper)


@pytest.mark.xfail(strict=True, reason="exp1's B1 comes out 2.71 V/s against App. E's 2.97 "
                   "(the notebook has 2.92): the drift rate along beta's line is 5 % below the "
                   "paper's at App. E's point and grows along the line; see docs/hardware.md")
def test_app_e_bias_exp1_matches_the_paper():
    est = app_e_bias("exp1")
    paper = np.array(EXPERIMENTS["exp1"]["paper_B"])
    assert np.linalg.norm(est.B - paper) < 0.02 * np.linalg.norm(paper)
