"""The nudge rules, one file each, and their registration.

Each file holds one rule's description (its name, code, whether it clamps or forces, its amplitude
key, SPICE export: tdsim.core.nudges.base) and its compiled branch: a clamp's ``held`` value, a
force's ``current`` and ``jacobian``. This file registers them: ``REGISTERED`` (each rule
with its compiled branches), from which come ``RULES`` (name -> Rule), the name tables the model,
compile and io layers read (``CODES``, ``FORCE_NAMES``), and the compiled dispatch by code that
the kernels call, inlined (one flat branch per rule, as if written in place):

    held_output(code, of, d, L, scale, L0)     a clamp's held output (``of`` for a force rule)
    is_force(code), reads_free(code)            what a force rule is and which output it reads
    force_current(code, s, beta, L, o, off)     a force's injected current (0 for a clamp)
    force_jacobian(code, j, s, beta, L, off)    j times minus its slope in the output it reads

Adding a rule: its file here, its code in tdsim.core.codes, its line in REGISTERED.
"""
from numba import njit

from tdsim.errors import SpecError
from tdsim.core.nudges import force, force_from_free, hinge, overclamp, standard
from tdsim.core.nudges.base import CLAMP, FORCE, Rule

REGISTERED = ((standard.STANDARD, standard.held), (hinge.HINGE, hinge.held), (overclamp.OVERCLAMP, overclamp.held),
              (force.FORCE_OWN, force.current, force.jacobian),
              (force_from_free.FORCE_FROM_FREE, force_from_free.current, force_from_free.jacobian))
RULES = {reg[0].name: reg[0] for reg in REGISTERED}
BY_CODE = {r.code: r for r in RULES.values()}
CODES = {name: r.code for name, r in RULES.items()}                 # name -> code (segment table)
FORCE_NAMES = tuple(name for name, r in RULES.items() if r.acts == FORCE)


def rule(name: str, key: str) -> Rule:
    """The rule named ``name``; SpecError naming ``key`` and the known rules otherwise."""
    if not isinstance(name, str) or name not in RULES:
        raise SpecError(key, f"unknown nudge rule {name!r}; known: {', '.join(RULES)}")
    return RULES[name]


def _dispatch(branches, default):
    """``f(code, x0, .., x4)``: the branch of the rule whose code is ``code``, else ``default``
    (every branch takes five numbers; numba inlines neither star arguments nor star calls).
    ``branches``: (code, compiled branch) pairs; each is one ``if code == k: return branch(...)``
    of a chain of inlined closures, which numba's inlining turns into the flat chain one would
    write by hand (as tdsim.core.elements.edge_current)."""
    for k, branch in reversed(branches):
        default = _link(k, branch, default)
    return default


def _link(k, branch, rest):
    @njit(inline="always")
    def f(code, x0, x1, x2, x3, x4):
        return branch(x0, x1, x2, x3, x4) if code == k else rest(code, x0, x1, x2, x3, x4)
    return f


@njit(inline="always")
def _keep_free(code, of, d, L, scale, L0):
    return of                     # a force rule holds no output


@njit(inline="always")
def _no_current(code, x0, x1, x2, x3, x4):
    return 0.0


held_output = _dispatch([(reg[0].code, reg[1]) for reg in REGISTERED if reg[0].acts == CLAMP], _keep_free)
force_current = _dispatch([(reg[0].code, reg[1]) for reg in REGISTERED if reg[0].acts == FORCE], _no_current)
force_jacobian = _dispatch([(reg[0].code, reg[2]) for reg in REGISTERED if reg[0].acts == FORCE], _no_current)


def _one_of(codes):
    """``member(code)``: True if ``code`` is one of ``codes`` (compiled, inlined)."""
    @njit(inline="always")
    def member(code):
        for k in codes:
            if code == k:
                return True
        return False
    return member


is_force = _one_of(tuple(r.code for r in RULES.values() if r.acts == FORCE))        # injects a current
reads_free = _one_of(tuple(r.code for r in RULES.values() if r.reads_free))          # from the free twin's output
