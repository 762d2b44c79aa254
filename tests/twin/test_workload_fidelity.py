"""The bursty chain's start, the weekly profile and each service's work variation in the twin."""

import numpy as np
import pytest
from test_arrivals import totals, with_workload
from test_mg1_twin import evaluate, system

from cnc6g.scenarios import dump_scenario
from cnc6g.twin import compile_scenario
from cnc6g.twin.sojourn import mean_wait
from cnc6g.twin.workload import demand_process, initial_demand_state, sample_demand

STAY = [1e9, 3e9, 6e9]
"""Dwell times long enough that no copy leaves its first state in a test: stationary 0.1 / 0.3 /
0.6 (the time in a state is proportional to its dwell where every jump is equally likely)."""


def first_states(start, batch, seed=0):
    sc = with_workload(
        requests_per_slot=(10, 10),
        burstiness={"rates": [1.0, 2.0, 4.0], "dwell_slots": STAY, "start": start},
    )
    process = demand_process(compile_scenario(sc))
    state = initial_demand_state(process, batch)
    sample_demand(process, state, 0, np.random.default_rng(seed))
    return state.mmpp_state


def test_each_copy_starts_in_a_state_drawn_from_the_stationary_distribution():
    batch = 40_000
    states = first_states("stationary", batch)
    share = np.bincount(states, minlength=3) / batch
    expected = np.array([0.1, 0.3, 0.6])
    assert np.abs(share - expected).max() < 4.0 * np.sqrt(expected * (1 - expected) / batch).max()
    # The copies draw from the one generator but each its own state: a different seed, other states.
    assert (first_states("stationary", batch, seed=1) != states).mean() > 0.3


def test_the_stationary_start_is_the_default_and_the_likeliest_stays_selectable():
    assert (first_states("likeliest", 1000) == 2).all()  # the longest dwell is the likeliest
    sc = with_workload(
        requests_per_slot=(10, 10), burstiness={"rates": [1.0, 2.0], "dwell_slots": [5.0, 5.0]}
    )
    assert sc.workload.burstiness.start == "stationary"
    assert 'start = "stationary"' in dump_scenario(sc)
    # The original model: every copy in the likeliest state, here the first.
    old = with_workload(
        requests_per_slot=(10, 10),
        burstiness={"rates": [1.0, 2.0], "dwell_slots": [6.0, 4.0], "start": "likeliest"},
    )
    process = demand_process(compile_scenario(old))
    assert (initial_demand_state(process, 8).mmpp_state == 0).all()


def test_the_first_slots_offer_the_mean_from_a_stationary_start():
    # Rates 0.5 and 1.5 of the mean, 200 slots in each: the likeliest start (the low state)
    # offers half the mean at first, the stationary one the mean.
    workload = {"rates": [1.0, 3.0], "dwell_slots": [200.0, 200.0]}
    for start, expected in (("stationary", 100.0), ("likeliest", 50.0)):
        sc = with_workload(requests_per_slot=(90, 110), burstiness={**workload, "start": start})
        first = totals(sc, 3, batch=4000, seed=3)[0]
        assert first.mean() == pytest.approx(expected, rel=0.03)


def test_the_weekly_profile_scales_the_right_slots():
    week = [2.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0]  # mean 1: Monday twice, Saturday empty
    sc = with_workload(
        requests_per_slot=(100, 100),
        diurnal={
            "profile": [1.0] * 24,
            "slots_per_hour": 1,
            "start_hour": 22,
            "start_day": 4,
            "weekly": week,
        },
    )
    counts = totals(sc, 52, batch=2000, seed=4).mean(axis=1)  # [T]
    # Slots 0-1: Friday 22:00-23:00; 2-25: Saturday; 26-49: Sunday; 50-51: Monday.
    assert counts[0:2] == pytest.approx(100.0, rel=0.03)
    assert (counts[2:26] == 0).all()
    assert counts[26:50].mean() == pytest.approx(100.0, rel=0.01)
    assert counts[50:52] == pytest.approx(200.0, rel=0.03)


def test_a_weekly_profile_on_top_of_the_hours():
    profile = [0.5] * 12 + [1.5] * 12
    sc = with_workload(
        requests_per_slot=(100, 100),
        diurnal={"profile": profile, "slots_per_hour": 1, "weekly": [1.4] * 5 + [0.0, 0.0]},
    )
    counts = totals(sc, 24 * 7, batch=400, seed=5).mean(axis=1).reshape(7, 24)
    assert counts[:5, :12].mean() == pytest.approx(70.0, rel=0.02)
    assert counts[:5, 12:].mean() == pytest.approx(210.0, rel=0.02)
    assert (counts[5:] == 0).all()


@pytest.mark.parametrize(
    ("diurnal", "match"),
    [
        ({"weekly": [1.0] * 6}, "weekly"),
        ({"weekly": [1.0] * 6 + [-1.0]}, "weekly must be >= 0"),
        ({"weekly": [0.0] * 7}, "weekly must be >= 0 and not all zero"),
        ({"start_day": 7}, "start_day"),
    ],
)
def test_a_bad_weekly_profile_names_the_field(diurnal, match):
    with pytest.raises(ValueError, match=match):
        with_workload(
            requests_per_slot=(1, 1),
            diurnal={"profile": [1.0] * 24, "slots_per_hour": 1, **diurnal},
        )


def test_a_bad_start_names_the_field():
    with pytest.raises(ValueError, match=r"burstiness\.start"):
        with_workload(
            requests_per_slot=(1, 1),
            burstiness={"rates": [1.0], "dwell_slots": [1.0], "start": "busiest"},
        )


def test_each_services_work_cv_reaches_the_mg1_wait():
    works, demand = [1.0, 2.0], [3.0, 1.5]  # rho 0.3 + 0.3 on the 10 Gc/s node
    waits = {}
    for cvs in ((0.0, 0.0), (0.57, 0.0), (0.0, 0.57)):
        out = evaluate(system("mg1", list(cvs), works, [1.0, 1.0]), demand)
        rho, expected = mean_wait(np.array(demand), np.array(works) / 10.0, np.array(cvs))
        assert rho == pytest.approx(0.6)
        assert out.wait_n[0, 0] == pytest.approx(expected, rel=1e-9)
        waits[cvs] = out.wait_n[0, 0]
    # The second service's work is longer, so the same variation there adds more wait.
    assert waits[(0.0, 0.0)] < waits[(0.57, 0.0)] < waits[(0.0, 0.57)]
