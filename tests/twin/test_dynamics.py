"""Slot arithmetic of the twin against values computed by hand on a three-node system.

The system: terminal domain T (node T-dev), RAN domain R (node R-mec), transport domain X (node
X-dc), one wired link R-X of 100 Mbit/s, one origin (T). Candidates of the origin are, in order,
T-dev (local), R-mec, X-dc, so node index == candidate index.
"""

import numpy as np
import pytest
from factories import node, one_cell

from cnc6g.model import DomainKind, ProcessorKind, ServiceType, TwinSettings, Workload
from cnc6g.twin import ENERGY_PARTS, compile_scenario, evaluate_slot
from cnc6g.twin.dynamics import clean_routing

T, R, X = 0, 1, 2  # node index == candidate index of the only origin
A, B = 0, 1  # services
REL = 1e-9

# Service a: 0.5 Gc, 0.8 Mbit up, 0.2 Mbit down, deadline 200 ms, cold start 300 ms.
W_A, IN_A, OUT_A, D_A = 0.5, 0.8, 0.2, 0.2
# Service b: 1.0 Gc, 0.4 Mbit up, 0.1 Mbit down, deadline 300 ms, no cold start, not on terminals.
W_B, IN_B, OUT_B, D_B = 1.0, 0.4, 0.1, 0.3
C_T, C_R, C_X = 4.0, 20.0, 100.0  # capacities, Gc/s
LINK = 100.0  # Mbit/s per direction
DELAY_T, DELAY_R, DELAY_X = 0.0002, 0.0005, 0.002 + 0.001  # one-way delay to each candidate, s


def service_a(**changes):
    values = {
        "name": "a",
        "compute_gcycles": W_A,
        "input_mbit": IN_A,
        "output_mbit": OUT_A,
        "memory_gb": 1.0,
        "instance_power_w": 2.0,
        "instantiation_energy_j": 100.0,
        "cold_start_ms": 300.0,
        "deadline_ms": D_A * 1e3,
    }
    return ServiceType(**(values | changes))


def service_b(**changes):
    values = {
        "name": "b",
        "compute_gcycles": W_B,
        "input_mbit": IN_B,
        "output_mbit": OUT_B,
        "memory_gb": 1.5,
        "instance_power_w": 3.0,
        "instantiation_energy_j": 50.0,
        "cold_start_ms": 0.0,
        "deadline_ms": D_B * 1e3,
        "tiers": [DomainKind.RAN, DomainKind.TRANSPORT],
    }
    return ServiceType(**(values | changes))


def make_system(services=None, *, slot_ms=1000.0, rho_max=0.9, mec_sleep_w=None):
    scenario = one_cell(
        services if services is not None else [service_a(), service_b()],
        terminal=node(
            "T-dev",
            C_T,
            2.0,
            peak=6.0,
            processor=ProcessorKind.NPU,
            access_delay_ms=0.2,
            access_energy_nj_per_bit=1.0,
        ),
        ran=node(
            "R-mec",
            C_R,
            16.0,
            idle=100.0,
            peak=200.0,
            sleep_power_w=mec_sleep_w,
            access_delay_ms=0.5,
            access_energy_nj_per_bit=5.0,
        ),
        transport=node(
            "X-dc",
            C_X,
            64.0,
            idle=300.0,
            peak=600.0,
            access_delay_ms=1.0,
            access_energy_nj_per_bit=10.0,
        ),
        radio={
            "uplink_mhz": 10.0,
            "downlink_mhz": 20.0,
            "mean_snr_db": 20.0,
            "tx_power_w": 0.25,
            "bs_energy_nj_per_bit": 40.0,
        },
        link={"bandwidth_gbps": LINK / 1e3, "delay_ms": 2.0, "energy_nj_per_bit": 20.0},
        workload=Workload(requests_per_slot=(10, 10)),
        twin=TwinSettings(slot_ms=slot_ms, admission_utilisation=rho_max),
    )
    return compile_scenario(scenario)


