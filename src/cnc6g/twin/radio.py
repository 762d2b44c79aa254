"""Geometry-based radio access: 3GPP TR 38.901 path loss, per-user SINR, cell rates, EARTH power.

The RAN domains' sites sit on a hexagonal grid (``isd_m`` apart, filled ring by ring); each
terminal domain's users are dropped uniformly in the hexagon of its RAN's site. Every user has a
link to its own site and to the nearest other sites (two rings, the interferers), each with a
line-of-sight state drawn once from the 38.901 LOS probability, the 38.901 path loss of that state
and log-normal shadowing that evolves from slot to slot as a first-order autoregression with
correlation ``exp(-distance moved / decorrelation distance)`` (Gudmundson's model, with the
decorrelation distances of 38.901 Table 7.5-6). Fast fading is averaged out (wideband SINR).

Downlink SINR: the own site's received power over the other sites' received power weighted by
their load (the share of the slot they transmit) plus thermal noise. Uplink SINR: the user's power
(open-loop power control towards the cell's median path loss, capped at ``ue_power_dbm``) at its
site over the load-weighted mean power arriving from each neighbouring cell's users plus noise.
A user's spectral efficiency is attenuated, capped Shannon
``min(eta log2(1 + SINR), se_max)`` (Mogensen et al., VTC 2007: eta 0.6-0.75 for LTE links).

A cell shares its air time among its users, so a bit from a random user costs on average
``mean(1 / SE_u) / B`` seconds: the cell's rate for the twin's processor-sharing radio server is
the bandwidth times the harmonic mean of its users' spectral efficiencies.

Sites are omnidirectional, or (``sectors = 3``) three sectors with the 38.901 antenna element
pattern, each reusing the cell's whole band; a user is served by its site's best sector. A share
``indoor_share`` of the users is indoors: 38.901's outdoor-to-indoor loss (Table 7.4.3-2, the
wall, 0.5 dB per metre inside and a spread) adds to every one of its links. By default indoor
users stand on the ground floor like outdoor ones; with ``floors = "38.901"`` they stand on the
floors of Table 7.2-1 (``h_UT = 3 (n_fl - 1) + 1.5 m``), and each user's height enters the LOS
probability (UMa's ``C'(h_UT)``, over the outdoor part of the distance ``d_2D-out``), the path
loss (``d_3D``, the breakpoint distance with the effective environment height ``h_E`` drawn per
link as in Table 7.4.1-1 note 1, the NLOS height term) and the antenna's zenith angle. An indoor
user's links are shadowed as outdoor ones (LOS or NLOS) by default; with ``o2i_shadowing =
"38.901"`` they take Table 7.5-6's outdoor-to-indoor values instead (7 dB, decorrelating over 7 m).

Simplifications, stated so results are read correctly: a single antenna element per sector (no
array gain or beamforming), MIMO as rank adaptation over equal-power layers, no wrap-around (the
outer ring sees less interference), on the ground floor (the default) indoor users' LOS drawn
over the whole ``d_2D`` and ``h_E = 1 m`` on every link (38.901's own value below 13 m, a
simplification only for a ``ue_height_m`` above), and users that keep their position and their
cell (their shadowing still moves with ``ue_speed_kmh``).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, replace

import numpy as np

from cnc6g.model.radio import MAX_FLOORS, EarthPower, Environment, RadioModel
from cnc6g.twin.jit import kernel
from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System, per_system

SPEED_OF_LIGHT = 299_792_458.0
THERMAL_NOISE_DBM_PER_HZ = -174.0
BS_HEIGHT_M = {Environment.UMA: 25.0, Environment.UMI: 10.0}
MIN_DISTANCE_M = {Environment.UMA: 35.0, Environment.UMI: 10.0}  # 38.901 Table 7.2-1 minimum
SHADOWING_DB = {Environment.UMA: (4.0, 6.0), Environment.UMI: (4.0, 7.82)}  # (LOS, NLOS)
DECORRELATION_M = {Environment.UMA: (37.0, 50.0), Environment.UMI: (10.0, 13.0)}  # (LOS, NLOS)
INDOOR_DEPTH_M = 25.0  # 38.901 Table 7.4.3-2: d_2D-in the least of two uniform draws up to this
O2I_SPREAD_DB = {"low": 4.4, "high": 6.5}  # 38.901 Table 7.4.3-2: sigma_P
O2I_SHADOWING_DB = 7.0  # 38.901 Table 7.5-6, O2I column (UMa and UMi street canyon): sigma_SF
O2I_DECORRELATION_M = 7.0  # 38.901 Table 7.5-6, O2I column: the shadowing's correlation distance
MIN_FLOORS = 4  # 38.901 Table 7.2-1: a building's N_fl uniform on 4..8 (the model's MAX_FLOORS)
FLOOR_HEIGHT_M = 3.0  # 38.901 Table 7.2-1: h_UT = 3 (n_fl - 1) + 1.5 m
INTERFERER_RINGS = 2  # neighbouring sites whose interference is counted: 6 + 12
SECTOR_BORESIGHTS_DEG = (30.0, 150.0, 270.0)  # 38.901 Figure 7.8-1's three-sector sites
BEAMWIDTH_DEG = 65.0  # 38.901 Table 7.3-1: 3 dB beamwidth, vertical and horizontal
SIDE_LOBE_DB = 30.0  # 38.901 Table 7.3-1: SLA_V and A_max


def _uma_height_term(d2d: FloatArray, h_ut: float | FloatArray) -> FloatArray:
    """UMa's ``C(d_2D, h_UT)`` beyond 18 m (38.901 Table 7.4.2-1 notes and Table 7.4.1-1 note 1).

    ``C'(h_UT) g(d_2D)`` with ``C'(h_UT) = ((h_UT - 13) / 10)^1.5`` above 13 m (0 below) and
    ``g(d_2D) = 1.25 (d_2D / 100)^3 exp(-d_2D / 150)``; the callers apply the 18 m floor.
    """
    if np.ndim(h_ut) == 0:
        c: float | FloatArray = 0.0 if h_ut <= 13.0 else ((h_ut - 13.0) / 10.0) ** 1.5
    else:
        c = (np.maximum(np.asarray(h_ut, dtype=float) - 13.0, 0.0) / 10.0) ** 1.5
    out: FloatArray = c * 1.25 * (d2d / 100.0) ** 3 * np.exp(-d2d / 150.0)
    return out


def los_probability(env: Environment, d2d: FloatArray, h_ut: float | FloatArray) -> FloatArray:
    """Line-of-sight probability of 38.901 Table 7.4.2-1 (UMa, UMi street canyon).

    ``d2d`` is the outdoor part of the 2-D distance, ``d_2D-out`` (the whole ``d_2D`` for an
    outdoor user); ``h_ut`` the user's height, a scalar or an array broadcast with ``d2d``.
    """
    d = np.maximum(np.asarray(d2d, dtype=float), 1e-9)
    if env == Environment.UMA:
        base = 18.0 / d + np.exp(-d / 63.0) * (1.0 - 18.0 / d)
        p = base * (1.0 + _uma_height_term(d, h_ut))
    else:
        p = 18.0 / d + np.exp(-d / 36.0) * (1.0 - 18.0 / d)
    out: FloatArray = np.where(d <= 18.0, 1.0, np.minimum(p, 1.0))
    return out


def effective_environment_height_m(
    env: Environment, d2d: FloatArray, h_ut: float | FloatArray, u: FloatArray
) -> FloatArray:
    """The effective environment height ``h_E`` (m) of each link, 38.901 Table 7.4.1-1 note 1.

    UMi: 1 m. UMa: 1 m with probability ``1 / (1 + C(d_2D, h_UT))``, else uniform on
    ``{12, 15, ..., h_UT - 1.5}`` (``C`` is 0 up to 13 m, so lower users keep 1 m). ``u`` are
    uniform draws in [0, 1), one per link (shape of ``d2d``): the first ``1 / (1 + C)`` of the
    interval gives 1 m, the rest is split evenly among the heights.
    """
    d = np.asarray(d2d, dtype=float)
    if env != Environment.UMA:
        return np.ones(d.shape)
    h = np.broadcast_to(np.asarray(h_ut, dtype=float), d.shape)
    c = np.where(d <= 18.0, 0.0, _uma_height_term(np.maximum(d, 1e-9), h))
    p_one = 1.0 / (1.0 + c)
    heights = np.maximum(np.floor((h - 1.5 - 12.0) / 3.0 + 1e-9) + 1.0, 0.0)  # how many
    above = (u >= p_one) & (heights > 0)
    share = np.where(above, (u - p_one) / np.where(above, 1.0 - p_one, 1.0), 0.0)
    pick = np.minimum(np.floor(share * heights), heights - 1.0)
    out: FloatArray = np.where(above, 12.0 + 3.0 * pick, 1.0)
    return out


def pathloss_db(
    env: Environment,
    d2d: FloatArray,
    h_ut: float | FloatArray,
    fc_ghz: float,
    los: np.ndarray,
    h_e: float | FloatArray = 1.0,
) -> FloatArray:
    """Path loss of 38.901 Table 7.4.1-1 (dB) at 2-D distance ``d2d`` (m), LOS where ``los``.

    ``h_ut`` is the user's height and ``h_e`` the effective environment height of the
    breakpoint distance ``4 (h_BS - h_E) (h_UT - h_E) f_c / c`` (see
    :func:`effective_environment_height_m`), scalars or arrays broadcast with ``d2d``.
    """
    h_bs = BS_HEIGHT_M[env]
    d2d = np.maximum(np.asarray(d2d, dtype=float), 10.0)
    d3d = np.sqrt(d2d**2 + (h_bs - h_ut) ** 2)
    breakpoint_m = 4.0 * (h_bs - h_e) * (h_ut - h_e) * fc_ghz * 1e9 / SPEED_OF_LIGHT
    log_fc = np.log10(fc_ghz)
    if env == Environment.UMA:
        near = 28.0 + 22.0 * np.log10(d3d) + 20.0 * log_fc
        far = (
            28.0
            + 40.0 * np.log10(d3d)
            + 20.0 * log_fc
            - 9.0 * np.log10(breakpoint_m**2 + (h_bs - h_ut) ** 2)
        )
        nlos = 13.54 + 39.08 * np.log10(d3d) + 20.0 * log_fc - 0.6 * (h_ut - 1.5)
    else:
        near = 32.4 + 21.0 * np.log10(d3d) + 20.0 * log_fc
        far = (
            32.4
            + 40.0 * np.log10(d3d)
            + 20.0 * log_fc
            - 9.5 * np.log10(breakpoint_m**2 + (h_bs - h_ut) ** 2)
        )
        nlos = 22.4 + 35.3 * np.log10(d3d) + 21.3 * log_fc - 0.3 * (h_ut - 1.5)
    los_pl = np.where(d2d <= breakpoint_m, near, far)
    out: FloatArray = np.where(los, los_pl, np.maximum(los_pl, nlos))
    return out


def sector_gains_db(
    model: RadioModel, offset: FloatArray, height_m: float | FloatArray
) -> FloatArray:
    """Gain (dBi) of each of a site's three sectors towards points at ``offset`` ``[..., 2]`` (m).

    The antenna element of 38.901 Table 7.3-1, ``G_max - min(-(A_V + A_H), 30)`` with
    ``A_V = -min(12 ((theta - 90 - tilt) / 65)^2, 30)`` and ``A_H = -min(12 (phi / 65)^2, 30)``,
    ``theta`` the zenith angle of the point seen from the mast (``height_m`` above it: the
    mast's height minus the user's, negative for a user above the mast; a scalar or an array
    broadcast with ``offset[..., 0]``) and ``phi`` its azimuth from each sector's boresight.
    Returns ``[..., 3]``.
    """
    d2d = np.maximum(np.hypot(offset[..., 0], offset[..., 1]), 1e-9)
    zenith = 90.0 + np.degrees(np.arctan2(height_m, d2d))
    vertical = -np.minimum(
        12.0 * ((zenith - 90.0 - model.downtilt_deg) / BEAMWIDTH_DEG) ** 2, SIDE_LOBE_DB
    )
    azimuth = np.degrees(np.arctan2(offset[..., 1], offset[..., 0]))
    phi = (azimuth[..., None] - np.array(SECTOR_BORESIGHTS_DEG) + 180.0) % 360.0 - 180.0
    horizontal = -np.minimum(12.0 * (phi / BEAMWIDTH_DEG) ** 2, SIDE_LOBE_DB)
    out: FloatArray = model.bs_antenna_gain_dbi - np.minimum(
        -(vertical[..., None] + horizontal), SIDE_LOBE_DB
    )
    return out


def building_loss_db(kind: str, fc_ghz: float) -> float:
    """Mean loss through the outer wall, 38.901 Table 7.4.3-2 (dB), before the indoor part.

    ``5 - 10 log10(sum_i p_i 10^(-L_i / 10))`` over the wall's materials: standard glass
    ``2 + 0.2 f``, IRR glass ``23 + 0.3 f`` and concrete ``5 + 4 f`` (``f`` in GHz), in the
    shares of the low-loss (30 % glass, 70 % concrete) or high-loss (70 % IRR glass, 30 %
    concrete) building.
    """
    concrete = 5.0 + 4.0 * fc_ghz
    glass = 2.0 + 0.2 * fc_ghz if kind == "low" else 23.0 + 0.3 * fc_ghz
    share = 0.3 if kind == "low" else 0.7
    mix = share * 10.0 ** (-glass / 10.0) + (1.0 - share) * 10.0 ** (-concrete / 10.0)
    return float(5.0 - 10.0 * np.log10(mix))


def hex_sites(n: int, isd_m: float) -> FloatArray:
    """Positions ``[n, 2]`` (m) of ``n`` sites on a hexagonal grid, filled ring by ring."""
    axial: list[tuple[int, int]] = [(0, 0)]
    directions = [(1, 0), (1, -1), (0, -1), (-1, 0), (-1, 1), (0, 1)]
    ring = 1
    while len(axial) < n:
        q, r = -ring, ring  # start at one corner of the ring and walk its six sides
        for dq, dr in directions:
            for _ in range(ring):
                axial.append((q, r))
                q, r = q + dq, r + dr
        ring += 1
    a = np.array(axial[:n], dtype=float)
    return np.stack([isd_m * (a[:, 0] + a[:, 1] / 2.0), isd_m * a[:, 1] * np.sqrt(3.0) / 2.0], 1)


def drop_in_hexagon(
    rng: np.random.Generator, n: int, isd_m: float, min_distance_m: float
) -> FloatArray:
    """``n`` offsets ``[n, 2]`` uniform in a site's hexagon (flat-topped), beyond the minimum."""
    radius = isd_m / np.sqrt(3.0)
    out = np.empty((0, 2))
    while len(out) < n:
        xy = rng.uniform(-radius, radius, size=(2 * n + 8, 2))
        x, y = np.abs(xy[:, 0]), np.abs(xy[:, 1])
        inside = (y <= np.sqrt(3.0) / 2.0 * radius) & (
            np.sqrt(3.0) * x + y <= np.sqrt(3.0) * radius
        )
        far = np.hypot(xy[:, 0], xy[:, 1]) >= min_distance_m
        out = np.concatenate([out, xy[inside & far]])
    return out[:n]


