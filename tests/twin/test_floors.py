"""Indoor users on the floors of 38.901 Table 7.2-1: heights, LOS, path loss, antenna, defaults."""

import math

import numpy as np
import pytest
from pydantic import ValidationError

from cnc6g.model.radio import Environment, RadioModel
from cnc6g.model.scenario import Scenario
from cnc6g.scenarios import load_scenario
from cnc6g.twin import compile_scenario
from cnc6g.twin.radio import (
    BS_HEIGHT_M,
    RadioChannel,
    effective_environment_height_m,
    hex_sites,
    los_probability,
    pathloss_db,
    sector_gains_db,
)

C_LIGHT = 299_792_458.0


def with_radio(name="tiny", **fields):
    sc = load_scenario(name)
    return type(sc).model_validate({**sc.model_dump(), "radio": RadioModel(**fields).model_dump()})


def channel_of(seed, name="tiny", **fields):
    return RadioChannel(
        compile_scenario(with_radio(name, **fields)), np.random.default_rng(seed), 1
    )


def floor_shares():
    """P(n_fl = k), k = 1..8, for n_fl uniform on 1..N_fl and N_fl uniform on 4..8."""
    return np.array([sum(1 / 5 / n for n in range(max(4, k), 9)) for k in range(1, 9)])


def test_indoor_users_stand_on_the_floors_of_table_7_2_1_and_outdoor_users_at_1_5_m():
    heights, indoor = [], []
    for seed in range(4):
        layout = channel_of(seed, users_per_cell=200, indoor_share=0.8, floors="38.901").layout
        assert layout.ue_height_m is not None
        assert layout.indoor is not None
        heights.append(layout.ue_height_m)
        indoor.append(layout.indoor)
    h, inside = np.concatenate(heights), np.concatenate(indoor)
    assert np.all(h[~inside] == 1.5)
    floor = (h[inside] - 1.5) / 3.0 + 1.0  # h_UT = 3 (n_fl - 1) + 1.5
    assert np.array_equal(floor, np.round(floor))
    assert set(floor.astype(int).tolist()) == set(range(1, 9))
    shares = np.bincount(floor.astype(int), minlength=9)[1:] / floor.size
    # Floors 1-4 are as likely as each other (every building has them), floor 8 one in 40.
    assert shares == pytest.approx(floor_shares(), abs=0.02)
    assert shares[7] == pytest.approx(0.025, abs=0.01)
    assert inside.mean() == pytest.approx(0.8, abs=0.03)


def test_on_the_ground_floor_no_heights_are_drawn():
    layout = channel_of(0, users_per_cell=50, indoor_share=0.8).layout
    assert layout.ue_height_m is None
    # With nobody indoors the floors change nothing: the same drop as the ground floor's.
    plain = channel_of(1, users_per_cell=50).layout
    empty = channel_of(1, users_per_cell=50, floors="38.901").layout
    assert empty.ue_height_m is None
    assert np.array_equal(plain.pathloss_db, empty.pathloss_db)


def test_uma_los_probability_of_raised_users_by_hand():
    d = 100.0
    base = 18.0 / d + math.exp(-d / 63.0) * (1.0 - 18.0 / d)
    heights = np.array([1.5, 13.0, 16.5, 22.5])
    got = los_probability(Environment.UMA, np.full(4, d), heights)
    for h, p in zip(heights, got, strict=True):
        c = 0.0 if h <= 13.0 else ((h - 13.0) / 10.0) ** 1.5
        assert p == pytest.approx(base * (1.0 + c * 1.25 * (d / 100.0) ** 3 * math.exp(-d / 150.0)))
    assert got[0] == got[1] < got[2] < got[3]
    # Within 18 m of the site (outdoor part of the distance) a user is in LOS at any height.
    assert np.all(los_probability(Environment.UMA, np.full(4, 17.0), heights) == 1.0)
    # UMi street canyon's LOS probability does not depend on the height.
    umi = los_probability(Environment.UMI, np.full(4, d), heights)
    assert np.all(umi == umi[0])