def run(
    system,
    demand,
    route,
    deploy,
    previous=None,
    up=50.0,
    down=100.0,
    cpu_share=None,
):
    """Evaluate one slot of one copy.

    ``demand`` is ``[S]``, ``route`` maps ``(s, k)`` to a share, ``deploy`` and ``previous`` are
    sets of ``(s, n)`` (``previous=None``: same as ``deploy``, no cold start).
    """
    S, N, K = system.n_services, system.n_nodes, system.n_candidates
    x = np.zeros((1, S, N), dtype=bool)
    for s, n in deploy:
        x[0, s, n] = True
    prev = x.copy()
    if previous is not None:
        prev[:] = False
        for s, n in previous:
            prev[0, s, n] = True
    y = np.zeros((1, 1, S, K))
    for (s, k), share in route.items():
        y[0, 0, s, k] = share
    share = None
    if cpu_share is not None:
        share = np.zeros((1, S, N))
        for (s, n), c in cpu_share.items():
            share[0, s, n] = c
    return evaluate_slot(
        system,
        np.array([[demand]], dtype=float),
        np.array([[up]]),
        np.array([[down]]),
        x,
        prev,
        y,
        share,
    )


@pytest.fixture(scope="module")
def system():
    return make_system()


def test_candidates_are_own_node_then_nearest_remote(system):
    assert system.candidates.tolist() == [[T, R, X]]
    assert system.candidate_local.tolist() == [[True, False, False]]
    assert system.candidate_delay_s[0] == pytest.approx([DELAY_T, DELAY_R, DELAY_X], rel=REL)
    # access 1 nJ/bit local; 5 nJ/bit at R; 20 nJ/bit link + 10 nJ/bit access at X; J per Mbit
    assert system.candidate_j_per_mbit[0] == pytest.approx([1e-3, 5e-3, 0.03], rel=REL)
    assert not system.admissible[0, B, T]


def test_network_latency_to_transport_node(system):
    out = run(system, [10, 0], {(A, X): 1.0}, {(A, X)})
    # radio:  rho_up = 10 * 0.8 / 50 = 0.16, rho_dn = 10 * 0.2 / 100 = 0.02
    # wired:  rho_up = 8 / 100 = 0.08, rho_dn = 2 / 100 = 0.02
    # t = d_in / (r_up (1 - rho)) + d_in / (c (1 - rho)) + d_out / (r_dn (1 - rho))
    #     + d_out / (c (1 - rho)) + (propagation (2 ms) + access (1 ms)) both ways
    expected = (
        IN_A / (50 * (1 - 0.16))
        + IN_A / (LINK * (1 - 0.08))
        + OUT_A / (100 * (1 - 0.02))
        + OUT_A / (LINK * (1 - 0.02))
        + 2 * DELAY_X
    )
    assert out.flow_network_s[0, 0, A, X] == pytest.approx(expected, rel=REL)
    assert out.radio_utilisation[0, 0] == pytest.approx(0.16, rel=REL)
    assert out.link_utilisation[0, 0] == pytest.approx(0.08, rel=REL)


def test_network_latency_to_ran_node_has_no_wired_part(system):
    out = run(system, [10, 0], {(A, R): 1.0}, {(A, R)})
    expected = IN_A / (50 * (1 - 0.16)) + OUT_A / (100 * (1 - 0.02)) + 2 * DELAY_R
    assert out.flow_network_s[0, 0, A, R] == pytest.approx(expected, rel=REL)
    assert out.link_utilisation[0, 0] == 0.0


