import numpy as np
import pytest

from cnc6g.model import HotspotShift, Workload
from cnc6g.model.decision import Decision
from cnc6g.scenarios import parse_scenario
from cnc6g.twin import (
    ENERGY_PARTS,
    Twin,
    compile_scenario,
    evaluate_slot,
    load_for_requests,
    popularity_weights,
    requests_for_load,
)
from cnc6g.twin.dynamics import clean_routing
from cnc6g.twin.workload import demand_process


def all_to_node(system, node_name):
    """Deploy every service the node can host there and send all its demand to it."""
    n = system.node_names.index(node_name)
    x = np.zeros((system.n_services, system.n_nodes), dtype=bool)
    x[:, n] = system.can_host[:, n]
    y = np.zeros((system.n_origins, system.n_services, system.n_candidates))
    for o in range(system.n_origins):
        k = np.flatnonzero(system.candidate_valid[o] & (system.candidates[o] == n))
        y[o, :, k] = x[:, n]
    return Decision(deployment=x, routing=y)


def with_workload(scenario, workload):
    data = scenario.model_dump()
    data["workload"] = workload.model_dump()
    return compile_scenario(parse_scenario(data))


def trajectory(system, seed, slots=4, batch=2):
    twin = Twin(system, batch=batch, seed=seed)
    decision = all_to_node(system, "X-dc")
    seen = []
    for _ in range(slots):
        demand, up = twin.demand.copy(), twin.uplink_mbps.copy()
        out = twin.step(decision)
        seen.append((demand, up, out.flow_satisfied, out.energy_total))
    return seen


def test_same_seed_gives_the_same_trajectory(tiny_system):
    a, b = trajectory(tiny_system, seed=3), trajectory(tiny_system, seed=3)
    for slot_a, slot_b in zip(a, b, strict=True):
        for x, y in zip(slot_a, slot_b, strict=True):
            np.testing.assert_array_equal(x, y)


def test_different_seeds_give_different_demand(tiny_system):
    a, b = trajectory(tiny_system, seed=3), trajectory(tiny_system, seed=4)
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(a, b, strict=True))
    assert any(not np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))


def test_reset_starts_the_same_trajectory_again(tiny_system):
    twin = Twin(tiny_system, seed=11)
    decision = all_to_node(tiny_system, "X-dc")
    first = []
    for _ in range(3):
        first.append(twin.demand.copy())
        twin.step(decision)
    twin.reset(11)
    assert twin.slot == 0
    assert not twin.deployment.any()
    for demand in first:
        np.testing.assert_array_equal(twin.demand, demand)
        twin.step(decision)


def test_batch_copies_are_separate_valid_samples(tiny_system):
    twin = Twin(tiny_system, batch=8, seed=5)
    process = demand_process(tiny_system)
    O, S = tiny_system.n_origins, tiny_system.n_services
    assert twin.demand.shape == (8, O, S)
    assert twin.uplink_mbps.shape == (8, O)
    assert twin.downlink_mbps.shape == (8, O)
    totals = twin.demand.sum(axis=(1, 2))
    assert ((totals >= process.low) & (totals <= process.high)).all()
    assert len({tuple(d.ravel()) for d in twin.demand}) == 8
    assert len(np.unique(twin.uplink_mbps[:, 0])) == 8


def test_batch_step_equals_each_copy_evaluated_alone(tiny_system):
    twin = Twin(tiny_system, batch=3, seed=8)
    decisions = [
        all_to_node(tiny_system, "X-dc"),
        all_to_node(tiny_system, "R1-mec"),
        all_to_node(tiny_system, "X-cloud"),
    ]
    twin.step(decisions)  # slot 0; slot 1 then has a previous deployment in every copy
    decisions = decisions[1:] + decisions[:1]
    demand, up, down = twin.demand.copy(), twin.uplink_mbps.copy(), twin.downlink_mbps.copy()
    previous = twin.deployment.copy()
    out = twin.step(decisions)
    assert out.offered.shape == out.served.shape == (3,)
    for b, d in enumerate(decisions):
        alone = evaluate_slot(
            tiny_system,
            demand[b : b + 1].astype(float),
            up[b : b + 1],
            down[b : b + 1],
            d.deployment[None],
            previous[b : b + 1],
            d.routing[None],
        )
        assert out.offered[b] == demand[b].sum()
        assert out.served[b] == pytest.approx(alone.served[0], rel=1e-12)
        assert out.satisfied[b] == pytest.approx(alone.satisfied[0], rel=1e-12)
        assert out.cold_starts[b] == alone.cold_starts[0]
        for part in ENERGY_PARTS:
            assert out.energy[part][b] == pytest.approx(alone.energy[part][0], rel=1e-12)
        np.testing.assert_allclose(out.utilisation[b], alone.utilisation[0], rtol=1e-12)
        np.testing.assert_allclose(out.flow_satisfied[b], alone.flow_satisfied[0], rtol=1e-12)