def test_uma_path_loss_of_a_user_on_the_eighth_floor_by_hand():
    fc, h_ut, d = 3.5, 22.5, 300.0
    d3d = math.hypot(d, 25.0 - h_ut)
    near = 28.0 + 22.0 * math.log10(d3d) + 20.0 * math.log10(fc)
    nlos = 13.54 + 39.08 * math.log10(d3d) + 20.0 * math.log10(fc) - 0.6 * (h_ut - 1.5)
    # h_E = 1 m: the breakpoint 4 x 24 x 21.5 x f / c is about 24 km away, the near branch.
    got = pathloss_db(
        Environment.UMA, np.array([d, d]), h_ut, fc, np.array([True, False]), np.array([1.0, 1.0])
    )
    assert got[0] == pytest.approx(near, abs=1e-9)
    assert got[1] == pytest.approx(max(near, nlos), abs=1e-9)
    # h_E = 21 m: h'_BS = 4 m, h'_UT = 1.5 m, the breakpoint at 280 m, the far branch at 300 m.
    bp = 4.0 * 4.0 * 1.5 * fc * 1e9 / C_LIGHT
    far = (
        28.0
        + 40.0 * math.log10(d3d)
        + 20.0 * math.log10(fc)
        - 9.0 * math.log10(bp**2 + (25.0 - h_ut) ** 2)
    )
    assert bp < d
    got = pathloss_db(Environment.UMA, np.array([d]), h_ut, fc, np.array([True]), 21.0)
    assert got[0] == pytest.approx(far, abs=1e-9)
    assert far > near
    # Per-user heights broadcast over the links: a ground-floor user and an eighth-floor one.
    both = pathloss_db(
        Environment.UMA, np.full((2, 1), d), np.array([[1.5], [h_ut]]), fc, np.full((2, 1), False)
    )
    ground = pathloss_db(Environment.UMA, np.array([d]), 1.5, fc, np.array([False]))
    assert both[:, 0] == pytest.approx([ground[0], max(near, nlos)], abs=1e-9)


def test_umi_path_loss_of_a_raised_user_by_hand():
    fc, h_ut, d = 3.5, 13.5, 150.0
    d3d = math.hypot(d, 10.0 - h_ut)  # the user above the 10 m mast
    bp = 4.0 * 9.0 * 12.5 * fc * 1e9 / C_LIGHT  # h_E = 1 m in UMi
    near = 32.4 + 21.0 * math.log10(d3d) + 20.0 * math.log10(fc)
    nlos = 22.4 + 35.3 * math.log10(d3d) + 21.3 * math.log10(fc) - 0.3 * (h_ut - 1.5)
    assert d < bp
    got = pathloss_db(Environment.UMI, np.array([d, d]), h_ut, fc, np.array([True, False]))
    assert got == pytest.approx([near, max(near, nlos)], abs=1e-9)


def test_the_effective_environment_height_of_table_7_4_1_1_note_1():
    d, h = 200.0, 22.5
    c = ((h - 13.0) / 10.0) ** 1.5 * 1.25 * (d / 100.0) ** 3 * math.exp(-d / 150.0)
    p_one = 1.0 / (1.0 + c)
    u = np.array([0.0, p_one - 1e-9, p_one + 1e-9, 0.999999])
    got = effective_environment_height_m(Environment.UMA, np.full(4, d), h, u)
    assert got.tolist() == [1.0, 1.0, 12.0, 21.0]
    many = effective_environment_height_m(
        Environment.UMA, np.full(200_000, d), h, np.random.default_rng(0).random(200_000)
    )
    values, counts = np.unique(many, return_counts=True)
    assert values.tolist() == [1.0, 12.0, 15.0, 18.0, 21.0]  # {12, 15, ..., h_UT - 1.5}
    assert counts / many.size == pytest.approx([p_one] + [(1.0 - p_one) / 4.0] * 4, abs=0.005)
    # Below 13 m, within 18 m of the site and in UMi: 1 m.
    for env, dist, height in (
        (Environment.UMA, d, 10.5),
        (Environment.UMA, 15.0, h),
        (Environment.UMI, d, h),
    ):
        low = effective_environment_height_m(
            env, np.full(3, dist), height, np.array([0.5, 0.9, 0.99])
        )
        assert np.all(low == 1.0)
    # At 13.5 m the only other choice is 12 m.
    got = effective_environment_height_m(
        Environment.UMA, np.full(2, d), 13.5, np.array([0.9999, 0.99999])
    )
    assert np.all(got == 12.0)


