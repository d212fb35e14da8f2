"""Every malformed input ends in a non-zero exit and one line on stderr that names the offender
(the key, file, node or edge), never a traceback and never a silent run (issue 14).

Each case starts from one of the valid files shipped with tdsim (models/two_plus_one.toml,
models/voltage_divider.toml, models/clln_4x4.toml, protocols/fig2b_two_task.toml,
protocols/fig5_ring_standard.toml, runs/two_plus_one.toml, sweeps/tau_sweep.toml), changes one
thing, writes the set to a temporary folder and runs the command line in this process
(``tdsim.cli.main(argv)``); the few cases where a real process matters (a hang, a network
timeout) run ``python -m tdsim.cli`` with a deadline. The unchanged files are run too
(test_valid_*): each case's failure is caused by its one change.
"""
from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tdsim.cli import main

ROOT = Path(__file__).resolve().parent.parent
DEL = object()          # a mutation value that deletes the key


def _load(rel: str) -> dict:
    return tomllib.loads((ROOT / rel).read_text())


MODELS = {m: _load(f"models/{m}.toml") for m in ("two_plus_one", "voltage_divider", "clln_4x4")}
FIG2B = _load("protocols/fig2b_two_task.toml")
FIG5 = _load("protocols/fig5_ring_standard.toml")
RUN = _load("runs/two_plus_one.toml")
SWEEP = _load("sweeps/tau_sweep.toml")

# The shipped run spec, made short (2 periods of 2 ms) so that a spec wrongly accepted ends fast.
# The shipped files, made short (2 periods of 2 ms, one pass) so that a spec wrongly accepted ends fast;
# the run specs set no [parameters], so that a protocol's own values are the ones read.
FIG2B = {**FIG2B, "tau": "2 ms", "periods": 2}
FIG5 = {**FIG5, "passes": 1}
RUN = {k: v for k, v in RUN.items() if k != "parameters"}
RUN = {**RUN, "model": "model.toml", "protocol": "protocol.toml",
       "simulation": {**RUN["simulation"], "record_interval": "0 s", "cycle_tol": "0 V"}}
# the divider with a one-segment schedule (clamped to 0.3 V, learning) instead of a protocol file
DIVIDER_RUN = {"name": "divider", "model": "model.toml", "twins": ["free", "clamped"],
               "schedule": {"repeat": 2, "segments": [{"duration": "1 ms", "sources": {"v": "1 V"},
                                                       "labels": {"w": "0.3 V"}, "eta": 1.0, "learn": True}]},
               "simulation": {"integrator": "rodas4"}}
RING_RUN = {"name": "ring", "model": "model.toml", "protocol": "protocol.toml",
            "simulation": {"integrator": "rodas4"}}
SWEEP = {**SWEEP, "run": "run.toml", "grid": {"parameters.tau": {"logspace": ["2 ms", "4 ms"], "num": 2},
                                              "parameters.periods": [2]}}


# ---- a small TOML writer (the standard library only reads TOML) ---------------------------------
def _key(k: str) -> str:
    return json.dumps(k)


