"""Orchestration policies behind one contract: RAND, GRD, OPT and HMARL (in :mod:`.hmarl`).

Pure decision code: a policy turns an observation of the twin into a decision and does no I/O.
Policies are made by name, with their options and trained agents, by
:func:`cnc6g.orchestration.make_policy`.
"""

from cnc6g.policies.base import Policy, feasibility_problems, usable_candidates
from cnc6g.policies.greedy import GreedyPolicy
from cnc6g.policies.opt import OptimalPolicy
from cnc6g.policies.random import RandomPolicy

__all__ = [
    "GreedyPolicy",
    "OptimalPolicy",
    "Policy",
    "RandomPolicy",
    "feasibility_problems",
    "usable_candidates",
]
