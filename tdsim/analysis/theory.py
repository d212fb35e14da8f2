"""The linear bias theory of Dillavou et al. App. D, and bias inference (App. E).

Near a solution G*_μ of task μ the learning dynamics are linear (Eq. D2),

    dG/dt = −M_μ (G − G*_μ) + B,   M_μ = γ ∂²C_μ/∂G² at G*_μ,

and over a half period τ/2 (Eqs. D4, D8, D9) G ↦ A_μ G + b_μ with

    A_μ = e^{−M_μ τ/2},   b_μ = Φ_μ(τ/2) (M_μ G*_μ + B),   Φ_μ(t) = ∫₀ᵗ e^{−M_μ s} ds.

Φ is taken from one block matrix exponential (Van Loan), which is Eq. D9's
(1 − e^{−Mt})(G* + M†B) + t N B without splitting M into range and null space; M need not be
symmetric (a MOSFET's conductance depends on its voltages). The closed orbit starts, at the
beginning of task α, at Ḡ0 = (I − A_β A_α)⁻¹ (A_β b_α + b_β) (Eq. D11).

M_μ is computed from the circuit itself: minus the Jacobian of the task's mean learning rate
(the engine's own rule, Dillavou Eq. 3, on the Kirchhoff states of the twins), which for linear
conductances equals γ × the Hessian of C = P_C − P_F (tests check this against numpy).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import expm
from scipy.optimize import least_squares

from tdsim.compile.build import build
from tdsim.errors import SpecError
from tdsim.simulation.measure import TaskMeter
from tdsim.model.protocols import Task, TwoTask, points
from tdsim.compile.table import table
from tdsim.simulation.probes import gate_rates
from tdsim.simulation.probes import kirchhoff_solve


class TaskField:
    """The learning drift of one task, averaged over its points: F(G) = ⟨dG/dt⟩ without bias."""

    def __init__(self, c, task: Task, nudge, t_h: float, theta: np.ndarray):
        self.c, self.task = c, task
        self.tab = table(points(task, t_h, None, nudge, True, {}, {}), c)
        self.w = self.tab.dur / self.tab.dur.sum()
        self.theta = np.array(theta, float)              # the non-learning edges' values
        self.idx = np.flatnonzero(c.learn)

    def _full(self, G):
        th = self.theta.copy()
        th[self.idx] = G
        return th

    def __call__(self, G) -> np.ndarray:
        c, th = self.c, self._full(G)
        out = np.zeros(c.E)
        for i, w in enumerate(self.w):
            out += w * gate_rates(c, kirchhoff_solve(c, th, self.tab, seg=i), th, bias=False, limits=False)
        return out[self.idx]

    def jacobian(self, G, h: float = 1e-5) -> np.ndarray:
        """∂F/∂G by central differences (h in V; the error is O(h²) relative to curvature scales)."""
        G = np.asarray(G, float)
        J = np.empty((len(G), len(G)))
        for j in range(len(G)):
            d = np.zeros(len(G))
            d[j] = h
            J[:, j] = (self(G + d) - self(G - d)) / (2 * h)
        return J


def flow(M: np.ndarray, t: float) -> tuple:
    """(e^{−Mt}, ∫₀ᵗ e^{−Ms} ds) from one exponential of [[−M, I], [0, 0]] t."""
    n = len(M)
    Z = np.zeros((2 * n, 2 * n))
    Z[:n, :n] = -M
    Z[:n, n:] = np.eye(n)
    E = expm(Z * t)
    return E[:n, :n], E[:n, n:]


def null_projector(M: np.ndarray, rel: float = 1e-6) -> np.ndarray:
    """Spectral projector N onto M's (near-)zero eigenvalues (|λ| ≤ rel max|λ|), along its range:
    the drift N B that bias drives along a task's solution space (Eq. D5)."""
    lam, R = np.linalg.eig(M)
    L = np.linalg.inv(R)
    z = np.abs(lam) <= rel * np.max(np.abs(lam))
    return np.real(R[:, z] @ L[z, :])


@dataclass
class Orbit:
    tau: float
    G0: np.ndarray          # start of task α on the closed orbit (Eq. D11)
    G_half: np.ndarray      # end of task α = start of task β
    D: float                # cycle span ‖G(τ/2) − G(τ)‖ (Eq. 4)
    E_bar: float            # combined error (Eq. A4) of the circuit at the orbit's two switch points
    inside: bool            # the orbit stays within the gates' limits (outside: the theory does not apply)