def test_the_sector_antenna_looks_down_on_ground_users_and_up_at_raised_ones():
    model = RadioModel(sectors=3, downtilt_deg=12.0)
    boresight = np.array([math.cos(math.radians(30.0)), math.sin(math.radians(30.0))])
    offset = np.stack([100.0 * boresight] * 3)
    heights = np.array([1.5, 22.5, 22.5])
    masts = np.array([25.0, 25.0, 10.0])  # UMa, UMa, UMi: the last user above the mast
    got = sector_gains_db(model, offset, masts - heights)[:, 0]
    for g, above in zip(got, masts - heights, strict=True):
        zenith = 90.0 + math.degrees(math.atan2(above, 100.0))
        assert g == pytest.approx(8.0 - 12.0 * ((zenith - 90.0 - 12.0) / 65.0) ** 2)
    assert got[0] > got[1] > got[2]


@pytest.mark.parametrize(
    ("env", "isd", "name"),
    [(Environment.UMA, 500.0, "paper-case-study"), (Environment.UMI, 200.0, "tiny")],
)
def test_the_drop_uses_each_users_height_for_its_antenna_gains_and_path_loss(env, isd, name):
    channel = channel_of(
        3,
        name,
        environment=env,
        isd_m=isd,
        users_per_cell=100,
        indoor_share=0.8,
        floors="38.901",
        sectors=3,
    )
    layout = channel.layout
    model = layout.model
    assert layout.ue_height_m is not None
    assert layout.user_xy_m is not None
    h = layout.ue_height_m
    assert h.max() > 13.0
    sites = hex_sites(layout.n_sites, model.isd_m)
    offset = layout.user_xy_m[:, None, :] - sites[layout.link_site]
    mast = BS_HEIGHT_M[env] - h[:, None]
    assert np.allclose(layout.sector_gain_db, sector_gains_db(model, offset, mast))
    # The path loss of the drop at the users' heights, the building's loss added on every link.
    d2d = np.hypot(offset[..., 0], offset[..., 1])
    los = layout.shadow_std_db == 4.0
    h_e = layout.env_height_m
    assert h_e is not None
    expected = pathloss_db(env, d2d, h[:, None], model.carrier_ghz, los, h_e)
    extra = layout.pathloss_db - expected
    assert np.allclose(extra, extra[:, :1])
    assert layout.indoor is not None
    assert np.allclose(extra[~layout.indoor], 0.0)
    # h_E: 1 m below 13 m and in UMi, else 1 m or one of 12, 15, ..., h_UT - 1.5 m.
    raised = np.broadcast_to(h[:, None] >= 13.5, h_e.shape)
    assert np.all(h_e[~raised] == 1.0)
    assert np.all((h_e == 1.0) | ((h_e - 12.0) % 3.0 == 0.0) & (h_e <= h[:, None] - 1.5))
    if env == Environment.UMA:
        assert (h_e[raised] > 1.0).mean() > 0.2
        # Where the breakpoint comes closer than the site, h_E changes the loss (LOS links of
        # raised users to far sites: ten sites give a handful).
        at_one_m = pathloss_db(env, d2d, h[:, None], model.carrier_ghz, los)
        assert np.sum(~np.isclose(at_one_m, expected)) > 3
    else:
        assert np.all(h_e == 1.0)