def _val(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_val(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_val(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


def dumps(d: dict, prefix: str = "") -> str:
    def table_array(v):
        return isinstance(v, list) and v and all(isinstance(x, dict) for x in v)
    lines, later = [], []
    for k, v in d.items():
        if isinstance(v, dict) and v:
            later.append(f"\n[{prefix}{_key(k)}]\n" + dumps(v, f"{prefix}{_key(k)}."))
        elif table_array(v):
            later.extend(f"\n[[{prefix}{_key(k)}]]\n" + dumps(x, f"{prefix}{_key(k)}.") for x in v)
        else:
            lines.append(f"{_key(k)} = {_val(v)}")
    return "\n".join(lines) + "\n" + "".join(later)


def mutate(d: dict, path: str, value) -> dict:
    """A deep copy of ``d`` with ``path`` ("edges[0].G", "defaults.mosfet.S") set to ``value``
    (DEL: removed). Keys holding a dot are written in quotes: 'grid."parameters.tau"'."""
    d = copy.deepcopy(d)
    parts = []
    for piece in _split(path):
        name, *idx = piece.replace("]", "").split("[")
        if name:
            parts.append(name)
        parts.extend(int(i) for i in idx)
    node = d
    for p in parts[:-1]:
        node = node[p]
    if value is DEL:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return d


def _split(path: str) -> list:
    out, cur, quoted = [], "", False
    for ch in path:
        if ch == '"':
            quoted = not quoted
        elif ch == "." and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return out + [cur]


# ---- cases ---------------------------------------------------------------------------------------
@dataclass
class Case:
    id: str
    files: dict                 # name -> dict (written as TOML), str, bytes, or "<dir>"
    argv: list                  # "{d}" is the case's folder
    needle: str                 # the offender the one line must name
    process: bool = False       # run as a real process (hangs, network waits)
    deadline: float = 60.0      # s, for a process
    root_skip: bool = False     # permission cases: root reads everything
    extra: list = field(default_factory=list)   # further words the line must hold


def run_files(run=RUN, model=MODELS["two_plus_one"], protocol=FIG2B) -> dict:
    files = {"run.toml": run, "model.toml": model}
    if protocol is not None:
        files["protocol.toml"] = protocol
    return files


RUN_ARGV = ["run", "{d}/run.toml", "-o", "{d}/out.zarr", "-q", "--no-figures"]
CASES: list[Case] = []


def case(id, files, argv, needle, **kw):
    CASES.append(Case(id, files, argv, needle, **kw))


def model_case(id, path, value, needle, model="two_plus_one", **kw):
    run, protocol = {"two_plus_one": (RUN, FIG2B), "voltage_divider": (DIVIDER_RUN, None),
                     "clln_4x4": (RING_RUN, FIG5)}[model]
    case(f"model-{model}-{id}", run_files(run, mutate(MODELS[model], path, value), protocol), RUN_ARGV, needle, **kw)


def protocol_case(id, path, value, needle, ring=False, **kw):
    files = run_files(RING_RUN, MODELS["clln_4x4"], mutate(FIG5, path, value)) if ring else \
        run_files(protocol=mutate(FIG2B, path, value))
    case(f"protocol-{'fig5' if ring else 'fig2b'}-{id}", files, RUN_ARGV, needle, **kw)


def run_case(id, path, value, needle, base=None, **kw):
    base = RUN if base is None else base
    files = run_files(mutate(base, path, value)) if base is RUN else \
        run_files(mutate(base, path, value), MODELS["voltage_divider"], None)
    case(f"run-{'divider-' if base is not RUN else ''}{id}", files, RUN_ARGV, needle, **kw)


SWEEP_ARGV = ["sweep", "{d}/sweep.toml", "-o", "{d}/sweep.zarr", "-q", "--workers", "1"]


def sweep_case(id, path, value, needle, **kw):
    case(f"sweep-{id}", {**run_files(), "sweep.toml": mutate(SWEEP, path, value)}, SWEEP_ARGV, needle, **kw)


def export_case(id, files, extra_argv, needle, spec="run.toml", **kw):
    case(f"export-{id}", files, ["export-spice", f"{{d}}/{spec}", *extra_argv], needle, **kw)


# model: wrong TOML types, impossible values, unknown keys, missing keys, unknown nodes
for key, bad in [("capacitance", True), ("capacitance", ["1 nF"]), ("capacitance", {"x": 1}),
                 ("A0", True), ("A0", ["2.8 1/(V*ms)"]), ("outputs", 5), ("outputs", "O"), ("outputs", {"O": 1}),
                 ("defaults", 5), ("defaults", ["mosfet"]), ("nodes", 5), ("nodes", "O"), ("nodes", [5]),
                 ("sources", 5), ("sources", [5]), ("sources", {"node": "V1"}), ("edges", 5), ("edges", [5]),
                 ("edges", {"a": "V1"}), ("name", 5), ("description", 5), ("ground", 5)]:
    model_case(f"{key}={_val(bad)}", key, bad, key)
for key, bad, needle in [
        ("capacitance", "-1 nF", "capacitance"), ("capacitance", "0 F", "capacitance"),
        ("capacitance", "nan nF", "capacitance"), ("capacitance", "inf F", "capacitance"),
        ("capacitance", "1 nV", "capacitance"), ("capacitance", "1 furlong", "capacitance"),
        ("capacitance", "one nF", "capacitance"), ("capacitance", 5, "capacitance"),
        ("A0", "0 1/(V*s)", "A0"), ("A0", "nan 1/(V*s)", "A0"), ("A0", "1 V", "A0"), ("A0", 2.8, "A0"),
        ("defaults.mosfet.S", "-0.8 mA/V^2", "S"), ("defaults.mosfet.S", "0 mA/V^2", "S"),
        ("defaults.mosfet.S", "nan mA/V^2", "S"), ("defaults.mosfet.S", "0.8 mA", "S"),
        ("defaults.mosfet.S", True, "S"), ("defaults.mosfet.VT", "inf V", "VT"),
        ("defaults.mosfet.VT", 0.7, "VT"), ("defaults.mosfet.C0", "-22 uF", "C0"),
        ("defaults.mosfet.C0", "22 uV", "C0"), ("defaults.mosfet.G_min", "20 V", "G"),
        ("defaults.mosfet.G_max", "1 V", "G"), ("defaults.mosfet.g_off", "-1 pS", "g_off"),
        ("defaults.mosfet.g_off", "nan S", "g_off"), ("defaults.mosfet.smooth", "0 V", "smooth"),
        ("defaults.mosfet.Gate", "3 V", "Gate"), ("defaults.transistor", {"S": "1 A/V^2"}, "transistor"),
        ("defaults.mosfet", 5, "defaults.mosfet"),
        ("nodes[0].name", DEL, "nodes[0]"), ("nodes[0].cap", "1 nF", "cap"),
        ("nodes[0].capacitance", "-1 nF", "O"), ("nodes[0].capacitance", "1 V", "capacitance"),
        ("nodes[0].name", "V1", "'O'"),
        ("sources[0].kind", "battery", "kind"), ("sources[0].kind", DEL, "kind"), ("sources[0].node", DEL, "node"),
        ("sources[0].value", "0.435 A", "value"), ("sources[0].value", "nan V", "value"),
        ("sources[0].resistance", "-1 Ohm", "resistance"), ("sources[0].volts", "1 V", "volts"),
        ("sources[1].node", "V1", "V1"),
        ("edges[0].G", "-1 V", "G1"), ("edges[0].G", "11 V", "G1"), ("edges[0].G", "nan V", "G"),
        ("edges[0].G", True, "G"), ("edges[0].G", "3 A", "G"), ("edges[0].G", DEL, "G1"),
        ("edges[0].a", "nowhere", "nowhere"), ("edges[0].a", DEL, "a"), ("edges[0].b", "V1", "G1"),
        ("edges[0].element", DEL, "element"), ("edges[0].element", "memristor", "memristor"),
        ("edges[0].element", 5, "element"), ("edges[0].Gate", "3 V", "Gate"),
        ("edges[0].learn", "yes", "learn"), ("edges[1].name", "G1", "G1"), ("edges[0].A0", "1 S", "A0"),
        ("edges[0].B", "1 V", "B"), ("edges[0].g_off", "-1 S", "g_off"), ("edges[0].S", "1e30 A/V^2", "G1"),
        ("edges[0].A0", "1e30 1/(V*ms)", "G1"),
        ("capacitance", "1e-40 F", "capacitance"), ("nodes[0].capacitance", "1e-40 F", "capacitance"),
        ("outputs", ["nowhere"], "nowhere"), ("outputs", ["V1"], "V1"), ("outputs", ["O", "O"], "outputs"),
        ("outputs", [5], "5"), ("extra", 1, "extra")]:
    model_case(f"{key}={_val(bad) if bad is not DEL else 'missing'}", key, bad, needle)
model_case("capacitance-missing", "capacitance", DEL, "capacitance")
for key, bad, needle in [
        ("edges[0].kappa", "-1 mS", "k1"), ("edges[0].kappa", "0 S", "k1"), ("edges[0].kappa", "1 V", "kappa"),
        ("edges[0].theta_min", "2 mS", "theta_m"), ("edges[0].theta_max", "0.1 mS", "theta_max"),
        ("edges[0].theta_min", "1 V", "theta_min"), ("edges[0].parametrization", "sqrt", "parametrization"),
        ("defaults.conductance.at_zero", "vanish", "at_zero"), ("defaults.conductance.parametrization", "rho", "k1"),
        ("A0", "1 1/(V*s)", "A0"), ("edges[1].b", "ground", "ground"), ("edges[0].R", "1 kOhm", "R"),
        ("outputs", ["v"], "v")]:
    model_case(f"{key}={_val(bad)}", key, bad, needle, model="voltage_divider")
# both θ limits given, and the initial κ outside them (the MOSFET's G outside [G_min, G_max] is refused)
model_case("theta_min>theta_max", "edges[0]", {**MODELS["voltage_divider"]["edges"][0], "theta_min": "2 mS",
                                               "theta_max": "1.5 mS"}, "theta_m", model="voltage_divider")
model_case("kappa-above-theta_max", "edges[1].theta_max", "0.2 mS", "k2", model="voltage_divider")
for key, bad, needle in [("edges[5].a", "n9_9", "n9_9"), ("outputs", ["O+", "O+"], "outputs"),
                         ("nodes[3].name", "Oplus", "O+"), ("edges[0].element", "diode", "diode")]:
    model_case(f"{key}={_val(bad)}", key, bad, needle, model="clln_4x4")
case("model-empty-file", run_files(model=""), RUN_ARGV, "model")
case("model-no-edges", run_files(model={"capacitance": "1 nF", "nodes": [{"name": "O"}],
                                        "sources": [{"node": "V1", "kind": "voltage", "value": "1 V"}]}),
     RUN_ARGV, "edges")
case("model-not-utf8", run_files(model=b"name = \"\xff\xfe\"\n"), RUN_ARGV, "model.toml")
case("model-not-toml", run_files(model="[[nodes]\nname = O"), RUN_ARGV, "model.toml")
case("model-is-directory", run_files(model="<dir>"), RUN_ARGV, "model.toml")
case("model-unreadable", {**run_files(), "model.toml": ("chmod", MODELS["two_plus_one"])}, RUN_ARGV, "model.toml",
     root_skip=True)

# protocol
for key, bad, needle in [
        ("kind", "three_task", "kind"), ("kind", DEL, "kind"), ("kind", 5, "kind"),
        ("tau", "-1 ms", "tau"), ("tau", "0 s", "tau"), ("tau", "nan ms", "tau"), ("tau", "inf s", "tau"),
        ("tau", 20, "tau"), ("tau", "20 V", "tau"), ("tau", DEL, "tau"), ("tau", ["20 ms"], "tau"),
        ("periods", 0, "periods"), ("periods", -1, "periods"), ("periods", 1.5, "periods"),
        ("periods", "200", "periods"), ("periods", True, "periods"),
        ("t_h", "0 s", "t_h"), ("t_h", "-1 us", "t_h"), ("t_h", "1 V", "t_h"), ("t_h", "nan s", "t_h"),
        ("nudge.rule", "bogus", "rule"), ("nudge.rule", 5, "rule"), ("nudge.eta", "x", "eta"),
        ("nudge.eta", "nan", "eta"), ("nudge", 5, "nudge"), ("nudge.beta", "1 uS", "beta"),
        ("nudge.rule", "overclamp", "L0"), ("nudge.gain", 1, "gain"),
        ("alpha", DEL, "alpha"), ("alpha", 5, "alpha"), ("alpha.points", [], "alpha.points"),
        ("alpha.points", 5, "alpha.points"), ("alpha.points[0]", 5, "alpha.points[0]"),
        ("alpha.points[0].inputs", {"nowhere": "1 V"}, "nowhere"),
        ("alpha.points[0].inputs", {"V1": "1 A"}, "V1"), ("alpha.points[0].inputs", "V1", "inputs"),
        ("alpha.points[0].labels", {"V1": "0.3 V"}, "V1"), ("alpha.points[0].labels", {"nowhere": "0.3 V"}, "nowhere"),
        ("alpha.points[0].labels", {"O": "nan V"}, "O"), ("alpha.points[0].outputs", {"O": "1 V"}, "outputs"),
        ("alpha.classification", "yes", "classification"),
        ("taus", "1 ms", "taus"), ("task", {"generator": "ring", "radius": "1 V"}, "task"), ("passes", 3, "passes"),
        ("learn", "yes", "learn"), ("waveforms", "sin", "waveforms"), ("waveforms", {"V1": "sin"}, "V1"),
        ("waveforms", {"V1": {"kind": "square", "amplitude": "1 V", "frequency": "1 kHz"}}, "kind"),
        ("waveforms", {"V1": {"kind": "sin", "amplitude": "1 V"}}, "frequency"),
        ("waveforms", {"V1": {"kind": "sin", "amplitude": "1 V", "frequency": "-1 kHz"}}, "frequency"),
        ("waveforms", {"nowhere": {"kind": "sine", "amplitude": "1 V", "frequency": "1 kHz"}}, "nowhere"),
        ("differential", [5], "differential"), ("differential", 5, "differential"),
        ("differential", [["O", "nowhere"]], "differential"), ("differential", ["OO"], "differential"),
        ("periods", 2**63 - 1, "periods")]:
    protocol_case(f"{key}={_val(bad) if bad is not DEL else 'missing'}", key, bad, needle)
for key, bad, needle in [
        ("passes", 0, "passes"), ("passes", 2.5, "passes"), ("passes", 2**62, "passes"),
        ("task", DEL, "task"), ("task.generator", "spiral", "generator"),
        ("task.generator", 5, "generator"), ("task.diameter", DEL, "diameter"), ("task.diameter", "1 A", "diameter"), ("task.radius", "0.1 V", "diameter"),
        ("task.split", -1, "split"), ("task.n", 0, "n"), ("task.n", 1.5, "n"), ("task.label", "1 s", "label"),
        ("task", {"generator": "grid", "half": "alpha", "n": 1}, "n >= 2"),
        ("differential", "O+", "differential"), ("differential", [["O+"]], "differential"),
        ("differential", [["O+", "O+"]], "differential"), ("tau", "1 ms", "tau")]:
    protocol_case(f"{key}={_val(bad) if bad is not DEL else 'missing'}", key, bad, needle, ring=True)
# a tiny t_h on tasks of several points: 10⁹ holds per half period, refused before the memory runs out
case("protocol-fig2b-t_h=1ps-two-points", run_files(protocol=mutate(mutate(FIG2B, "alpha.points", FIG2B["alpha"]["points"] * 2),
                                                               "t_h", "1 ps")), RUN_ARGV, "t_h")
case("protocol-empty-file", run_files(protocol=""), RUN_ARGV, "kind")

# run spec
for key, bad, needle in [
        ("protocol", 5, "protocol"), ("protocol", ["protocol.toml"], "protocol"), ("output", 5, "output"),
        ("output", "", "output"), ("model", 5, "model"), ("model", DEL, "model"), ("model", "nowhere.toml", "nowhere.toml"),
        ("protocol", "nowhere.toml", "nowhere.toml"), ("protocol", "sub", "sub"), ("protocol", DEL, "protocol"),
        ("parameters", "tau", "parameters"), ("parameters", {"tau": "x"}, "tau"),
        ("parameters", {"tau": "2 ms", "period": 2}, "period"), ("twins", "free", "twins"),
        ("twins", ["free", "bogus"], "bogus"), ("twins", [], "twins"), ("twins", [5], "twins"),
        ("twins", ["free", "free"], "twins"), ("seed", -1, "seed"), ("seed", 1.5, "seed"), ("seed", "0", "seed"),
        ("name", "../escape", "name"), ("name", 5, "name"), ("colour", "red", "colour"),
        ("schedule", {"segments": [{"duration": "1 ms"}]}, "protocol"),
        ("imperfections", 5, "imperfections"), ("imperfections.bias", 5, "bias"),
        ("imperfections.bias", {"nowhere": "1 V/s"}, "nowhere"), ("imperfections.bias", {"G1": "1 V"}, "G1"),
        ("imperfections.bias", {"G1": "nan V/s"}, "G1"), ("imperfections.bias_function", 5, "bias_function"),
        ("imperfections.bias_function", "G +", "bias_function"),
        ("imperfections.bias_function", "__import__('os').getcwd()", "bias_function"),
        ("imperfections.bias_function", "math.sqrt(3.2 - G)", "G2"),
        ("imperfections.A0_spread", "-1", "A0_spread"), ("imperfections.A0_spread", "1 V", "A0_spread"),
        ("imperfections.mismatch", {"R": 0.1}, "mismatch"), ("imperfections.mismatch", {"S": -2}, "S"),
        ("imperfections.mismatch", {"S": "5 V"}, "S"),
        ("imperfections.noise_read", "-1 V", "noise_read"), ("imperfections.noise_update", "1 V", "noise_update"),
        ("imperfections.drainage", {"nowhere": "1 MOhm"}, "nowhere"),
        ("imperfections.drainage", {"G1": "-1 MOhm"}, "G1"), ("imperfections.output_offset", {"V1": "1 mV"}, "V1"),
        ("imperfections.seed", 1, "seed"),
        ("simulation", 5, "simulation"), ("simulation.integrator", "euler", "integrator"),
        ("simulation.integrator", 5, "integrator"), ("simulation.rtol", 0, "rtol"), ("simulation.rtol", -1e-6, "rtol"),
        ("simulation.rtol", "nan", "rtol"), ("simulation.rtol", "inf", "rtol"), ("simulation.atol", "1 A", "atol"),
        ("simulation.atol", 1e-9, "atol"), ("simulation.chunk", 0, "chunk"), ("simulation.chunk", 2.5, "chunk"),
        ("simulation.chunk", "big", "chunk"), ("simulation.chunk", 10**12, "chunk"),
        ("simulation.record_interval", "-1 s", "record_interval"), ("simulation.dt", "0 s", "dt"),
        ("simulation.h_min", "0 s", "h_min"), ("simulation.initial", "hot", "initial"),
        ("simulation.tableau", "rk4", "tableau"), ("simulation.w_reuse", 0, "w_reuse"),
        ("simulation.w_reuse", 1.5, "w_reuse"), ("simulation.cycle_tol", "-1 V", "cycle_tol"),
        ("simulation.rtol_V", "nan", "rtol_V"), ("simulation.first_step", "inf s", "first_step"),
        ("simulation.newton_tol", 0, "newton_tol"), ("simulation.r0", "-1 s/V", "r0"),
        ("simulation.order", 4, "order"), ("simulation.cycle", "nope", "cycle"), ("simulation.cycle", 5, "cycle"),
        ("simulation.cycle_max_iter", 0, "cycle_max_iter"), ("simulation.cycle_max_iter", 2.5, "cycle_max_iter"),
        ("simulation.cycle_max_iter", "many", "cycle_max_iter")]:
    run_case(f"{key}={_val(bad) if bad is not DEL else 'missing'}", key, bad, needle)
# envelope following (issue 15): its keys, and the noise it cannot follow
for key, bad, needle in [("simulation.envelope", "yes", "envelope"), ("simulation.envelope", 1, "envelope"),
                         ("simulation.envelope_tol", "-1 uV", "envelope_tol"), ("simulation.envelope_tol", "0 V", "envelope_tol"),
                         ("simulation.envelope_tol", 1e-6, "envelope_tol"), ("simulation.envelope_tol", "1 s", "envelope_tol"),
                         ("simulation.envelope_passes", 1, "envelope_passes"),
                         ("simulation.envelope_passes", 2.5, "envelope_passes")]:
    run_case(f"{key}={_val(bad)}", key, bad, needle)
case("run-envelope-with-update-noise", run_files(mutate(mutate(RUN, "simulation.envelope", True),
                                                        "imperfections.noise_update", "1 mV/s^0.5")), RUN_ARGV, "noise_update")
case("run-protocol-is-directory", {**run_files(mutate(RUN, "protocol", "sub")), "sub": "<dir>"}, RUN_ARGV, "sub")
for key, bad, needle in [
        ("schedule.repeat", 0, "repeat"), ("schedule.repeat", 2**63, "repeat"), ("schedule.segments", [], "segments"),
        ("schedule.segments[0].duration", "-1 ms", "duration"), ("schedule.segments[0].duration", DEL, "duration"),
        ("schedule.segments[0].sources", {"w": "1 V"}, "w"), ("schedule.segments[0].labels", {"v": "1 V"}, "v"),
        ("schedule.segments[0].nudge", "sideways", "nudge"), ("schedule.segments[0].eta", "x", "eta"),
        ("schedule.segments[0].waveforms", "sin", "waveforms"), ("schedule.segments", 5, "segments"),
        ("parameters", {"tau": "1 ms"}, "parameters")]:
    run_case(f"{key}={_val(bad) if bad is not DEL else 'missing'}", key, bad, needle, base=DIVIDER_RUN)
# a conductance driven through zero with at_zero = "cross" (by an update bias of -0.74 S/s on κ2 =
# 0.5 mS, no nudge): κ1 + κ2 = 1.5 mS - 0.74 S/s t nears 0 at the end of the 2 ms and the output
# w = κ1/(κ1 + κ2) runs to ~50 V, 50 times the 1 V source: a passive network never leaves [0, 1] V
case("run-divider-at_zero=cross-runaway",
     run_files(mutate(mutate(DIVIDER_RUN, "imperfections", {"bias": {"k2": "-0.74 S/s"}}), "schedule.segments[0].eta", 0.0),
               mutate(MODELS["voltage_divider"], "defaults.conductance.at_zero", "cross"), None), RUN_ARGV, "'k2'")
# cycle = "shooting" needs a deterministic, periodic period map: no update or read noise, a drive
# that repeats every period (a 333 Hz sine does not repeat in a 2 ms period)
SHOOT_RUN = mutate(RUN, "simulation.cycle", "shooting")
for key, bad in [("imperfections.noise_update", "1 mV/s^0.5"), ("imperfections.noise_read", "1 mV")]:
    case(f"run-shooting-{key}", run_files(mutate(SHOOT_RUN, key, bad)), RUN_ARGV, key.split(".")[-1])
case("run-shooting-aperiodic-waveform",
     run_files(SHOOT_RUN, protocol=mutate(FIG2B, "waveforms", {"V1": {"kind": "sin", "amplitude": "1 mV",
                                                                    "frequency": "333 Hz"}})), RUN_ARGV, "cycle",
     extra=["333"])
# a mismatch σ of 500 % draws negative capacitances on the CLLN's clamped twin
case("run-clln-mismatch-capacitance=5", run_files(mutate(RING_RUN, "imperfections", {"mismatch": {"capacitance": 5}}),
                                                  MODELS["clln_4x4"], FIG5), RUN_ARGV, "capacitance")

# spec files themselves (the run spec and the CLI's spec argument)
case("run-spec-missing", {}, RUN_ARGV, "run.toml")
case("run-spec-is-directory", {"run.toml": "<dir>"}, RUN_ARGV, "run.toml")
case("run-spec-not-utf8", {"run.toml": b"name = '\xc3\x28'\n"}, RUN_ARGV, "run.toml")
case("run-spec-empty", {"run.toml": ""}, RUN_ARGV, "model")
case("run-spec-unreadable", {**run_files(), "run.toml": ("chmod", RUN)}, RUN_ARGV, "run.toml", root_skip=True)
case("run-output-under-file", {**run_files(), "f": "x"}, ["run", "{d}/run.toml", "-o", "{d}/f/out.zarr", "-q"], "f")
case("run-output-is-file", {**run_files(), "f": "x"}, ["run", "{d}/run.toml", "-o", "{d}/f", "-q"], "f")

# sweep specs and the sweep command
for key, bad, needle in [
        ("grid", 5, "grid"), ("grid", "tau", "grid"), ('grid."parameters.tau"', [], "parameters.tau"),
        ('grid."parameters.tau"', {"linspace": ["2 ms"], "num": 2}, "linspace"),
        ('grid."parameters.tau"', {"linspace": ["2 ms", "4 ms"], "num": 0}, "num"),
        ('grid."parameters.tau"', {"linspace": ["2 ms", "4 ms"], "num": 1.5}, "num"),
        ('grid."parameters.tau"', {"linspace": ["2 ms", "4 V"], "num": 2}, "linspace"),
        ('grid."parameters.tau"', {"logspace": ["-2 ms", "4 ms"], "num": 2}, "logspace"),
        ('grid."parameters.tau"', {"logspace": ["x ms", "4 ms"], "num": 2}, "logspace"),
        ('grid."parameters.tau"', {"steps": 3}, "parameters.tau"),
        ('grid."parameters.tau"', ["-2 ms"], "tau"), ('grid."seed"', {"range": -1}, "range"),
        ('grid."seed"', {"range": 1.5}, "range"), ('grid."simulation.rtol"', [-1.0], "rtol"),
        ('grid."nonsense.key"', [1], "nonsense"), ('grid."model.edges"', [1], "edges"),
        ('grid."parameters.tau.x"', [1], "parameters.tau"),
        ("zip", 5, "zip"), ("zip", [{"seed": [1, 2], "parameters.periods": [2]}], "zip[0]"),
        ("run", DEL, "run"), ("run", 5, "run"), ("run", "nowhere.toml", "nowhere.toml"),
        ("retries", -1, "retries"), ("retries", 1.5, "retries"), ("ensemble", 0, "ensemble"),
        ("output", 5, "output"), ("name", "../up", "name"), ("axes", {}, "axes")]:
    sweep_case(f"{key}={_val(bad) if bad is not DEL else 'missing'}", key, bad, needle)
case("sweep-empty-file", {"sweep.toml": ""}, SWEEP_ARGV, "run")
case("sweep-not-utf8", {"sweep.toml": b"\xff"}, SWEEP_ARGV, "sweep.toml")
case("sweep-is-directory", {"sweep.toml": "<dir>"}, SWEEP_ARGV, "sweep.toml")
case("sweep-ensemble-0", {**run_files(), "sweep.toml": SWEEP}, [*SWEEP_ARGV, "--ensemble", "0"], "ensemble")
case("sweep-workers-0", {**run_files(), "sweep.toml": SWEEP}, SWEEP_ARGV[:-1] + ["0"], "workers")
case("sweep-workers--1", {**run_files(), "sweep.toml": SWEEP}, SWEEP_ARGV[:-1] + ["-1"], "workers",
     process=True)
case("sweep-scheduler-nothing-listens", {**run_files(), "sweep.toml": SWEEP},
     ["sweep", "{d}/sweep.toml", "-o", "{d}/sweep.zarr", "-q", "--scheduler", "tcp://127.0.0.1:1"], "scheduler",
     process=True, deadline=20.0)
case("sweep-scheduler-not-an-address", {**run_files(), "sweep.toml": SWEEP},
     ["sweep", "{d}/sweep.toml", "-o", "{d}/sweep.zarr", "-q", "--scheduler", "nowhere::"], "scheduler")
case("sweep-output-under-file", {**run_files(), "sweep.toml": SWEEP, "f": "x"},
     ["sweep", "{d}/sweep.toml", "-o", "{d}/f/s.zarr", "-q", "--workers", "1"], "f")

# PULSE / PWL sources, switching ramps, prologues and tasks of a custom schedule
PULSE = {"kind": "pulse", "v1": "0 V", "v2": "0.4 V", "delay": "0.1 ms", "rise": "1 us", "fall": "1 us",
         "width": "0.2 ms", "period": "0.5 ms"}
PWL = {"kind": "pwl", "times": ["0 s", "1 ms"], "values": ["0 V", "0.4 V"]}
for key, bad, needle in [("rise", "-1 ms", "rise"), ("rise", "1 V", "rise"), ("rise", "x", "rise"),
                         ("waveforms", {"V+": {k: v for k, v in PULSE.items() if k != "fall"}}, "fall"),
                         ("waveforms", {"V+": {**PULSE, "rise": "0 s"}}, "rise"),
                         ("waveforms", {"V+": {**PULSE, "period": "0.1 ms"}}, "period"),
                         ("waveforms", {"V+": {**PULSE, "slope": 1}}, "slope"),
                         ("waveforms", {"V+": {**PULSE, "v2": "0.4 s"}}, "v2"),
                         ("waveforms", {"V+": {**PWL, "times": ["1 ms", "0 s"]}}, "times"),
                         ("waveforms", {"V+": {**PWL, "values": ["0 V"]}}, "V+"),
                         ("waveforms", {"V+": {**PWL, "times": "0 s"}}, "times"),
                         ("waveforms", {"V+": {**PWL, "repeat": "0.5 ms"}}, "repeat"),
                         ("waveforms", {"V+": {**PWL, "values": ["0 V", "1 A s"]}}, "values[1]"),
                         ("waveforms", {"V+": {"kind": 3}}, "kind"), ("waveforms", {"V+": 5}, "V+"),
                         ("prologue", 5, "prologue"), ("prologue", [{"sources": {"V1": "1 V"}}], "prologue[0].duration"),
                         ("prologue", [{"duration": "1 ms", "colour": 1}], "colour"),
                         ("prologue", [{"duration": "1 ms", "sources": {"nowhere": "1 V"}}], "nowhere")]:
    protocol_case(f"{key}={_val(bad)}-{needle}", key, bad, needle)
for key, bad, needle in [("schedule.prologue", 5, "prologue"), ("schedule.tasks", 5, "tasks"),
                         ("schedule.tasks", [{"name": "t"}], "points"), ("schedule.tasks", [5], "tasks[0]"),
                         ("schedule.tasks", [{"points": [{"inputs": {"nowhere": "1 V"}, "labels": {"w": "0.3 V"}}]}],
                          "nowhere"),
                         ("schedule.differential", [["w", "nowhere"]], "differential"),
                         ("schedule.segments[0].rise", "-1 us", "rise"),
                         ("schedule.segments[0].waveforms", {"v": {**PWL, "kind": "pwm"}}, "pwm"),
                         ("schedule", 5, "schedule")]:
    run_case(f"{key}={_val(bad)}", key, bad, needle, base=DIVIDER_RUN)

# export-spice
for argv, needle in [(["--tstep", "-1"], "tstep"), (["--tstep", "nan"], "tstep"), (["--tstep", "inf"], "tstep"),
                     (["--tstep", "0"], "tstep"), (["-o", "{d}/nowhere/deck.cir"], "nowhere"),
                     (["-o", "{d}"], "-o")]:
    export_case(f"{argv[0]}={argv[1].replace('{d}', 'D')}", run_files(), argv, needle)
for key, bad, needle in [("imperfections.drainage", {"G1": "10 MOhm"}, "drainage"),
                         ("imperfections.bias_function", "0.1 * G", "bias_function"),
                         ("imperfections.noise_update", "1 mV/s^0.5", "noise_update"),
                         ("imperfections.noise_read", "1 mV", "noise_read"),
                         ("imperfections.output_offset", {"O": "1 mV"}, "offset")]:
    export_case(f"{key}", run_files(mutate(RUN, key, bad)), [], needle)
export_case("save_at-irregular", run_files(mutate(RUN, "simulation.save_at", ["1 ms", "1.5 ms", "4 ms"])), [], "save_at")
export_case("rise-longer-than-segment", run_files(protocol=mutate(FIG2B, "rise", "5 ms")), [], "rise")
export_case("pulse-in-some-segments", run_files(mutate(DIVIDER_RUN, "schedule.segments", [
    {"duration": "1 ms", "sources": {"v": "1 V"}}, {"duration": "1 ms", "waveforms": {"v": PWL}}]),
    MODELS["voltage_divider"], None), [], "PULSE or PWL")
export_case("waveforms", run_files(protocol=mutate(FIG2B, "waveforms", {"V1": {"kind": "sin", "amplitude": "1 mV",
                                                                             "frequency": "1 kHz"}})), [], "waveforms")
export_case("model-unknown-node", {"model.toml": mutate(MODELS["two_plus_one"], "edges[0].a", "nowhere")}, [],
            "nowhere", spec="model.toml")
export_case("model-empty", {"model.toml": ""}, [], "has no edges", spec="model.toml")
export_case("model-missing-capacitance", {"model.toml": mutate(MODELS["two_plus_one"], "capacitance", DEL)}, [],
            "capacitance", spec="model.toml")
export_case("spec-missing", {}, [], "nothing.toml", spec="nothing.toml")
export_case("spec-is-directory", {"sub": "<dir>"}, [], "sub", spec="sub")

# analyze
case("analyze-missing", {}, ["analyze", "{d}/nothing.zarr"], "nothing.zarr")
case("analyze-plain-file", {"f.txt": "hello"}, ["analyze", "{d}/f.txt", "-o", "{d}/figs"], "f.txt")
case("analyze-empty-folder", {"empty": "<dir>"}, ["analyze", "{d}/empty", "-o", "{d}/figs"], "empty")
case("analyze-toml-folder", run_files(), ["analyze", "{d}", "-o", "{d}/figs"], "store")


# ---- running them -----------------------------------------------------------------------------------
def _write(d: Path, files: dict) -> None:
    for name, content in files.items():
        p = d / name
        if isinstance(content, tuple):             # ("chmod", content): written, then made unreadable
            p.write_text(dumps(content[1]))
            p.chmod(0)
        elif isinstance(content, dict):
            p.write_text(dumps(content))
        elif isinstance(content, bytes):
            p.write_bytes(content)
        elif content == "<dir>":
            p.mkdir()
        else:
            p.write_text(content)


def _cli(argv: list, capsys) -> tuple[int, str]:
    try:
        rc = main(argv)
    except SystemExit as exc:                  # argparse
        rc = exc.code
    except BaseException as exc:               # noqa: BLE001 - a traceback is what this file forbids
        capsys.readouterr()
        pytest.fail(f"traceback: {type(exc).__name__}: {exc}")
    return rc, capsys.readouterr().err


def _process(argv: list, deadline: float) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        p = subprocess.run([sys.executable, "-m", "tdsim.cli", *argv], capture_output=True, text=True,
                           timeout=deadline, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hang: no answer within {deadline} s")
    return p.returncode, p.stderr


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_bad_input(c: Case, tmp_path, capsys):
    if c.root_skip and os.geteuid() == 0:
        pytest.skip("root reads files whatever their permissions")
    _write(tmp_path, c.files)
    argv = [a.replace("{d}", str(tmp_path)) for a in c.argv]
    t0 = time.monotonic()
    rc, err = _process(argv, c.deadline) if c.process else _cli(argv, capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, f"traceback:\n{err}"
    assert rc not in (0, None), f"silently accepted (exit {rc}); stderr: {err!r}"
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    assert c.needle in lines[0], f"wrong blame: {c.needle!r} not in {lines[0]!r}"
    if c.process:
        assert time.monotonic() - t0 < c.deadline


def test_enough_cases():
    assert len(CASES) >= 150 and len({c.id for c in CASES}) == len(CASES)


# ---- the unchanged files are valid: each case's failure is its one change's -----------------------------
@pytest.mark.parametrize("run, model, protocol", [(RUN, "two_plus_one", FIG2B), (DIVIDER_RUN, "voltage_divider", None)],
                         ids=["two_plus_one", "divider"])
def test_valid_run(run, model, protocol, tmp_path, capsys):
    _write(tmp_path, run_files(run, MODELS[model], protocol))
    rc, err = _cli([a.replace("{d}", str(tmp_path)) for a in RUN_ARGV], capsys)
    assert rc == 0, err


def test_valid_ring_and_sweep_specs_load(tmp_path):
    from tdsim.runs.jobs import load_run
    from tdsim.runs.sweep import load_sweep
    _write(tmp_path, run_files(RING_RUN, MODELS["clln_4x4"], FIG5))
    assert load_run(tmp_path / "run.toml").segments.repeat == 1
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub", {**run_files(), "sweep.toml": SWEEP})
    assert len(load_sweep(tmp_path / "sub" / "sweep.toml").points) == 2


def test_valid_export(tmp_path, capsys):
    _write(tmp_path, run_files())
    rc, err = _cli(["export-spice", f"{tmp_path}/run.toml", "-o", f"{tmp_path}/deck.cir", "--tstep", "1e-5"], capsys)
    assert rc == 0, err
    assert ".tran" in (tmp_path / "deck.cir").read_text()