class BiasTheory:
    """Linearized two-task dynamics of a run spec (two-task protocol) around its solutions.

    ``solution``: "joint" (compatible tasks: G*_α = G*_β = the joint solution, found from
    ``center``) or "nearest" (each task's solution nearest ``center``; for an incompatible pair the
    paper takes G*_α and the point of β's solution set nearest it: pass ``center=None`` for that).
    ``B`` defaults to the spec's bias on the learning edges (V/s).

    ``linearize``: "solution" (the paper: M_μ at G*_μ, dG/dt = −M_μ(G − G*_μ) + B) or "center"
    (the affine expansion F_μ(G_c) + J_μ(G − G_c) + B of both task fields at the small-τ orbit
    centre G_c, where ½(F_α + F_β) + B = 0: still linear dynamics, expanded where the orbit lives;
    it removes most of the curvature error that grows with |B|)."""

    def __init__(self, spec, B=None, center=None, solution: str = "joint", h: float = 1e-5,
                 linearize: str = "solution"):
        proto = spec.resolved.get("protocol") if spec.resolved else None
        if not spec.tasks or len(spec.tasks) != 2:
            raise SpecError("protocol", "the bias theory needs a two-task protocol")
        from tdsim.io.spec import merge, protocol_from_dict
        self.protocol = protocol_from_dict(merge(proto, spec.resolved.get("parameters", {})))
        if not isinstance(self.protocol, TwoTask):
            raise SpecError("protocol.kind", "the bias theory needs a two_task protocol")
        c = build(spec.circuit, spec.twins)                   # no imperfections: B enters explicitly
        self.c = c
        self.idx = np.flatnonzero(c.learn)
        self.names = [c.edge_names[e] for e in self.idx]
        self.theta = c.theta0.copy()
        self.meter = TaskMeter(c, spec.tasks, spec.differential)
        self.tasks = spec.tasks
        p = self.protocol
        self.fields = [TaskField(c, t, p.nudge, p.t_h, self.theta) for t in spec.tasks]
        if B is None:
            b = spec.imperfections.bias
            B = [float(b.get(n, 0.0)) for n in self.names]
        self.B = np.asarray(B, float)
        G0 = self.theta[self.idx] if center is None else np.asarray(center, float)
        if solution == "joint":
            Gs = self.solve(range(len(self.tasks)), G0)
            self.G_star = [Gs, Gs]
        elif solution == "nearest":
            if center is None:                   # G*_α, then β's solution nearest to it
                a = self.solve([0], G0)
                self.G_star = [a, self.solve([1], a)]
            else:
                self.G_star = [self.solve([k], G0) for k in range(2)]
        else:
            raise SpecError("solution", f"unknown {solution!r} (joint or nearest)")
        self.M = [-f.jacobian(g, h) for f, g in zip(self.fields, self.G_star)]
        self.drive = [M @ g + self.B for M, g in zip(self.M, self.G_star)]     # dG/dt = −M G + drive
        if linearize == "center":
            self.G_center = self._center(h)
            self.M = [-f.jacobian(self.G_center, h) for f in self.fields]
            self.drive = [f(self.G_center) + M @ self.G_center + self.B for f, M in zip(self.fields, self.M)]
        elif linearize != "solution":
            raise SpecError("linearize", f"unknown {linearize!r} (solution or center)")
        self.gmin, self.gmax = c.gmin[self.idx], c.gmax[self.idx]

    def _center(self, h):
        """The zero of the mean field ½(F_α + F_β) + B, from the linear estimate."""
        from scipy.optimize import root
        Mbar = 0.5 * (self.M[0] + self.M[1])
        g = np.linalg.lstsq(Mbar, self.B, rcond=None)[0] + 0.5 * (self.G_star[0] + self.G_star[1])
        sol = root(lambda G: 0.5 * (self.fields[0](G) + self.fields[1](G)) + self.B, g, tol=1e-13)
        if not sol.success:
            raise SpecError("linearize", f"no orbit centre found near {g}: {sol.message}")
        return sol.x

    def _residuals(self, tasks, G):
        th = self.theta.copy()
        th[self.idx] = G
        r = []
        for k in tasks:
            d, L = self.meter.outputs(th, k)
            r.append((L - d).ravel())
        return np.concatenate(r)

    def solve(self, tasks, G0) -> np.ndarray:
        """A zero-error point of ``tasks`` reached from G0 by least squares (Gauss–Newton from G0
        lands on the nearest point of a solution line); the least-error point if none exists."""
        sol = least_squares(lambda G: self._residuals(list(tasks), G), np.asarray(G0, float),
                            xtol=1e-14, ftol=1e-14, gtol=1e-14)
        return sol.x

    def half_period(self, mu: int, tau: float) -> tuple:
        """(A_μ, b_μ) of Eqs. D8, D9 for a half period τ/2."""
        A, Phi = flow(self.M[mu], tau / 2)
        return A, Phi @ self.drive[mu]

    def orbit(self, tau: float) -> Orbit:
        """The closed orbit of Eq. D11 and its span and combined error."""
        Aa, ba = self.half_period(0, tau)
        Ab, bb = self.half_period(1, tau)
        n = len(self.idx)
        G0 = np.linalg.lstsq(np.eye(n) - Ab @ Aa, Ab @ ba + bb, rcond=None)[0]
        Gh = Aa @ G0 + ba
        path = self.path(tau, G0, 64)
        inside = bool(np.all(path >= self.gmin) and np.all(path <= self.gmax))
        E = [np.mean(self.errors(G)) for G in (Gh, G0)]
        return Orbit(tau, G0, Gh, float(np.linalg.norm(Gh - G0)), float(np.mean(E)), inside)

    def path(self, tau: float, G0=None, n: int = 64) -> np.ndarray:
        """G along one period of the orbit from G0 (default Ḡ0): (2n+1, edges)."""
        G0 = self.orbit(tau).G0 if G0 is None else G0
        out = [np.asarray(G0, float)]
        for mu in (0, 1):
            A, Phi = flow(self.M[mu], tau / (2 * n))
            drive = Phi @ self.drive[mu]
            for _ in range(n):
                out.append(A @ out[-1] + drive)
        return np.array(out)

    def errors(self, G) -> np.ndarray:
        """Each task's error (Eqs. A1/A2) of the circuit at learning-edge gates G."""
        th = self.theta.copy()
        th[self.idx] = G
        return self.meter.errors(th)

    def predict(self, taus) -> dict:
        """Ē(τ) and D(τ) (NaN where the orbit leaves the gates' limits: the paper truncates there)."""
        orbits = [self.orbit(float(t)) for t in taus]
        return {"tau": np.asarray(taus, float),
                "E_bar": np.array([o.E_bar if o.inside else np.nan for o in orbits]),
                "D": np.array([o.D if o.inside else np.nan for o in orbits])}

    def drift(self, mu: int) -> np.ndarray:
        """N_μ B: the long-time drift along task μ's solution space (App. E)."""
        return null_projector(self.M[mu]) @ self.drive[mu]