def test_local_node_uses_no_radio(system):
    out = run(system, [2, 0], {(A, T): 1.0}, {(A, T)})
    assert out.flow_network_s[0, 0, A, T] == pytest.approx(2 * DELAY_T, rel=REL)
    assert out.radio_utilisation[0, 0] == 0.0
    assert out.energy["radio"][0] == 0.0
    # transport: 1 nJ/bit access on (0.8 + 0.2) Mbit per task
    assert out.energy["transport"][0] == pytest.approx(2 * 1.0 * 1e-3, rel=REL)


def test_processor_sharing_rate_of_two_services_on_one_node(system):
    out = run(system, [10, 6], {(A, R): 1.0, (B, R): 1.0}, {(A, R), (B, R)})
    rho = (10 * W_A + 6 * W_B) / C_R  # 0.55
    # rate = C (1 - rho) / w
    assert out.flow_rate[0, 0, A, R] == pytest.approx(C_R * (1 - rho) / W_A, rel=REL)
    assert out.flow_rate[0, 0, B, R] == pytest.approx(C_R * (1 - rho) / W_B, rel=REL)
    assert out.utilisation[0, R] == pytest.approx(rho, rel=REL)


def test_satisfaction_is_exponential_tail_beyond_network_time(system):
    out = run(system, [10, 6], {(A, R): 1.0, (B, R): 1.0}, {(A, R), (B, R)})
    rho = (10 * W_A + 6 * W_B) / C_R
    rho_up = (10 * IN_A + 6 * IN_B) / 50
    rho_dn = (10 * OUT_A + 6 * OUT_B) / 100
    p = {}
    for s, w, d_in, d_out, deadline in ((A, W_A, IN_A, OUT_A, D_A), (B, W_B, IN_B, OUT_B, D_B)):
        t_net = d_in / (50 * (1 - rho_up)) + d_out / (100 * (1 - rho_dn)) + 2 * DELAY_R
        rate = C_R * (1 - rho) / w
        # P(satisfied) = 1 - exp(-rate (D - t_net))
        p[s] = 1 - np.exp(-rate * (deadline - t_net))
        assert out.flow_network_s[0, 0, s, R] == pytest.approx(t_net, rel=REL)
    assert out.flow_satisfied[0, 0, A, R] == pytest.approx(10 * p[A], rel=REL)
    assert out.flow_satisfied[0, 0, B, R] == pytest.approx(6 * p[B], rel=REL)
    assert out.satisfied[0] == pytest.approx(10 * p[A] + 6 * p[B], rel=REL)
    assert out.served[0] == pytest.approx(16, rel=REL)
    assert out.dropped[0] == pytest.approx(0, abs=1e-12)


def test_deadline_below_network_time_satisfies_nobody():
    system = make_system([service_a(deadline_ms=1.0)])
    out = run(system, [10], {(A, X): 1.0}, {(A, X)})
    assert out.served[0] == pytest.approx(10, rel=REL)
    assert out.satisfied[0] == 0.0


def test_node_above_admission_utilisation_admits_the_ratio(system):
    out = run(system, [60, 0], {(A, R): 1.0}, {(A, R)}, up=1e4, down=1e4)
    rho = 60 * W_A / C_R  # 1.5 > 0.9
    assert out.served[0] == pytest.approx(60 * 0.9 / rho, rel=REL)
    assert out.dropped[0] == pytest.approx(60 - 60 * 0.9 / rho, rel=REL)
    assert out.utilisation[0, R] == pytest.approx(0.9, rel=REL)
    # the admitted load leaves C (1 - rho_max) for the sojourn rate
    assert out.flow_rate[0, 0, A, R] == pytest.approx(C_R * (1 - 0.9) / W_A, rel=REL)


def test_radio_uplink_above_admission_utilisation_admits_the_ratio(system):
    out = run(system, [10, 0], {(A, R): 1.0}, {(A, R)}, up=5.0)
    rho_up = 10 * IN_A / 5.0  # 1.6
    assert out.radio_utilisation[0, 0] == pytest.approx(rho_up, rel=REL)
    assert out.served[0] == pytest.approx(10 * 0.9 / rho_up, rel=REL)
    # the transfer time is capped at utilisation rho_max
    expected = IN_A / (5.0 * (1 - 0.9)) + OUT_A / (100 * (1 - 0.02)) + 2 * DELAY_R
    assert out.flow_network_s[0, 0, A, R] == pytest.approx(expected, rel=REL)


