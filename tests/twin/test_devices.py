"""A node that pools devices (a terminal domain's phones): a task runs on one device."""

import numpy as np
import pytest
from factories import node, one_cell

from cnc6g.model import ServiceType, TwinSettings
from cnc6g.twin import compile_scenario, evaluate_slot


def system(devices, capacity, memory=4.0, sojourn="exponential", service_memory=0.5):
    service = ServiceType(
        name="asr",
        compute_gcycles=0.3,
        input_mbit=0.0,
        memory_gb=service_memory,
        deadline_ms=250.0,
        tiers=["terminal"],
        work_cv=0.3,
    )
    scenario = one_cell(
        [service],
        terminal=node("T-phones", capacity, memory, devices=devices),
        ran=node("R-mec", 10.0, 8.0),
        twin=TwinSettings(slot_ms=1000.0, sojourn=sojourn),
    )
    return compile_scenario(scenario)


def local_slot(sy, requests):
    S, N, K = sy.n_services, sy.n_nodes, sy.n_candidates
    deployment = np.zeros((1, S, N), dtype=bool)
    deployment[0, 0, 0] = True
    routing = np.zeros((1, 1, S, K))
    routing[0, 0, 0, 0] = 1.0  # the terminal's own node
    assert sy.candidate_local[0, 0]
    return evaluate_slot(
        sy,
        np.array([[[requests]]], dtype=float),
        np.array([[100.0]]),
        np.array([[100.0]]),
        deployment,
        deployment,
        routing,
    )


@pytest.mark.parametrize("sojourn", ["exponential", "mg1"])
def test_five_phones_are_five_small_servers_not_one_big_one(sojourn):
    pooled = local_slot(system(1, 6.0, sojourn=sojourn), 10.0)
    phones = local_slot(system(5, 6.0, sojourn=sojourn), 10.0)
    one = local_slot(system(1, 1.2, sojourn=sojourn), 2.0)  # one phone with its share of tasks
    share = {n: o.satisfied[0] / o.served[0] for n, o in (("p", pooled), ("d", phones), ("1", one))}
    assert share["d"] == pytest.approx(share["1"], rel=1e-9)
    assert share["d"] < share["p"]
    assert phones.flow_latency_mean_s[0, 0, 0, 0] == pytest.approx(
        one.flow_latency_mean_s[0, 0, 0, 0], rel=1e-9
    )
    assert phones.utilisation[0, 0] == pytest.approx(one.utilisation[0, 0])


def test_an_instance_must_fit_one_device():
    assert system(1, 6.0, memory=4.0, service_memory=1.0).can_host[0, 0]
    assert not system(5, 6.0, memory=4.0, service_memory=1.0).can_host[0, 0]  # 0.8 GB each
    assert system(5, 6.0).memory[0] == pytest.approx(0.8)
