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


def compile_bias(fn):
    """A numba cfunc b(G, dvf, dvc) -> V/s from a Python function or an expression string."""
    from numba import cfunc
    if isinstance(fn, str):
        expr = fn
        namespace = {"math": math}
        try:
            exec(compile(f"def bias(G, dvf, dvc):\n    return {expr}\n", "<bias_function>", "exec"), namespace)
        except SyntaxError as exc:
            raise SpecError("imperfections.bias_function", f"cannot parse {expr!r}: {exc.msg}") from None
        fn = namespace["bias"]
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
