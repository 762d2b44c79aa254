"""Arrival processes: bursty (MMPP), diurnal and trace replay, as the twin draws them."""

import numpy as np
import pytest

from cnc6g.scenarios import ScenarioError, dump_scenario, load_scenario
from cnc6g.twin import compile_scenario
from cnc6g.twin.system import requests_for_load
from cnc6g.twin.workload import (
    _count_bucketed,
    demand_process,
    initial_demand_state,
    sample_demand,
)


def with_workload(**fields):
    sc = load_scenario("tiny")
    data = sc.model_dump()
    data["workload"].update(offered_load=None, **fields)
    return type(sc).model_validate(data)


def totals(scenario, slots, batch=1, seed=0):
    system = compile_scenario(scenario)
    process = demand_process(system)
    state = initial_demand_state(process, batch)
    rng = np.random.default_rng(seed)
    return np.stack(
        [sample_demand(process, state, t, rng).sum(axis=(1, 2)) for t in range(slots)]
    )  # [T, B]


def test_a_bursty_workload_keeps_its_mean_and_is_overdispersed_and_correlated():
    sc = with_workload(
        requests_per_slot=(90, 110), burstiness={"rates": [0.3, 3.0], "dwell_slots": [20.0, 5.0]}
    )
    counts = totals(sc, 4000)[:, 0].astype(float)
    assert counts.mean() == pytest.approx(100.0, rel=0.08)
    assert counts.var() / counts.mean() > 20.0  # a Poisson count alone would give 1
    lag1 = np.corrcoef(counts[:-1], counts[1:])[0, 1]
    assert lag1 > 0.5
    plain = totals(with_workload(requests_per_slot=(90, 110)), 2000)[:, 0].astype(float)
    assert plain.var() / plain.mean() < 1.0
    assert abs(np.corrcoef(plain[:-1], plain[1:])[0, 1]) < 0.1


def test_a_diurnal_workload_follows_its_profile():
    profile = [1.0] * 24
    profile[3], profile[15] = 0.25, 2.0
    sc = with_workload(
        requests_per_slot=(40, 60), diurnal={"profile": profile, "slots_per_hour": 2}
    )
    counts = totals(sc, 48, batch=200).mean(axis=1)  # one day
    scale = 24 / sum(profile)
    assert counts[6:8].mean() == pytest.approx(50.0 * 0.25 * scale, rel=0.1)
    assert counts[30:32].mean() == pytest.approx(50.0 * 2.0 * scale, rel=0.1)
    assert counts[0:2].mean() == pytest.approx(50.0 * scale, rel=0.1)


def trace_scenario(tmp_path, lines, **workload):
    (tmp_path / "trace.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    sc = load_scenario("tiny")
    text = dump_scenario(sc)
    data_path = tmp_path / "scenario.toml"
    extra = "".join(f"{k} = {v}\n" for k, v in workload.items())
    text = text.replace("[workload]\n", '[workload]\ntrace = "trace.csv"\n' + extra)
    text = text.replace("offered_load = 0.6\n", "", 1) if "offered_load" not in workload else text
    data_path.write_text(text, encoding="utf-8")
    return data_path


def test_a_trace_is_replayed_exactly_and_in_a_loop(tmp_path):
    sc = load_scenario("tiny")
    o, s = sc.domains[0].name, sc.services[0].name
    s2 = sc.services[1].name
    lines = ["slot,origin,service,count", f"0,{o},{s},3", f"0,{o},{s2},2", f"2,{o},{s},7"]
    scenario = load_scenario(trace_scenario(tmp_path, lines))
    assert scenario.workload.trace is not None
    assert scenario.workload.trace.file == "trace.csv"
    system = compile_scenario(scenario)
    process = demand_process(system)
    state = initial_demand_state(process, 2)
    rng = np.random.default_rng(0)
    drawn = [sample_demand(process, state, t, rng) for t in range(6)]
    oi = system.origin_names.index(o)
    si, si2 = system.service_names.index(s), system.service_names.index(s2)
    for t in (0, 3):
        assert drawn[t][:, oi, si].tolist() == [3, 3]
        assert drawn[t][:, oi, si2].tolist() == [2, 2]
        assert drawn[t].sum() == 10
    assert drawn[1].sum() == 0
    assert drawn[4].sum() == 0
    assert drawn[2][0, oi, si] == 7
    assert drawn[5][0, oi, si] == 7


def test_a_trace_with_an_offered_load_is_scaled_to_it(tmp_path):
    sc = load_scenario("tiny")
    o, s = sc.domains[0].name, sc.services[0].name
    lines = ["slot,origin,service,count", f"0,{o},{s},4", f"1,{o},{s},6"]
    scenario = load_scenario(trace_scenario(tmp_path, lines)).at_load(0.5)
    system = compile_scenario(scenario)
    counts = totals(scenario, 400, batch=4)
    assert counts.mean() == pytest.approx(requests_for_load(system, 0.5), rel=0.02)
    assert counts[0::2].mean() / counts[1::2].mean() == pytest.approx(4 / 6, rel=0.03)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["slot,origin,service,count", "0,NOPE,{s},1"], "workload.trace.rows[0].origin"),
        (["slot,origin,service,count", "0,{o},NOPE,1"], "workload.trace.rows[0].service"),
        (["slot,origin,service,count", "0,{o},{s},x"], "line 2: slot and count must be integers"),
        (["slot,origin,service,count", "-1,{o},{s},1"], "workload.trace.rows[0].slot"),
        (["slot,origin,service,count", "0,{o},{s},1,9"], "line 2: expected 4 fields"),
        (["when,origin,service,count"], "the header must be slot,origin,service,count"),
    ],
)
def test_a_bad_trace_names_the_row_and_the_reason(tmp_path, lines, expected):
    sc = load_scenario("tiny")
    o, s = sc.domains[0].name, sc.services[0].name
    path = trace_scenario(tmp_path, [line.format(o=o, s=s) for line in lines])
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert expected in str(err.value)


