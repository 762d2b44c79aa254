"""feasibility_problems names each kind of infeasible routing, and passes a feasible one."""

import numpy as np

from cnc6g.model.decision import Decision
from cnc6g.policies import GreedyPolicy, feasibility_problems
from cnc6g.twin import Twin


def _everywhere(system):
    """GRD's decision of the first slot: feasible, with shares sent to instances."""
    policy = GreedyPolicy()
    policy.reset(system, 0)
    decision = policy.decide(Twin(system, seed=0).observe())
    return decision.deployment, decision.routing


def test_a_feasible_decision_has_no_problems(tiny_system):
    x, y = _everywhere(tiny_system)
    assert feasibility_problems(tiny_system, Decision(deployment=x, routing=y)) == []


def test_each_routing_problem_is_named(tiny_system):
    sy = tiny_system
    x, y = _everywhere(sy)
    o, s, k = (int(v[0]) for v in np.nonzero(y > 0))

    def problems(routing, deployment=x):
        return feasibility_problems(sy, Decision(deployment=deployment, routing=routing))

    negative = y.copy()
    negative[o, s, k] = -0.5
    assert problems(negative) == ["routing has negative shares"]
    nan = y.copy()
    nan[o, s, k] = np.nan
    assert problems(nan) == ["routing has non-finite shares"]
    over = y.copy()
    over[o, s, k] += 1.0
    assert problems(over) == [
        f"routing of origin {sy.origin_names[o]} service {sy.service_names[s]} sums to "
        f"{over[o, s].sum():.6f} > 1"
    ]
    node = sy.candidates[o, k]
    without = x.copy()
    without[s, node] = False
    assert problems(y, without) == [
        f"routing sends origin {sy.origin_names[o]} service {sy.service_names[s]} to node "
        f"{sy.node_names[node]} without an admissible instance"
    ]