def test_wired_link_above_admission_utilisation_admits_the_ratio(system):
    out = run(system, [150, 0], {(A, X): 1.0}, {(A, X)}, up=1e4, down=1e4)
    rho_l = 150 * IN_A / LINK  # 1.2 on the way up, 0.3 down
    assert out.link_utilisation[0, 0] == pytest.approx(rho_l, rel=REL)
    assert out.served[0] == pytest.approx(150 * 0.9 / rho_l, rel=REL)
    expected = (
        IN_A / (1e4 * (1 - 150 * IN_A / 1e4))
        + IN_A / (LINK * (1 - 0.9))
        + OUT_A / (1e4 * (1 - 150 * OUT_A / 1e4))
        + OUT_A / (LINK * (1 - 150 * OUT_A / LINK))
        + 2 * DELAY_X
    )
    assert out.flow_network_s[0, 0, A, X] == pytest.approx(expected, rel=REL)


def test_energy_parts_by_hand():
    tau = 0.5
    system = make_system(slot_ms=tau * 1e3, mec_sleep_w=10.0)
    out = run(system, [10, 0], {(A, X): 1.0}, {(A, X)}, previous=set())
    util_x = 10 * W_A / tau / C_X  # 0.1
    expected = {
        # awake nodes P_idle, sleeping ones P_sleep: T-dev 0 W, R-mec asleep 10 W, X-dc 300 W
        "idle": tau * (0.0 + 10.0 + 300.0),
        # (P_peak - P_idle) * utilisation on X-dc
        "dynamic": tau * (600.0 - 300.0) * util_x,
        # instance keep-alive 2 W
        "instances": tau * 2.0,
        # one cold start of a
        "cold_start": 100.0,
        # tx power * air time + base station 40 nJ/bit on the downlink
        "radio": 0.25 * (10 * IN_A) / 50.0 + 40e-3 * (10 * OUT_A),
        # 20 nJ/bit link + 10 nJ/bit access, both directions
        "transport": (20e-3 + 10e-3) * 10 * (IN_A + OUT_A),
    }
    assert set(out.energy) == set(ENERGY_PARTS)
    for part, value in expected.items():
        assert out.energy[part][0] == pytest.approx(value, rel=REL), part
    assert out.energy_total[0] == pytest.approx(sum(expected.values()), rel=REL)
    assert out.objective(20.0)[0] == pytest.approx(
        sum(expected.values()) + 20.0 * (10 - out.satisfied[0]), rel=REL
    )
    assert out.utilisation[0].tolist() == pytest.approx([0.0, 0.0, util_x], rel=REL)


def test_node_without_instance_sleeps_when_it_can():
    system = make_system(mec_sleep_w=10.0)
    empty = run(system, [0, 0], {}, set())
    assert empty.awake[0].tolist() == [True, False, True]
    assert empty.energy["idle"][0] == pytest.approx(0.0 + 10.0 + 300.0, rel=REL)
    hosting = run(system, [0, 0], {}, {(B, R)})
    assert hosting.awake[0].tolist() == [True, True, True]
    assert hosting.energy["idle"][0] == pytest.approx(0.0 + 100.0 + 300.0, rel=REL)


def test_node_without_sleep_power_is_always_on(system):
    out = run(system, [0, 0], {}, set())
    assert out.awake[0].all()
    assert out.energy["idle"][0] == pytest.approx(400.0, rel=REL)
    assert out.energy["dynamic"][0] == 0.0


