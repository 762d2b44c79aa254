"""The calibrated case study: the same system as the case study, every cited value in place."""

import math

import numpy as np
import pytest

from cnc6g.experiments import run_policy
from cnc6g.model import DomainKind
from cnc6g.model.infra import PowerModel
from cnc6g.model.scenario import Sojourn
from cnc6g.orchestration import make_policy
from cnc6g.scenarios import load_scenario
from cnc6g.testing import check_scenario
from cnc6g.twin import compile_scenario

NAME = "paper-case-study-calibrated"


@pytest.fixture(scope="module")
def calibrated():
    return load_scenario(NAME)


def test_it_loads_validates_and_is_the_case_studys_system(calibrated):
    original = load_scenario("paper-case-study")
    assert check_scenario(calibrated) == []
    assert [d.name for d in calibrated.domains] == [d.name for d in original.domains]
    assert [s.name for s in calibrated.services] == [s.name for s in original.services]
    for a, b in zip(calibrated.services, original.services, strict=True):
        assert (a.work, a.deadline_ms, a.input_mbit, a.memory_gb) == (
            b.work,
            b.deadline_ms,
            b.input_mbit,
            b.memory_gb,
        )
    nodes = {n.name: n for d in original.domains for n in d.nodes}
    for domain in calibrated.domains:
        for node in domain.nodes:
            was = nodes[node.name]
            assert (node.capacity_gcps, node.idle_power_w, node.peak_power_w) == (
                was.capacity_gcps,
                was.idle_power_w,
                was.peak_power_w,
            )
    assert calibrated.workload == original.workload
    assert calibrated.radio == load_scenario("paper-case-study-38901").radio.model_copy(
        update={"air_latency_ms": 12.5, "air_jitter_ms": 2.75}
    )


def test_each_cited_value_is_in_place(calibrated):
    for domain in calibrated.domains:
        for node in domain.nodes:
            if domain.kind is DomainKind.TERMINAL:
                # 6 gigacycles/s pooled at 1.2 GHz per phone (Mao et al.)
                assert node.devices == 5
                assert node.capacity_gcps / node.devices == pytest.approx(1.2)
            elif node.idle_power_w > 0:  # Fan et al.'s fitted curve, r = 1.4, idle half of peak
                assert node.power_model is PowerModel.FAN2007
                assert node.power_exponent == 1.4
                assert node.idle_power_w == node.peak_power_w / 2
            else:  # the shared cloud, load-proportional only
                assert node.power_model is PowerModel.LINEAR
            if node.sleep_power_w is not None:  # suspend-to-RAM resume, 3-5 s
                assert (node.wake_ms, node.wake_energy_j) == (4000.0, 0.0)
    radio = calibrated.radio
    assert radio is not None
    # 7-18 ms one way measured on commercial 5G: the middle, and a quarter of the range
    assert radio.air_latency_ms == pytest.approx((7 + 18) / 2)
    assert radio.air_jitter_ms == pytest.approx((18 - 7) / 4)
    assert radio.base_station.n_trx * (
        radio.base_station.p0_w + radio.base_station.delta_p * radio.base_station.pmax_w
    ) == pytest.approx(1344.0)
    # EARTH's six transceivers are a three-sector site's, two per sector at 46 dBm (2 x 20 W)
    assert radio.sectors * 2 == radio.base_station.n_trx
    assert radio.bs_power_dbm == pytest.approx(10 * math.log10(2 * 20_000.0), abs=0.05)
    assert all(s.work_cv == 0.0 for s in calibrated.services)  # deterministic inference
    assert calibrated.twin.sojourn is Sojourn.MG1
    assert calibrated.twin.carry_over_start_up  # a 4 s wake-up outlasts the 1 s slot
    notes = " ".join(calibrated.notes)
    for source in ("ISCA 2007", "states.txt", "COMST 2017", "Rohde & Schwarz", "OSDI 2020"):
        assert source in notes


@pytest.mark.parametrize(
    "policy", ["rand", "grd", "opt", pytest.param("hmarl", marks=pytest.mark.slow)]
)
def test_a_few_slots_run_with_each_policy(calibrated, policy):
    system = compile_scenario(calibrated)  # HMARL: the family checkpoint, none ships for it
    options = {"time_limit": 1.0, "refine": False} if policy == "opt" else {}
    result = run_policy(make_policy(policy, **options), system, 3, seed=0)
    summary = result.summary(2)
    assert summary.offered_per_slot > 0
    assert 0.0 < summary.satisfaction_rate <= 1.0
    parts = summary.energy_parts
    assert parts["radio"] > 0.5 * summary.energy_j_per_slot  # the macro sites dominate
    assert np.isfinite(summary.objective_j_per_slot)
