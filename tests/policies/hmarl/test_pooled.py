"""HMARL's pooled agents: one set of networks for systems of any size."""

import numpy as np
import pytest
from factories import greedy_step

from cnc6g.policies.hmarl.agents import LearnerConfig
from cnc6g.policies.hmarl.executor import execute
from cnc6g.policies.hmarl.pooled import (
    DOMAIN_SIZE,
    GLOBAL_SIZE,
    NODE_SIZE,
    PooledAgents,
    make_agents,
    pooled_global_observation,
)
from cnc6g.policies.hmarl.rewards import RewardConfig, difference_rewards
from cnc6g.scenarios.family import HELD_OUT, Variant
from cnc6g.twin import Twin, compile_scenario

SMALL = LearnerConfig(hidden=16, batch=16, replay=500, min_replay=4)


@pytest.fixture(scope="module")
def systems(tiny_system):
    big = compile_scenario(HELD_OUT["held-20-cells-hotspots"].scenario(0.8))
    return [tiny_system, compile_scenario(Variant("v", n_cells=5, n_services=12).scenario()), big]


def test_one_set_of_networks_acts_on_every_size(systems):
    agents = PooledAgents(systems[0], "hmarl", SMALL, seed=0)
    sizes = {name: sum(p.numel() for p in net.parameters()) for name, net in _nets(agents)}
    for sy in systems:
        agents.bind(sy)
        step = greedy_step(agents, sy)
        assert step.global_obs.shape == (2, GLOBAL_SIZE)
        assert all(o.shape[2] == DOMAIN_SIZE for o in step.domain_obs)
        assert all(o.shape[2] == NODE_SIZE for o in step.node_obs)
        assert np.isfinite(step.global_obs).all()
        D = int(sy.node_domain.max()) + 1
        assert step.knobs.level.shape == (2, D)
        assert step.knobs.price.shape == (2, sy.n_nodes)
        # untrained: the neutral knobs, as the sized agents start
        assert (step.knobs.level == 4).all()
        assert (step.knobs.threshold == 2).all()
    assert {n: sum(p.numel() for p in net.parameters()) for n, net in _nets(agents)} == sizes
    assert "n_domains" not in agents.signature()
    assert "n_nodes" not in agents.signature()


def _nets(agents):
    for name, learner in agents.learners.items():
        yield name, getattr(learner, "net", None) or learner.actor


def test_the_global_view_sees_a_hotspot_and_the_load(systems):
    sy = systems[1]
    twin = Twin(sy, batch=1, seed=0)
    demand = twin.demand.astype(float)
    args = (twin.uplink_mbps, twin.deployment, twin.utilisation)
    even = pooled_global_observation(sy, demand, *args)
    hot = demand.copy()
    hot[:, 0] *= 6.0
    skewed = pooled_global_observation(sy, hot, *args)
    double = pooled_global_observation(sy, 2 * demand, *args)
    changed = np.flatnonzero(~np.isclose(even, skewed)[0])
    assert changed.size >= 2  # the origin spread and the load at least
    assert double[0, 30] == pytest.approx(2 * even[0, 30], rel=1e-5)  # the offered load


def test_difference_rewards_fill_every_learner_on_two_sizes(systems):
    agents = PooledAgents(systems[0], "hmarl", SMALL, seed=0)
    rng = np.random.default_rng(0)
    for sy in systems[:2]:
        agents.bind(sy)
        twin = Twin(sy, batch=3, seed=2)
        idle = None
        for _ in range(4):
            inputs = (twin.demand.astype(float), twin.uplink_mbps, twin.downlink_mbps)
            previous = twin.deployment
            step = agents.act(*inputs[:2], previous, twin.utilisation, 0.3, 0.3, rng)
            done = execute(sy, *inputs, previous, step.knobs, idle)
            gains = difference_rewards(
                agents,
                [sy],
                [slice(0, 3)],
                (*inputs, previous),
                idle,
                step.knobs,
                done,
                RewardConfig(),
                rng,
            )
            agents.remember_differences(step, *gains)
            idle = done.idle
            twin.step_arrays(done.deployment, done.routing)
    for name, learner in agents.learners.items():
        assert learner.replay.size > 0, name
    losses = agents.update()
    assert all(np.isfinite(v) for v in losses.values())


def test_the_pooled_architecture_is_hierarchy_only(tiny_system):
    with pytest.raises(ValueError, match="hmarl only"):
        make_agents(tiny_system, "central", SMALL, 0, "pooled")
    with pytest.raises(ValueError, match="arch"):
        make_agents(tiny_system, "hmarl", SMALL, 0, "wide")
