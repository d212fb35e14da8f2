"""ngspice netlist export of a compiled circuit and a segment table, and a batch-mode runner.

``netlist(comp, tab, tstep=...)`` writes one deck holding every twin of ``comp`` over the whole
table; ``run_ngspice(deck, columns)`` runs it with ``ngspice -b`` and parses the result;
``ngspice_trajectory`` does both and resamples onto tdsim's sample times in tdsim's layout.

What the deck contains (all SI units):

- every node of every twin as ``<node>_<twin>`` (lower-case, sanitized, unique; ground is ``0``),
  with its capacitance to ground (``comp.cap``, per twin, so twin mismatch is exported);
- ideal voltage sources and current sources as PWL sources stepping at segment boundaries; a
  source with a series resistance is already a hidden held node plus a resistor edge in ``comp``;
- edges, per twin with that twin's parameters, as each element writes itself
  (``Element.spice_lines`` in its file of tdsim.core.elements): resistors as ``R``; most others as
  behavioural current sources ``B a b I=...`` (current a -> b), exactly the formulas of their
  compiled ``current`` (MOSFET ``S*max(G-VT-(Va+Vb)/2,0)*(Va-Vb)``, smoothed like the engine;
  ideal diode ``g*max(Va-Vb-Vf,0)``; Shockley ``Is*(exp(dv/nVt)-1)`` continued linearly beyond
  dv/nVt = 40 like the engine);
- one gate node per learnable edge, shared by the twins: a MOSFET gate ``g_<edge>`` on its
  capacitor C0, a trainable conductance's parameter θ on ``th_<edge>`` (1 F, so V = θ), charged by
  ``C*learn(t)*(scale*A0*f(θ)*(ΔV_a² - ΔV_b²) + B)`` (``kernels.gate_rates``; f = 1 for MOSFETs
  and κ, -κ² for ρ, κ for log κ); initial values by ``.ic``; fixed gates are constants;
- nudged twins' outputs held by behavioural voltage sources
  ``V = V(o_free) + s*V(eta)*(V(l_<out>) - V(o_free))`` (s = +1 clamped/plus, -1 minus), with the
  control nodes ``ctl_learn``, ``ctl_eta`` and ``ctl_l_<out>`` driven by PWL sources; under the EP
  force nudge the outputs stay free and a behavioural current source feeds each one
  ``I = s*V(eta)*(V(l_<out>) - V(o))`` (``ctl_eta`` then carries β in S; o is the twin's own output,
  or the free twin's for ``force_from_free``).

Not exported: the gate limits [G_min, G_max] and the κ = 0 rules of trainable conductances (a
hard clip of a capacitor voltage has no simple, faithful SPICE form). The deck lets gates run past
them; comparisons must stay inside the limits.

Step shape: every PWL step is a linear ramp of duration ``transition`` *centred* on the segment
boundary. A centred ramp has the same time integral as the ideal step, so the error it leaves in
a node that relaxes with time constant RC is second order, O((transition/RC)²), instead of the
first-order delay (transition/2)/RC of a ramp that starts at the boundary. The quadratic learning
rule is not integral-preserving across a ramp: each step of a drop from a to b moves a gate by
about A0·transition·(a-b)²/6 relative to an ideal step (~1e-7 V per switch for the 2+1-edge
network with a 2 ns ramp, measured 8e-8 V). Default: 1e-7 of the shortest segment (0.2 ns for
2 ms half periods); ngspice handles ramps far shorter than its own minimum breakpoint spacing.

Integration: ``method=gear`` (BDF-2, ngspice's default maxord). BDF-2 is L-stable: during slow
gate learning ngspice takes steps many RC times long, where the trapezoidal rule (A- but not
L-stable) would keep stiff node modes ringing with amplification -> -1 after every step; that
ringing enters ΔV² of the learning rule. ``chgtol`` (charge tolerance of the step control) is
lowered to ``vntol * smallest capacitance`` so it never loosens the node-voltage LTE check.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np

from tdsim.compile.build import Compiled
from tdsim.core.codes import WAVE_CONSTANT, WAVE_PWL
from tdsim.core.elements import BY_CODE, GATE, spice_num, spice_v
from tdsim.core.kernels import HOLD_NONE, HOLD_OUTPUT, HOLD_SOURCE, fill_held
from tdsim.core.nudges import BY_CODE as NUDGE_BY_CODE, FORCE
from tdsim.compile.table import Table
from tdsim.simulation.probes import segment_drive

__all__ = ["netlist", "run_ngspice", "node_column", "gate_column", "spice_names", "ngspice_trajectory",
           "resample", "NgspiceError", "RAWFILE"]

RAWFILE = "tdsim_spice.raw"      # written by the deck's .control block (ASCII raw file)
MAX_SEGMENTS = 100_000           # a periodic table is unrolled into PWL sources up to this many segments


class NgspiceError(RuntimeError):
    """ngspice is missing, failed, or stopped before the end of the transient."""


# ---------------------------------------------------------------------------------------------
# names


@dataclass
class Names:
    node: list        # node[t][n]: SPICE node of comp node n in twin t ("0" for ground)
    gate: dict        # edge index -> SPICE node of its gate / θ (learnable edges only)
    label: list       # label[k]: control node of output k's label
    learn: str = "ctl_learn"
    eta: str = "ctl_eta"


def _clean(name: str) -> str:
    s = str(name).lower().replace("+", "plus").replace("-", "minus")
    s = re.sub(r"[^a-z0-9_]", "_", s)
    return s or "n"


def spice_names(comp: Compiled) -> Names:
    """The deterministic SPICE names of every node of every twin, every gate and control node."""
    used = {"0", "ctl_learn", "ctl_eta"}

    def alloc(base):
        s, k = base, 2
        while s in used:
            s, k = f"{base}_{k}", k + 1
        used.add(s)
        return s

    node = []
    for t, twin in enumerate(comp.twins):
        row = ["0"]
        for n in range(1, comp.N):
            row.append(alloc(f"{_clean(comp.node_names[n])}_{_clean(twin)}"))
        node.append(row)
    gate = {}
    for e in range(comp.E):
        if comp.learn[e]:
            prefix = "g" if BY_CODE[int(comp.code[e])].theta == GATE else "th"
            gate[e] = alloc(f"{prefix}_{_clean(comp.edge_names[e])}")
    label = [alloc(f"ctl_l_{_clean(comp.node_names[o])}") for o in comp.out_node]
    return Names(node, gate, label)


def node_column(comp: Compiled, twin, node) -> str:
    """Vector name (``v(<node>_<twin>)``) of ``node`` (name or index) in ``twin`` (name or index)."""
    t = comp.twins.index(twin) if isinstance(twin, str) else int(twin)
    n = comp.node_names.index(node) if isinstance(node, str) else int(node)
    name = spice_names(comp).node[t][n]
    if name == "0":
        raise ValueError("ground is node 0 in SPICE; it has no vector")
    return f"v({name})"


def gate_column(comp: Compiled, edge) -> str:
    """Vector name of a learnable edge's gate voltage (MOSFET G) or parameter θ (conductance)."""
    e = comp.edge_names.index(edge) if isinstance(edge, str) else int(edge)
    names = spice_names(comp)
    if e not in names.gate:
        raise ValueError(f"edge {comp.edge_names[e]!r} does not learn: its gate is a constant in the deck")
    return f"v({names.gate[e]})"


