"""The geometry-based radio model: 38.901 formulas, EARTH power, SINR and its use in the twin."""

import math

import numpy as np
import pytest

from cnc6g.model.radio import EarthPower, Environment, RadioModel
from cnc6g.scenarios import load_scenario
from cnc6g.twin import Twin, compile_scenario
from cnc6g.twin.radio import (
    RadioChannel,
    cell_rates_mbps,
    earth_site_power_w,
    evolve_shadowing,
    hex_sites,
    los_probability,
    pathloss_db,
    spectral_efficiency,
    user_sinr_db,
)


def with_radio(name="tiny", **fields):
    sc = load_scenario(name)
    return type(sc).model_validate({**sc.model_dump(), "radio": RadioModel(**fields).model_dump()})


def test_earth_macro_site_draws_1_34_kw_at_full_load_and_780_w_static():
    earth = EarthPower()
    assert earth_site_power_w(earth, np.array(1.0)) == pytest.approx(1344.0)
    assert earth_site_power_w(earth, np.array(1e-9)) == pytest.approx(780.0, abs=1e-3)
    assert earth_site_power_w(earth, np.array(0.0)) == pytest.approx(6 * 75.0)
    half = earth_site_power_w(earth, np.array(0.5))
    assert half == pytest.approx(6 * (130.0 + 4.7 * 10.0))


def test_uma_path_loss_at_hand_computed_points():
    # 3.5 GHz, user at 1.5 m, 25 m mast. LOS at 100 m (below the breakpoint of ~1,050 m):
    d3d = math.hypot(100.0, 23.5)
    los = 28.0 + 22.0 * math.log10(d3d) + 20.0 * math.log10(3.5)
    nlos = 13.54 + 39.08 * math.log10(d3d) + 20.0 * math.log10(3.5)
    got = pathloss_db(Environment.UMA, np.array([100.0, 100.0]), 1.5, 3.5, np.array([True, False]))
    assert got[0] == pytest.approx(los, abs=1e-9)
    assert got[1] == pytest.approx(max(los, nlos), abs=1e-9)
    assert 80.0 < got[0] < got[1] < 125.0


def test_umi_path_loss_beyond_the_breakpoint():
    fc, h_ut, d = 28.0, 1.5, 1000.0
    bp = 4.0 * 9.0 * 0.5 * fc * 1e9 / 299_792_458.0  # about 1,681 m: still the near branch
    d3d = math.hypot(d, 8.5)
    near = 32.4 + 21.0 * math.log10(d3d) + 20.0 * math.log10(fc)
    assert d < bp
    got = pathloss_db(Environment.UMI, np.array([d]), h_ut, fc, np.array([True]))
    assert got[0] == pytest.approx(near, abs=1e-9)
    far_d = 3000.0
    d3d = math.hypot(far_d, 8.5)
    far = 32.4 + 40.0 * math.log10(d3d) + 20.0 * math.log10(fc) - 9.5 * math.log10(bp**2 + 8.5**2)
    got = pathloss_db(Environment.UMI, np.array([far_d]), h_ut, fc, np.array([True]))
    assert got[0] == pytest.approx(far, abs=1e-9)


def test_los_probability_is_one_up_close_and_falls_with_distance():
    d = np.array([5.0, 18.0, 50.0, 200.0, 1000.0])
    for env in Environment:
        p = los_probability(env, d, 1.5)
        assert p[0] == p[1] == 1.0
        assert np.all(np.diff(p[1:]) < 0)
    # UMi at 100 m: 18/100 + exp(-100/36) (1 - 18/100)
    assert los_probability(Environment.UMI, np.array([100.0]), 1.5)[0] == pytest.approx(
        0.18 + math.exp(-100 / 36) * 0.82
    )


def test_hex_sites_are_one_inter_site_distance_from_their_nearest_neighbour():
    sites = hex_sites(19, 500.0)
    d = np.hypot(*(sites[:, None, :] - sites[None, :, :]).transpose(2, 0, 1))
    np.fill_diagonal(d, np.inf)
    assert np.allclose(d.min(axis=1), 500.0)
    assert len({tuple(p) for p in np.round(sites, 6)}) == 19


def test_link_abstraction_is_attenuated_capped_shannon():
    m = RadioModel()
    se = spectral_efficiency(m, np.array([-30.0, 0.0, 20.0, 60.0]))
    assert se[0] == pytest.approx(0.75 * math.log2(1.0 + 0.1))  # floored at min_sinr_db
    assert se[1] == pytest.approx(0.75)
    assert se[2] == pytest.approx(0.75 * math.log2(101.0))
    assert se[3] == pytest.approx(7.4)


