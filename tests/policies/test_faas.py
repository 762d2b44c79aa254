"""FaaS: instances start on a request, scale with load, and go after their keep-alive."""

import numpy as np
import pytest

from cnc6g.experiments import run_policy
from cnc6g.model.decision import Observation
from cnc6g.orchestration import make_policy
from cnc6g.policies.faas import FaaSPolicy
from cnc6g.scenarios import load_scenario
from cnc6g.testing import check_policy
from cnc6g.twin import compile_scenario


def _obs(system, slot, demand):
    zeros = np.zeros
    return Observation(
        slot=slot,
        demand=demand,
        uplink_mbps=np.full(system.n_origins, 100.0),
        downlink_mbps=np.full(system.n_origins, 200.0),
        deployment=zeros((system.n_services, system.n_nodes), dtype=bool),
        utilisation=zeros(system.n_nodes),
        satisfied_share=np.ones((system.n_origins, system.n_services)),
    )


def test_passes_the_policy_checks(tiny_scenario):
    check_policy(FaaSPolicy, tiny_scenario, slots=15)
    check_policy(lambda: make_policy("faas"), tiny_scenario, slots=5)


def test_a_request_starts_an_instance_that_goes_after_its_keep_alive(tiny_system):
    sy = tiny_system
    policy = FaaSPolicy(keep_alive_slots=2)
    policy.reset(sy, 0)
    demand = np.zeros((sy.n_origins, sy.n_services), dtype=np.int64)
    demand[0, 0] = 3
    first = policy.decide(_obs(sy, 0, demand))
    assert first.deployment[0].sum() == 1
    assert first.routing[0, 0].sum() == pytest.approx(1.0)
    idle = np.zeros_like(demand)
    alive = [policy.decide(_obs(sy, t, idle)).deployment[0].any() for t in range(1, 5)]
    assert alive == [True, True, False, False]


def test_load_beyond_one_instance_scales_out(tiny_system):
    sy = tiny_system
    policy = FaaSPolicy(keep_alive_slots=2, target_utilisation=0.5)
    policy.reset(sy, 0)
    demand = np.zeros((sy.n_origins, sy.n_services), dtype=np.int64)
    s = int(np.argmax(sy.work))
    network = sy.candidates[0, sy.admissible[0, s] & ~sy.candidate_local[0]]
    biggest = sy.capacity[network].max()
    demand[0, s] = int(np.ceil(1.5 * 0.5 * biggest * sy.slot_s / sy.work[s]))
    decision = policy.decide(_obs(sy, 0, demand))
    assert decision.deployment[s].sum() >= 2


def test_releasing_idle_instances_saves_their_keep_alive_energy(tiny_scenario):
    light = tiny_scenario.at_load(0.01)
    faas = run_policy(FaaSPolicy(keep_alive_slots=0), light, 40, seed=1, sample=False)
    always = run_policy(FaaSPolicy(keep_alive_slots=None), light, 40, seed=1, sample=False)
    assert faas.energy["instances"][10:].sum() < always.energy["instances"][10:].sum()
    assert faas.cold_starts.sum() > always.cold_starts.sum()


def test_steps_pinned_to_the_terminal_get_a_function_there():
    scenario = load_scenario("xr-offload")
    check_policy(FaaSPolicy, scenario, slots=4)
    system = compile_scenario(scenario)
    spec = system.chains
    assert spec is not None
    pinned = np.flatnonzero(spec.step_pinned.any(axis=1))
    assert pinned.size
    result = run_policy(FaaSPolicy(), system, 3, seed=0)
    assert result.slots == 3
    policy = FaaSPolicy()
    policy.reset(system, 0)
    demand = np.zeros((system.n_origins, system.n_services))
    demand[0, pinned[0]] = 5.0
    decision = policy.decide(_obs(system, 0, demand))
    terminal = system.candidates[0, system.candidate_local[0] & system.candidate_valid[0]]
    assert decision.deployment[pinned[0], terminal].any()
    assert decision.routing[0, pinned[0]].sum() > 0
