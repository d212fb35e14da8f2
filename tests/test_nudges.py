"""The nudge-rule registry (tdsim.core.nudges) and the tables derived from it agree; each code
dispatches to its rule's physics (Dillavou Eqs. 1, 8 and App. A; the EP force sβ (L − O));
unknown rules and rules without a SPICE form are refused naming them."""

import numpy as np
import pytest

from tdsim import Segment, build
from tdsim.compile.table import table
from tdsim.core import codes
from tdsim.core.nudges import (CLAMP, FORCE, REGISTERED, RULES, force_current, force_jacobian, held_output,
                               is_force, reads_free)
from tdsim.errors import SpecError
from tdsim.io import spice
from tdsim.io.spec import protocol_from_dict
from tdsim.model.protocols import Nudge
from tdsim.model.schedule import FORCES, NUDGES
from helpers import two_plus_one


def test_registry_and_tables_agree():
    names = [reg[0].name for reg in REGISTERED]
    assert len(set(names)) == len(names) and len({reg[0].code for reg in REGISTERED}) == len(names)
    # every NUDGE_* code of tdsim.core.codes has exactly one rule, and the schedule's tables are the registry's
    assert sorted(v for k, v in vars(codes).items() if k.startswith("NUDGE_")) == sorted(NUDGES.values())
    assert NUDGES == {r.name: r.code for r in RULES.values()}
    assert set(FORCES) == {n for n, r in RULES.items() if r.acts == FORCE}
    for reg in REGISTERED:
        r = reg[0]
        assert r.acts in (CLAMP, FORCE) and len(reg) == (2 if r.acts == CLAMP else 3)
        assert r.amplitude == ("beta" if r.acts == FORCE else "eta")
        assert is_force(r.code) == (r.acts == FORCE) and reads_free(r.code) == r.reads_free


def _sign(x):
    return (x > 0) - (x < 0)


@pytest.mark.parametrize("d, L", [(0.3, 0.5), (0.7, 0.5), (-0.2, -0.4), (0.5, 0.5)])
def test_dispatch_reaches_each_rules_physics(d, L):
    """Each code's compiled branch against the paper's formula written out here (with of = d, one
    single-ended output: scale = s η)."""
    s, eta, L0, beta, off = -1.0, 0.3, 0.2, 1e-3, 0.01
    scale = s * eta
    expect = {"standard": d + scale * (L - d),                                        # Dillavou Eq. 1
              "hinge": d if (d - L) * L > 0 else d + scale * (L - d),                 # App. A
              "overclamp": d + scale * L0 * _sign(L - d)}                             # Eq. 8
    for name, r in RULES.items():
        if r.acts == CLAMP:
            assert held_output(r.code, d, d, L, scale, L0) == pytest.approx(expect[name], abs=1e-15), name
        else:
            assert held_output(r.code, d, d, L, scale, L0) == d        # a force holds nothing
            assert force_current(r.code, s, beta, L, d, off) == pytest.approx(s * beta * (L - d - off), rel=1e-15)
            # the Jacobian entry is j·(−dI/dO): compare with a central difference of the current
            h = 1e-6
            slope = (force_current(r.code, s, beta, L, d + h, off) - force_current(r.code, s, beta, L, d - h, off)) / (2 * h)
            assert force_jacobian(r.code, 2.0, s, beta, L, off) == pytest.approx(-2.0 * slope, rel=1e-8)


def test_unknown_rule_is_refused_naming_it():
    with pytest.raises(SpecError, match="'forse'") as e:
        Nudge("forse").validate()
    assert e.value.key == "nudge.rule" and "force_from_free" in e.value.message
    with pytest.raises(SpecError, match="'bogus'") as e:
        protocol_from_dict({"kind": "cycling", "nudge": {"rule": "bogus"},
                            "task": {"points": [{"inputs": {"V1": "0.4 V"}, "labels": {"O": "0.3 V"}}]}})
    assert e.value.key == "nudge.rule"
    comp = build(two_plus_one(), twins=("free", "clamped"))
    with pytest.raises(SpecError, match="'bogus'") as e:
        table([Segment(1e-4, {"V1": 0.4}, {"O": 0.3}, 0.5, True, "bogus")], comp)
    assert e.value.key.endswith(".nudge")


@pytest.mark.parametrize("name", [n for n, r in RULES.items() if r.spice is not None])
def test_spice_refuses_rules_without_a_deck_form(name):
    comp = build(two_plus_one(), twins=("free", "clamped"))
    tab = table([Segment(1e-4, {"V1": 0.4}, {"O": 0.3}, 0.5, True, name, L0=0.1)], comp)
    with pytest.raises(SpecError, match=name) as e:
        spice.netlist(comp, tab, tstep=1e-5)
    assert e.value.key == "export-spice"
    assert np.all(tab.mode == RULES[name].code)