def earth_site_power_w(power: EarthPower, load: FloatArray) -> FloatArray:
    """Input power (W) of a site at downlink ``load`` in [0, 1]; asleep where the load is 0."""
    load = np.clip(np.asarray(load, dtype=float), 0.0, 1.0)
    active = power.n_trx * (power.p0_w + power.delta_p * power.pmax_w * load)
    out: FloatArray = np.where(load > 0.0, active, power.n_trx * power.p_sleep_w)
    return out


def spectral_efficiency(model: RadioModel, sinr_db: FloatArray, layers: int = 1) -> FloatArray:
    """Attenuated, capped Shannon bit/s/Hz of the link abstraction at ``sinr_db``.

    With ``layers`` > 1 the link picks the rank ``l <= layers`` that gives the most, each layer
    getting ``SINR / l`` (the power is split) and its own cap (rank adaptation, roughly).
    """
    sinr = 10.0 ** (np.maximum(sinr_db, model.min_sinr_db) / 10.0)
    best: FloatArray = np.minimum(
        model.link_efficiency * np.log2(1.0 + sinr), model.max_spectral_efficiency
    )
    for rank in range(2, layers + 1):
        per_layer = np.minimum(
            model.link_efficiency * np.log2(1.0 + sinr / rank), model.max_spectral_efficiency
        )
        best = np.maximum(best, rank * per_layer)
    return best


