"""What a nudge rule is, in one place: the record every rule file fills in.

A nudge rule says how the nudged twins' outputs are driven. A rule is a ``Rule`` record with:

    name        its name in protocols and TOML files (``rule = "hinge"``, ``Segment.nudge``)
    code        its integer code (tdsim.core.codes), on which the compiled dispatch branches
    acts        CLAMP (the nudged outputs are held at a value computed from the free twin's
                measured output) or FORCE (the outputs stay free and a current is injected)
    amplitude   the protocol key of its amplitude: "eta" (a clamp's η, dimensionless) or "beta"
                (a force's β, a conductance in S); the segment table's η column carries it
    needs_L0    it reads the overclamping target magnitude L0 (V), which must then be > 0
    reads_free  (forces) the current reads the free twin's output, not the nudged twin's own
    spice       None if tdsim.io.spice exports it, else what to say when refusing it

Its compiled branch is a module-level function of its file, registered in tdsim.core.nudges:

    clamp   ``held(of, d, L, scale, L0)``: the held output, with ``of`` the free twin's output
            (plus offset), ``d`` the measured free output (O+ − O− for a differential pair), ``L``
            the label and ``scale`` = s η osign half (twin sign, amplitude, pair side and share)
    force   ``current(s, beta, L, o, off)``: the current injected into an output whose driving
            output reads ``o`` (plus measurement offset ``off``), and ``jacobian(j, s, beta, L, off)``:
            j times −dcurrent/do (a force linear in o: the same at every o), what the force adds to its output's Jacobian diagonal (or, for
            a force read from the free twin, to the free output's column).
"""
from __future__ import annotations

from dataclasses import dataclass

CLAMP, FORCE = "clamp", "force"


@dataclass(frozen=True)
class Rule:
    """One nudge rule's description (see the module docstring); it has no state of its own."""
    name: str
    code: int
    acts: str = CLAMP
    amplitude: str = "eta"
    needs_L0: bool = False
    reads_free: bool = False
    spice: str | None = None
