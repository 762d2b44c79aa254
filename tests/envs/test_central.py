"""The single-agent environment follows Gymnasium's contract and decodes feasible decisions."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from cnc6g.envs import CentralEnv, action_size, decode_action
from cnc6g.policies import feasibility_problems


def test_passes_gymnasium_env_checker(tiny_system):
    check_env(CentralEnv(tiny_system, horizon=20), skip_render_check=True)


def test_episode_truncates_at_the_horizon(tiny_system):
    env = CentralEnv(tiny_system, horizon=5)
    env.reset(seed=1)
    ends = [env.step(env.action_space.sample())[3] for _ in range(5)]
    assert ends == [False, False, False, False, True]


def test_same_seed_same_rewards(tiny_system):
    def rollout():
        env = CentralEnv(tiny_system, horizon=10)
        env.reset(seed=3)
        env.action_space.seed(4)
        return [env.step(env.action_space.sample())[1] for _ in range(10)]

    assert rollout() == rollout()


def test_reward_is_minus_the_scaled_objective(tiny_system):
    env = CentralEnv(tiny_system)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
    assert reward == pytest.approx(-info["objective_j"] / env._reward_scale)
    assert info["energy_j"] > 0


@pytest.mark.parametrize("seed", range(5))
def test_decoded_actions_are_feasible(case_system, seed):
    rng = np.random.default_rng(seed)
    action = rng.uniform(-1, 1, sum(action_size(case_system)))
    assert feasibility_problems(case_system, decode_action(case_system, action)) == []


def test_all_positive_scores_fill_memory_best_first(tiny_system):
    n_inst, n_route = action_size(tiny_system)
    action = np.concatenate([np.linspace(0.1, 1.0, n_inst), np.zeros(n_route)])
    decision = decode_action(tiny_system, action)
    used = (decision.deployment * tiny_system.service_memory[:, None]).sum(axis=0)
    assert np.all(used <= tiny_system.memory + 1e-9)
    assert decision.deployment.any()


def test_wrong_action_size_is_rejected(tiny_system):
    with pytest.raises(ValueError, match="entries"):
        decode_action(tiny_system, np.zeros(3))