@dataclass(frozen=True, eq=False)
class RadioLayout:
    """The drop: users, their links to sites, and what stays fixed while they are served."""

    model: RadioModel
    site_of_origin: IntArray  # [O] site index of each origin's RAN
    n_sites: int
    user_origin: IntArray  # [U] origin of each user
    link_site: IntArray  # [U, L] site of each link; column 0 is the user's own site
    pathloss_db: FloatArray  # [U, L]
    shadow_std_db: FloatArray  # [U, L]
    shadow_corr: FloatArray  # [U, L] slot-to-slot correlation of the shadowing
    ue_power_dbm: FloatArray  # [U] after power control
    shadowing_at_drop: FloatArray  # [U, L] standard-normal shadowing the users were placed by
    uplink_hz: FloatArray  # [O]
    downlink_hz: FloatArray  # [O]
    indoor: BoolArray | None = None  # [U] users indoors (None: all outdoors)
    ue_height_m: FloatArray | None = None  # [U] users' heights (None: all at the model's)
    user_xy_m: FloatArray | None = None  # [U, 2] users' positions, sites at hex_sites(n_sites)
    env_height_m: FloatArray | None = None  # [U, L] links' h_E of the breakpoint (None: 1 m)
    sector_gain_db: FloatArray | None = None  # [U, L, 3] with sectored sites (None: omni)
    serving_sector: IntArray | None = None  # [U] the own site's sector serving each user