def test_only_new_instances_are_cold_starts(system):
    out = run(system, [0, 0], {}, {(A, R), (B, X)}, previous={(A, R)})
    assert out.cold_starts[0] == 1
    assert out.instances[0] == 2
    assert out.energy["cold_start"][0] == pytest.approx(50.0, rel=REL)
    assert out.energy["instances"][0] == pytest.approx(2.0 + 3.0, rel=REL)


def _p_cold_numeric(rate, slack, t_cold, tau):
    """P(U + Exp(rate) <= slack), U uniform on [max(t_cold - tau, 0), t_cold], by quadrature."""
    lo, hi = max(t_cold - tau, 0.0), t_cold
    e = np.linspace(lo, hi, 400_001)
    left = slack - e
    inside = np.where(left > 0, -np.expm1(-rate * np.maximum(left, 0.0)), 0.0)
    return np.trapezoid(inside, e) / (hi - lo)


@pytest.mark.parametrize(
    ("cold_ms", "deadline_ms", "slot_ms"),
    [
        (300.0, 200.0, 1000.0),  # part of the slot waits, wait range wider than the slack
        (400.0, 1000.0, 500.0),  # slack beyond the longest wait
        (1500.0, 2000.0, 1000.0),  # start-up longer than the slot: every task waits
        (1500.0, 450.0, 1000.0),  # every task waits at least 0.5 s: nobody makes it
    ],
)
def test_cold_start_satisfaction_matches_quadrature(cold_ms, deadline_ms, slot_ms):
    tau = slot_ms / 1e3
    system = make_system(
        [service_a(cold_start_ms=cold_ms, deadline_ms=deadline_ms)], slot_ms=slot_ms
    )
    out = run(system, [10], {(A, R): 1.0}, {(A, R)}, previous=set())
    t_cold = cold_ms / 1e3
    cold = min(t_cold / tau, 1.0)  # share of the tasks that arrive before the start-up ends
    rate = out.flow_rate[0, 0, A, R]
    slack = deadline_ms / 1e3 - out.flow_network_s[0, 0, A, R]
    p_warm = 1 - np.exp(-rate * slack)
    p_cold = _p_cold_numeric(rate, slack, t_cold, tau)
    assert out.flow_cold_fraction[0, 0, A, R] == pytest.approx(cold, rel=REL)
    assert out.flow_satisfied[0, 0, A, R] == pytest.approx(
        10 * ((1 - cold) * p_warm + cold * p_cold), rel=1e-7, abs=1e-9
    )


@pytest.mark.parametrize(
    ("rate", "slack", "t_cold", "tau"),
    [
        (5.0, 0.2, 0.3, 1.0),
        (5.0, 0.5, 0.3, 1.0),
        (50.0, 1.2, 1.5, 1.0),
        (2.0, 3.0, 1.5, 1.0),
        (10.0, 0.4, 1.5, 1.0),
        (0.5, 0.25, 0.2, 0.1),
    ],
)
def test_cold_start_closed_form_matches_quadrature(rate, slack, t_cold, tau):
    from cnc6g.twin.dynamics import _p_after_cold_start

    got = _p_after_cold_start(np.array([rate]), np.array([slack]), np.array([t_cold]), tau)[0]
    assert got == pytest.approx(_p_cold_numeric(rate, slack, t_cold, tau), rel=1e-7, abs=1e-9)


def test_mean_latency_adds_network_sojourn_and_mean_cold_wait():
    system = make_system([service_a(cold_start_ms=300.0)])
    out = run(system, [10], {(A, R): 1.0}, {(A, R)}, previous=set())
    rate = C_R * (1 - 10 * W_A / C_R) / W_A
    # network + 1 / rate + (share meeting the cold start) * (mean wait (0 + 0.3) / 2)
    expected = out.flow_network_s[0, 0, A, R] + 1 / rate + 0.3 * 0.15
    assert out.flow_latency_mean_s[0, 0, A, R] == pytest.approx(expected, rel=REL)


