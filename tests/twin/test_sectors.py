"""Three-sector sites (38.901 antenna element, serving sector, SINR, rates) and indoor users."""

import numpy as np
import pytest
from pydantic import ValidationError

from cnc6g.experiments import run_policy
from cnc6g.model.radio import RadioModel
from cnc6g.policies import GreedyPolicy
from cnc6g.scenarios import load_scenario
from cnc6g.twin import compile_scenario
from cnc6g.twin.radio import (
    RadioChannel,
    building_loss_db,
    cell_rates_mbps,
    sector_gains_db,
    spectral_efficiency,
    user_sinr_db,
)


def rng(seed):
    return np.random.default_rng(seed)


def with_radio(name="tiny", **fields):
    sc = load_scenario(name)
    return type(sc).model_validate({**sc.model_dump(), "radio": RadioModel(**fields).model_dump()})


def test_the_antenna_element_of_38901_table_7_3_1():
    model = RadioModel(sectors=3, downtilt_deg=0.0)
    far = 1e9  # on the horizon: the vertical pattern is at its peak without tilt

    def towards(azimuth_deg):
        a = np.radians(azimuth_deg)
        return sector_gains_db(model, np.array([far * np.cos(a), far * np.sin(a)]), 25.0)

    assert towards(30.0)[0] == pytest.approx(8.0)  # boresight of sector 0: the element's gain
    assert towards(150.0)[1] == pytest.approx(8.0)
    assert towards(270.0)[2] == pytest.approx(8.0)
    assert towards(30.0 + 32.5)[0] == pytest.approx(8.0 - 3.0)  # half the 65 degree beamwidth
    assert towards(30.0 + 65.0)[0] == pytest.approx(8.0 - 12.0)
    assert towards(210.0)[0] == pytest.approx(8.0 - 30.0)  # behind: the 30 dB floor
    # The vertical pattern: with 12 degrees of tilt the beam's peak is 12 degrees below the
    # horizon, and the horizon is 12 (12 / 65)^2 dB below it.
    tilted = RadioModel(sectors=3, downtilt_deg=12.0)
    d = 25.0 / np.tan(np.radians(12.0))
    boresight = np.array([np.cos(np.radians(30.0)), np.sin(np.radians(30.0))])
    assert sector_gains_db(tilted, d * boresight, 25.0)[0] == pytest.approx(8.0)
    horizon = sector_gains_db(tilted, far * boresight, 25.0)[0]
    assert horizon == pytest.approx(8.0 - 12.0 * (12.0 / 65.0) ** 2)


def test_a_model_with_two_sectors_is_refused_with_its_field():
    with pytest.raises(ValidationError, match="sectors"):
        RadioModel(sectors=2)


def _sectored(**fields):
    system = compile_scenario(with_radio(sectors=3, **fields))
    channel = RadioChannel(system, np.random.default_rng(4), 1)
    return system, channel


def test_each_user_is_served_by_its_sites_best_sector_and_hears_its_own_site_best():
    _, channel = _sectored(users_per_cell=30)
    layout = channel.layout
    assert layout.sector_gain_db is not None
    assert layout.serving_sector is not None
    assert np.array_equal(layout.serving_sector, layout.sector_gain_db[:, 0].argmax(axis=1))
    assert set(layout.serving_sector.tolist()) == {0, 1, 2}
    coupling = (
        layout.pathloss_db
        + layout.shadow_std_db * layout.shadowing_at_drop
        - layout.sector_gain_db.max(axis=-1)
    )
    assert np.all(coupling.argmin(axis=1) == 0)


def test_downlink_sinr_by_hand_for_one_user():
    _, channel = _sectored()
    layout = channel.layout
    m = layout.model
    load = np.linspace(0.3, 1.0, layout.n_sites)[None]
    _, dl = user_sinr_db(layout, channel.shadowing, load)
    u = 7
    gain = -layout.pathloss_db[u] - layout.shadow_std_db[u] * channel.shadowing[0, u]  # [L]
    lin = 10.0 ** ((m.bs_power_dbm + gain[:, None] + layout.sector_gain_db[u]) / 10.0)  # [L, 3]
    s = layout.serving_sector[u]
    sites = layout.link_site[u]
    interference = sum(
        lin[l, j] * load[0, sites[l]]
        for l in range(len(sites))
        for j in range(3)
        if (l, j) != (0, s)
    )
    noise = 10.0 ** ((-174.0 + 10 * np.log10(layout.downlink_hz[0]) + m.ue_noise_figure_db) / 10)
    assert dl[0, u] == pytest.approx(10 * np.log10(lin[0, s] / (interference + noise)))