def drop_users(
    model: RadioModel,
    site_of_origin: IntArray,
    uplink_mhz: FloatArray,
    downlink_mhz: FloatArray,
    slot_s: float,
    rng: np.random.Generator,
) -> RadioLayout:
    """Drop ``users_per_cell`` users per origin around its site and build their links."""
    env = model.environment
    n_sites = int(site_of_origin.max()) + 1
    sites = hex_sites(n_sites, model.isd_m)
    n_links = 1 + min(n_sites - 1, 3 * INTERFERER_RINGS * (INTERFERER_RINGS + 1))
    # Interferers of each site: the nearest other sites.
    dist = np.hypot(*(sites[:, None, :] - sites[None, :, :]).transpose(2, 0, 1))
    order = np.argsort(dist, axis=1, kind="stable")[:, :n_links]  # own site first (distance 0)
    per = model.users_per_cell
    user_origin = np.repeat(np.arange(len(site_of_origin)), per)
    own = site_of_origin[user_origin]
    link_site = order[own]  # [U, L]
    n_users = len(user_origin)
    d2d = np.empty(link_site.shape)
    los = np.empty(link_site.shape, dtype=bool)
    shadow0 = np.empty(link_site.shape)
    user_xy = np.empty((n_users, 2))
    sectored = model.sectors == 3
    sector_gain = np.empty((*link_site.shape, 3)) if sectored else None
    # With 38.901's floors the indoor users are drawn before the drop: their heights and depths
    # enter the LOS probability, the breakpoint distance and the antenna pattern.
    indoor: BoolArray | None = None
    heights: FloatArray | None = None
    if model.floors == "38.901" and model.indoor_share > 0.0:
        indoor, depth, spread, heights = _indoor_users(model, n_users, rng, floors=True)
        depth_in = np.where(indoor, depth, 0.0)[:, None]  # d_2D-in, 0 outdoors
        h_e = np.ones(link_site.shape)
    # With 38.901's outdoor-to-indoor shadowing an indoor user's links have their own spread, so
    # who is indoors is known before the drop (users attach by the coupling loss with it).
    o2i_shadowing = model.o2i_shadowing == "38.901" and model.indoor_share > 0.0
    if o2i_shadowing and indoor is None:
        indoor, depth, spread, _ = _indoor_users(model, n_users, rng, floors=False)
    sigma_los, sigma_nlos = SHADOWING_DB[env]
    # A user belongs to the cell whose site it hears best (coupling loss with the shadowing of
    # the drop); users dropped in a site's hexagon that hear another site better are dropped again.
    todo = np.arange(n_users)
    for _ in range(200):
        offsets = drop_in_hexagon(rng, len(todo), model.isd_m, MIN_DISTANCE_M[env])
        where = sites[own[todo]] + offsets
        offset = where[:, None, :] - sites[link_site[todo]]
        d = np.hypot(*offset.transpose(2, 0, 1))
        if heights is None:
            h_ut: float | FloatArray = model.ue_height_m
            seen = rng.random(d.shape) < los_probability(env, d, h_ut)
            h_e_todo: float | FloatArray = 1.0
        else:  # the LOS probability over d_2D-out, then the links' environment heights
            h_ut = heights[todo, None]
            d_out = np.maximum(d - depth_in[todo], 0.0)
            seen = rng.random(d.shape) < los_probability(env, d_out, h_ut)
            h_e_todo = effective_environment_height_m(env, d, h_ut, rng.random(d.shape))
            h_e[todo] = h_e_todo
        z = rng.standard_normal(d.shape)
        sigma = np.where(seen, sigma_los, sigma_nlos)
        if o2i_shadowing:
            assert indoor is not None
            sigma = np.where(indoor[todo, None], O2I_SHADOWING_DB, sigma)
        coupling = pathloss_db(env, d, h_ut, model.carrier_ghz, seen, h_e_todo) + sigma * z
        if sector_gain is not None:  # users attach by coupling gain through the best sector
            gains = sector_gains_db(model, offset, BS_HEIGHT_M[env] - h_ut)
            sector_gain[todo] = gains
            coupling = coupling - gains.max(axis=-1)
        d2d[todo], los[todo], shadow0[todo], user_xy[todo] = d, seen, z, where
        todo = todo[coupling.argmin(axis=1) != 0]
        if todo.size == 0:
            break
    if heights is None:
        pl = pathloss_db(env, d2d, model.ue_height_m, model.carrier_ghz, los)
    else:
        pl = pathloss_db(env, d2d, heights[:, None], model.carrier_ghz, los, h_e)
    if model.indoor_share > 0.0:  # through the wall and into the building, on every link alike
        if indoor is None:  # on the ground floor the indoor users are drawn after the drop
            indoor, depth, spread, _ = _indoor_users(model, n_users, rng, floors=False)
        o2i = building_loss_db(model.building_loss, model.carrier_ghz) + 0.5 * depth + spread
        pl = pl + np.where(indoor, o2i, 0.0)[:, None]
    corr_los, corr_nlos = DECORRELATION_M[env]
    moved_m = model.ue_speed_kmh / 3.6 * slot_s
    shadow_std = np.where(los, sigma_los, sigma_nlos)
    corr_m = np.where(los, corr_los, corr_nlos)
    if o2i_shadowing:
        assert indoor is not None
        shadow_std = np.where(indoor[:, None], O2I_SHADOWING_DB, shadow_std)
        corr_m = np.where(indoor[:, None], O2I_DECORRELATION_M, corr_m)
    shadow_corr = np.exp(-moved_m / corr_m)
    ue_power = np.full(n_users, model.ue_power_dbm)
    if model.ul_power_control:
        own_loss = pl[:, 0] + shadow_std[:, 0] * shadow0[:, 0]
        median = np.array([np.median(own_loss[own == s]) for s in range(n_sites)])
        ue_power = np.minimum(model.ue_power_dbm, model.ue_power_dbm - (median[own] - own_loss))
    return RadioLayout(
        model=model,
        site_of_origin=site_of_origin,
        n_sites=n_sites,
        user_origin=user_origin,
        link_site=link_site,
        pathloss_db=pl,
        shadow_std_db=shadow_std,
        shadow_corr=shadow_corr,
        ue_power_dbm=ue_power,
        shadowing_at_drop=shadow0,
        uplink_hz=np.asarray(uplink_mhz, dtype=float) * 1e6,
        downlink_hz=np.asarray(downlink_mhz, dtype=float) * 1e6,
        indoor=indoor,
        ue_height_m=heights,
        user_xy_m=user_xy,
        env_height_m=None if heights is None else h_e,
        sector_gain_db=sector_gain,
        serving_sector=None if sector_gain is None else sector_gain[:, 0].argmax(axis=1),
    )


