"""Sleeping servers take time and energy to wake before an instance on them can start."""

import numpy as np
import pytest
from factories import node, one_cell

from cnc6g.model import ServiceType, TwinSettings
from cnc6g.model.infra import Node
from cnc6g.twin import compile_scenario, evaluate_slot, sample_requests


def system(wake_ms, wake_energy_j=0.0):
    service = ServiceType(
        name="s",
        compute_gcycles=0.2,
        input_mbit=0.0,
        memory_gb=1.0,
        deadline_ms=600.0,
        cold_start_ms=200.0,
        instantiation_energy_j=30.0,
        tiers=["ran"],
    )
    mec = node(
        "R-mec",
        10.0,
        8.0,
        idle=100.0,
        peak=200.0,
        sleep_power_w=10.0,
        wake_ms=wake_ms,
        wake_energy_j=wake_energy_j,
    )
    scenario = one_cell(
        [service], terminal=node("T-node", 1.0, 8.0), ran=mec, twin=TwinSettings(slot_ms=1000.0)
    )
    return compile_scenario(scenario)


def slot(sy, previous_on):
    S, N, K = sy.n_services, sy.n_nodes, sy.n_candidates
    mec = sy.node_names.index("R-mec")
    k = int(np.flatnonzero(sy.candidates[0] == mec)[0])
    deployment = np.zeros((1, S, N), dtype=bool)
    deployment[0, 0, mec] = True
    previous = deployment.copy() if previous_on else np.zeros_like(deployment)
    routing = np.zeros((1, 1, S, K))
    routing[0, 0, 0, k] = 1.0
    out = evaluate_slot(
        sy,
        np.array([[[10.0]]]),
        np.array([[1000.0]]),
        np.array([[1000.0]]),
        deployment,
        previous,
        routing,
    )
    return out, k


def test_a_sleeping_node_wakes_before_its_instance_starts():
    plain, k = slot(system(0.0), previous_on=False)
    woken, _ = slot(system(500.0, 40.0), previous_on=False)
    assert plain.waking is None
    assert woken.waking is not None
    assert woken.waking[0, system(0.0).node_names.index("R-mec")]
    # Start-up 200 ms + wake-up 500 ms; energy 30 J + 40 J.
    assert woken.flow_cold_start_s[0, 0, 0, k] == pytest.approx(0.7)
    assert plain.flow_cold_start_s[0, 0, 0, k] == pytest.approx(0.2)
    assert woken.energy["cold_start"][0] == pytest.approx(70.0)
    assert plain.energy["cold_start"][0] == pytest.approx(30.0)
    assert woken.flow_cold_fraction[0, 0, 0, k] == pytest.approx(0.7)
    assert woken.satisfied[0] < plain.satisfied[0]


def test_a_node_that_was_awake_does_not_wake_again():
    on, k = slot(system(500.0, 40.0), previous_on=True)
    assert not on.waking.any()
    assert on.energy["cold_start"][0] == 0.0
    assert on.flow_cold_start_s[0, 0, 0, k] == pytest.approx(0.2)


def test_sampled_requests_wait_for_the_wake_up():
    sy = system(500.0, 40.0)
    out, k = slot(sy, previous_on=False)
    rng = np.random.default_rng(0)
    lat = np.concatenate(
        [
            sample_requests(out, np.array([[[10]]]), sy.deadline_s, rng).latency_s
            for _ in range(3000)
        ]
    )
    assert lat.mean() == pytest.approx(out.flow_latency_mean_s[0, 0, 0, k], rel=0.03)
    fluid = out.flow_satisfied[0, 0, 0, k] / out.flow_served[0, 0, 0, k]
    assert (lat <= sy.deadline_s[0]).mean() == pytest.approx(fluid, abs=0.02)


def test_only_a_node_that_sleeps_can_wake():
    with pytest.raises(ValueError, match="need sleep_power_w"):
        Node(
            name="n",
            capacity_gcps=1.0,
            memory_gb=1.0,
            idle_power_w=1.0,
            peak_power_w=2.0,
            wake_ms=10.0,
        )
