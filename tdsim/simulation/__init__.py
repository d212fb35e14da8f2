"""The simulation driver: runs (simulate), measurements (measure) and the engine's kernels at one
state called from Python (probes: kirchhoff_solve, gate_rates)."""
from tdsim.simulation.probes import Kirchhoff, gate_rates, kirchhoff_solve, segment_drive

__all__ = ["Kirchhoff", "gate_rates", "kirchhoff_solve", "segment_drive"]