# ---------------------------------------------------------------------------------------------
# netlist


def _pwl(t_end: np.ndarray, values: np.ndarray, tr: float, rise: np.ndarray | None = None) -> str:
    """PWL of a piecewise-constant signal; each change is a ramp of width tr centred on the
    boundary, or, into a segment with a switching ramp (``rise[i] > 0``), tdsim's ramp: linear
    from the boundary over rise[i]."""
    pts = [(0.0, values[0])]
    for i in range(len(values) - 1):
        if values[i + 1] != values[i]:
            tb = float(t_end[i])
            r = 0.0 if rise is None else float(rise[i + 1])
            pts += [(tb, values[i]), (tb + r, values[i + 1])] if r > 0 else \
                   [(tb - 0.5 * tr, values[i]), (tb + 0.5 * tr, values[i + 1])]
    pts.append((float(t_end[-1]), values[-1]))
    return _pwl_words(pts)


def _pwl_words(pts, repeat: float | None = None) -> str:
    words = [f"{repr(float(t))} {repr(float(v))}" for t, v in pts]
    lines = [" ".join(words[i:i + 6]) for i in range(0, len(words), 6)]
    tail = f" r={float(repeat)!r}" if repeat is not None else ""
    return "PWL(" + "\n+ ".join(lines) + ")" + tail     # continuation lines keep every line short


