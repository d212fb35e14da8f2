"""The force read from the free twin: McGinnis Eq. 2.2 literally (the force η Q r with r the free
error), the current sβ (L − O_F) into each nudged output, O_F the free twin's output at the same
instant: a current source driven by the free twin. The current is the force's (tdsim.core.nudges.
force); only the output it reads differs, so its slope lands on the free output's column."""
from tdsim.core.codes import NUDGE_FORCE_FROM_FREE
from tdsim.core.nudges.base import FORCE, Rule
from tdsim.core.nudges.force import current, jacobian  # noqa: F401 (registered)


# a current sβ (L − O_F) into each output of the nudged twin, from the free twin's output
FORCE_FROM_FREE = Rule("force_from_free", NUDGE_FORCE_FROM_FREE, acts=FORCE, amplitude="beta", reads_free=True)
