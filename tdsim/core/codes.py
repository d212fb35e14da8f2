"""Every integer code the compiled engine reads, in one place.

The description layers map names to these (``tdsim.model.elements``, ``tdsim.model.schedule``,
``tdsim.core.methods``); the kernels branch on them. Nothing here imports anything."""

# edge elements (tdsim.core.elements registers each one's code)
RESISTOR, CONDUCTANCE, MOSFET, IDEAL_DIODE, SHOCKLEY_DIODE, MOSFET_LEVEL1 = 0, 1, 2, 3, 4, 5
# a trainable conductance's learning state θ: κ, ρ = 1/κ or log κ (McGinnis Thm 3.3/3.4)
PARAM_KAPPA, PARAM_RHO, PARAM_LOGKAPPA = 0, 1, 2
# what a conductance does when θ = κ (or ρ) reaches 0 (McGinnis §4)
ZERO_CROSS, ZERO_REFLECT, ZERO_REMOVE = 0, 1, 2

# how a node is held: free, by a source, at ground, or as a clamped output (from the free twin)
HOLD_NONE, HOLD_SOURCE, HOLD_GROUND, HOLD_OUTPUT = 0, 1, 2, 3
# nudge rules of the clamped twin
NUDGE_STANDARD, NUDGE_HINGE, NUDGE_OVERCLAMP, NUDGE_FORCE, NUDGE_FORCE_FROM_FREE = 0, 1, 2, 3, 4
# source waveforms
WAVE_CONSTANT, WAVE_SIN, WAVE_ABS_SIN, WAVE_PWL = 0, 1, 2, 3      # WAVE_PWL: knots (PULSE and PWL sources)
# segment durations: fixed, or t_h = r0 |δ| (overclamping, Dillavou Eq. 8)
DUR_FIXED, DUR_OVERCLAMP, DUR_OVERCLAMP_CLASS = 0, 1, 2

# integrator families of the event loop
EXPLICIT, ROSENBROCK, QUASISTATIC, EXACT = 0, 1, 2, 3
# status of a call of the event loop
DONE, FULL, NAN, HMIN, SINGULAR, NEWTON, CONVERGED, RUNAWAY = 0, 1, 2, 3, 4, 5, 6, 7