def _source(tab: Table, j: int, t_end: np.ndarray, tr: float) -> str:
    """The SPICE waveform of source column j: a PWL of its segment values (with tdsim's switching
    ramps), or its own PWL (a tdsim PULSE or PWL source, knots and repeat as the engine reads them)."""
    from tdsim.errors import SpecError
    pw = tab.wave[:, j] == WAVE_PWL
    if not pw.any():
        durations = np.diff(np.concatenate([[0.0], t_end]))
        if np.any(tab.rise >= durations):
            raise SpecError("export-spice", "a switching ramp (rise) as long as its segment is not exported to SPICE")
        return _pwl(t_end, tab.src[:, j], tr, tab.rise)
    same = (tab.k_first[:, j] == tab.k_first[0, j]) & (tab.k_end[:, j] == tab.k_end[0, j]) & \
           (tab.k_rep[:, j] == tab.k_rep[0, j])
    if not (pw.all() and same.all()):
        raise SpecError("export-spice", "a source with a PULSE or PWL waveform in some segments only (or different "
                                        "ones) is not exported to SPICE yet: give it the same waveform in every segment")
    if np.any(tab.rise > 0):
        raise SpecError("export-spice", "switching ramps (rise) on a PULSE or PWL source are not exported to SPICE")
    a, b, r = int(tab.k_first[0, j]), int(tab.k_end[0, j]), int(tab.k_rep[0, j])
    pts = list(zip(tab.knot_t[a:b], tab.knot_v[a:b]))
    if pts[0][0] > 0:
        pts.insert(0, (0.0, pts[0][1]))           # the engine holds the first value before the first knot
    return _pwl_words(pts, float(tab.knot_t[r]) if r >= 0 else None)


def _transition(t_end, transition) -> float:
    durations = np.diff(np.concatenate([[0.0], np.asarray(t_end, dtype=np.float64)]))
    tr = 1e-7 * float(durations.min()) if transition is None else float(transition)
    if not (0 < tr < durations.min()):
        raise ValueError(f"transition {tr!r} must be > 0 and shorter than the shortest segment")
    return tr


def unrolled(tab: Table) -> Table:
    """The periodic table as one period (PWL sources list every segment); refused above
    MAX_SEGMENTS segments, where the deck would be impractically large."""
    from tdsim.errors import SpecError
    if tab.segments > MAX_SEGMENTS:
        raise SpecError("export-spice", f"the schedule has {tab.segments} segments ({len(tab.dur)} per period x "
                        f"{tab.repeat} periods); PWL export is limited to {MAX_SEGMENTS}: export fewer periods")
    return tab.unrolled()


