"""The multi-agent environment follows PettingZoo's parallel API; its rewards decompose exactly."""

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from cnc6g.envs import DomainsEnv, decode_action
from cnc6g.policies import feasibility_problems


def test_passes_pettingzoo_parallel_api_test(tiny_system):
    parallel_api_test(DomainsEnv(tiny_system, horizon=20), num_cycles=30)


def test_agents_are_the_distributor_and_every_domain(tiny_system):
    env = DomainsEnv(tiny_system)
    names = [d.name for d in tiny_system.scenario.domains]
    assert env.possible_agents == ["e2e", *(f"dom_{n}" for n in names)]
    assert env.observation_space("e2e") is env.observation_space("e2e")


def _random_actions(env, rng):
    return {a: rng.uniform(-1, 1, env.action_space(a).shape).astype(np.float32) for a in env.agents}


@pytest.mark.parametrize("seed", range(3))
def test_domain_rewards_and_remainder_add_up_to_the_global_reward(case_system, seed):
    env = DomainsEnv(case_system, horizon=10)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(4):
        _, rewards, _, _, infos = env.step(_random_actions(env, rng))
        scale = env._central._reward_scale
        domains = sum(r for a, r in rewards.items() if a != "e2e")
        assert rewards["e2e"] == pytest.approx(domains - infos["e2e"]["unowned_j"] / scale)


def test_joint_action_decodes_to_a_feasible_decision(case_system):
    env = DomainsEnv(case_system)
    env.reset(seed=0)
    rng = np.random.default_rng(1)
    decision = decode_action(case_system, env.joint_action(_random_actions(env, rng)))
    assert feasibility_problems(case_system, decision) == []


def test_a_domain_agent_controls_only_its_own_nodes(tiny_system):
    env = DomainsEnv(tiny_system)
    env.reset(seed=0)
    actions = {a: -np.ones(env.action_space(a).shape, np.float32) for a in env.agents}
    mec = next(n for n in env.domain_names if n.startswith("R"))
    actions[f"dom_{mec}"][:] = 1.0
    decision = decode_action(tiny_system, env.joint_action(actions))
    nodes = np.flatnonzero(tiny_system.node_domain == env.domain_names.index(mec))
    assert decision.deployment[:, nodes].any()
    others = np.setdiff1d(np.arange(tiny_system.n_nodes), nodes)
    assert not decision.deployment[:, others].any()


def test_episode_ends_for_every_agent_at_the_horizon(tiny_system):
    env = DomainsEnv(tiny_system, horizon=3)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(3):
        _, _, _, truncations, _ = env.step(_random_actions(env, rng))
    assert all(truncations.values())
    assert env.agents == []