def test_indoor_users_draw_their_los_over_the_outdoor_part_of_the_distance():
    # UMi street canyon (no height term) in small cells: an indoor user's LOS probability is
    # the outdoor one at d_2D - d_2D-in (mean depth 25 / 3 m), so indoor users see more sites.
    indoor_los, outdoor_los = [], []
    for seed in range(3):
        layout = channel_of(
            seed,
            environment="umi",
            isd_m=60.0,
            users_per_cell=200,
            indoor_share=0.5,
            floors="38.901",
        ).layout
        assert layout.indoor is not None
        los = layout.shadow_std_db == 4.0
        indoor_los.append(los[layout.indoor])
        outdoor_los.append(los[~layout.indoor])
    gap = np.concatenate(indoor_los).mean() - np.concatenate(outdoor_los).mean()
    assert gap > 0.04


def test_a_bad_floors_value_is_refused_with_its_field():
    with pytest.raises(ValidationError, match="floors"):
        RadioModel(floors="tall")
    with pytest.raises(ValidationError, match="floors"):
        RadioModel(floors="38.901", ue_height_m=2.0)  # the eighth floor above 22.5 m


def _radio_figures(scenario):
    rng = np.random.default_rng(0)
    channel = RadioChannel(compile_scenario(scenario), rng, 2)
    layout = channel.layout
    load = None
    for _ in range(3):
        up, down = channel.draw(rng, load)
        load = np.full(up.shape, 0.6)
    sums = [layout.pathloss_db.sum(), layout.ue_power_dbm.sum()]
    return sums, up[:, :3].ravel(), down[:, :3].ravel(), rng.random()


# The calibrated preset's drop and rates (seed 0, three slots) before users had heights: the
# ground floor, the default, must draw the same numbers (presets and published figures rest on
# them); the generator's next number shows that no draw was added or removed.
GROUND_FLOOR_FIGURES = {
    "omni outdoors": (
        [134217.0509472815, 1639.0034267283204],
        [
            189.9282130536417,
            211.7527604112965,
            53.48078244335424,
            188.66958263060874,
            200.23554860426822,
            65.90908583729613,
        ],
        [
            339.158983268603,
            386.97775244033005,
            299.80183301815566,
            359.21307389922066,
            425.0901409671551,
            295.58397260241054,
        ],
        0.7465535486660925,
    ),
    "3 sectors 80 % indoors": (
        [148676.55340232025, 1464.2027430813055],
        [
            108.88445248514603,
            123.42495960885591,
            44.725868888525554,
            111.00383907332818,
            106.44452684547971,
            51.87281488736149,
        ],
        [
            606.9231483734834,
            868.5924464914984,
            618.0259889650703,
            693.1240084344284,
            725.8075374329652,
            679.4861783698325,
        ],
        0.7148588927660103,
    ),
}


def test_the_default_draws_of_the_calibrated_preset_are_unchanged():
    calibrated = load_scenario("paper-case-study-calibrated")
    assert calibrated.radio is not None
    assert calibrated.radio.floors == "ground"

    def variant(**fields: object) -> Scenario:
        radio = {**calibrated.radio.model_dump(), **fields}
        return type(calibrated).model_validate({**calibrated.model_dump(), "radio": radio})

    omni = variant(sectors=1, indoor_share=0.0)
    indoors = variant(sectors=3, indoor_share=0.8)
    for name, scenario in (("omni outdoors", omni), ("3 sectors 80 % indoors", indoors)):
        sums, up, down, after = _radio_figures(scenario)
        want_sums, want_up, want_down, want_after = GROUND_FLOOR_FIGURES[name]
        assert sums == pytest.approx(want_sums, rel=1e-9), name
        assert up == pytest.approx(want_up, rel=1e-9), name
        assert down == pytest.approx(want_down, rel=1e-9), name
        assert after == want_after, name


def test_the_calibration_script_puts_indoor_users_on_floors_and_they_lose_less():
    from benchmarks.radio_calibration import calibrate

    fields = {"sectors": 3, "indoor_share": 0.8}
    ground = calibrate(Environment.UMA, 500.0, drops=2, **fields)
    floors = calibrate(Environment.UMA, 500.0, drops=2, floors="38.901", **fields)
    for name in ("coupling_loss_db", "dl_sinr_db", "ul_sinr_db"):
        assert floors[f"{name}_p5"] < floors[f"{name}_p50"] < floors[f"{name}_p95"]
    # Raised users: NLOS 0.6 dB lighter per metre above 1.5 m, more often in LOS.
    assert floors["coupling_loss_db_p50"] < ground["coupling_loss_db_p50"] - 2.0
    assert floors["ul_avg"] > ground["ul_avg"]