def _indoor_users(
    model: RadioModel, n_users: int, rng: np.random.Generator, floors: bool
) -> tuple[BoolArray, FloatArray, FloatArray, FloatArray | None]:
    """Who is indoors, how deep (m), the building loss's spread (dB) and every user's height.

    The depth ``d_2D-in`` is the least of two uniform draws up to 25 m (38.901 Table 7.4.3-2).
    With ``floors`` (38.901 Table 7.2-1, UMa and UMi street canyon) an indoor user is on floor
    ``n_fl`` uniform on ``1..N_fl`` of a building of ``N_fl`` uniform on ``4..8`` floors, at
    ``3 (n_fl - 1) + 1.5 m`` (``ue_height_m`` on the ground floor) and outdoor users stay at
    ``ue_height_m``; without, no heights are drawn (``None``: everyone at ``ue_height_m``).
    """
    indoor = rng.random(n_users) < model.indoor_share
    depth = np.minimum(*rng.uniform(0.0, INDOOR_DEPTH_M, size=(2, n_users)))
    spread = O2I_SPREAD_DB[model.building_loss] * rng.standard_normal(n_users)
    if not floors:
        return indoor, depth, spread, None
    n_floors = rng.integers(MIN_FLOORS, MAX_FLOORS, endpoint=True, size=n_users)  # N_fl
    floor = rng.integers(1, n_floors, endpoint=True)  # n_fl
    heights = model.ue_height_m + np.where(indoor, FLOOR_HEIGHT_M * (floor - 1), 0.0)
    return indoor, depth, spread, heights


def initial_shadowing(layout: RadioLayout, rng: np.random.Generator, batch: int) -> FloatArray:
    """Standard-normal shadowing state ``[B, U, L]`` at the drop (every copy starts from it)."""
    del rng  # the drop's shadowing is part of the layout; the copies diverge as it evolves
    return np.tile(layout.shadowing_at_drop, (batch, 1, 1))


def evolve_shadowing(
    layout: RadioLayout, state: FloatArray, rng: np.random.Generator
) -> FloatArray:
    """The next slot's standard-normal shadowing: ``a x + sqrt(1 - a^2) n``."""
    innovation = _INNOVATION.get(layout)
    if innovation is None:
        a = layout.shadow_corr
        innovation = _INNOVATION[layout] = np.sqrt(1.0 - a * a)
    out: FloatArray = layout.shadow_corr * state + innovation * rng.standard_normal(state.shape)
    return out


_INNOVATION: weakref.WeakKeyDictionary[RadioLayout, FloatArray] = weakref.WeakKeyDictionary()
"""Each layout's ``sqrt(1 - a^2)``, the weight of a slot's new shadowing draw."""