def _check_exportable(tab: Table) -> None:
    """Waveform sources, nudge rules without a SPICE form (``Rule.spice``) and output offsets are
    not exported yet: say so, do not write a deck that silently differs from the simulation."""
    from tdsim.errors import SpecError
    rules = [NUDGE_BY_CODE[int(c)] for c in np.unique(tab.mode)]
    forces = [r for r in rules if r.acts == FORCE]
    bad = [("sinusoidal source waveforms", np.any((tab.wave != WAVE_CONSTANT) & (tab.wave != WAVE_PWL)))]
    bad += [(r.spice, True) for r in rules if r.spice is not None]
    bad += [("runs mixing " + " and ".join(r.name for r in forces) + " nudges",
             len({r.reads_free for r in forces}) > 1),
            ("output measurement offsets", np.any(tab.offset != 0)), ("differential outputs", np.any(tab.partner >= 0)),
            ("overclamping step times", np.any(tab.timing != 0))]
    for what, present in bad:
        if present:
            raise SpecError("export-spice", f"{what} are not exported to SPICE yet")


def _check_exportable_circuit(comp: Compiled) -> None:
    """Gate drainage, a state-dependent bias and noise are not in the deck yet: refuse, as for
    waveforms, rather than write a deck that silently simulates another circuit."""
    from tdsim.errors import SpecError
    for key, present in (("imperfections.drainage", np.any(comp.leak != 0)),
                         ("imperfections.bias_function", comp.bias_function is not None),
                         ("imperfections.noise_update", comp.noise_update != 0),
                         ("imperfections.noise_read", comp.noise_read != 0)):
        if present:
            raise SpecError("export-spice", f"{key} is not exported to SPICE yet")


