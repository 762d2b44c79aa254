"""HMARL's own agents as a PettingZoo environment: API, feasible decisions, rewards that add up."""

import numpy as np
from pettingzoo.test import parallel_api_test

from cnc6g.envs import KnobsEnv
from cnc6g.policies.hmarl.features import layout


def test_passes_pettingzoo_parallel_api_test(tiny_system):
    parallel_api_test(KnobsEnv(tiny_system, horizon=20), num_cycles=30)


def test_agents_are_the_distributor_and_two_per_domain(case_system):
    env = KnobsEnv(case_system)
    names = [d.name for d in case_system.scenario.domains]
    assert env.possible_agents[0] == "e2e"
    assert len(env.possible_agents) == 1 + 2 * len(names)
    assert env.action_space("e2e").nvec.tolist() == [5, 5, 5]
    assert env.action_space("route_X").shape == (4,)  # two nodes: a price and a trim each


def test_rewards_add_up_and_an_episode_ends_by_truncation(case_system):
    env = KnobsEnv(case_system, horizon=6)
    obs, _ = env.reset(seed=1)
    assert obs["e2e"].shape == (layout(case_system).global_size,)
    assert obs["deploy_R0"].shape == env.observation_space("deploy_R0").shape
    for _ in range(6):
        offered = float(env._twin.demand.sum())
        actions = {a: env.action_space(a).sample() for a in env.agents}
        obs, rewards, term, trunc, infos = env.step(actions)
        scale = case_system.unsatisfied_penalty_j * max(offered, 1.0)
        assert not any(term.values())
        info = infos["e2e"]
        domains = sum(rewards[f"route_{d.name}"] for d in case_system.scenario.domains)
        np.testing.assert_allclose(-domains * scale + info["unowned_j"], info["objective_j"])
        np.testing.assert_allclose(-rewards["e2e"] * scale, info["objective_j"])
    assert all(trunc.values())
    assert env.agents == []
