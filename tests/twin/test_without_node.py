import numpy as np
import pytest

from cnc6g.policies import GreedyPolicy, feasibility_problems
from cnc6g.twin import Twin
from cnc6g.twin.system import without_node


def test_failed_node_hosts_nothing_and_takes_no_route(tiny_system):
    n = tiny_system.node_names.index("R0-mec")
    failed = without_node(tiny_system, "R0-mec")
    assert not failed.can_host[:, n].any()
    points = failed.candidate_valid & (failed.candidates == n)
    assert points.any()
    to_node = np.broadcast_to(points[:, None, :], failed.admissible.shape)
    assert not failed.admissible[to_node].any()
    # Everything else is as it was, and the original is untouched.
    others = np.ones(tiny_system.n_nodes, dtype=bool)
    others[n] = False
    np.testing.assert_array_equal(failed.can_host[:, others], tiny_system.can_host[:, others])
    keep = ~to_node
    np.testing.assert_array_equal(failed.admissible[keep], tiny_system.admissible[keep])
    assert tiny_system.can_host[:, n].any()
    assert failed.node_names == tiny_system.node_names
    # Values cached per system are rebuilt for the copy, not shared with the original.
    from cnc6g.twin.dynamics import _constants

    assert _constants(failed) is not _constants(tiny_system)
    np.testing.assert_array_equal(
        _constants(failed).admissible, failed.admissible.transpose(0, 2, 1)
    )


def test_by_index_equals_by_name(tiny_system):
    n = tiny_system.node_names.index("R1-mec")
    a, b = without_node(tiny_system, n), without_node(tiny_system, "R1-mec")
    np.testing.assert_array_equal(a.can_host, b.can_host)
    np.testing.assert_array_equal(a.admissible, b.admissible)


@pytest.mark.parametrize("node", ["nope", 99, -1])
def test_unknown_node_is_refused(tiny_system, node):
    with pytest.raises(ValueError, match="node"):
        without_node(tiny_system, node)


def test_a_policy_on_the_failed_system_stays_off_the_node(tiny_system):
    failed = without_node(tiny_system, "R0-mec")
    n = failed.node_names.index("R0-mec")
    twin = Twin(failed, seed=1)
    policy = GreedyPolicy()
    policy.reset(failed, 1)
    for _ in range(5):
        obs = twin.observe()
        decision = policy.decide(obs)
        assert feasibility_problems(failed, decision) == []
        assert not decision.deployment[:, n].any()
        twin.step(decision)
