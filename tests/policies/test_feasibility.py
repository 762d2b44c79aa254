"""feasibility_problems names each kind of infeasible routing, and passes a feasible one."""

import numpy as np
import pytest

from cnc6g.model.decision import Decision
from cnc6g.policies import GreedyPolicy, feasibility_problems
from cnc6g.policies.base import _first_stray, _routing_sums, _scan_routing
from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.twin import Twin, compile_scenario


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


@pytest.mark.parametrize(("cells", "services", "k", "seed"), [(3, 6, None, 0), (12, 9, 5, 1)])
def test_compiled_routing_check_equals_the_numpy_one_on_random_decisions(cells, services, k, seed):
    sy = compile_scenario(
        synthetic_scenario(
            "random", n_cells=cells, n_services=services, candidates_per_origin=k, seed=seed
        )
    )
    rng = np.random.default_rng(seed)
    shape = (sy.n_origins, sy.n_services, sy.n_candidates)
    outcomes = set()
    for trial in range(60):
        x = sy.can_host & (rng.random(sy.can_host.shape) < 0.5)
        y = rng.random(shape) * (rng.random(shape) < 0.3) * sy.admissible
        y = y / np.maximum(y.sum(axis=-1, keepdims=True), 1.0)
        y *= x[:, sy.candidates].transpose(1, 0, 2)  # feasible so far
        if trial % 2:  # rows at and just past the limit, in a few orders of their shares
            o, s = rng.integers(shape[0]), rng.integers(shape[1])
            parts = rng.random(shape[2])
            y[o, s] = parts / parts.sum() * (1.0 + 1e-6 * rng.choice([0.5, 1.0, 1.0 + 1e-9, 2.0]))
        if trial % 3 == 0:  # a stray share
            y[tuple(rng.integers(shape))] += 0.01 * rng.random()
        if trial % 5 == 0:
            y[tuple(rng.integers(shape))] = rng.choice([-0.1, -1e-10, np.nan, np.inf])
        finite, negative, stray, row = _scan_routing(sy, x, y, 1e-9)
        want_finite, want_negative, want_row = _routing_sums(y, 1e-9)
        assert (finite, negative) == (want_finite, want_negative)
        np.testing.assert_array_equal(row > 1.0 + 1e-6, want_row > 1.0 + 1e-6)
        assert stray == _first_stray(sy, x, y, 1e-9)
        outcomes.add((finite, negative, bool((row > 1.0 + 1e-6).any()), stray >= 0))
    assert len(outcomes) >= 5  # the trials reach each kind of problem