def test_routing_to_a_node_without_instance_is_dropped(system):
    out = run(system, [10, 0], {(A, R): 1.0}, {(A, X)})
    assert out.served[0] == 0.0
    assert out.dropped[0] == pytest.approx(10, rel=REL)
    assert out.flow_rate[0, 0, A, R] == 0.0
    assert out.utilisation[0].tolist() == [0.0, 0.0, 0.0]
    assert out.energy["radio"][0] == 0.0
    assert out.energy["transport"][0] == 0.0


def test_routing_to_an_inadmissible_candidate_is_dropped(system):
    # b may not run on terminals; an instance there (against the rules) serves nothing
    out = run(system, [0, 6], {(B, T): 1.0}, {(B, T)})
    assert out.served[0] == 0.0
    assert out.dropped[0] == pytest.approx(6, rel=REL)
    assert out.utilisation[0, T] == 0.0


def test_unrouted_share_is_rejected(system):
    out = run(system, [10, 0], {(A, R): 0.25, (A, X): 0.25}, {(A, R), (A, X)})
    assert out.served[0] == pytest.approx(5, rel=REL)
    assert out.dropped[0] == pytest.approx(5, rel=REL)
    assert out.offered[0] == 10


def test_clean_routing_zeroes_negative_shares_and_scales_rows_down():
    raw = np.array([[[[1.5, 0.5, 0.0], [-0.5, 1.0, 0.0], [0.2, 0.3, 0.0], [-1.0, 0.0, 0.0]]]])
    kept = raw.copy()
    y = clean_routing(raw)
    expected = [[0.75, 0.25, 0.0], [0.0, 1.0, 0.0], [0.2, 0.3, 0.0], [0.0, 0.0, 0.0]]
    np.testing.assert_allclose(y[0, 0], expected, rtol=REL)
    np.testing.assert_array_equal(raw, kept)


def test_cleaned_routing_row_above_one_sends_the_whole_demand(system):
    raw = np.zeros((1, 1, 2, 3))
    raw[0, 0, A, [R, X]] = [1.5, 0.5]
    deployment = np.zeros((1, 2, 3), dtype=bool)
    deployment[0, A, [R, X]] = True
    out = evaluate_slot(
        system,
        np.array([[[10.0, 0.0]]]),
        np.array([[50.0]]),
        np.array([[100.0]]),
        deployment,
        deployment,
        clean_routing(raw),
    )
    assert out.flow_requests[0, 0, A, [R, X]].tolist() == pytest.approx([7.5, 2.5], rel=REL)
    assert out.served[0] == pytest.approx(10, rel=REL)


def test_cpu_quota_gives_mm1_rate(system):
    share = {(A, R): 0.5, (B, R): 0.5}
    out = run(system, [10, 6], {(A, R): 1.0, (B, R): 1.0}, {(A, R), (B, R)}, cpu_share=share)
    # M/M/1 per instance: rate = share * C / w - arrivals / tau
    rate_a = 0.5 * C_R / W_A - 10
    rate_b = 0.5 * C_R / W_B - 6
    assert out.flow_rate[0, 0, A, R] == pytest.approx(rate_a, rel=REL)
    assert out.flow_rate[0, 0, B, R] == pytest.approx(rate_b, rel=REL)
    slack_a = D_A - out.flow_network_s[0, 0, A, R]
    assert out.flow_satisfied[0, 0, A, R] == pytest.approx(
        10 * (1 - np.exp(-rate_a * slack_a)), rel=REL
    )


def test_cpu_quota_rate_counts_arrivals_per_second():
    tau = 0.5
    system = make_system(slot_ms=tau * 1e3)
    out = run(system, [5, 0], {(A, R): 1.0}, {(A, R)}, cpu_share={(A, R): 0.5}, up=1e3)
    assert out.flow_rate[0, 0, A, R] == pytest.approx(0.5 * C_R / W_A - 5 / tau, rel=REL)


