"""Rosenbrock tableaus in the form the engine uses:

    (M − γ h J) k_i = h f(y + Σ_j a_ij k_j) + M Σ_j c_ij k_j,    y1 = y + Σ m_i k_i,
    error estimate Σ e_i k_i,

M the (diagonal) capacitance matrix. Coefficients from the standard (α, Γ, b, b̂) form by the
Hairer–Wanner transformation (Solving ODEs II, IV.7): A = αΓ⁻¹, C = diag(1/γ) − Γ⁻¹, m = bΓ⁻¹,
scaled by γ for the k-form above.
"""
import math
from dataclasses import dataclass

import numpy as np

from tdsim.core import records


@dataclass(frozen=True)
class Rosenbrock:
    name: str
    gamma: float
    a: np.ndarray
    c: np.ndarray
    m: np.ndarray
    e: np.ndarray
    order: int            # order of the embedded estimate + 1 (step control exponent 1/order)
    d: np.ndarray = None  # γ_i: coefficient of h² ∂f/∂t in stage i (methods with the exact Jacobian)

    @property
    def ct(self) -> np.ndarray:
        """Stage times as fractions of h: time autonomized as a state with t' = 1 and a zero
        Jacobian column (a W-method keeps its order), run through the same stage recurrence."""
        s = len(self.m)
        kt = np.zeros(s)
        for i in range(s):
            kt[i] = 1.0 + self.c[i, :i] @ kt[:i]
        return self.a @ kt

    def args(self):
        d = np.zeros(len(self.m)) if self.d is None else self.d
        return records.Rosenbrock(self.a, self.c, self.m, self.e, self.gamma, float(self.order), self.ct, d)


def _from_standard(name, gamma, alpha, Gamma, b, bhat, order):
    Gi = np.linalg.inv(Gamma)
    A = alpha @ Gi
    C = np.diag(1.0 / np.diag(Gamma)) - Gi
    m = b @ Gi
    mh = bhat @ Gi
    return Rosenbrock(name, gamma, gamma * A, gamma * C, gamma * m, gamma * (m - mh), order, Gamma.sum(axis=1))


def ros34pw2() -> Rosenbrock:
    """ROS34PW2 (Rang & Angermann 2005): 4 stages, order 3 (embedded 2), L-stable, stiffly
    accurate, a W-method (order kept for any approximation of J)."""
    g = 0.435866521508459
    alpha = np.zeros((4, 4))
    alpha[1, 0] = 0.871733043016918
    alpha[2, 0], alpha[2, 1] = 0.844570600153694, -0.112990642364842
    alpha[3, 2] = 1.0
    Gamma = np.diag([g] * 4)
    Gamma[1, 0] = -0.871733043016918
    Gamma[2, 0], Gamma[2, 1] = -0.903380570130441, 0.054180672388095
    Gamma[3, 0], Gamma[3, 1], Gamma[3, 2] = 0.242123807060953, -1.223250583904515, 0.545260255335102
    b = np.array([0.242123807060953, -1.223250583904515, 1.545260255335102, 0.435866521508459])
    bhat = np.array([0.378109031458194, -0.096042292212423, 0.5, 0.217933260754230])
    return _from_standard("ROS34PW2", g, alpha, Gamma, b, bhat, 3)


def rodas4() -> Rosenbrock:
    """RODAS4 (Hairer & Wanner, Solving ODEs II, IV.7; coefficients of their rodas.f): 6 stages,
    order 4 (embedded 3), L-stable, stiffly accurate. A classical Rosenbrock method: it needs
    the exact Jacobian (rodas.py) and the h² ∂f/∂t term for time-dependent sources."""
    g = 0.25
    A = np.zeros((6, 6))
    C = np.zeros((6, 6))
    A[1, 0] = 1.544
    A[2, :2] = 0.9466785280815826, 0.2557011698983284
    A[3, :3] = 3.314825187068521, 2.896124015972201, 0.9986419139977817
    A[4, :4] = 1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950
    A[5, :4] = A[4, :4]
    A[5, 4] = 1.0
    C[1, 0] = -5.6688
    C[2, :2] = -2.430093356833875, -0.2063599157091915
    C[3, :3] = -0.1073529058151375, -9.594562251023355, -20.47028614809616
    C[4, :4] = 7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160
    C[5, :5] = 8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136, -6.058818238834054
    m = np.r_[A[4, :4], 1.0, 1.0]          # stiffly accurate: y1 is the last stage
    e = np.r_[0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    d = np.array([0.25, -0.1043, 0.1035, -0.0362, 0.0, 0.0])
    # rodas.f's form (1/(γh) − J) u_i = f(y + Σ a_ij u_j) + Σ (c_ij/h) u_j + d_i h f_t is the
    # k-form above with k = u/γ: a, c, m and e scale by γ, d does not
    return Rosenbrock("RODAS4", g, g * A, g * C, g * m, g * e, 4, d)


def ros2() -> Rosenbrock:
    """ROS2 (Verwer et al. 1999): 2 stages, order 2 (embedded 1), L-stable W-method."""
    g = 1.0 + 1.0 / math.sqrt(2.0)
    a = np.array([[0.0, 0.0], [1.0, 0.0]])
    c = np.array([[0.0, 0.0], [-2.0, 0.0]])
    return Rosenbrock("ROS2", g, a, c, np.array([1.5, 0.5]), np.array([0.5, 0.5]), 2)


@dataclass(frozen=True)
class Explicit:
    """An explicit FSAL Runge–Kutta pair: A (s, s), nodes c, error weights b - b̂, and the order
    of the embedded solution + 1 (step control exponent 1/order)."""
    name: str
    a: np.ndarray
    c: np.ndarray
    e: np.ndarray
    order: int

    def args(self):
        return records.Explicit(self.a, self.c, self.e, float(self.order))


def dopri5() -> Explicit:
    """Dormand–Prince 5(4), 7 stages, FSAL (Hairer, Nørsett & Wanner I, II.5)."""
    a = np.array([
        [0, 0, 0, 0, 0, 0, 0],
        [1 / 5, 0, 0, 0, 0, 0, 0],
        [3 / 40, 9 / 40, 0, 0, 0, 0, 0],
        [44 / 45, -56 / 15, 32 / 9, 0, 0, 0, 0],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0, 0, 0],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0, 0],
        [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0],
    ])
    c = np.array([0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1])
    e = np.array([71 / 57600, 0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40])
    return Explicit("DOPRI5", a, c, e, 5)


def bs3() -> Explicit:
    """Bogacki–Shampine 3(2), 4 stages, FSAL: fewer Kirchhoff solves per quasi-static step."""
    a = np.array([[0, 0, 0, 0], [1 / 2, 0, 0, 0], [0, 3 / 4, 0, 0], [2 / 9, 1 / 3, 4 / 9, 0]])
    c = np.array([0, 1 / 2, 3 / 4, 1])
    e = np.array([2 / 9 - 7 / 24, 1 / 3 - 1 / 4, 4 / 9 - 1 / 3, -1 / 8])
    return Explicit("BS3", a, c, e, 3)


def heun21() -> Explicit:
    """Heun–Euler 2(1), FSAL: Heun's method (explicit trapezoid, order 2) with forward Euler as
    the embedded solution; the third stage is f at the new state (reused as the next step's first).
    Two new stages per step instead of three (BS3) or six (DOPRI5)."""
    a = np.array([[0, 0, 0], [1, 0, 0], [1 / 2, 1 / 2, 0]])
    c = np.array([0, 1, 1])
    e = np.array([1 / 2 - 1, 1 / 2, 0])
    return Explicit("HEUN21", a, c, e, 2)
