"""Background load: work and traffic from outside the twin's services share its nodes and cells.

Hand-computed on one cell (terminal T-dev, RAN node R-mec of 20 Gc/s, idle 100 W, peak 200 W)
with one service of 0.5 Gc, 0.8 Mbit up and 0.2 Mbit down; a zero background changes nothing,
bit for bit, in the slot arithmetic and in the twin.
"""

import numpy as np
import pytest
from factories import node, one_cell

from cnc6g.model import ServiceType, TwinSettings, Workload
from cnc6g.policies import GreedyPolicy
from cnc6g.scenarios import load_scenario
from cnc6g.twin import Twin, compile_scenario, evaluate_slot
from cnc6g.twin.dynamics import MIN_RADIO_SHARE

T, R = 0, 1  # node index == candidate index of the only origin
W, IN, OUT, DEADLINE = 0.5, 0.8, 0.2, 0.2
C_R, IDLE_R, PEAK_R = 20.0, 100.0, 200.0
UP, DOWN = 50.0, 100.0  # the cell's rates, Mbit/s
BS_J_PER_MBIT = 40e-3  # 40 nJ/bit
REL = 1e-9


def make_system(sojourn="exponential"):
    service = ServiceType(
        name="a",
        compute_gcycles=W,
        input_mbit=IN,
        output_mbit=OUT,
        memory_gb=1.0,
        cold_start_ms=0.0,
        deadline_ms=DEADLINE * 1e3,
        work_cv=0.0,
    )
    scenario = one_cell(
        [service],
        terminal=node("T-dev", 4.0, 2.0, peak=6.0),
        ran=node("R-mec", C_R, 16.0, idle=IDLE_R, peak=PEAK_R, sleep_power_w=10.0),
        radio={
            "uplink_mhz": 10.0,
            "downlink_mhz": 20.0,
            "mean_snr_db": 20.0,
            "tx_power_w": 0.25,
            "bs_energy_nj_per_bit": BS_J_PER_MBIT * 1e3,
        },
        workload=Workload(requests_per_slot=(10, 10)),
        twin=TwinSettings(slot_ms=1000.0, admission_utilisation=0.9, sojourn=sojourn),
    )
    return compile_scenario(scenario)


@pytest.fixture(scope="module")
def system():
    return make_system()


def slot(system, demand=10.0, deployed=True, gcps=None, mbps=None, share=None):
    """One slot: ``demand`` tasks of the service routed to R-mec (running there or not)."""
    x = np.zeros((1, 1, system.n_nodes), dtype=bool)
    x[0, 0, R] = deployed
    y = np.zeros((1, 1, 1, system.n_candidates))
    y[0, 0, 0, R] = 1.0
    quota = None
    if share is not None:
        quota = np.zeros(x.shape)
        quota[0, 0, R] = share
    return evaluate_slot(
        system,
        np.array([[[demand]]]),
        np.array([[UP]]),
        np.array([[DOWN]]),
        x,
        x.copy(),
        y,
        quota,
        background_gcps=gcps,
        background_mbps=mbps,
    )


def background(up=0.0, down=0.0):
    return np.array([[[up, down]]])


def nodes(system, gcps_r):
    out = np.zeros((1, system.n_nodes))
    out[0, R] = gcps_r
    return out


