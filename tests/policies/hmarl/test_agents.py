"""HMARL's learners, rewards and policy: untrained agents, credit assignment, online learning."""

import numpy as np
import pytest
import torch
from factories import greedy_step

from cnc6g import run_policy
from cnc6g.orchestration import make_policy
from cnc6g.policies.hmarl.agents import DDPG, DQN, LearnerConfig
from cnc6g.policies.hmarl.executor import PATIENCE, Knobs, execute
from cnc6g.policies.hmarl.hierarchy import Agents
from cnc6g.policies.hmarl.rewards import RewardConfig, difference_rewards, learning_cost
from cnc6g.twin import Twin
from cnc6g.twin.costs import restart_cost
from cnc6g.twin.dynamics import evaluate_slot


def test_untrained_agents_act_as_the_neutral_knobs(case_system):
    agents = Agents(case_system, "hmarl", LearnerConfig(), seed=0)
    knobs = greedy_step(agents, case_system).knobs
    assert (knobs.level == 4).all()
    assert (knobs.threshold == 2).all()
    assert np.abs(knobs.price).max() < 0.1


def _running_twin(system, slots=6, batch=3):
    """A twin whose deployment the executor has filled for a few slots (neutral knobs)."""
    twin = Twin(system, batch=batch, seed=1)
    knobs = Knobs.neutral(system, batch)
    for _ in range(slots):
        d = execute(
            system, twin.demand, twin.uplink_mbps, twin.downlink_mbps, twin.deployment, knobs
        )
        twin.step_arrays(d.deployment, d.routing)
    return twin


def test_the_learning_cost_charges_removed_instances(case_system):
    sy = case_system
    twin = _running_twin(sy)
    demand, prev = twin.demand.astype(float), twin.deployment
    up, down = twin.uplink_mbps, twin.downlink_mbps
    assert prev.sum() > 0
    # Keep every other running instance; remove the rest.
    keep = prev & (np.arange(sy.n_nodes)[None, None, :] % 2 == 0)
    y = execute(sy, demand, up, down, prev, Knobs.neutral(sy, 3)).routing
    for x in (prev, keep):
        outcome = evaluate_slot(sy, demand, up, down, x, prev, y)
        free = learning_cost(sy, outcome, demand, x, prev, 10.0, 0.0)
        charged = learning_cost(sy, outcome, demand, x, prev, 10.0, 0.3)
        removed = prev & ~x
        expected = 0.3 * (removed * restart_cost(sy, demand, prev)[..., None]).sum(axis=(1, 2))
        np.testing.assert_allclose(charged - free, expected)
        assert (expected > 0).all() == (x is keep)


def test_switching_a_running_domain_kind_off_is_credited_with_its_restart(case_system):
    # Seed 002's distributor learns from the gain of its level over the top level in the same
    # slot; the instances of a kind switched off go once they have idled out, and must be
    # started again later, which one slot never sees.
    sy = case_system
    twin = _running_twin(sy)
    agents = Agents(sy, "hmarl", LearnerConfig(), seed=0)
    neutral = Knobs.neutral(sy, 3)
    ran = agents.layout.domain_kind == 1
    off = Knobs(np.where(ran, 0, neutral.level), neutral.threshold, neutral.price, neutral.trim)
    idle = None
    for _ in range(PATIENCE + 1):
        inputs = (twin.demand.astype(float), twin.uplink_mbps, twin.downlink_mbps, twin.deployment)
        executed = execute(sy, *inputs[:3], inputs[3], off, idle)
        removed = (inputs[3] & ~executed.deployment)[:, :, ran[sy.node_domain]].any(axis=(1, 2))
        if removed.any():
            break
        idle = executed.idle
        twin.step_arrays(executed.deployment, executed.routing)
    assert removed.any()
    gains = {}
    for weight in (0.0, 0.3):
        cfg = RewardConfig(removal_weight=weight)
        level_gain, _, _ = difference_rewards(
            agents, [sy], [slice(0, 3)], inputs, idle, off, executed, cfg, np.random.default_rng(0)
        )
        gains[weight] = level_gain[:, agents.kinds.index(1)]
    # Where the top level would have kept them (and so the two removals differ), the charge
    # turns the level's gain negative; it never raises it.
    charged = gains[0.3] < gains[0.0] - 0.05
    assert (charged & removed).any()
    assert (gains[0.3][charged] < 0).all()
    assert (gains[0.3] <= gains[0.0] + 1e-12).all()


def test_dqn_learns_a_contextual_bandit():
    rng = np.random.default_rng(0)
    q = DQN(2, 1, 3, LearnerConfig(hidden=32, batch=64, gamma=0.0, lr=3e-3), seed=0)
    for _ in range(300):
        obs = np.eye(2)[rng.integers(0, 2, 64)]
        act = rng.integers(0, 3, (64, 1))
        best = obs.argmax(axis=1)  # context 0 wants action 0, context 1 action 2
        reward = (act[:, 0] == best * 2).astype(float)
        q.store(o=obs, a=act, r=reward, o2=obs)
        q.update()
    assert q.act(np.eye(2), 0.0, rng)[:, 0].tolist() == [0, 2]


def test_ddpg_learns_the_best_continuous_action():
    rng = np.random.default_rng(0)
    pg = DDPG(1, 1, LearnerConfig(hidden=32, batch=64, gamma=0.0, lr=3e-3, actor_lr=1e-3), 0)
    for _ in range(800):
        obs = np.ones((64, 1))
        act = rng.uniform(-1, 1, (64, 1))
        reward = -((act[:, 0] - 0.5) ** 2)
        pg.store(o=obs, a=act, r=reward, o2=obs)
        pg.update()
    assert pg.act(np.ones((1, 1)), 0.0, rng)[0, 0] == pytest.approx(0.5, abs=0.15)


def test_online_learning_updates_the_networks(tiny_scenario, tiny_system):
    policy = make_policy("hmarl", online=True)
    policy.reset(tiny_system, 1)  # run_policy resets again: the same checkpoint, same weights
    before = {
        k: v.clone() for k, v in policy.agents.learners["distributor"].net.state_dict().items()
    }
    result = run_policy(policy, tiny_scenario, 120, seed=1, sample=False)
    assert result.slots == 120
    assert policy.updates > 0
    after = policy.agents.learners["distributor"].net.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_agents_act_on_one_thread_and_leave_pytorchs_setting_alone(tiny_scenario, monkeypatch):
    seen: list[int] = []
    act = Agents.act

    def spy(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return act(self, *args, **kwargs)

    monkeypatch.setattr(Agents, "act", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        result = run_policy(make_policy("hmarl"), tiny_scenario, 3, seed=0, sample=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert result.slots == 3
    assert seen == [1, 1, 1]


def test_threads_must_be_positive():
    with pytest.raises(ValueError, match="threads"):
        make_policy("hmarl", threads=0)
