"""Quantities with units in spec files: ``"1 nF"``, ``"0.435 V"``, ``"2.5 1/(V*ms)"``.

Every dimensional field of a TOML spec is a string ``"<number> <unit>"``; a bare number is
accepted only for dimensionless fields. Dimensions are tracked as exponents of (V, A, s).
"""
from __future__ import annotations

import math
import re

from tdsim.errors import SpecError

# exponents of (V, A, s)
_BASE = {
    "V": (1, 0, 0), "A": (0, 1, 0), "s": (0, 0, 1),
    "F": (-1, 1, 1), "S": (-1, 1, 0), "Ohm": (1, -1, 0), "ohm": (1, -1, 0), "Ω": (1, -1, 0),
    "Hz": (0, 0, -1), "C": (0, 1, 1), "W": (1, 1, 0),
}
_PREFIX = {"f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9}

DIMENSIONS = {
    "voltage": (1, 0, 0), "current": (0, 1, 0), "time": (0, 0, 1), "capacitance": (-1, 1, 1),
    "conductance": (-1, 1, 0), "resistance": (1, -1, 0), "frequency": (0, 0, -1),
    "transconductance": (-2, 1, 0),      # A/V^2, MOSFET S
    "learning_rate": (-1, 0, -1),        # 1/(V*s), A0 of a MOSFET gate: dG/dt = A0 ΔV²
    # A0 of a trainable conductance, dθ/dt = A0 f(θ) ΔV² with f = dκ/dθ (kernels.kappa_factor):
    "learning_rate_kappa": (-3, 1, -1),     # S/(V^2*s): θ = κ, f = 1
    "learning_rate_rho": (1, -3, -1),       # Ohm/(S^2*V^2*s): θ = ρ = 1/κ, f = −κ² (S²)
    "learning_rate_logkappa": (-1, -1, -1), # 1/(S*V^2*s): θ = log κ, f = κ (S)
    "voltage_rate": (1, 0, -1),          # V/s, bias B of a MOSFET gate (dG/dt += B)
    # bias B of a trainable conductance, dθ/dt += B, in θ's unit per second:
    "conductance_rate": (-1, 1, -1),     # S/s: θ = κ
    "resistance_rate": (1, -1, -1),      # Ohm/s: θ = ρ
    "rate": (0, 0, -1),                  # 1/s: θ = log κ
    "noise_density": (1, 0, -0.5),       # V/√s, update noise on a MOSFET gate: write "V/s^0.5"
    # update noise σ of a random walk on a conductance's θ, θ's unit per √s:
    "conductance_noise_density": (-1, 1, -0.5),  # S/√s: θ = κ
    "resistance_noise_density": (1, -1, -0.5),   # Ohm/√s: θ = ρ
    "rate_noise_density": (0, 0, -0.5),          # 1/√s: θ = log κ
    "time_per_voltage": (-1, 0, 1),      # s/V, overclamping r0
    "dimensionless": (0, 0, 0),
}
_TOKEN = re.compile(r"\s*(?:(\()|(\))|(\*|/)|(\^-?\d+(?:\.\d+)?)|([A-Za-zΩµ]+)|(1))")


def _atom(name: str) -> tuple[float, tuple[int, int, int]]:
    if name in _BASE:
        return 1.0, _BASE[name]
    if len(name) > 1 and name[0] in _PREFIX and name[1:] in _BASE:
        return _PREFIX[name[0]], _BASE[name[1:]]
    raise ValueError(f"unknown unit {name!r}")


def parse_unit(text: str) -> tuple[float, tuple[int, int, int]]:
    """Parse ``A/V^2``, ``1/(V*ms)``, ``mA/V^2`` into (SI factor, dimension exponents)."""
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot parse unit {text!r}")
        tokens.append(m.group(0).strip())
        pos = m.end()
    tokens.append(None)
    i = 0

    def factor():
        nonlocal i
        tok = tokens[i]
        if tok == "(":
            i += 1
            f, d = product()
            if tokens[i] != ")":
                raise ValueError(f"unbalanced parentheses in {text!r}")
            i += 1
        elif tok == "1":
            i += 1
            f, d = 1.0, (0, 0, 0)
        elif tok and tok[0].isalpha() or tok in ("Ω", "µ"):
            i += 1
            f, d = _atom(tok)
        else:
            raise ValueError(f"cannot parse unit {text!r}")
        if tokens[i] and tokens[i].startswith("^"):
            p = float(tokens[i][1:])
            i += 1
            f, d = f**p, tuple(x * p for x in d)
        return f, d

    def product():
        nonlocal i
        f, d = factor()
        while tokens[i] in ("*", "/"):
            op = tokens[i]
            i += 1
            g, e = factor()
            s = 1 if op == "*" else -1
            f, d = (f * g if s == 1 else f / g), tuple(a + s * b for a, b in zip(d, e))
        return f, d

    f, d = product()
    if tokens[i] is not None:
        raise ValueError(f"cannot parse unit {text!r}")
    return f, d


def _split(value: str, key: str):
    """A spec string "<number> [<unit>]" as (number, unit text or None, SI factor, dimension)."""
    parts = value.strip().split(None, 1)
    try:
        x = float(parts[0])
    except (ValueError, IndexError):
        raise SpecError(key, f"cannot read a number from {value!r}") from None
    if len(parts) == 1:
        return x, None, 1.0, None
    try:
        f, d = parse_unit(parts[1])
    except ValueError as exc:
        raise SpecError(key, str(exc)) from None
    return x, parts[1].strip(), f, d


def quantity(value, kind: str, key: str) -> float:
    """Convert a spec value to an SI float of dimension ``kind``; ``key`` names the field in errors."""
    want = DIMENSIONS[kind]
    if isinstance(value, bool):
        raise SpecError(key, f"expected a {kind}, got a boolean")
    if isinstance(value, (int, float)):
        if want != (0, 0, 0) and value != 0:
            raise SpecError(key, f"missing unit: a {kind} needs one, e.g. \"{value} {example(kind)}\"")
        x = float(value)
    elif isinstance(value, str):
        x, unit, f, d = _split(value, key)
        if unit is None:
            if want != (0, 0, 0):
                raise SpecError(key, f"missing unit in {value!r}: a {kind} needs one, e.g. \"{value.strip()} {example(kind)}\"")
        else:
            if d != want:
                raise SpecError(key, f"unit {unit!r} is not a {kind}")
            x *= f
    else:
        raise SpecError(key, f"expected a {kind} such as \"1 {example(kind)}\", got {value!r}")
    if not math.isfinite(x):
        raise SpecError(key, f"value {value!r} is not finite")
    return x


def example(kind: str) -> str:
    return {"voltage": "V", "current": "A", "time": "s", "capacitance": "F", "conductance": "S",
            "resistance": "Ohm", "frequency": "Hz", "transconductance": "A/V^2",
            "learning_rate": "1/(V*s)", "learning_rate_kappa": "S/(V^2*s)",
            "learning_rate_rho": "Ohm/(S^2*V^2*s)", "learning_rate_logkappa": "1/(S*V^2*s)", "voltage_rate": "V/s", "noise_density": "V/s^0.5",
            "conductance_rate": "S/s", "resistance_rate": "Ohm/s", "rate": "1/s",
            "conductance_noise_density": "S/s^0.5", "resistance_noise_density": "Ohm/s^0.5",
            "rate_noise_density": "1/s^0.5",
            "time_per_voltage": "s/V", "dimensionless": ""}[kind]


def quantity_any(value, key: str):
    """A spec value whose dimension the caller checks: ``(SI float, dimension exponents, unit text)``;
    a plain TOML number gives ``(value, None, None)`` (the caller refuses it unless 0). Used where
    the dimension depends on context (A0, B, θ limits: on the edge they act on)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SpecError(key, f"expected a number with a unit (\"<number> <unit>\"), got {value!r}")
    if isinstance(value, str):
        x, unit, f, d = _split(value, key)
        if unit is None:
            raise SpecError(key, f"missing unit in {value!r}: write it with the unit its edge needs")
        x *= f
    else:
        x, d, unit = float(value), None, None
    if not math.isfinite(x):
        raise SpecError(key, f"value {value!r} is not finite")
    return x, (None if d is None else tuple(float(e) for e in d)), unit