def assert_same(a, b):
    for name in ("offered", "served", "satisfied", "dropped", "utilisation", "awake", "rate_sn"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("radio_utilisation", "per_mbit_s", "link_utilisation", "cold_starts"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for part, joules in a.energy.items():
        np.testing.assert_array_equal(joules, b.energy[part], err_msg=part)
    assert a.flows == b.flows


def test_a_zero_background_changes_nothing_bit_for_bit(system):
    plain = slot(system)
    zero = slot(system, gcps=nodes(system, 0.0), mbps=background())
    assert_same(plain, zero)
    assert plain.cell_utilisation is None
    np.testing.assert_array_equal(zero.cell_utilisation, plain.radio_utilisation)


def test_background_compute_raises_the_nodes_utilisation_and_the_tasks_latency(system):
    plain = slot(system)
    shared = slot(system, gcps=nodes(system, 5.0))
    # The twin's 10 tasks x 0.5 Gc in a 1 s slot: 5 Gc/s, all admitted (5 + 5 <= 0.9 x 20).
    assert plain.utilisation[0, R] == pytest.approx(5.0 / C_R, rel=REL)
    assert shared.utilisation[0, R] == pytest.approx(10.0 / C_R, rel=REL)
    assert shared.served[0] == pytest.approx(10.0, rel=REL)
    # Processor sharing: the sojourn rate is what both leave, (20 - 5 - 5) / 0.5 = 20 / s.
    assert plain.flow_rate[0, 0, 0, R] == pytest.approx((C_R - 5.0) / W, rel=REL)
    assert shared.flow_rate[0, 0, 0, R] == pytest.approx((C_R - 10.0) / W, rel=REL)
    lag = 1.0 / 20.0 - 1.0 / 30.0
    assert shared.flow_latency_mean_s[0, 0, 0, R] - plain.flow_latency_mean_s[
        0, 0, 0, R
    ] == pytest.approx(lag, rel=1e-6)
    net = plain.flow_network_s[0, 0, 0, R]
    p = 1.0 - np.exp(-20.0 * (DEADLINE - net))
    assert shared.satisfied[0] == pytest.approx(10.0 * p, rel=REL)
    assert shared.satisfied[0] < plain.satisfied[0]
    # The node's dynamic power counts the background's work: (200 - 100) W x 0.5 x 1 s.
    assert shared.energy["dynamic"][0] == pytest.approx((PEAK_R - IDLE_R) * 0.5, rel=REL)
    assert plain.energy["dynamic"][0] == pytest.approx((PEAK_R - IDLE_R) * 0.25, rel=REL)


def test_under_hard_quotas_a_share_is_of_what_the_background_leaves(system):
    # Half of 20 - 4 Gc/s: a quota of 8 Gc/s for 5 Gc/s of tasks, M/M/1 rate 8 / 0.5 - 10.
    out = slot(system, gcps=nodes(system, 4.0), share=0.5)
    assert out.flow_rate[0, 0, 0, R] == pytest.approx(8.0 / W - 10.0, rel=REL)
    assert out.utilisation[0, R] == pytest.approx(9.0 / C_R, rel=REL)
    assert out.served[0] == pytest.approx(10.0, rel=REL)


def test_under_hard_quotas_each_copy_shares_what_its_own_background_leaves(system):
    # Two copies in one batch, 4 and 10 Gc/s of background: each as when evaluated alone.
    alone = [slot(system, gcps=nodes(system, g), share=0.5) for g in (4.0, 10.0)]
    x = np.zeros((2, 1, system.n_nodes), dtype=bool)
    x[:, 0, R] = True
    y = np.zeros((2, 1, 1, system.n_candidates))
    y[:, 0, 0, R] = 1.0
    quota = np.zeros(x.shape)
    quota[:, 0, R] = 0.5
    both = evaluate_slot(
        system,
        np.full((2, 1, 1), 10.0),
        np.full((2, 1), UP),
        np.full((2, 1), DOWN),
        x,
        x.copy(),
        y,
        quota,
        background_gcps=np.concatenate([nodes(system, 4.0), nodes(system, 10.0)]),
    )
    for b, one in enumerate(alone):
        assert both.flow_rate[b, 0, 0, R] == pytest.approx(one.flow_rate[0, 0, 0, R], rel=REL)
        assert both.utilisation[b] == pytest.approx(one.utilisation[0], rel=REL)
        assert both.served[b] == pytest.approx(one.served[0], rel=REL)
    # Half of 20 - 10 Gc/s: a quota of 5 Gc/s for 5 Gc/s of tasks, admitted up to rho_max.
    assert both.flow_rate[1, 0, 0, R] < both.flow_rate[0, 0, 0, R]


def test_the_mg1_wait_counts_the_backgrounds_load_and_residual_work():
    mg1 = make_system("mg1")
    # Deterministic work of 0.5 / 20 s at 10 tasks/s: P-K wait 10 x 0.025^2 / (2 (1 - rho)).
    second = 10.0 * (W / C_R) ** 2
    plain = slot(mg1)
    # 5 Gc/s of background taken to be tasks like the twin's: twice the numerator, rho 0.5.
    shared = slot(mg1, gcps=nodes(mg1, 5.0))
    assert plain.wait_n[0, R] == pytest.approx(second / (2.0 * (1.0 - 0.25)), rel=REL)
    assert shared.wait_n[0, R] == pytest.approx(2.0 * second / (2.0 * (1.0 - 0.5)), rel=REL)
    assert shared.satisfied[0] < plain.satisfied[0]
    told = evaluate_slot(
        mg1,
        np.array([[[10.0]]]),
        np.array([[UP]]),
        np.array([[DOWN]]),
        *(np.array([[[False, True]]]),) * 2,
        np.array([[[[0.0, 1.0]]]]),
        background_gcps=nodes(mg1, 5.0),
        background_second_s=nodes(mg1, 0.01),
    )
    assert told.wait_n[0, R] == pytest.approx((second + 0.01) / (2.0 * (1.0 - 0.5)), rel=REL)
    assert_same(plain, slot(mg1, gcps=nodes(mg1, 0.0), mbps=background()))


def test_a_node_full_of_background_admits_only_what_rho_max_leaves(system):
    # 15 Gc/s of background leaves 0.9 x 20 - 15 = 3 Gc/s: 6 of the 10 tasks.
    out = slot(system, gcps=nodes(system, 15.0))
    assert out.served[0] == pytest.approx(6.0, rel=REL)
    assert out.utilisation[0, R] == pytest.approx(18.0 / C_R, rel=REL)
    assert out.flow_rate[0, 0, 0, R] == pytest.approx((C_R - 18.0) / W, rel=REL)
    # Beyond rho_max the twin's tasks get nothing; the background never exceeds the capacity.
    full = slot(system, gcps=nodes(system, 50.0))
    assert full.served[0] == 0.0
    assert full.utilisation[0, R] == pytest.approx(1.0, rel=REL)


def test_a_node_with_background_stays_awake(system):
    asleep = slot(system, deployed=False)
    busy = slot(system, deployed=False, gcps=nodes(system, 2.0))
    assert not asleep.awake[0, R]
    assert busy.awake[0, R]
    assert busy.energy["idle"][0] - asleep.energy["idle"][0] == pytest.approx(
        IDLE_R - 10.0, rel=REL
    )


def test_background_traffic_lowers_the_cells_rate_for_the_twins_flows(system):
    plain = slot(system)
    shared = slot(system, mbps=background(up=10.0, down=20.0))
    # The flows get 50 - 10 = 40 Mbit/s up and 100 - 20 = 80 down, loaded 8/40 and 2/80.
    per_up = 1.0 / (40.0 * (1.0 - 8.0 / 40.0))
    per_down = 1.0 / (80.0 * (1.0 - 2.0 / 80.0))
    assert shared.per_mbit_s[0, 0, R] == pytest.approx([per_up, per_down], rel=REL)
    delay = 2.0 * system.candidate_delay_s[0, R]
    assert shared.flow_network_s[0, 0, 0, R] == pytest.approx(
        IN * per_up + OUT * per_down + delay, rel=REL
    )
    assert shared.flow_network_s[0, 0, 0, R] > plain.flow_network_s[0, 0, 0, R]
    # The twin's own utilisation of the cell is as before; with the background 8/50 + 10/50.
    np.testing.assert_array_equal(shared.radio_utilisation, plain.radio_utilisation)
    assert shared.cell_utilisation[0, 0] == pytest.approx(max(18.0 / 50.0, 22.0 / 100.0), rel=REL)
    # The base station sends the background's 20 Mbit too, at 40 nJ/bit; terminals' air time is
    # at the cell's rate, 0.25 W x 8 Mbit / 50 Mbit/s.
    assert shared.energy["radio"][0] == pytest.approx(
        0.25 * 8.0 / UP + BS_J_PER_MBIT * (2.0 + 20.0), rel=REL
    )


def test_a_cell_full_of_background_leaves_the_flows_their_least_share(system):
    out = slot(system, mbps=background(up=1e4))
    per_up = 1.0 / (MIN_RADIO_SHARE * UP * (1.0 - 0.9))  # 8 Mbit on 0.5 Mbit/s: capped at 0.9
    assert out.per_mbit_s[0, 0, R, 0] == pytest.approx(per_up, rel=REL)
    assert out.served[0] == pytest.approx(10.0 * 0.9 / (8.0 / (MIN_RADIO_SHARE * UP)), rel=REL)


def test_the_twin_applies_its_background_from_the_next_step_until_reset():
    scenario = load_scenario("tiny")
    system = compile_scenario(scenario)
    steps = 4

    def trajectory(setup):
        twin = Twin(system, seed=3)
        policy = GreedyPolicy()
        policy.reset(system, seed=3)
        setup(twin)
        return [twin.step(policy.decide(twin.observe())) for _ in range(steps)]

    plain = trajectory(lambda twin: None)
    zero = trajectory(lambda twin: twin.set_background(np.zeros(system.n_nodes)))
    for a, b in zip(plain, zero, strict=True):
        assert_same(a, b)
    busy = system.capacity * 0.3
    loaded = trajectory(
        lambda twin: twin.set_background(
            busy, np.full(system.n_origins, 5.0), np.full(system.n_origins, 5.0)
        )
    )
    for a, b in zip(plain, loaded, strict=True):  # every step sees it
        assert np.all(b.utilisation >= 0.3 - 1e-9)
        assert b.satisfied[0] < a.satisfied[0]
    twin = Twin(system, seed=3)
    twin.set_background(busy)
    np.testing.assert_array_equal(twin.background[0], busy[None])
    twin.reset(3)
    assert not twin.background[0].any()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"node_gcps": np.zeros(2)}, "node_gcps"),
        ({"uplink_mbps": -np.ones(2)}, "uplink_mbps"),
        ({"downlink_mbps": np.full(2, np.nan)}, "downlink_mbps"),
    ],
)
def test_a_bad_background_is_named(kwargs, name):
    system = compile_scenario(load_scenario("tiny"))
    twin = Twin(system)
    if name != "node_gcps":
        kwargs = {name: np.resize(kwargs[name], system.n_origins)}
    with pytest.raises(ValueError, match=name):
        twin.set_background(**kwargs)
