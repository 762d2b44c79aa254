"""Start-ups longer than a slot go on into the next slots (twin.carry_over_start_up)."""

import numpy as np
import pytest
from factories import node, one_cell

from cnc6g.model import ServiceType, TwinSettings, Workload
from cnc6g.twin import Twin, compile_scenario


def twin(carry):
    service = ServiceType(
        name="llm",
        compute_gcycles=0.5,
        input_mbit=0.0,
        memory_gb=1.0,
        deadline_ms=800.0,
        startup={"container_ms": 500.0, "model_gb": 4.0, "load_gbps": 16.0, "power_w": 200.0},
        tiers=["ran"],
    )  # start-up 0.5 s + 4 GB x 8 / 16 Gbit/s = 2.5 s, 500 J
    scenario = one_cell(
        [service],
        terminal=node("T-node", 1.0, 8.0),
        ran=node("R-mec", 10.0, 8.0),
        workload=Workload(requests_per_slot=(5, 5)),
        twin=TwinSettings(slot_ms=1000.0, carry_over_start_up=carry),
    )
    return Twin(compile_scenario(scenario), seed=0)


def run(tw, slots):
    sy = tw.system
    mec = sy.node_names.index("R-mec")
    k = int(np.flatnonzero(sy.candidates[0] == mec)[0])
    deployment = np.zeros((1, sy.n_services, sy.n_nodes), dtype=bool)
    deployment[0, 0, mec] = True
    routing = np.zeros((1, 1, sy.n_services, sy.n_candidates))
    routing[0, 0, 0, k] = 1.0
    return [tw.step_arrays(deployment, routing) for _ in range(slots)], k


def test_a_long_start_up_goes_on_into_the_next_slots():
    outs, k = run(twin(True), 4)
    fraction = [float(o.flow_cold_fraction[0, 0, 0, k]) for o in outs]
    left = [float(o.flow_cold_start_s[0, 0, 0, k]) if o.start_sn is not None else 0.0 for o in outs]
    assert fraction == pytest.approx([1.0, 1.0, 0.5, 0.0])
    assert left[:3] == pytest.approx([2.5, 1.5, 0.5])
    assert [float(o.energy["cold_start"][0]) for o in outs] == pytest.approx([500.0, 0, 0, 0])
    assert [float(o.cold_starts[0]) for o in outs] == [1.0, 0.0, 0.0, 0.0]
    satisfied = [float(o.satisfied[0]) for o in outs]
    # Slot 0: every task waits at least 1.5 s (deadline 0.8 s); slot 1: only the last arrivals
    # make it; then more as less of the start-up is left.
    assert satisfied[0] == 0.0
    assert 0.0 < satisfied[1] < satisfied[2] < satisfied[3]


def test_without_carry_over_a_start_up_ends_in_its_first_slot():
    outs, k = run(twin(False), 3)
    assert float(outs[0].flow_cold_fraction[0, 0, 0, k]) == 1.0
    assert float(outs[1].flow_cold_fraction[0, 0, 0, k]) == 0.0
    assert outs[1].satisfied[0] > 0.0
    carried, _ = run(twin(True), 3)
    assert carried[1].satisfied[0] < outs[1].satisfied[0]


def test_sampled_requests_wait_for_what_is_left_of_the_start_up():
    tw = twin(True)
    outs, k = run(tw, 3)
    sy = tw.system
    rng = np.random.default_rng(0)
    from cnc6g.twin import sample_requests

    lat = np.concatenate(
        [
            sample_requests(outs[2], np.array([[[5]]]), sy.deadline_s, rng).latency_s
            for _ in range(4000)
        ]
    )
    assert lat.mean() == pytest.approx(outs[2].flow_latency_mean_s[0, 0, 0, k], rel=0.03)
