"""OPT: the per-slot optimum of deployment and traffic distribution, a MILP solved by HiGHS.

Each slot's joint decision (which instances run, which nodes are awake, which utilisation tier
each node commits to, how each origin's demand is shared among its candidates) is a
mixed-integer linear programme over the twin's energy terms and a per-node bound on failed
tasks (:mod:`~cnc6g.policies.opt.model`), solved in phases within a time limit
(:mod:`~cnc6g.policies.opt.phases`); :class:`OptimalPolicy` applies it online, and
:func:`lower_bound` bounds every policy's objective from below. The model, the phases and what
was measured are described in ``docs/opt.md``.
"""

from cnc6g.policies.opt.bound import lower_bound
from cnc6g.policies.opt.model import DEFAULT_TIERS, SlotInputs, build_model
from cnc6g.policies.opt.phases import PHASES, Solution, plan_deployment, solve_slot
from cnc6g.policies.opt.policy import OptimalPolicy, twin_scores

__all__ = [
    "DEFAULT_TIERS",
    "PHASES",
    "OptimalPolicy",
    "SlotInputs",
    "Solution",
    "build_model",
    "lower_bound",
    "plan_deployment",
    "solve_slot",
    "twin_scores",
]
