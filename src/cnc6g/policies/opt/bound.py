"""A lower bound on the twin's objective of any decision for a slot."""

from __future__ import annotations

from cnc6g.policies.opt.model import SlotInputs
from cnc6g.policies.opt.phases import solve_slot
from cnc6g.twin.system import System


def lower_bound(system: System, inputs: SlotInputs) -> float:
    """A lower bound on the twin's objective of any decision for this slot, J.

    The LP relaxation of the optimistic model: every task served counts as satisfied, capacities
    are at the admission utilisation, transfers at zero load, instances and awake nodes may be
    fractional. No decision from the same previous deployment scores below it in the twin.
    """
    return solve_slot(system, inputs, optimistic=True, relax=True).objective