def test_shadowing_decorrelates_as_the_users_move():
    system = compile_scenario(with_radio(ue_speed_kmh=36.0))  # 10 m per 1 s slot
    channel = RadioChannel(system, np.random.default_rng(0), batch=400)
    layout = channel.layout
    rng = np.random.default_rng(1)
    start = rng.standard_normal(channel.shadowing.shape)  # a stationary state, random per copy
    state = start
    for _ in range(3):
        state = evolve_shadowing(layout, state, rng)
    measured = (start * state).mean(axis=0)  # per link, over copies (unit variance)
    expected = layout.shadow_corr**3
    assert measured.mean() == pytest.approx(expected.mean(), abs=0.02)
    assert np.all(expected < 1.0)


def test_users_hear_their_own_site_best_at_the_drop():
    system = compile_scenario(with_radio(users_per_cell=30))
    layout = RadioChannel(system, np.random.default_rng(2), 1).layout
    coupling = layout.pathloss_db + layout.shadow_std_db * layout.shadowing_at_drop
    assert np.all(coupling.argmin(axis=1) == 0)


def test_busier_neighbours_lower_the_sinr_and_the_rates():
    system = compile_scenario(with_radio())
    channel = RadioChannel(system, np.random.default_rng(3), 1)
    n = channel.layout.n_sites
    quiet_ul, quiet_dl = user_sinr_db(channel.layout, channel.shadowing, np.full((1, n), 0.1))
    busy_ul, busy_dl = user_sinr_db(channel.layout, channel.shadowing, np.ones((1, n)))
    assert np.all(busy_dl <= quiet_dl + 1e-9)
    assert (busy_dl < quiet_dl - 1.0).any()
    assert np.all(busy_ul <= quiet_ul + 1e-9)
    assert (busy_ul < quiet_ul - 1.0).any()
    q = cell_rates_mbps(channel.layout, quiet_ul, quiet_dl)
    b = cell_rates_mbps(channel.layout, busy_ul, busy_dl)
    assert np.all(b[1] < q[1])
    assert np.all(b[0] < q[0])
    # The cell's rate is the bandwidth times the harmonic mean of its users' SE.
    se = spectral_efficiency(channel.layout.model, busy_dl[0, :10])
    expected = channel.layout.downlink_hz[0] * 1e-6 * 10 / (1.0 / se).sum()
    assert b[1][0, 0] == pytest.approx(expected)


def test_without_a_radio_model_the_twin_is_unchanged_and_with_one_it_is_reproducible():
    plain = load_scenario("tiny")
    assert plain.radio is None
    sc = with_radio()
    runs = []
    for _ in range(2):
        twin = Twin(compile_scenario(sc), seed=5)
        runs.append([(twin.uplink_mbps.copy(), twin.downlink_mbps.copy())])
        for _ in range(3):
            routing = np.zeros(
                (
                    1,
                    *twin.system.candidate_valid.shape[:1],
                    twin.system.n_services,
                    twin.system.n_candidates,
                )
            )
            twin.step_arrays(twin.deployment, routing)
            runs[-1].append((twin.uplink_mbps.copy(), twin.downlink_mbps.copy()))
    for (ua, da), (ub, db) in zip(runs[0], runs[1], strict=True):
        assert np.array_equal(ua, ub)
        assert np.array_equal(da, db)
    assert not np.array_equal(runs[0][0][1], runs[0][1][1])  # the channel moves between slots


def test_base_stations_are_charged_by_the_earth_model_and_sleep_without_traffic():
    sc = with_radio()
    system = compile_scenario(sc)
    twin = Twin(system, seed=1)
    routing = np.zeros((1, system.n_origins, system.n_services, system.n_candidates))
    idle = twin.step_arrays(twin.deployment, routing)  # nothing routed: every site asleep
    sites = len(set(system.origin_ran.tolist()))
    assert idle.energy["radio"][0] == pytest.approx(sites * 6 * 75.0 * system.slot_s)


def test_the_air_latency_is_on_every_radio_hop():
    base = compile_scenario(load_scenario("tiny"))
    radio = compile_scenario(with_radio(air_latency_ms=7.0))
    remote = base.candidate_valid & ~base.candidate_local
    diff = radio.candidate_delay_s - base.candidate_delay_s
    assert np.allclose(diff[remote], 0.007)
    assert np.allclose(diff[~remote], 0.0)