def test_uplink_sinr_by_hand_for_one_user():
    _, channel = _sectored()
    layout = channel.layout
    m = layout.model
    load = np.linspace(0.3, 1.0, layout.n_sites)[None]
    ul, _ = user_sinr_db(layout, channel.shadowing, load)
    own = layout.link_site[:, 0]
    key = own * 3 + layout.serving_sector
    count = np.bincount(key, minlength=3 * layout.n_sites)
    u = 3
    target = key[u]
    heard = 0.0
    for v in range(len(own)):
        gain = -layout.pathloss_db[v] - layout.shadow_std_db[v] * channel.shadowing[0, v]
        weight = load[0, own[v]] / count[key[v]]
        for l, site in enumerate(layout.link_site[v]):
            for j in range(3):
                if site * 3 + j != target or (l == 0 and key[v] == target):
                    continue
                p = layout.ue_power_dbm[v] + gain[l] + layout.sector_gain_db[v, l, j]
                heard += 10.0 ** (p / 10.0) * weight
    gain_u = -layout.pathloss_db[u, 0] - layout.shadow_std_db[u, 0] * channel.shadowing[0, u, 0]
    signal = layout.ue_power_dbm[u] + gain_u + layout.sector_gain_db[u, 0, layout.serving_sector[u]]
    hz = layout.uplink_hz[0] / count[target]
    noise = 10.0 ** ((-174.0 + 10 * np.log10(hz) + m.bs_noise_figure_db) / 10)
    assert ul[0, u] == pytest.approx(10 * np.log10(10 ** (signal / 10) / (heard + noise)))


def test_a_cell_is_its_sectors_side_by_side():
    _, channel = _sectored(users_per_cell=12)
    layout = channel.layout
    ul, dl = user_sinr_db(layout, channel.shadowing, np.ones((1, layout.n_sites)))
    _, down = cell_rates_mbps(layout, ul, dl)
    se = spectral_efficiency(layout.model, dl[0])
    o = 1
    expected = 0.0
    for j in range(3):
        mine = (layout.user_origin == o) & (layout.serving_sector == j)
        if mine.any():
            expected += layout.downlink_hz[o] * 1e-6 * mine.sum() / (1.0 / se[mine]).sum()
    assert down[0, o] == pytest.approx(expected)


def test_three_sectors_carry_more_per_site_than_one_antenna():
    omni = RadioChannel(compile_scenario(with_radio()), np.random.default_rng(5), 1)
    sectored = RadioChannel(compile_scenario(with_radio(sectors=3)), np.random.default_rng(5), 1)
    up_o, down_o = omni.draw(np.random.default_rng(6), None)
    up_s, down_s = sectored.draw(np.random.default_rng(6), None)
    assert down_s.mean() > 1.5 * down_o.mean()
    assert up_s.mean() > 1.5 * up_o.mean()


def test_grd_runs_a_sectored_scenario_reproducibly_and_more_is_carried():
    sectored = with_radio(sectors=3).at_load(1.0)
    omni = with_radio().at_load(1.0)
    a = run_policy(GreedyPolicy(), sectored, 15, seed=2).summary()
    b = run_policy(GreedyPolicy(), sectored, 15, seed=2).summary()
    assert (a.satisfaction_rate, a.energy_j_per_slot) == (b.satisfaction_rate, b.energy_j_per_slot)
    plain = run_policy(GreedyPolicy(), omni, 15, seed=2).summary()
    assert a.satisfaction_rate > plain.satisfaction_rate


def test_the_outdoor_to_indoor_loss_of_38901_table_7_4_3_2():
    # Low loss at 2 GHz: glass 2.4 dB and concrete 13 dB, 30 / 70 %: 5 - 10 log10(0.2077).
    assert building_loss_db("low", 2.0) == pytest.approx(11.825, abs=1e-3)
    # High loss at 3.5 GHz: IRR glass 24.05 dB and concrete 19 dB, 70 / 30 %.
    assert building_loss_db("high", 3.5) == pytest.approx(26.850, abs=1e-3)


def test_indoor_users_lose_the_same_on_every_link_and_only_they_do():
    outdoor = RadioChannel(compile_scenario(with_radio(users_per_cell=200)), rng(8), 1).layout
    mixed = RadioChannel(
        compile_scenario(with_radio(users_per_cell=200, indoor_share=0.8)), rng(8), 1
    ).layout
    assert outdoor.indoor is None
    assert mixed.indoor is not None
    assert mixed.indoor.mean() == pytest.approx(0.8, abs=0.03)
    extra = mixed.pathloss_db - outdoor.pathloss_db  # the same drop: only the walls differ
    assert np.allclose(extra, extra[:, :1])
    assert np.all(extra[~mixed.indoor] == 0.0)
    # Wall plus 0.5 dB per metre over the least of two uniform depths up to 25 m (mean 25 / 3).
    mean = building_loss_db("low", 3.5) + 0.5 * 25.0 / 3.0
    assert extra[mixed.indoor, 0].mean() == pytest.approx(mean, abs=0.3)
    assert extra[mixed.indoor, 0].std() == pytest.approx(
        np.hypot(4.4, 0.5 * 25 / np.sqrt(18)), rel=0.1
    )
    ul_out, _ = user_sinr_db(
        outdoor, np.zeros((1, *outdoor.pathloss_db.shape)), np.ones((1, outdoor.n_sites))
    )
    ul_in, _ = user_sinr_db(
        mixed, np.zeros((1, *mixed.pathloss_db.shape)), np.ones((1, mixed.n_sites))
    )
    # Phones behind walls run out of power first: the cell edge's uplink falls most.
    assert np.percentile(ul_in, 5) < np.percentile(ul_out, 5) - 3.0


