"""Imperfections of a physical learning circuit. Every one is off by default and seeded.
Those acting on a learning edge's state θ are in θ's unit (below: a MOSFET gate's, θ = G in V;
on a conductance θ is κ in S, ρ in Ohm or log κ, so V becomes S, Ohm or 1; spec._theta_field):

- ``bias``: constant update bias B per edge, V/s (Dillavou Eq. 7);
- ``bias_function``: a state-dependent bias b(G, ΔV_free, ΔV_clamped) in V/s, added to B; a Python
  function or an expression string in G, dvf, dvc (and math), compiled with numba ``cfunc`` so the
  engine is not recompiled for it;
- ``bias_spread``: std (V/s) of a seeded random bias per learning edge, added to ``bias``
  (device-to-device variation: App. C puts it at ~2 V/s per edge);
- ``A0_spread``: relative std of the learning rate A0 across edges;
- ``mismatch``: twin mismatch of nudged twins {"S": rel., "VT": V, "capacitance": rel.};
- ``output_offset``: offset (V) in measuring each free output that drives the clamp;
- ``noise_update``: σ (V/√s) of a random walk on the gates (θ) while learning is on, applied as one
  kick σ √t_h N(0,1) per data point;
- ``noise_read``: σ (V) of a per-data-point offset on every node voltage as the learning
  circuits read it (the circuit itself is not perturbed);
- ``drainage``: R_d per edge (Ω): a leak dG/dt = −G / (R_d C0) while learning is on, our model of
  the drainage resistor of App. E (the paper gives no circuit-level formula).
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field

import numpy as np

from tdsim.errors import SpecError

BIAS_SIGNATURE = "float64(float64, float64, float64)"


@dataclass
class Imperfections:
    bias: dict = field(default_factory=dict)
    bias_function: object = None
    A0_spread: float = 0.0
    bias_spread: float = 0.0
    mismatch: dict = field(default_factory=dict)
    output_offset: dict = field(default_factory=dict)
    noise_update: float = 0.0
    noise_read: float = 0.0
    drainage: dict = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.bias_function, str):     # refused as the spec is read, before any work
            parse_bias(self.bias_function)

    def validate(self, edge_names, output_names):
        for key, d in (("bias", self.bias), ("drainage", self.drainage)):
            for name, v in d.items():
                if name not in edge_names:
                    raise SpecError(f"imperfections.{key}.{name}", "no such edge")
                if not np.isfinite(v) or (key == "drainage" and v <= 0):
                    raise SpecError(f"imperfections.{key}.{name}", f"impossible value {v!r}")
        for name, v in self.output_offset.items():
            if name not in output_names:
                raise SpecError(f"imperfections.output_offset.{name}", "not an output node")
            if not np.isfinite(v):
                raise SpecError(f"imperfections.output_offset.{name}", "must be finite")
        for key in ("A0_spread", "bias_spread", "noise_update", "noise_read"):
            v = getattr(self, key)
            if not (np.isfinite(v) and v >= 0):
                raise SpecError(f"imperfections.{key}", f"must be >= 0, got {v!r}")
        unknown = set(self.mismatch) - {"S", "VT", "capacitance"}
        if unknown:
            raise SpecError(f"imperfections.mismatch.{sorted(unknown)[0]}", "unknown (S, VT, capacitance)")


_KEEP = []          # compiled bias functions and their Python sources stay alive for the process


def _cache_numba_type(compiled):
    """Give the cfunc a numba type computed once: numba types a CFunc argument by building a new
    FunctionType at every call (~25 µs of every engine call). Best effort: a numba without these
    hooks keeps the plain CFunc."""
    try:
        from numba.core.ccallback import CFunc
        from numba.extending import typeof_impl
        global _TypedCFunc
        if _TypedCFunc is None:
            class _TypedCFunc(CFunc):
                pass

            typeof_impl.register(_TypedCFunc)(lambda val, c: val._tdsim_type)
        ty = typeof_impl(compiled, None)
        compiled.__class__ = _TypedCFunc
        compiled._tdsim_type = ty
    except Exception:   # noqa: BLE001
        pass


_TypedCFunc = None


def zero_bias(G, dvf, dvc):
    return 0.0


# What a bias expression of a spec file may contain: arithmetic, comparisons and conditional
# expressions on the state variables, number literals, and these functions of math (bare or as
# math.f). Anything else (names, attributes, subscripts, lambdas, comprehensions, several
# statements) is refused before anything is compiled: a spec file never runs code.
BIAS_VARIABLES = ("G", "dvf", "dvc")
BIAS_CONSTANTS = {"pi": math.pi, "e": math.e}
BIAS_FUNCTIONS = ("exp", "log", "log1p", "expm1", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh", "atan",
                  "fabs", "copysign", "pow", "abs", "min", "max")
_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd, ast.Lt, ast.LtE, ast.Gt, ast.GtE,
        ast.And, ast.Or, ast.Not)


def parse_bias(expr: str) -> ast.Expression:
    """The syntax tree of a bias expression in G, dvf, dvc, checked against the whitelist above;
    SpecError naming what is not allowed."""
    key = "imperfections.bias_function"
    if not isinstance(expr, str):
        raise SpecError(key, f"must be an expression string, got {type(expr).__name__}")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as exc:
        raise SpecError(key, f"cannot parse {expr!r}: {exc.msg} (one expression in G, dvf, dvc)") from None
    for node in ast.walk(tree):
        if isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp,
                             ast.Load)) or isinstance(node, _OPS):
            continue
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            continue
        if isinstance(node, ast.Name) and (node.id in BIAS_VARIABLES or node.id in BIAS_CONSTANTS
                                           or node.id in BIAS_FUNCTIONS or node.id == "math"):
            continue
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "math" \
                and (node.attr in BIAS_FUNCTIONS or node.attr in BIAS_CONSTANTS):
            continue
        if isinstance(node, ast.Call) and not node.keywords and (
                (isinstance(node.func, ast.Name) and node.func.id in BIAS_FUNCTIONS) or
                (isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
                 and node.func.value.id == "math" and node.func.attr in BIAS_FUNCTIONS)):
            continue
        what = ast.get_source_segment(expr.strip(), node) or type(node).__name__
        raise SpecError(key, f"{what!r} is not allowed in a bias expression (arithmetic on G, dvf, dvc, numbers, "
                             f"comparisons, a if c else b, and {', '.join(BIAS_FUNCTIONS)})")
    callee = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)} | \
        {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):                 # "math" and the functions only as callee or math.f
        if isinstance(node, ast.Name) and node.id not in BIAS_VARIABLES and node.id not in BIAS_CONSTANTS \
                and id(node) not in callee:
            raise SpecError(key, f"{node.id!r} is not a value (call it: {node.id}(...))"
                            if node.id != "math" else "'math' is not a value (use math.f(...) or math.pi)")
    return tree


def _bias_from_expression(expr: str):
    """The Python function b(G, dvf, dvc) of a checked expression, built from its syntax tree with
    no builtins in reach."""
    body = parse_bias(expr).body
    fn = ast.FunctionDef(name="bias", args=ast.arguments(posonlyargs=[], args=[ast.arg(a) for a in BIAS_VARIABLES],
                                                         kwonlyargs=[], kw_defaults=[], defaults=[]),
                         body=[ast.Return(body)], decorator_list=[], returns=None)
    module = ast.fix_missing_locations(ast.Module(body=[fn], type_ignores=[]))
    namespace = {"__builtins__": {}, "math": math, "abs": abs, "min": min, "max": max, **BIAS_CONSTANTS,
                 **{f: getattr(math, f) for f in BIAS_FUNCTIONS if hasattr(math, f)}}
    exec(compile(module, "<bias_function>", "exec"), namespace)
    return namespace["bias"]


def compile_bias(fn):
    """A numba cfunc b(G, dvf, dvc) -> V/s from a Python function (the API: your own code) or an
    expression string (a spec file: checked against a whitelist by ``parse_bias`` first)."""
    from numba import cfunc
    if isinstance(fn, str):
        fn = _bias_from_expression(fn)
    try:
        compiled = cfunc(BIAS_SIGNATURE, cache=False)(fn)
    except Exception as exc:  # numba typing errors are many kinds
        raise SpecError("imperfections.bias_function",
                        f"not numba-compilable as b(G, dvf, dvc) -> float: {exc}") from None
    _cache_numba_type(compiled)
    _KEEP.append((fn, compiled))
    v = compiled.ctypes(3.0, 0.1, 0.1)
    if not math.isfinite(v):
        raise SpecError("imperfections.bias_function", f"gives {v} at G = 3 V, dvf = dvc = 0.1 V")
    return compiled