def test_a_missing_trace_file_is_an_error_naming_it(tmp_path):
    path = trace_scenario(tmp_path, ["slot,origin,service,count"])
    (tmp_path / "trace.csv").unlink()
    with pytest.raises(ScenarioError, match=r"workload.trace \(trace.csv\): cannot read"):
        load_scenario(path)


def test_a_trace_does_not_mix_with_generated_counts():
    sc = load_scenario("tiny")
    row = {"slot": 0, "origin": sc.domains[0].name, "service": sc.services[0].name, "count": 1}
    data = sc.model_dump()
    data["workload"].update(
        offered_load=None,
        trace={"rows": [row]},
        burstiness={"rates": [1.0, 2.0], "dwell_slots": [3.0, 3.0]},
    )
    with pytest.raises(ValueError, match="a trace sets the request counts"):
        type(sc).model_validate(data)


def test_counting_draws_from_buckets_equals_searchsorted():
    """The one-copy counts: unsorted draws, each searched from its bucket's start on the cdf."""
    rng = np.random.default_rng(6)
    for size in (1, 2, 7, 300, 3000):
        p = rng.random(size) ** 4 * (rng.random(size) < 0.6)  # zeros: flat steps, ties
        p[-1] += 1e-3
        cdf = np.cumsum(p)
        cdf /= cdf[-1]
        u = np.concatenate([rng.random(700), cdf[: size // 2], [0.0, np.nextafter(1.0, 0.0)]])
        u = np.concatenate([u, np.arange(size) / size])  # the buckets' own edges
        rng.shuffle(u)
        want = np.bincount(
            np.minimum(np.searchsorted(cdf, u, side="right"), size - 1), minlength=size
        )
        for start in (
            np.searchsorted(cdf, np.arange(size) / size, side="right"),  # one bucket a category
            np.searchsorted(cdf, np.arange(4 * size) / (4 * size), side="right"),  # as the twin
            rng.integers(0, size + 1, size),  # any start gives the same counts, only slower
        ):
            counts = np.zeros(size, dtype=np.int64)
            _count_bucketed(cdf, start, u, counts)
            np.testing.assert_array_equal(counts, want)


def test_one_copy_demand_counts_each_draw_in_its_category():
    """A one-copy twin counts each of its draws in the category the cdf puts it in."""
    data = load_scenario("scale-100").model_dump()
    data["workload"].update(offered_load=None, requests_per_slot=(900, 1100))
    process = demand_process(compile_scenario(type(load_scenario("tiny")).model_validate(data)))
    state = initial_demand_state(process, 1)
    assert not process.poisson
    assert process.high < process.zipf.size * process.origin_weights.size  # the bucketed path
    for slot in range(5):
        rng = np.random.default_rng(slot)
        got = sample_demand(process, state, slot, rng)
        rng = np.random.default_rng(slot)
        total = process.low + int(rng.random(1)[0] * (process.high - process.low + 1))
        assert state.stacked_cdf is not None
        cdf = state.stacked_cdf
        found = np.searchsorted(cdf, rng.random(total), side="right")
        want = np.bincount(np.minimum(found, cdf.size - 1), minlength=cdf.size)
        np.testing.assert_array_equal(got.reshape(-1), want)