def _sectored_sinr_reference(layout, shadowing, site_load):
    """The sectored SINR as plain NumPy expressions, every term computed in the slot.

    The twin computes the terms no slot changes once per layout and adds the uplink's
    interference in a compiled pass; its SINR must equal this to the last bit.
    """
    m = layout.model
    gain_db = -layout.pathloss_db[None] - layout.shadow_std_db[None] * shadowing
    load = np.clip(site_load, 0.0, 1.0)
    batch, n_users = shadowing.shape[0], shadowing.shape[1]
    b_idx = np.arange(batch)[:, None, None]
    pattern = 10.0 ** (layout.sector_gain_db / 10.0)
    sector = layout.serving_sector
    users = np.arange(n_users)
    serving = pattern[users, 0, sector]
    own = layout.link_site[:, 0]
    rx_dl = 10.0 ** ((m.bs_power_dbm + gain_db) / 10.0)
    interference_dl = rx_dl[..., 0] * (pattern[:, 0].sum(axis=-1) - serving) * load[:, own] + (
        rx_dl[..., 1:] * pattern[:, 1:].sum(axis=-1) * load[b_idx, layout.link_site[None, :, 1:]]
    ).sum(-1)
    dl_hz = layout.downlink_hz[layout.user_origin]
    noise_dl = 10.0 ** ((-174.0 + 10.0 * np.log10(dl_hz) + m.ue_noise_figure_db) / 10.0)
    sinr_dl = rx_dl[..., 0] * serving / (interference_dl + noise_dl)
    key = own * 3 + sector
    per_sector = np.bincount(key, minlength=3 * layout.n_sites).astype(float)
    weight = load[:, own] / per_sector[key]
    tx = 10.0 ** ((layout.ue_power_dbm[None, :, None] + gain_db) / 10.0)
    lands = tx[..., None] * pattern[None] * weight[:, :, None, None]
    lands[:, users, 0, sector] = 0.0
    target = layout.link_site[:, :, None] * 3 + np.arange(3)
    flat = (np.arange(batch)[:, None, None, None] * 3 * layout.n_sites + target[None]).ravel()
    heard = np.bincount(flat, weights=lands.ravel(), minlength=batch * 3 * layout.n_sites)
    heard = heard.reshape(batch, 3 * layout.n_sites)
    ul_hz = layout.uplink_hz[layout.user_origin] / per_sector[key]
    noise_ul = 10.0 ** ((-174.0 + 10.0 * np.log10(ul_hz) + m.bs_noise_figure_db) / 10.0)
    sinr_ul = tx[..., 0] * serving / (heard[:, key] + noise_ul)
    return 10.0 * np.log10(sinr_ul), 10.0 * np.log10(sinr_dl)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("scenario", ["tiny", "paper-case-study"])
def test_the_sectored_sinr_equals_its_numpy_reference_to_the_last_bit(scenario, batch):
    system = compile_scenario(
        with_radio(scenario, sectors=3, users_per_cell=7, indoor_share=0.4, ue_speed_kmh=30.0)
    )
    channel = RadioChannel(system, np.random.default_rng(11), batch)
    layout = channel.layout
    draws = np.random.default_rng(12)
    for slot in range(4):  # the shadowing moves and the sites' loads change from slot to slot
        load = draws.uniform(0.0, 1.2, size=(batch, layout.n_sites))
        load[:, slot % layout.n_sites] = 0.0  # a silent site
        got = user_sinr_db(layout, channel.shadowing, load)
        want = _sectored_sinr_reference(layout, channel.shadowing, load)
        for g, w in zip(got, want, strict=True):
            assert g.shape == (batch, layout.link_site.shape[0])
            assert np.array_equal(g, w)
        channel.draw(draws, load[:, layout.site_of_origin])
    # A new layout (new bandwidths) gets its own terms, not the last layout's.
    channel.set_bandwidth(system.uplink_mhz * 0.5, system.downlink_mhz * 2.0)
    got = user_sinr_db(channel.layout, channel.shadowing, load)
    want = _sectored_sinr_reference(channel.layout, channel.shadowing, load)
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
    before = user_sinr_db(layout, channel.shadowing, load)
    assert not np.array_equal(got[0], before[0])  # the uplink's noise follows the band
