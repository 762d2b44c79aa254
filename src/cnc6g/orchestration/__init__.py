"""The orchestrators over the twin: the slot loop and the policies it runs, by name.

- :mod:`~cnc6g.orchestration.loop`: the E2E orchestrator's slow loop (observe, decide, check,
  step, feedback), the one every front end runs;
- :mod:`~cnc6g.orchestration.registry`: the built-in policies by name, with their options.
"""

from cnc6g.orchestration.loop import InfeasibleDecisionError, SlotLoop, SlotRecord
from cnc6g.orchestration.registry import (
    BUILTIN,
    PolicyEntry,
    check_policy_options,
    make_policy,
)

__all__ = [
    "BUILTIN",
    "InfeasibleDecisionError",
    "PolicyEntry",
    "SlotLoop",
    "SlotRecord",
    "check_policy_options",
    "make_policy",
]