def test_one_decision_applies_to_every_copy(tiny_system):
    twin = Twin(tiny_system, batch=3, seed=1)
    d = all_to_node(tiny_system, "X-dc")
    twin.step(d)
    for b in range(3):
        np.testing.assert_array_equal(twin.observe(b).deployment, d.deployment)


def test_observation_arrays_are_read_only(tiny_system):
    obs = Twin(tiny_system, seed=0).observe()
    arrays = [
        obs.demand,
        obs.uplink_mbps,
        obs.downlink_mbps,
        obs.deployment,
        obs.utilisation,
        obs.satisfied_share,
    ]
    for a in arrays:
        assert not a.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        obs.demand[0, 0] = 1


def test_observation_is_a_snapshot_of_its_copy(tiny_system):
    twin = Twin(tiny_system, batch=2, seed=0)
    obs = twin.observe(1)
    np.testing.assert_array_equal(obs.demand, twin.demand[1])
    before = obs.demand.copy()
    twin.step(all_to_node(tiny_system, "X-dc"))
    np.testing.assert_array_equal(obs.demand, before)
    assert obs.slot == 0
    assert twin.observe(1).slot == 1


def test_step_carries_state_to_the_next_observation(tiny_system):
    twin = Twin(tiny_system, seed=2)
    d = all_to_node(tiny_system, "X-dc")
    demand = twin.demand[0].astype(float)
    out = twin.step(d)
    assert out.cold_starts[0] == d.deployment.sum()
    obs = twin.observe()
    np.testing.assert_array_equal(obs.deployment, d.deployment)
    np.testing.assert_array_equal(obs.utilisation, out.utilisation[0])
    got = out.flow_satisfied[0].sum(axis=-1)
    expected = np.where(demand > 0, got / np.maximum(demand, 1), 1.0)
    np.testing.assert_allclose(obs.satisfied_share, expected, rtol=1e-12)
    assert twin.step(d).cold_starts[0] == 0


def test_batch_must_be_positive(tiny_system):
    with pytest.raises(ValueError, match="batch must be >= 1"):
        Twin(tiny_system, batch=0)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        ("deployment", "deployment has shape"),
        ("routing", "routing has shape"),
        ("routing_batch", "routing has shape"),
        ("cpu_share", "cpu_share has shape"),
    ],
)
def test_step_arrays_rejects_wrong_shapes(tiny_system, wrong, message):
    S, N = tiny_system.n_services, tiny_system.n_nodes
    O, K = tiny_system.n_origins, tiny_system.n_candidates
    deployment = (2, S, N + 1) if wrong == "deployment" else (2, S, N)
    routing = {"routing": (2, O, S, K + 1), "routing_batch": (O, S, K)}.get(wrong, (2, O, S, K))
    share = np.zeros((S, N)) if wrong == "cpu_share" else None
    twin = Twin(tiny_system, batch=2, seed=0)
    with pytest.raises(ValueError, match=message):
        twin.step_arrays(np.zeros(deployment, dtype=bool), np.zeros(routing), share)
    assert twin.slot == 0


def test_step_needs_one_decision_per_copy(tiny_system):
    twin = Twin(tiny_system, batch=2, seed=0)
    d = all_to_node(tiny_system, "X-dc")
    with pytest.raises(ValueError, match="need 2 decisions, got 3"):
        twin.step([d, d, d])


def test_step_needs_cpu_share_in_all_decisions_or_none(tiny_system):
    twin = Twin(tiny_system, batch=2, seed=0)
    d = all_to_node(tiny_system, "X-dc")
    shared = Decision(d.deployment, d.routing, cpu_share=d.deployment * 0.1)
    with pytest.raises(ValueError, match="cpu_share in every decision"):
        twin.step([d, shared])


def test_origin_hotspot_moves_demand_at_its_slot(tiny_scenario):
    system = with_workload(
        tiny_scenario,
        Workload(
            requests_per_slot=(50, 50),
            origin_weights={"T0": 1.0},
            hotspots=[HotspotShift(slot=3, origin_weights={"T2": 1.0})],
        ),
    )
    twin = Twin(system, batch=2, seed=4)
    d = all_to_node(system, "X-dc")
    for slot in range(6):
        per_origin = twin.demand.sum(axis=2)  # [B, O]
        hot = 0 if slot < 3 else 2
        assert (per_origin[:, hot] == 50).all(), slot
        twin.step(d)


def test_popularity_reshuffle_changes_the_top_service_at_its_slot(tiny_scenario):
    system = with_workload(
        tiny_scenario,
        Workload(
            requests_per_slot=(200, 200),
            zipf_exponent=5.0,
            hotspots=[HotspotShift(slot=3, reshuffle_popularity=True)],
        ),
    )
    twin = Twin(system, batch=16, seed=9)
    d = all_to_node(system, "X-dc")
    tops = []
    for _ in range(6):
        tops.append(twin.demand.sum(axis=1).argmax(axis=1))  # [B]
        twin.step(d)
    for slot in range(3):
        assert (tops[slot] == 0).all()
    for slot in range(4, 6):
        np.testing.assert_array_equal(tops[slot], tops[3])
    assert (tops[3] != 0).any()
    assert len(set(tops[3].tolist())) > 1  # each copy draws its own ranking