@pytest.mark.parametrize("floors", ["ground", "38.901"])
@pytest.mark.parametrize("env", [Environment.UMA, Environment.UMI])
def test_o2i_shadowing_gives_indoor_links_table_7_5_6s_spread_and_distance(env, floors):
    fields = {"environment": env, "users_per_cell": 60, "indoor_share": 0.5, "floors": floors}
    fields["isd_m"] = 500.0 if env is Environment.UMA else 200.0
    layout = channel_of(3, o2i_shadowing="38.901", ue_speed_kmh=30.0, **fields).layout
    assert layout.indoor is not None
    inside = layout.indoor
    assert 0.35 < inside.mean() < 0.65
    # Every link of an indoor user: 7 dB, correlation exp(-moved / 7 m); outdoor users' links
    # keep their LOS or NLOS values.
    moved = 30.0 / 3.6 * 1.0  # the tiny preset's one-second slot
    assert np.all(layout.shadow_std_db[inside] == 7.0)
    assert layout.shadow_corr[inside] == pytest.approx(math.exp(-moved / 7.0))
    los_sigma, nlos_sigma = (4.0, 6.0) if env is Environment.UMA else (4.0, 7.82)
    assert set(np.unique(layout.shadow_std_db[~inside]).tolist()) <= {los_sigma, nlos_sigma}
    # The default shadows indoor users' links like outdoor ones.
    plain = channel_of(3, ue_speed_kmh=30.0, **fields).layout
    assert plain.indoor is not None
    assert set(np.unique(plain.shadow_std_db[plain.indoor]).tolist()) <= {los_sigma, nlos_sigma}


def test_o2i_shadowing_spreads_the_indoor_users_coupling_loss():
    """Drawn at the drop with 7 dB instead of 4 or 6, indoor users' shadowing spreads wider."""
    spread = {}
    for mode in ("los-nlos", "38.901"):
        draws = []
        for seed in range(6):
            layout = channel_of(
                seed, users_per_cell=200, indoor_share=1.0, o2i_shadowing=mode
            ).layout
            draws.append(layout.shadow_std_db[:, 0] * layout.shadowing_at_drop[:, 0])
        spread[mode] = float(np.std(np.concatenate(draws)))
    # Attachment to the best site trims the spread of the own link's shadowing, so only the order
    # and a clear margin are checked, not the 7 dB itself.
    assert spread["38.901"] > spread["los-nlos"] + 0.5


def test_o2i_shadowing_without_indoor_users_draws_the_same_drop():
    plain = channel_of(5, users_per_cell=40).layout
    o2i = channel_of(5, users_per_cell=40, o2i_shadowing="38.901").layout
    assert np.array_equal(plain.pathloss_db, o2i.pathloss_db)
    assert np.array_equal(plain.shadowing_at_drop, o2i.shadowing_at_drop)
    assert np.array_equal(plain.shadow_std_db, o2i.shadow_std_db)


def test_a_bad_o2i_shadowing_value_is_refused_with_its_field():
    with pytest.raises(ValidationError, match="o2i_shadowing"):
        RadioModel.model_validate({"o2i_shadowing": "7 dB"})


@pytest.mark.parametrize("mode", ["los-nlos", "38.901"])
def test_users_attach_to_the_site_they_hear_best_with_the_shadowing_they_are_given(mode):
    layout = channel_of(
        7, users_per_cell=100, indoor_share=0.8, o2i_shadowing=mode, isd_m=300.0
    ).layout
    coupling = layout.pathloss_db + layout.shadow_std_db * layout.shadowing_at_drop
    assert np.all(coupling.argmin(axis=1) == 0)