def user_sinr_db(
    layout: RadioLayout, shadowing: FloatArray, site_load: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Uplink and downlink SINR (dB) of every user, ``[B, U]`` each.

    ``shadowing`` is the standard-normal state ``[B, U, L]``; ``site_load`` ``[B, n_sites]`` the
    share of the slot each site (downlink) and each cell's users (uplink) transmit.
    """
    if layout.sector_gain_db is not None:
        return _sectored_sinr_db(layout, shadowing, site_load)
    m = layout.model
    gain_db = -layout.pathloss_db[None] - layout.shadow_std_db[None] * shadowing  # [B, U, L]
    load = np.clip(site_load, 0.0, 1.0)
    batch = shadowing.shape[0]
    b_idx = np.arange(batch)[:, None, None]
    # Downlink: own site over the others' load-weighted power, plus noise.
    rx_dl_mw = 10.0 ** ((m.bs_power_dbm + m.bs_antenna_gain_dbi + gain_db) / 10.0)
    interference_dl = (rx_dl_mw[..., 1:] * load[b_idx, layout.link_site[None, :, 1:]]).sum(-1)
    dl_hz = layout.downlink_hz[layout.user_origin]
    noise_dl = 10.0 ** (
        (THERMAL_NOISE_DBM_PER_HZ + 10.0 * np.log10(dl_hz) + m.ue_noise_figure_db) / 10.0
    )
    sinr_dl = rx_dl_mw[..., 0] / (interference_dl + noise_dl)
    # Uplink: the power each user lands at every site of its links; a site hears, from each
    # neighbouring cell, the mean over that cell's users (one scheduled at a time) times its load.
    rx_ul_mw = 10.0 ** (
        (layout.ue_power_dbm[None, :, None] + m.bs_antenna_gain_dbi + gain_db) / 10.0
    )
    own = layout.link_site[:, 0]
    users_per_site = np.bincount(own, minlength=layout.n_sites).astype(float)
    weight = load[:, own] / users_per_site[own]  # [B, U]: the user's share of its cell's air time
    cols = layout.link_site[:, 1:]
    flat = (np.arange(batch)[:, None, None] * layout.n_sites + cols[None]).ravel()
    heard = np.bincount(
        flat,
        weights=(rx_ul_mw[..., 1:] * weight[..., None]).ravel(),
        minlength=batch * layout.n_sites,
    ).reshape(batch, layout.n_sites)
    # Uplink OFDMA: a user sends its power on its share of the band (1 / users of its cell).
    ul_hz = layout.uplink_hz[layout.user_origin] / users_per_site[own]
    noise_ul = 10.0 ** (
        (THERMAL_NOISE_DBM_PER_HZ + 10.0 * np.log10(ul_hz) + m.bs_noise_figure_db) / 10.0
    )
    sinr_ul = rx_ul_mw[..., 0] / (heard[:, own] + noise_ul)
    return 10.0 * np.log10(sinr_ul), 10.0 * np.log10(sinr_dl)


@dataclass(frozen=True, eq=False)
class _SectorTerms:
    """What :func:`_sectored_sinr_db` needs of a layout that no slot changes (one per layout)."""

    serving: FloatArray  # [U] the serving sector's antenna gain (linear)
    own_site_others: FloatArray  # [U] the own site's two other sectors' gains, summed
    neighbour_gain: FloatArray  # [U, L - 1] every sector of each other site, summed
    neighbour_site: IntArray  # [U, L - 1] the other sites of each user's links
    noise_dl: FloatArray  # [U] thermal noise over the user's downlink band (mW)
    key: IntArray  # [U] the user's (site, sector)
    sharing: FloatArray  # [U] users of the user's sector
    heard_gain: FloatArray  # [U, L, 3] the gains the uplink lands with; 0 at the own sector
    target: IntArray  # [U, L, 3] the (site, sector) of each of them
    noise_ul: FloatArray  # [U] thermal noise over the user's share of the uplink band (mW)


_SECTOR_TERMS: weakref.WeakKeyDictionary[RadioLayout, _SectorTerms] = weakref.WeakKeyDictionary()


def _sector_terms(layout: RadioLayout) -> _SectorTerms:
    """The layout's :class:`_SectorTerms`, computed on first use (a new layout, new terms)."""
    terms = _SECTOR_TERMS.get(layout)
    if terms is not None:
        return terms
    assert layout.sector_gain_db is not None
    assert layout.serving_sector is not None
    m = layout.model
    n_users = layout.link_site.shape[0]
    pattern = 10.0 ** (layout.sector_gain_db / 10.0)  # [U, L, 3]
    sector = layout.serving_sector
    users = np.arange(n_users)
    serving = pattern[users, 0, sector]  # [U]
    own = layout.link_site[:, 0]
    dl_hz = layout.downlink_hz[layout.user_origin]
    key = own * 3 + sector
    per_sector = np.bincount(key, minlength=3 * layout.n_sites).astype(float)
    heard_gain = pattern.copy()
    heard_gain[users, 0, sector] = 0.0  # a sector's own users do not interfere with each other
    ul_hz = layout.uplink_hz[layout.user_origin] / per_sector[key]
    terms = _SectorTerms(
        serving=serving,
        own_site_others=pattern[:, 0].sum(axis=-1) - serving,
        neighbour_gain=pattern[:, 1:].sum(axis=-1),
        neighbour_site=np.ascontiguousarray(layout.link_site[:, 1:]),
        noise_dl=10.0
        ** ((THERMAL_NOISE_DBM_PER_HZ + 10.0 * np.log10(dl_hz) + m.ue_noise_figure_db) / 10.0),
        key=key,
        sharing=per_sector[key],
        heard_gain=heard_gain,
        target=layout.link_site[:, :, None] * 3 + np.arange(3),
        noise_ul=10.0
        ** ((THERMAL_NOISE_DBM_PER_HZ + 10.0 * np.log10(ul_hz) + m.bs_noise_figure_db) / 10.0),
    )
    _SECTOR_TERMS[layout] = terms
    return terms


def _sectored_sinr_db(
    layout: RadioLayout, shadowing: FloatArray, site_load: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """:func:`user_sinr_db` with three sectors per site, each on the cell's whole band.

    Downlink: the serving sector's power over every other sector's, the own site's two others
    included, each weighted by its site's load. Uplink: a sector hears its own users one at a
    time (OFDMA) and, through its pattern, the other sectors' and sites' users weighted by their
    share of their sector's air time. What the slot does not change (antenna gains, noise, who
    shares a sector) is computed once per layout.
    """
    m = layout.model
    terms = _sector_terms(layout)
    gain_db = -layout.pathloss_db[None] - layout.shadow_std_db[None] * shadowing  # [B, U, L]
    load = np.clip(site_load, 0.0, 1.0)
    batch = shadowing.shape[0]
    own_load = load[:, layout.link_site[:, 0]]  # [B, U]
    # Downlink.
    rx_dl = 10.0 ** ((m.bs_power_dbm + gain_db) / 10.0)  # [B, U, L] before the antenna
    interference_dl = rx_dl[..., 0] * terms.own_site_others * own_load + (
        rx_dl[..., 1:] * terms.neighbour_gain * load[:, terms.neighbour_site]
    ).sum(-1)
    sinr_dl = rx_dl[..., 0] * terms.serving / (interference_dl + terms.noise_dl)
    # Uplink: the power each user lands at each sector of every site of its links.
    weight = own_load / terms.sharing  # [B, U]: the user's share of its sector's air time
    tx = 10.0 ** ((layout.ue_power_dbm[None, :, None] + gain_db) / 10.0)  # [B, U, L]
    heard = np.zeros((batch, 3 * layout.n_sites))
    _heard_into(tx, terms.heard_gain, weight, terms.target, heard)
    sinr_ul = tx[..., 0] * terms.serving / (heard[:, terms.key] + terms.noise_ul)
    return 10.0 * np.log10(sinr_ul), 10.0 * np.log10(sinr_dl)


@kernel
def _heard_into(
    tx: FloatArray, gain: FloatArray, weight: FloatArray, target: IntArray, heard: FloatArray
) -> None:
    """Add to ``heard`` ``[B, 3 n_sites]`` what each sector hears of the users of the others.

    ``tx`` ``[B, U, L]`` each user's power on each link before the antenna, ``gain`` ``[U, L,
    3]`` the sectors' gains towards it (0 at its own sector), ``weight`` ``[B, U]`` its share of
    its sector's air time, ``target`` ``[U, L, 3]`` the (site, sector) bins. The products
    ``tx gain weight`` are added in the order of the users, links and sectors, as a weighted
    ``np.bincount`` over them adds them: the same sums to the last bit.
    """
    batch, n_users, n_links = tx.shape
    for b in range(batch):
        for u in range(n_users):
            w = weight[b, u]
            for link in range(n_links):
                t = tx[b, u, link]
                for s in range(3):
                    heard[b, target[u, link, s]] += t * gain[u, link, s] * w


def cell_rates_mbps(
    layout: RadioLayout, sinr_ul_db: FloatArray, sinr_dl_db: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Each origin's uplink and downlink rate ``[B, O]`` (Mbit/s): bandwidth x harmonic-mean SE.

    With sectored sites a cell is its users' sectors side by side, each on the whole band: the
    sum over its sectors of the bandwidth times the harmonic mean of the sector's users' SE.
    """
    if layout.serving_sector is not None:
        return _sectored_rates(layout, sinr_ul_db, sinr_dl_db)
    n_origins = len(layout.site_of_origin)
    per = np.bincount(layout.user_origin, minlength=n_origins).astype(float)

    def rate(sinr_db: FloatArray, hz: FloatArray, layers: int) -> FloatArray:
        se = spectral_efficiency(layout.model, sinr_db, layers)
        inverse = 1.0 / se  # [B, U], users grouped by origin
        summed = inverse.reshape(inverse.shape[0], n_origins, -1).sum(axis=-1)
        out: FloatArray = hz * 1e-6 * per / summed
        return out

    m = layout.model
    return (
        rate(sinr_ul_db, layout.uplink_hz, m.uplink_layers),
        rate(sinr_dl_db, layout.downlink_hz, m.downlink_layers),
    )


def _sectored_rates(
    layout: RadioLayout, sinr_ul_db: FloatArray, sinr_dl_db: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """:func:`cell_rates_mbps` of sectored sites: per origin, the sum over its sectors."""
    assert layout.serving_sector is not None
    n_origins = len(layout.site_of_origin)
    key = layout.user_origin * 3 + layout.serving_sector  # (origin, sector) of each user
    per = np.bincount(key, minlength=3 * n_origins).astype(float)

    def rate(sinr_db: FloatArray, hz: FloatArray, layers: int) -> FloatArray:
        inverse = 1.0 / spectral_efficiency(layout.model, sinr_db, layers)  # [B, U]
        batch = inverse.shape[0]
        flat = (np.arange(batch)[:, None] * 3 * n_origins + key[None]).ravel()
        summed = np.bincount(flat, weights=inverse.ravel(), minlength=batch * 3 * n_origins)
        summed = summed.reshape(batch, n_origins, 3)
        ratio = np.divide(
            per.reshape(n_origins, 3), summed, out=np.zeros_like(summed), where=summed > 0
        )
        out: FloatArray = hz * 1e-6 * ratio.sum(axis=-1)
        return out

    m = layout.model
    return (
        rate(sinr_ul_db, layout.uplink_hz, m.uplink_layers),
        rate(sinr_dl_db, layout.downlink_hz, m.downlink_layers),
    )


class RadioChannel:
    """The radio state of ``batch`` copies of a system: one drop, shadowing that moves per slot.

    Args:
        system: a compiled scenario whose ``radio`` model is set.
        rng: the twin's generator (the drop and the shadowing draw from it).
        batch: number of copies; each has its own shadowing over the same drop.
    """

    def __init__(self, system: System, rng: np.random.Generator, batch: int) -> None:
        model = system.scenario.radio
        if model is None:
            raise ValueError("the scenario has no radio model")
        _, site_of_origin = np.unique(system.origin_ran, return_inverse=True)
        self.layout = drop_users(
            model,
            site_of_origin.astype(np.int64),
            system.uplink_mhz,
            system.downlink_mhz,
            system.slot_s,
            rng,
        )
        self.shadowing = initial_shadowing(self.layout, rng, batch)
        self._fresh = True
        self._user_sinr_db: tuple[FloatArray, FloatArray] | None = None

    @property
    def user_sinr_db(self) -> tuple[FloatArray, FloatArray] | None:
        """Uplink and downlink SINR (dB) ``[B, U]`` of every user in the last :meth:`draw`.

        ``None`` before the first draw. The users are :attr:`layout`'s, grouped by origin.
        """
        return self._user_sinr_db

    def set_bandwidth(self, uplink_mhz: FloatArray, downlink_mhz: FloatArray) -> None:
        """Use these bandwidths from now on (a radio event changed them); the drop stays."""
        self.layout = replace(
            self.layout,
            uplink_hz=np.asarray(uplink_mhz, dtype=float) * 1e6,
            downlink_hz=np.asarray(downlink_mhz, dtype=float) * 1e6,
        )

    def site_load(self, origin_load: FloatArray | None, batch: int) -> FloatArray:
        """Share of the slot each site transmits ``[B, n_sites]``; full where not known yet."""
        n = self.layout.n_sites
        if origin_load is None:
            return np.ones((batch, n))
        flat = (np.arange(batch)[:, None] * n + self.layout.site_of_origin[None, :]).ravel()
        summed = np.bincount(flat, weights=np.asarray(origin_load).ravel(), minlength=batch * n)
        out: FloatArray = np.minimum(summed.reshape(batch, n), 1.0)
        return out

    def draw(
        self, rng: np.random.Generator, origin_load: FloatArray | None
    ) -> tuple[FloatArray, FloatArray]:
        """This slot's uplink and downlink rates ``[B, O]`` in Mbit/s.

        ``origin_load`` ``[B, O]`` is each origin's radio utilisation in the last slot (``None``
        at the start: every site is taken as fully loaded, the calibration's full-buffer case).
        """
        if not self._fresh:
            self.shadowing = evolve_shadowing(self.layout, self.shadowing, rng)
        self._fresh = False
        load = self.site_load(origin_load, self.shadowing.shape[0])
        sinr_ul, sinr_dl = user_sinr_db(self.layout, self.shadowing, load)
        self._user_sinr_db = (sinr_ul, sinr_dl)
        return cell_rates_mbps(self.layout, sinr_ul, sinr_dl)


@per_system
def _site_of_origin(system: System) -> tuple[IntArray, int]:
    _, site = np.unique(system.origin_ran, return_inverse=True)
    return site.astype(np.int64), int(site.max()) + 1


def base_station_energy_j(system: System, downlink_load: FloatArray) -> FloatArray:
    """Energy ``[B]`` of all RAN sites over one slot, EARTH model, at each origin's load.

    ``downlink_load`` ``[B, O]`` is the share of its cell's downlink each origin used; the
    origins of one site add up (capped at 1). A site with no traffic sleeps.
    """
    model = system.scenario.radio
    if model is None:
        raise ValueError("the scenario has no radio model")
    site, n_sites = _site_of_origin(system)
    batch = downlink_load.shape[0]
    flat = (np.arange(batch)[:, None] * n_sites + site[None, :]).ravel()
    load = np.bincount(flat, weights=downlink_load.ravel(), minlength=batch * n_sites)
    power = earth_site_power_w(model.base_station, np.minimum(load, 1.0)).reshape(batch, n_sites)
    out: FloatArray = system.slot_s * power.sum(axis=1)
    return out


def terminal_radio_energy_j(
    system: System,
    up_mbit: FloatArray,
    down_mbit: FloatArray,
    uplink_mbps: FloatArray,
    downlink_mbps: FloatArray,
    tasks: FloatArray,
) -> FloatArray:
    """Phones' radio energy ``[B]`` over one slot with the RRC tail (:class:`TerminalPower`).

    Per origin (``[B, O]`` arguments): ``a_up D_up + a_down D_down + base x air time`` for the
    data, plus the tail: each of the cell's ``users_per_cell`` users is connected when it sent or
    received within the last ``tail`` seconds; with ``tasks`` per slot from users drawn
    uniformly, in steady state a share ``1 - (1 - 1/U)^(tasks x tail / slot)`` is, drawing
    ``tail_w`` for the slot.
    """
    model = system.scenario.radio
    if model is None or model.terminal_power is None:
        raise ValueError("the scenario has no terminal power model")
    tp = model.terminal_power
    users = float(model.users_per_cell)
    air = up_mbit / uplink_mbps + down_mbit / downlink_mbps
    data = tp.uplink_w_per_mbps * up_mbit + tp.downlink_w_per_mbps * down_mbit + tp.base_w * air
    windows = tasks * (tp.tail_ms / 1e3) / system.slot_s
    if users > 1:
        connected = users * -np.expm1(windows * np.log1p(-1.0 / users))
    else:
        connected = (windows > 0).astype(float)
    tail = tp.tail_w * system.slot_s * connected
    out: FloatArray = (data + np.maximum(tail - tp.tail_w * air, 0.0)).sum(axis=1)
    return out