def test_popularity_order_puts_the_first_listed_service_on_top(tiny_scenario):
    names = ["svc04", "svc00", "svc01", "svc02", "svc03", "svc05"]
    system = with_workload(
        tiny_scenario,
        Workload(requests_per_slot=(300, 300), zipf_exponent=5.0, popularity=names),
    )
    twin = Twin(system, batch=4, seed=0)
    assert (twin.demand.sum(axis=1).argmax(axis=1) == 4).all()
    assert popularity_weights(system).argmax() == 4


def test_demand_totals_stay_in_the_request_range(tiny_scenario):
    system = with_workload(tiny_scenario, Workload(requests_per_slot=(5, 9)))
    twin = Twin(system, batch=4, seed=0)
    d = all_to_node(system, "X-dc")
    totals = []
    for _ in range(40):
        totals.append(twin.demand.sum(axis=(1, 2)))
        twin.step(d)
    totals = np.concatenate(totals)
    assert totals.min() == 5
    assert totals.max() == 9


def test_requests_for_load_by_hand(tiny_system):
    # reference capacity: RAN nodes (3 x 40) + transport nodes but the largest (200 of 200, 400)
    mean_work = tiny_system.work @ popularity_weights(tiny_system)
    expected = 0.6 * (3 * 40.0 + 200.0) * tiny_system.slot_s / mean_work
    assert requests_for_load(tiny_system, 0.6) == pytest.approx(expected, rel=1e-12)
    assert load_for_requests(tiny_system, expected) == pytest.approx(0.6, rel=1e-12)


def test_offered_load_sets_the_request_range_around_its_mean(tiny_system):
    mean = requests_for_load(tiny_system, 0.6)  # tiny: offered_load 0.6, spread 0.2
    process = demand_process(tiny_system)
    assert process.low == round(0.8 * mean)
    assert process.high == round(1.2 * mean)
    twin = Twin(tiny_system, batch=64, seed=1)
    d = all_to_node(tiny_system, "X-dc")
    demand = []
    for _ in range(10):
        demand.append(twin.demand.sum(axis=1))  # [B, S]
        twin.step(d)
    demand = np.concatenate(demand)
    assert demand.sum(axis=1).mean() == pytest.approx(mean, rel=0.02)
    share = demand.sum(axis=0) / demand.sum()
    np.testing.assert_allclose(share, popularity_weights(tiny_system), atol=0.01)


def test_channel_is_shannon_rate_under_log_normal_shadowing(tiny_system):
    twin = Twin(tiny_system, batch=4000, seed=0)
    up, down = twin.uplink_mbps, twin.downlink_mbps
    # same SNR both ways: rates scale with the bandwidth
    ratio = np.broadcast_to(tiny_system.downlink_mhz / tiny_system.uplink_mhz, up.shape)
    np.testing.assert_allclose(down / up, ratio, rtol=1e-12)
    snr_db = 10 * np.log10(2 ** (up / tiny_system.uplink_mhz) - 1)
    np.testing.assert_allclose(snr_db.mean(axis=0), tiny_system.mean_snr_db, atol=0.25)
    np.testing.assert_allclose(snr_db.std(axis=0), tiny_system.shadowing_std_db, rtol=0.05)


def test_step_cleans_routing_before_evaluating(tiny_system):
    d = all_to_node(tiny_system, "X-dc")
    raw = d.routing * 3.0 - 0.5 * (d.routing == 0)  # rows sum to 3, other shares negative
    a, b = Twin(tiny_system, seed=6), Twin(tiny_system, seed=6)
    out_raw = a.step(Decision(d.deployment, raw))
    out_clean = b.step_arrays(d.deployment[None], clean_routing(raw[None]), clean=False)
    np.testing.assert_array_equal(out_raw.flow_requests, out_clean.flow_requests)
    np.testing.assert_array_equal(out_raw.flow_satisfied, out_clean.flow_satisfied)
    # X-dc hosts every service of tiny, so the cleaned rows (all 1) route the whole demand
    assert out_raw.flow_requests.sum() == pytest.approx(out_raw.offered[0], rel=1e-12)


def test_added_demand_loads_the_slot_and_resume_goes_on_from_a_slot(tiny_system):
    import numpy as np

    from cnc6g.twin import Twin

    twin = Twin(tiny_system, seed=3)
    before = twin.demand.copy()
    extra = np.zeros_like(before)
    extra[0, 0, 0] = 5
    twin.add_demand(extra)
    assert twin.demand.sum() == before.sum() + 5
    with pytest.raises(ValueError, match="extra demand"):
        twin.add_demand(-extra)
    x = np.zeros((1, tiny_system.n_services, tiny_system.n_nodes), dtype=bool)
    x[0, 0, 0] = True
    twin.resume(40, x, seed=9)
    assert twin.slot == 40
    np.testing.assert_array_equal(twin.deployment, x)
    again = Twin(tiny_system, seed=3)
    again.resume(40, x, seed=9)
    np.testing.assert_array_equal(twin.demand, again.demand)