def netlist(comp: Compiled, tab: Table, *, tstep: float, reltol: float = 1e-7, abstol: float = 1e-12,
            vntol: float = 1e-9, title: str | None = None, initial_V=None, theta0=None,
            tmax: float | None = None, transition: float | None = None, chgtol: float | None = None,
            method: str = "gear", rawfile: str = RAWFILE, tstart: float = 0.0, interp: bool = False) -> str:
    """An ngspice deck of every twin of ``comp`` driven through the segment table ``tab``.

    tstep: print step of ``.tran`` (ngspice also caps its step at tstep unless ``tmax`` is given).
    initial_V: (T, N) node voltages at t = 0 -> ``.ic`` on every free node and ``uic``; None: ngspice
    computes the operating point at t = 0 with the gates held at their ``.ic`` (tdsim's
    ``initial="dc"``). theta0: initial gates (default ``comp.theta0``). transition: width of the
    centred ramp at each step (default 1e-7 of the shortest segment). tstart: the first printed
    time; interp: print at exactly tstart + k·tstep (ngspice ``.options interp``) instead of at
    ngspice's own steps (an even ``save_at`` grid; its steps are then capped at tstep/20 unless
    ``tmax`` is given, so the linear interpolation stays below the integration error). chgtol: default
    ``min(1e-14, vntol * smallest node capacitance)``. The deck writes every vector to the ASCII
    raw file ``rawfile`` (relative to ngspice's working directory) and quits.
    """
    if not (tstep > 0 and math.isfinite(tstep)):
        raise ValueError(f"tstep must be a positive time, got {tstep!r}")
    tab = unrolled(tab)
    _check_exportable(tab)
    _check_exportable_circuit(comp)
    T, N, E = comp.T, comp.N, comp.E
    names = spice_names(comp)
    theta0 = np.asarray(comp.theta0 if theta0 is None else theta0, dtype=np.float64)
    t_end = np.asarray(tab.t_end, dtype=np.float64)
    tr = _transition(t_end, transition)
    caps = comp.cap[comp.hold == HOLD_NONE]
    caps = caps[caps > 0]
    if chgtol is None:
        chgtol = min(1e-14, vntol * float(caps.min())) if caps.size else 1e-14
    title = title or f"tdsim export of circuit {comp.circuit.name!r}"
    L = [title.replace("\n", " "),
         "* written by tdsim.spice.netlist; currents flow a -> b through each edge",
         f"* twins: {', '.join(comp.twins)}; node <name>_<twin>; ground = 0",
         "* gate limits [G_min, G_max] are NOT modelled: gates may run past them here",
         f"* steps: linear ramps of {tr:.6g} s centred on each segment boundary", ""]

    # control signals
    L.append("* control signals (learn on/off, eta, labels)")
    L.append(f"Vctl_learn {names.learn} 0 {_pwl(t_end, tab.learn.astype(np.float64), tr)}")
    if T > 1:
        L.append(f"Vctl_eta {names.eta} 0 {_pwl(t_end, np.asarray(tab.eta, dtype=np.float64), tr)}")
        for k, lab in enumerate(names.label):
            L.append(f"Vctl_l{k} {lab} 0 {_pwl(t_end, tab.labels[:, k], tr)}")
    L.append("")

    ic = {}
    for t, twin in enumerate(comp.twins):
        nm = names.node[t]
        L.append(f"* ---- twin {twin!r}")
        for n in range(1, N):
            h = comp.hold[t, n]
            if h == HOLD_SOURCE:
                j = comp.hidx[t, n]
                L.append(f"Vsrc{t}_{n} {nm[n]} 0 {_source(tab, j, t_end, tr)}")
            elif h == HOLD_OUTPUT:
                k = comp.hidx[t, n]
                of = spice_v(names.node[0][comp.out_node[k]])
                s = comp.nudge[t]
                L.append(f"Bout{t}_{n} {nm[n]} 0 V={of}+{spice_num(s)}*{spice_v(names.eta)}*({spice_v(names.label[k])}-{of})")
            elif h == HOLD_NONE:
                if comp.cap[t, n] > 0:
                    L.append(f"Cn{t}_{n} {nm[n]} 0 {spice_num(comp.cap[t, n])}")
                if initial_V is not None:
                    ic[nm[n]] = float(np.asarray(initial_V).reshape(T, N)[t, n])
            if comp.inj[n] >= 0:
                L.append(f"Iinj{t}_{n} 0 {nm[n]} {_source(tab, int(comp.inj[n]), t_end, tr)}")
        if getattr(comp, "force_nudge", False) and comp.nudge[t] != 0:
            own = not any(NUDGE_BY_CODE[int(c)].reads_free for c in np.unique(tab.mode))
            for k, n in enumerate(comp.out_node):
                o = spice_v(nm[n] if own else names.node[0][n])
                L.append(f"Bforce{t}_{k} 0 {nm[n]} I={spice_num(comp.nudge[t])}*{spice_v(names.eta)}*({spice_v(names.label[k])}-{o})")
        for e in range(E):
            a, b = nm[comp.ea[e]], nm[comp.eb[e]]
            th = names.gate[e] if e in names.gate else float(theta0[e])    # a θ node, or fixed
            L += BY_CODE[int(comp.code[e])].spice_lines(f"e{t}_{e}", a, b, th, comp.par[t, e])
        L.append("")

    # gates
    la, lb = comp.learn_pair
    by_name = {ed.name: ed for ed in comp.circuit.edges}
    if names.gate:
        L.append("* learnable gates: C dG/dt = C learn(t) (scale A0 f (dV_a^2 - dV_b^2) + B)")
    for e, g in names.gate.items():
        el = by_name[comp.edge_names[e]].element
        cg = el.gate_capacitance()
        rate = spice_num(comp.learn_scale * comp.A0[e])
        f = el.spice_slope(comp.par[0, e], spice_v(g))
        da = f"({spice_v(names.node[la][comp.ea[e]])}-{spice_v(names.node[la][comp.eb[e]])})"
        db = f"({spice_v(names.node[lb][comp.ea[e]])}-{spice_v(names.node[lb][comp.eb[e]])})"
        L.append(f"Cg_{e} {g} 0 {spice_num(cg)}")
        L.append(f"Bg_{e} 0 {g} I={spice_num(cg)}*{spice_v(names.learn)}*({rate}{f}*({da}*{da}-{db}*{db})"
                 f"+{spice_num(comp.B[e])})")
        ic[g] = float(theta0[e])
    L.append("")
    if ic:
        L.append(".ic " + " ".join(f"V({k})={repr(v)}" for k, v in ic.items()))
    L.append(f".options reltol={reltol!r} abstol={abstol!r} vntol={vntol!r} chgtol={chgtol!r} "
             f"method={method}" + (" interp" if interp else ""))
    if interp and tmax is None:
        tmax = tstep / 20         # ngspice interpolates its own steps linearly onto the grid: keep them fine
    tran = f".tran {tstep!r} {float(t_end[-1])!r}"
    if tmax is not None or initial_V is not None or tstart:
        tran += f" {float(tstart)!r} {float(tmax if tmax is not None else tstep)!r}"
    if initial_V is not None:
        tran += " uic"
    L.append(tran)
    L += [".control", "set filetype=ascii", "run", f"write {rawfile}", "quit 0", ".endc", ".end", ""]
    return "\n".join(L)