def test_the_calibration_script_reports_ordered_statistics_and_smaller_cells_lose_less():
    from benchmarks.radio_calibration import calibrate

    uma = calibrate(Environment.UMA, 500.0, drops=2)
    umi = calibrate(Environment.UMI, 200.0, drops=2)
    for stats in (uma, umi):
        for name in ("coupling_loss_db", "dl_sinr_db", "ul_sinr_db"):
            assert stats[f"{name}_p5"] < stats[f"{name}_p50"] < stats[f"{name}_p95"]
        assert 0.0 < stats["dl_5pct_user"] < stats["dl_avg"] <= 7.4
    assert umi["coupling_loss_db_p50"] < uma["coupling_loss_db_p50"]
    mimo = calibrate(Environment.UMA, 500.0, drops=2, layers=(4, 2))
    assert mimo["dl_avg"] > uma["dl_avg"]
    assert mimo["ul_avg"] > uma["ul_avg"]


def test_phones_pay_for_data_air_time_and_the_rrc_tail():
    from cnc6g.twin.radio import terminal_radio_energy_j

    system = compile_scenario(with_radio(users_per_cell=10, terminal_power={}))
    O = system.n_origins
    zeros = np.zeros((1, O))
    rate = np.full((1, O), 100.0)
    assert terminal_radio_energy_j(system, zeros, zeros, rate, rate, zeros)[0] == 0.0
    up = np.zeros((1, O))
    up[0, 0] = 10.0  # 10 Mbit up in 0.1 s of air time, from one task
    tasks = np.zeros((1, O))
    tasks[0, 0] = 1.0
    got = terminal_radio_energy_j(system, up, zeros, rate, rate, tasks)[0]
    data = 0.438 * 10.0 + 1.288 * 0.1
    connected = 10 * (1 - 0.9 ** (11.576 / system.slot_s))  # users that sent within the tail
    assert got == pytest.approx(data + 1.060 * (connected * system.slot_s - 0.1))
    busy = terminal_radio_energy_j(system, up, zeros, rate, rate, tasks * 1000)[0]
    assert busy == pytest.approx(data + 1.060 * (10 * system.slot_s - 0.1), rel=1e-6)


def test_with_the_phone_model_radio_energy_follows_the_tasks_sent():
    sc = with_radio(terminal_power={})
    system = compile_scenario(sc)
    twin = Twin(system, seed=1)
    routing = np.zeros((1, system.n_origins, system.n_services, system.n_candidates))
    quiet = twin.step_arrays(twin.deployment, routing)
    sites = len(set(system.origin_ran.tolist()))
    assert quiet.energy["radio"][0] == pytest.approx(sites * 6 * 75.0 * system.slot_s)


def test_the_air_latency_jitters_per_cell_and_slot():
    system = compile_scenario(with_radio(air_latency_ms=4.0, air_jitter_ms=2.0))
    twin = Twin(system, batch=50, seed=3)
    routing = np.zeros((50, system.n_origins, system.n_services, system.n_candidates))
    delays = []
    for _ in range(4):
        out = twin.step_arrays(twin.deployment, routing)
        assert out.radio_delay_s is not None
        delays.append(out.radio_delay_s)
    d = np.concatenate(delays).ravel()
    assert d.std() == pytest.approx(0.002, rel=0.15)
    assert d.min() >= -0.004
    # The same slot with and without an extra delay: remote flows take it both ways.
    from cnc6g.policies import GreedyPolicy
    from cnc6g.twin import evaluate_slot

    one = Twin(system, seed=5)
    policy = GreedyPolicy()
    policy.reset(system, 5)
    decision = policy.decide(one.observe())
    args = (
        system,
        one.demand,
        one.uplink_mbps,
        one.downlink_mbps,
        decision.deployment[None],
        np.zeros_like(decision.deployment[None]),
        decision.routing[None],
    )
    plain = evaluate_slot(*args)
    late = evaluate_slot(*args, radio_delay_s=np.full((1, system.n_origins), 0.01))
    remote = (system.candidate_valid & ~system.candidate_local)[None, :, None, :]
    diff = late.flow_network_s - plain.flow_network_s
    np.testing.assert_allclose(diff, np.where(remote, 0.02, 0.0) * np.ones_like(diff))
    assert late.satisfied[0] < plain.satisfied[0]
    steady = Twin(compile_scenario(with_radio()), seed=3)
    zero = np.zeros((1, system.n_origins, system.n_services, system.n_candidates))
    assert steady.step_arrays(steady.deployment, zero).radio_delay_s is None