def infer_bias(theory: BiasTheory, drifts: dict) -> np.ndarray:
    """App. E: the bias B from measured long-time drifts dG/dt along solution lines.

    ``drifts`` maps a task index μ to (G, dG/dt) measured late in a run of task μ alone; the drift
    equals N_μ B with N_μ linearized at the point of μ's solution set nearest G. Each task gives
    the projections of B on its null space; B is their least-squares joint solution."""
    rows, rhs = [], []
    for mu, (G, rate) in drifts.items():
        Gs = theory.solve([mu], G)
        N = null_projector(-theory.fields[mu].jacobian(Gs))
        lam, R = np.linalg.eig(N)
        keep = np.abs(lam - 1) < 0.5                         # N's image: the null directions
        V = np.real(R[:, keep])
        rows.append(V.T @ N)                                 # V^T N B = V^T rate
        rhs.append(V.T @ np.asarray(rate, float))
    return np.linalg.lstsq(np.vstack(rows), np.concatenate(rhs), rcond=None)[0]


def drift_rate(ds, window: float) -> tuple:
    """(G, dG/dt) of the learning edges from a straight-line fit over the run's last ``window`` s."""
    th = ds["theta"].sel(edge=ds["edge"][ds["edge_learns"].values])
    t = ds["time"].values
    m = t >= t[-1] - window
    if m.sum() < 3:
        raise SpecError("window", f"covers {int(m.sum())} samples; need ≥3 (record_interval too long?)")
    G = th.values[m]
    A = np.vstack([t[m] - t[m].mean(), np.ones(m.sum())]).T
    coef = np.linalg.lstsq(A, G, rcond=None)[0]
    return coef[1], coef[0]
