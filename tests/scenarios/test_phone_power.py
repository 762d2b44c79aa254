"""Phones' radio power fitted to 5G measurements (cnc6g.scenarios.phone_power)."""

import tomllib

import numpy as np
import pytest
from pydantic import ValidationError

from cnc6g.model.radio import TERMINAL_POWER_MODELS, RadioModel, TerminalPower
from cnc6g.scenarios import dump_scenario, load_scenario, parse_scenario
from cnc6g.scenarios.phone_power import (
    IDLE_MW,
    NETWORKS,
    Transfer,
    fit_power,
    fit_terminal_power,
    rrc_inactivity_s,
    rrc_probes,
    transfers,
)


def test_the_shipped_transfers_cover_both_directions_of_every_network():
    rows = transfers()
    assert len(rows) == 87
    for network in NETWORKS:
        mine = [r for r in rows if r.network == network]
        assert {r.direction for r in mine} == {"downlink", "uplink"}
        # Every kept target was met: within 10 % of it on average.
        for r in mine:
            assert abs(r.throughput_mbps - r.target_mbps) <= 0.1 * r.target_mbps + 0.5
            assert r.seconds >= 5


def test_power_grows_with_the_rate_and_sending_costs_more_per_mbit_than_receiving():
    fits = {n: fit_power(transfers(), n) for n in NETWORKS}
    for f in fits.values():
        assert f.r2 > 0.8
        assert 0 < f.downlink_mw_per_mbps < f.uplink_mw_per_mbps
        assert f.base_mw > IDLE_MW
    # mmWave's radio is the costliest to keep on and the cheapest per Mbit.
    assert fits["nsa-mmwave"].base_mw > fits["nsa-low-band"].base_mw > fits["lte"].base_mw
    assert fits["nsa-mmwave"].uplink_mw_per_mbps < fits["nsa-low-band"].uplink_mw_per_mbps


def test_the_fit_recovers_a_known_linear_power():
    base, down, up = 2900.0, 12.0, 40.0
    rows = [
        Transfer("x", d, r, 10, r, base + (down if d == "downlink" else up) * r)
        for d in ("downlink", "uplink")
        for r in (1.0, 10.0, 30.0, 60.0)
    ]
    f = fit_power(rows, "x")
    assert (f.base_mw, f.downlink_mw_per_mbps, f.uplink_mw_per_mbps) == pytest.approx(
        (base, down, up)
    )
    assert f.rmse_mw == pytest.approx(0.0, abs=1e-9)


def test_a_network_without_both_directions_is_refused():
    rows = [r for r in transfers() if r.direction == "downlink"]
    with pytest.raises(ValueError, match="both directions"):
        fit_power(rows, "lte")


def test_the_release_timer_is_where_the_round_trip_jumps_to_paging():
    timers = {name: rrc_inactivity_s(values) for name, values in rrc_probes().items()}
    # Verizon and T-Mobile's 5G release the connection after about 10 s idle, T-Mobile's LTE
    # after 5 s.
    for name in ("verizon-lte-1", "verizon-nsa-low-band-1", "verizon-nsa-mmwave-2"):
        assert 10.0 <= timers[name] <= 10.3, name
    assert timers["tmobile-sa-low-band-1"] == pytest.approx(10.0)
    assert timers["tmobile-lte-2"] == pytest.approx(5.0)


def test_the_release_timer_of_a_synthetic_probe():
    intervals = np.round(np.arange(0.0, 15.0, 0.1), 1)
    drx = 80.0 + 300.0 * ((intervals / 0.32) % 1.0)  # connected: waits for the DRX cycle
    paging = 400.0 + 1100.0 * ((intervals / 1.28) % 1.0)  # released: paging and set-up
    rtt = np.where(intervals < 7.3, drx, paging + 600.0)
    assert rrc_inactivity_s(list(zip(intervals, rtt, strict=True))) == pytest.approx(7.3)
    with pytest.raises(ValueError, match="never jumps"):
        rrc_inactivity_s(list(zip(intervals, drx, strict=True)))


@pytest.mark.parametrize(
    ("name", "network"),
    [("lte-2021", "lte"), ("nr-low-band-2021", "nsa-low-band"), ("nr-mmwave-2021", "nsa-mmwave")],
)
def test_the_named_models_are_the_fits_of_the_shipped_data(name, network):
    fitted = fit_terminal_power(network)
    assert TERMINAL_POWER_MODELS[name] == fitted
    fit = fit_power(transfers(), network)
    assert fitted.base_w == pytest.approx((fit.base_mw - IDLE_MW) / 1e3, abs=5e-4)
    assert fitted.tail_w < fitted.base_w


def test_the_2012_model_is_the_default():
    assert TERMINAL_POWER_MODELS["lte-2012"] == TerminalPower()


def test_a_scenario_names_its_phone_model_and_round_trips():
    sc = load_scenario("paper-case-study-calibrated")
    assert sc.radio is not None
    radio = {**sc.radio.model_dump(), "terminal_power": "nr-low-band-2021"}
    named = type(sc).model_validate({**sc.model_dump(), "radio": radio})
    assert named.radio is not None
    assert named.radio.terminal_power == TERMINAL_POWER_MODELS["nr-low-band-2021"]
    again = parse_scenario(tomllib.loads(dump_scenario(named)))
    assert again.radio is not None
    assert again.radio.terminal_power == named.radio.terminal_power


def test_an_unknown_phone_model_is_refused_with_its_field():
    with pytest.raises(ValidationError, match="terminal_power") as err:
        RadioModel.model_validate({"terminal_power": "5g-phone"})
    assert "nr-low-band-2021" in str(err.value)