# ---------------------------------------------------------------------------------------------
# running and parsing


def run_ngspice(deck: str, columns=None, *, timeout: float = 600.0, workdir=None):
    """Run ``deck`` with ``ngspice -b`` in a temporary directory (or ``workdir``) and parse the
    ASCII raw file it writes. Returns ``(t, values)``: ``values`` is an array (K, len(columns)) of
    the requested vectors (``"v(node)"`` or ``"node"``, case-insensitive), or a dict of every
    vector when ``columns`` is None. Raises NgspiceError with the tail of ngspice's output when
    ngspice is missing, fails, or stops before ``tstop``."""
    exe = shutil.which("ngspice")
    if exe is None:
        raise NgspiceError("ngspice was not found on PATH (Debian/Ubuntu: apt-get install ngspice)")
    m = re.search(r"^\s*write\s+(\S+)", deck, flags=re.M | re.I)
    if m is None:
        raise NgspiceError("the deck has no 'write <rawfile>' line in a .control block")
    raw_name = m.group(1)
    with tempfile.TemporaryDirectory(prefix="tdsim_spice_") as tmp:
        wd = workdir or tmp
        path = os.path.join(wd, "deck.cir")
        with open(path, "w") as fh:
            fh.write(deck)
        raw = os.path.join(wd, raw_name)
        try:
            proc = subprocess.run([exe, "-b", path], cwd=wd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise NgspiceError(f"ngspice did not finish within {timeout} s") from exc
        out = (proc.stdout or "") + (proc.stderr or "")
        errors = [ln for ln in out.splitlines() if re.match(r"\s*(error|fatal)", ln, re.I)]
        if proc.returncode != 0 or errors or not os.path.exists(raw):
            raise NgspiceError(f"ngspice failed (exit code {proc.returncode}):\n" + _tail(out))
        names, data = _read_raw(raw)
    t = data[:, 0]
    tran = re.search(r"^\s*\.tran\s+(\S+)\s+(\S+)", deck, flags=re.M | re.I)
    if tran is not None:
        tstop = float(tran.group(2))
        if t.size == 0 or t[-1] < tstop * (1 - 1e-9):
            raise NgspiceError(f"ngspice stopped at t = {t[-1] if t.size else 0.0:.6g} s before "
                               f"tstop = {tstop:.6g} s:\n" + _tail(out))
    vecs = {n: data[:, i] for i, n in enumerate(names)}
    if columns is None:
        return t, vecs
    cols = []
    for c in columns:
        key = _vec_key(c)
        if key not in vecs:
            raise KeyError(f"no vector {c!r} in ngspice's output; it has {', '.join(sorted(vecs))}")
        cols.append(vecs[key])
    return t, np.stack(cols, axis=1) if cols else np.zeros((t.size, 0))


def _vec_key(c: str) -> str:
    c = c.strip().lower()
    if c in ("time",) or c.startswith(("v(", "i(")):
        return c
    return f"v({c})"


def _tail(text: str, n: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def _read_raw(path: str):
    """Parse an ngspice ASCII raw file (real data): variable names and a (points, vars) array."""
    with open(path) as fh:
        lines = fh.read().splitlines()
    nvar = npts = None
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("No. Variables:"):
            nvar = int(ln.split(":")[1])
        elif ln.startswith("No. Points:"):
            npts = int(ln.split(":")[1])
        elif ln.startswith("Flags:") and "complex" in ln:
            raise NgspiceError("complex raw data (AC analysis) is not supported")
        elif ln.startswith("Variables:"):
            break
        i += 1
    if nvar is None or npts is None:
        raise NgspiceError(f"cannot parse ngspice raw file {path}")
    names = [lines[i + 1 + k].split()[1].lower() for k in range(nvar)]
    i += 1 + nvar
    if not lines[i].startswith("Values:"):
        raise NgspiceError(f"cannot parse ngspice raw file {path}: no Values section")
    tokens = " ".join(lines[i + 1:]).split()
    # each point: index, then nvar values
    arr = np.array(tokens, dtype=np.float64).reshape(-1, nvar + 1)[:, 1:]
    return names, arr[:npts]


def resample(t_spice: np.ndarray, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Linear interpolation of ngspice's columns (K, C) onto the times ``t``."""
    values = np.asarray(values)
    return np.stack([np.interp(t, t_spice, values[:, j]) for j in range(values.shape[1])], axis=1)


def ngspice_trajectory(comp: Compiled, tab: Table, t, *, tstep: float, **netlist_kw):
    """Run the exported deck and return ``(V, theta)`` resampled at times ``t`` in tdsim's layout:
    V (K, T, N) (ground 0) and theta (K, E) (fixed edges keep theta0).

    A time on a segment boundary (other than the last) is read at the start of the step's ramp,
    boundary - transition/2: the left limit, which is what tdsim records at a segment end."""
    t = np.asarray(t, dtype=np.float64)
    tab = unrolled(tab)
    tr = _transition(tab.t_end, netlist_kw.get("transition"))
    tq = t.copy()
    for tb in tab.t_end[:-1]:
        tq[np.abs(t - tb) <= 1e-9 * tb] = tb - 0.5 * tr
    names = spice_names(comp)
    cols, where = [], []
    for tw in range(comp.T):
        for n in range(1, comp.N):
            cols.append(f"v({names.node[tw][n]})")
            where.append(("V", tw, n))
    for e, g in names.gate.items():
        cols.append(f"v({g})")
        where.append(("th", e, 0))
    ts, vals = run_ngspice(netlist(comp, tab, tstep=tstep, **netlist_kw), cols)
    if ts[0] > 0 and netlist_kw.get("initial_V") is not None:
        # with uic ngspice writes no t = 0 point: add it from the initial state (held nodes set
        # as the engine sets them at t = 0)
        V0 = np.array(netlist_kw["initial_V"], dtype=np.float64).reshape(comp.T, comp.N)
        drv, _ = segment_drive(tab, 0)
        fill_held(V0, comp.hold, comp.hidx, tab.src[0].astype(np.float64), drv, comp.nudge, comp.out_node)
        th0 = np.asarray(comp.theta0 if netlist_kw.get("theta0") is None else netlist_kw["theta0"])
        row = [V0[i, n] if kind == "V" else th0[i] for kind, i, n in where]
        ts = np.concatenate([[0.0], ts])
        vals = np.vstack([np.asarray(row, dtype=np.float64)[None], vals])
    r = resample(ts, vals, tq)
    V = np.zeros((t.size, comp.T, comp.N))
    theta0 = netlist_kw.get("theta0")
    theta = np.repeat(np.asarray(comp.theta0 if theta0 is None else theta0, dtype=np.float64)[None], t.size, 0)
    for j, (kind, i, n) in enumerate(where):
        if kind == "V":
            V[:, i, n] = r[:, j]
        else:
            theta[:, i] = r[:, j]
    return V, theta
