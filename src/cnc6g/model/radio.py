"""The radio access model of a scenario: geometry, path loss, link abstraction, latency, power.

Omitted (``Scenario.radio = None``), every radio link keeps its own mean SNR with log-normal
shadowing drawn afresh each slot (the ``snr-shadowing`` model of the original case study). Given,
the twin drops users in a hexagonal layout of the RAN domains' sites and derives each cell's rates
from per-user SINR under the 3GPP TR 38.901 path-loss models, with inter-cell interference
weighted by the neighbours' load; base stations draw power after the EARTH model and every radio
hop adds an air-interface and user-plane latency. The sources of each default are in the field
descriptions and in the documentation's "model and calibration" page.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field, field_validator, model_validator

from cnc6g.model.infra import _Strict

MAX_FLOORS = 8  # 38.901 Table 7.2-1: N_fl uniform on 4..8
MAX_UE_HEIGHT_M = 22.5  # 38.901 Table 7.4.1-1: the UMa and UMi path loss for h_UT up to 22.5 m


class Environment(StrEnum):
    """A 3GPP TR 38.901 deployment scenario (Table 7.4.1-1)."""

    UMA = "uma"  # urban macro: 25 m masts above rooftop
    UMI = "umi"  # urban micro street canyon: 10 m masts below rooftop


class EarthPower(_Strict):
    """Base-station power after the EARTH model (Auer et al., IEEE Wireless Commun. 2011).

    A site draws ``n_trx (p0_w + delta_p * p_out)`` with ``p_out = load * pmax_w`` per transceiver
    while it serves traffic and ``n_trx * p_sleep_w`` in a slot without any. Defaults: the macro
    site of the EARTH project, 1.34 kW at full load of which 780 W static.
    """

    n_trx: int = Field(default=6, ge=1, description="transceivers (antenna chains) per site")
    p0_w: float = Field(default=130.0, ge=0, description="static power per transceiver")
    delta_p: float = Field(default=4.7, ge=0, description="slope of input over radiated power")
    pmax_w: float = Field(
        default=20.0, gt=0, description="radiated power per transceiver at full load"
    )
    p_sleep_w: float = Field(default=75.0, ge=0, description="power per transceiver while asleep")


class TerminalPower(_Strict):
    """A phone's radio power while it sends, receives and waits in the connected state.

    Huang et al. (MobiSys 2012) measured LTE phones: ``P = a_up r_up + a_down r_down + base``
    while data flows at ``r`` Mbit/s, and after the last packet the radio stays connected for the
    RRC tail at ``tail_w``. Defaults are their LTE figures; :data:`TERMINAL_POWER_MODELS` also
    names models fitted to the 5G phone measurements of Narayanan et al. (SIGCOMM 2021).
    """

    uplink_w_per_mbps: float = Field(default=0.438, ge=0, description="power per Mbit/s sent")
    downlink_w_per_mbps: float = Field(default=0.052, ge=0, description="power per Mbit/s received")
    base_w: float = Field(default=1.288, ge=0, description="power while a transfer is on")
    tail_w: float = Field(default=1.060, ge=0, description="power in the RRC tail")
    tail_ms: float = Field(
        default=11576.0, ge=0, le=600_000, description="RRC tail after the last packet"
    )


TERMINAL_POWER_MODELS: dict[str, TerminalPower] = {
    # Huang et al., MobiSys 2012: LTE phones of 2012 (the defaults).
    "lte-2012": TerminalPower(),
    # Fitted to the transfers and RRC probes published with Narayanan et al., SIGCOMM 2021, on a
    # Galaxy S20 Ultra 5G (cnc6g.scenarios.phone_power, which a test checks these against).
    "lte-2021": TerminalPower(
        uplink_w_per_mbps=0.0867,
        downlink_w_per_mbps=0.0103,
        base_w=0.513,
        tail_w=0.422,
        tail_ms=10100.0,
    ),
    "nr-low-band-2021": TerminalPower(
        uplink_w_per_mbps=0.038,
        downlink_w_per_mbps=0.0118,
        base_w=0.738,
        tail_w=0.608,
        tail_ms=10200.0,
    ),
    "nr-mmwave-2021": TerminalPower(
        uplink_w_per_mbps=0.0115,
        downlink_w_per_mbps=0.0016,
        base_w=3.038,
        tail_w=2.5,
        tail_ms=10200.0,
    ),
}
"""Phone radio models by name, for ``radio.terminal_power = "NAME"``."""


class RadioModel(_Strict):
    """Geometry-based radio access: per-user SINR in a hexagonal layout of the RAN sites."""

    environment: Environment = Field(
        default=Environment.UMA, description="3GPP TR 38.901 scenario: uma or umi"
    )
    carrier_ghz: float = Field(default=3.5, ge=0.5, le=100, description="carrier frequency")
    isd_m: float = Field(
        default=500.0,
        ge=20,
        le=5000,
        description="inter-site distance (38.901 calibration: 500 m UMa, 200 m UMi)",
    )
    users_per_cell: int = Field(
        default=10, ge=1, le=200, description="users dropped per cell (M.2410 dense urban: 10)"
    )
    ue_speed_kmh: float = Field(
        default=3.0, ge=0, le=500, description="user speed; sets how fast shadowing decorrelates"
    )
    ue_height_m: float = Field(
        default=1.5, ge=1, le=MAX_UE_HEIGHT_M, description="user antenna height"
    )
    bs_power_dbm: float = Field(
        default=46.0, ge=0, le=60, description="radiated downlink power per cell (2 x 20 W)"
    )
    ue_power_dbm: float = Field(default=23.0, ge=-10, le=33, description="uplink transmit power")
    bs_antenna_gain_dbi: float = Field(
        default=8.0, ge=0, le=30, description="site antenna gain (a sector's at its boresight)"
    )
    sectors: Literal[1, 3] = Field(
        default=1,
        description="antennas per site: 1 omnidirectional, 3 sectors with the 38.901 antenna "
        "pattern (Table 7.3-1: 65 degree beams, 30 dB floors) at boresights 30/150/270 degrees; "
        "each sector reuses the cell's whole band, a user is served by its site's best sector",
    )
    downtilt_deg: float = Field(
        default=12.0,
        ge=0,
        le=45,
        description="with 3 sectors: the beam's tilt below the horizon (38.901 Table 7.8-1 "
        "calibration: 102 degrees from the zenith)",
    )
    indoor_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="share of users indoors, behind 38.901's outdoor-to-indoor loss "
        "(the 38.901 and M.2412 dense-urban calibration: 0.8)",
    )
    building_loss: Literal["low", "high"] = Field(
        default="low",
        description="38.901 Table 7.4.3-2 building: low (30 % standard glass, 70 % concrete) or "
        "high (70 % IRR glass, 30 % concrete)",
    )
    floors: Literal["ground", "38.901"] = Field(
        default="ground",
        description="heights of the indoor users: ground (every user at ue_height_m) or 38.901 "
        "(Table 7.2-1, UMa and UMi street canyon: floor n_fl uniform on 1..N_fl in a building "
        "of N_fl uniform on 4..8 floors, h_UT = 3 (n_fl - 1) + ue_height_m; outdoor users at "
        "ue_height_m; the LOS probability over the outdoor part of the distance, UMa's "
        "breakpoint with the drawn effective environment height of Table 7.4.1-1 note 1)",
    )
    o2i_shadowing: Literal["los-nlos", "38.901"] = Field(
        default="los-nlos",
        description="shadow fading of indoor users' links: los-nlos (the outdoor LOS or NLOS "
        "standard deviation and decorrelation distance, as for outdoor users) or 38.901 (Table "
        "7.5-6's outdoor-to-indoor column, UMa and UMi street canyon: 7 dB, decorrelating over "
        "7 m; the indoor users are then drawn before the drop, so they attach with it)",
    )
    bs_noise_figure_db: float = Field(default=5.0, ge=0, le=20, description="site receiver")
    ue_noise_figure_db: float = Field(default=9.0, ge=0, le=20, description="user receiver")
    link_efficiency: float = Field(
        default=0.75,
        gt=0,
        le=1,
        description="attenuation of Shannon's bound by the practical link (0.6-0.75)",
    )
    max_spectral_efficiency: float = Field(
        default=7.4, gt=0, le=30, description="cap of the link, bit/s/Hz (256-QAM, one layer)"
    )
    downlink_layers: int = Field(
        default=1, ge=1, le=8, description="spatial layers a downlink may use (MIMO rank)"
    )
    uplink_layers: int = Field(
        default=1, ge=1, le=4, description="spatial layers an uplink may use (MIMO rank)"
    )
    min_sinr_db: float = Field(
        default=-10.0,
        ge=-30,
        le=10,
        description="SINR below which a user is served at this SINR's rate (lowest MCS)",
    )
    ul_power_control: bool = Field(
        default=True,
        description="users close to the site transmit less (open-loop, full compensation "
        "up to ue_power_dbm towards the cell's median path loss)",
    )
    air_latency_ms: float = Field(
        default=4.0,
        ge=0,
        le=200,
        description="one-way air-interface plus user-plane latency per radio hop "
        "(ITU-R M.2410 eMBB minimum: 4 ms)",
    )
    air_jitter_ms: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="standard deviation of the air latency, drawn per cell and slot",
    )
    base_station: EarthPower = Field(
        default_factory=EarthPower, description="base-station power model per RAN site"
    )
    terminal_power: TerminalPower | None = Field(
        default=None,
        description="phones' radio power with the RRC tail, its fields or a model's name: "
        "lte-2012 (Huang et al., MobiSys 2012), lte-2021, nr-low-band-2021 or nr-mmwave-2021 "
        "(fitted to Narayanan et al., SIGCOMM 2021); omitted: transmit power x air time",
    )

    @field_validator("terminal_power", mode="before")
    @classmethod
    def _named_terminal_power(cls, value: object) -> object:
        if isinstance(value, str):
            if value not in TERMINAL_POWER_MODELS:
                raise ValueError(
                    f"unknown terminal power model {value!r}; known: "
                    f"{', '.join(TERMINAL_POWER_MODELS)}"
                )
            return TERMINAL_POWER_MODELS[value].model_dump()
        return value

    @model_validator(mode="after")
    def _floors_within_the_path_loss_range(self) -> RadioModel:
        top = self.ue_height_m + 3.0 * (MAX_FLOORS - 1)
        if self.floors == "38.901" and top > MAX_UE_HEIGHT_M:
            raise ValueError(
                f"floors '38.901' puts the top floor {3 * (MAX_FLOORS - 1)} m above ue_height_m "
                f"({self.ue_height_m} m), beyond the {MAX_UE_HEIGHT_M} m the 38.901 path loss "
                "holds to: keep ue_height_m at 1.5 m or less"
            )
        return self