def test_instance_over_its_quota_admits_the_ratio(system):
    # mu = 0.2 * 20 / 0.5 = 8 tasks/s < 10 arriving: the instance admits rho_max * mu = 7.2
    # and drains at mu - 7.2 = 0.8 tasks/s
    out = run(
        system,
        [10, 6],
        {(A, R): 1.0, (B, R): 1.0},
        {(A, R), (B, R)},
        cpu_share={(A, R): 0.2, (B, R): 0.8},
    )
    assert out.flow_served[0, 0, A, R] == pytest.approx(7.2, rel=REL)
    assert out.flow_rate[0, 0, A, R] == pytest.approx(0.8, rel=REL)
    assert out.flow_served[0, 0, B, R] == pytest.approx(6, rel=REL)


def test_tasks_dropped_over_quota_put_no_load_on_the_node(system):
    out = run(
        system,
        [10, 6],
        {(A, R): 1.0, (B, R): 1.0},
        {(A, R), (B, R)},
        cpu_share={(A, R): 0.2, (B, R): 0.8},
    )
    assert out.utilisation[0, R] == pytest.approx((7.2 * W_A + 6 * W_B) / C_R, rel=REL)


def test_tasks_dropped_at_the_radio_put_no_load_on_the_node(system):
    out = run(system, [10, 0], {(A, R): 1.0}, {(A, R)}, up=5.0)
    served = 10 * 0.9 / (10 * IN_A / 5.0)
    assert out.served[0] == pytest.approx(served, rel=REL)
    assert out.utilisation[0, R] == pytest.approx(served * W_A / C_R, rel=REL)


def test_reply_pays_the_propagation_delay_too(system):
    out = run(system, [10, 0], {(A, X): 1.0}, {(A, X)})
    transfer = (
        IN_A / (50 * (1 - 0.16))
        + IN_A / (LINK * (1 - 0.08))
        + OUT_A / (100 * (1 - 0.02))
        + OUT_A / (LINK * (1 - 0.02))
    )
    assert out.flow_network_s[0, 0, A, X] == pytest.approx(transfer + 2 * DELAY_X, rel=REL)


def test_amortised_objective_spreads_start_costs_and_charges_removals(system):
    from cnc6g.twin import amortised_objective, restart_cost

    S, N, O, K = system.n_services, system.n_nodes, system.n_origins, system.n_candidates
    demand = np.full((1, O, S), 5.0)
    up, down = np.full((1, O), 50.0), np.full((1, O), 100.0)
    prev = np.zeros((1, S, N), dtype=bool)
    prev[0, 0, 1] = True  # ran on R-mec, moves to X-dc
    x = np.zeros((1, S, N), dtype=bool)
    x[0, 0, 2] = True
    y = np.zeros((1, O, S, K))
    y[0, :, 0, 2] = 1.0
    beta = system.unsatisfied_penalty_j
    started = evaluate_slot(system, demand, up, down, x, prev, y).objective(beta)
    warm = evaluate_slot(system, demand, up, down, x, x, y).objective(beta)
    assert started[0] > warm[0]  # the start costs energy and cold-start failures
    assert amortised_objective(system, demand, up, down, x, prev, y) == pytest.approx(started)
    spread = amortised_objective(system, demand, up, down, x, prev, y, 4.0)
    assert spread == pytest.approx(warm + (started - warm) / 4.0)
    charged = amortised_objective(system, demand, up, down, x, prev, y, 4.0, 0.5)
    assert charged - spread == pytest.approx(0.5 * restart_cost(system, demand, prev)[0, 0])
    none = np.zeros_like(y)
    later = amortised_objective(system, demand, up, down, x, prev, y, 4.0, warm_routing=none)
    rejected = evaluate_slot(system, demand, up, down, x, x, none).objective(beta)
    assert later == pytest.approx(rejected + (started - rejected) / 4.0)
