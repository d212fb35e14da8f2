"""The integrators: one record each, registered by name. ``Options.validate``, ``simulate`` and
``initial_state`` read everything they need from here.

Adding an integrator = its step file in ``tdsim/core`` + its record below (+ a branch in
``loop._loop`` if it is a new family). Families of the event loop (codes.py):

- EXPLICIT    an explicit FSAL pair (``PAIRS``) on node voltages and gates (reference; needs
              steps ≲ RC): explicit.py;
- ROSENBROCK  a Rosenbrock W-method, L-stable, steps far beyond RC: wmethod.py;
- EXACT       a classical Rosenbrock method with the exact Jacobian of the whole twin system: rodas.py;
- QUASISTATIC Kirchhoff/Newton solve of every twin at every stage (kirchhoff.py), the explicit
              pair on the gates only (explicit.py).
"""
from dataclasses import dataclass
from typing import Callable, Optional

from tdsim.core import tableaus
from tdsim.core.codes import EXACT, EXPLICIT, QUASISTATIC, ROSENBROCK


@dataclass(frozen=True)
class Method:
    name: str
    family: int                     # the loop's branch (codes.py)
    rosenbrock: Optional[Callable] = None   # its Rosenbrock tableau (Rosenbrock families)
    reuse_w: bool = False           # one factorization of W may serve several steps (W-methods)
    exact_jacobian: bool = False    # needs the exact Jacobian at every step (refuses w_reuse > 1)
    quasistatic: bool = False       # node voltages are the Kirchhoff solution, not states


METHODS = {m.name: m for m in (
    Method("explicit", EXPLICIT),
    Method("rosenbrock", ROSENBROCK, tableaus.ros34pw2, reuse_w=True),
    Method("ros2", ROSENBROCK, tableaus.ros2, reuse_w=True),
    Method("rodas4", EXACT, tableaus.rodas4, exact_jacobian=True),
    Method("quasistatic", QUASISTATIC, quasistatic=True),
)}

# explicit pairs of the EXPLICIT and QUASISTATIC families (Options.tableau)
PAIRS = {"dopri5": tableaus.dopri5, "bs3": tableaus.bs3, "heun21": tableaus.heun21}
