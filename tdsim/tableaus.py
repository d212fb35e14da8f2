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


@dataclass(frozen=True)
class Rosenbrock:
    name: str
    gamma: float
    a: np.ndarray
    c: np.ndarray
    m: np.ndarray
    e: np.ndarray
    order: int            # order of the embedded estimate + 1 (step control exponent 1/order)

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
        return self.a, self.c, self.m, self.e, self.gamma, float(self.order), self.ct


def _from_standard(name, gamma, alpha, Gamma, b, bhat, order):
    Gi = np.linalg.inv(Gamma)
    A = alpha @ Gi
    C = np.diag(1.0 / np.diag(Gamma)) - Gi
    m = b @ Gi
    mh = bhat @ Gi
    return Rosenbrock(name, gamma, gamma * A, gamma * C, gamma * m, gamma * (m - mh), order)


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


def ros2() -> Rosenbrock:
    """ROS2 (Verwer et al. 1999): 2 stages, order 2 (embedded 1), L-stable W-method."""
    g = 1.0 + 1.0 / math.sqrt(2.0)
    a = np.array([[0.0, 0.0], [1.0, 0.0]])
    c = np.array([[0.0, 0.0], [-2.0, 0.0]])
    return Rosenbrock("ROS2", g, a, c, np.array([1.5, 0.5]), np.array([0.5, 0.5]), 2)
