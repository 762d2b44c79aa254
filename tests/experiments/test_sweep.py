"""The case study's qualitative result: GRD beats RAND on satisfaction and energy."""

import pytest

from cnc6g.experiments import DEFAULT_LOADS, compare
from cnc6g.twin import compile_scenario, requests_for_load


def _by_policy(rows):
    return {(r.load, r.policy): r for r in rows}


def test_grd_beats_rand_at_light_and_heavy_load(case_scenario):
    rows = _by_policy(compare(case_scenario, ["rand", "grd"], [0.4, 1.0], slots=80, window=50))
    for load in (0.4, 1.0):
        grd, rand = rows[(load, "grd")], rows[(load, "rand")]
        assert grd.satisfaction_rate > rand.satisfaction_rate + 0.2
        assert grd.energy_j_per_satisfied_task < rand.energy_j_per_satisfied_task


@pytest.mark.slow
def test_grd_beats_rand_on_both_metrics_at_every_load_of_the_sweep(case_scenario):
    rows = compare(case_scenario, ["rand", "grd"], DEFAULT_LOADS, slots=200, seeds=(0, 1, 2))
    for load in DEFAULT_LOADS:
        mean = {}
        for pol in ("rand", "grd"):
            sel = [r for r in rows if r.load == load and r.policy == pol]
            mean[pol] = (
                sum(r.satisfaction_rate for r in sel) / 3,
                sum(r.energy_j_per_slot for r in sel) / 3,
            )
        assert mean["grd"][0] > mean["rand"][0], load
        assert mean["grd"][1] < mean["rand"][1], load


def test_at_load_sets_the_mean_request_count(case_scenario):
    at = case_scenario.at_load(0.5)
    system = compile_scenario(at)
    assert at.workload.offered_load == 0.5
    assert at.workload.requests_per_slot is None
    assert requests_for_load(system, 0.5) == pytest.approx(requests_for_load(system, 1.0) / 2)


def test_window_longer_than_run_is_rejected(tiny_scenario):
    with pytest.raises(ValueError, match="window"):
        compare(tiny_scenario, ["grd"], [0.5], slots=10, window=20)
