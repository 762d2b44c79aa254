"""Workload fitted to Azure's published traces: the fit, the twin's sampler and the shipped traces.

Tolerances: the mean within 3 %, the coefficient of variation of the per-slot count within 5 %,
its lag-1 autocorrelation within 0.06 (the two-state fit bends it by up to 0.05), the hourly
profile within 3 % per hour; every statistic over at least 24,000 slots (200,000 and more for the
bursts, whose rate decorrelates slowly).
"""

from importlib.resources import files

import numpy as np
import pytest

from cnc6g.model import ProcessorKind
from cnc6g.model.workload import Burstiness
from cnc6g.scenarios import load_scenario, read_trace
from cnc6g.scenarios.fit import (
    AZURE_FUNCTIONS_2019_HOURLY,
    AZURE_FUNCTIONS_2019_WEEKLY,
    LLM_CODE_2023,
    LLM_CODE_TOKENS_2023,
    LLM_CONVERSATION_2023,
    LLM_CONVERSATION_TOKENS_2023,
    TokenStatistics,
    count_statistics,
    data_size_cvs,
    fit_diurnal,
    fit_mmpp,
    mmpp_statistics,
    per_slot_counts,
    synthetic_counts,
    token_statistics,
    work_cv,
)
from cnc6g.scenarios.synthetic_traces import TRACE_MEAN, TRACES, trace_csv
from cnc6g.twin import compile_scenario
from cnc6g.twin.system import requests_for_load
from cnc6g.twin.workload import demand_process, initial_demand_state, sample_demand

PUBLISHED = {"conversation": LLM_CONVERSATION_2023, "code": LLM_CODE_2023}


def twin_totals(workload, slots, batch, seed=0):
    """Requests per slot the twin draws for the tiny system with ``workload``, ``[T, B]``."""
    sc = load_scenario("tiny")
    data = sc.model_dump()
    data["workload"].update(workload)
    system = compile_scenario(type(sc).model_validate(data))
    process = demand_process(system)
    state = initial_demand_state(process, batch)
    rng = np.random.default_rng(seed)
    return np.stack([sample_demand(process, state, t, rng).sum(axis=(1, 2)) for t in range(slots)])


def offered_load_for(mean):
    return mean / requests_for_load(compile_scenario(load_scenario("tiny")), 1.0)


def test_counts_per_slot_drop_the_last_partial_slot():
    assert per_slot_counts([0.0, 0.2, 1.5, 2.9, 3.1], 1.0).tolist() == [2, 1, 1]
    with pytest.raises(ValueError, match="slot_s"):
        per_slot_counts([0.0, 1.0], 0.0)


@pytest.mark.parametrize("name", PUBLISHED)
def test_the_fit_keeps_mean_variance_and_third_cumulant(name):
    published = PUBLISHED[name]
    implied = mmpp_statistics(fit_mmpp(published), published.mean)
    assert implied.mean == pytest.approx(published.mean)
    assert implied.variance == pytest.approx(published.variance, rel=1e-3)
    assert implied.third_cumulant == pytest.approx(published.third_cumulant, rel=1e-2)
    assert implied.autocorrelation[0] == pytest.approx(published.autocorrelation[0], abs=0.05)


def test_the_code_service_bursts_rarely_and_high():
    code = fit_mmpp(LLM_CODE_2023)
    low, high = code.rates
    share_high = (1 / code.dwell_slots[0]) / (1 / code.dwell_slots[0] + 1 / code.dwell_slots[1])
    assert high / low > 10
    assert share_high < 0.1


@pytest.mark.parametrize("name", PUBLISHED)
def test_the_twin_draws_the_published_per_second_statistics(name):
    published = PUBLISHED[name]
    counts = twin_totals(
        {
            "offered_load": offered_load_for(published.mean),
            "burstiness": fit_mmpp(published).model_dump(),
        },
        slots=5000,
        batch=64,
    )
    drawn = [count_statistics(counts[:, b]) for b in range(counts.shape[1])]
    mean = np.mean([d.mean for d in drawn])
    cv = np.sqrt(np.mean([d.variance for d in drawn])) / mean
    lag1 = np.mean([d.autocorrelation[0] for d in drawn])
    assert mean == pytest.approx(published.mean, rel=0.03)
    assert cv == pytest.approx(published.cv, rel=0.05)
    assert lag1 == pytest.approx(published.autocorrelation[0], abs=0.06)


def test_the_twin_draws_the_azure_functions_daily_profile():
    counts = twin_totals(
        {"offered_load": 0.6, "diurnal": fit_diurnal(slots_per_hour=2).model_dump()},
        slots=48,
        batch=500,
    )  # one day of two slots an hour, 500 copies: 24,000 slots
    hourly = counts.reshape(24, 2, -1).mean(axis=(1, 2))
    target = np.array(AZURE_FUNCTIONS_2019_HOURLY) / np.mean(AZURE_FUNCTIONS_2019_HOURLY)
    np.testing.assert_allclose(hourly / hourly.mean(), target, rtol=0.03)
    assert hourly.max() / hourly.min() == pytest.approx(1.26, abs=0.04)


@pytest.mark.parametrize("name", PUBLISHED)
def test_the_generator_draws_the_published_statistics(name):
    published = PUBLISHED[name]
    counts = synthetic_counts(
        published.mean,
        np.array([0.5, 0.5]),
        200_000,
        np.random.default_rng(1),
        burstiness=fit_mmpp(published),
    ).sum(axis=1)
    drawn = count_statistics(counts)
    assert drawn.mean == pytest.approx(published.mean, rel=0.03)
    assert drawn.cv == pytest.approx(published.cv, rel=0.05)
    assert drawn.autocorrelation[0] == pytest.approx(published.autocorrelation[0], abs=0.06)


@pytest.mark.parametrize("name", TRACES)
def test_each_shipped_trace_is_what_the_generator_writes(name):
    shipped = files("cnc6g.scenarios").joinpath("traces", f"{name}.csv").read_text(encoding="utf-8")
    # the traces carry the tiny preset's origins and services
    assert shipped == trace_csv(load_scenario("tiny"), TRACES[name]())


@pytest.mark.parametrize("name", TRACES)
def test_a_shipped_trace_replays_in_the_tiny_system(name):
    path = files("cnc6g.scenarios").joinpath("traces", f"{name}.csv")
    trace = read_trace(path, f"{name}.csv")
    rows = trace["rows"]
    per_slot = np.bincount([r["slot"] for r in rows], weights=[r["count"] for r in rows])
    assert len(per_slot) == 288
    assert 0 < per_slot.mean() < 2 * TRACE_MEAN  # one day holds few of the code service's bursts
    sc = load_scenario("tiny")
    data = sc.model_dump()
    data["workload"] = {"trace": trace, "offered_load": 0.6}
    system = compile_scenario(type(sc).model_validate(data))
    process = demand_process(system)
    assert process.trace is not None
    assert process.trace.sum(axis=(1, 2)).tolist() == per_slot.tolist()


def test_bad_statistics_name_the_reason():
    with pytest.raises(ValueError, match="not overdispersed"):
        fit_mmpp(count_statistics([3, 4, 3, 4, 3, 4, 3, 4, 3, 4, 3, 4]))
    with pytest.raises(ValueError, match="24 hourly"):
        fit_diurnal([1.0] * 23)
    with pytest.raises(ValueError, match="two-state"):
        mmpp_statistics(Burstiness(rates=[1.0], dwell_slots=[1.0]), 5.0)
    with pytest.raises(ValueError, match="7 daily"):
        fit_diurnal(weekly=[1.0] * 6)
    with pytest.raises(ValueError, match="decode_ratio"):
        work_cv(LLM_CODE_TOKENS_2023, decode_ratio=-1.0)
    with pytest.raises(ValueError, match="generated tokens must be"):
        token_statistics([1, 2, 3], [4, 4, 4])
    with pytest.raises(ValueError, match="one length"):
        token_statistics([1, 2, 3], [4, 5])


def test_the_work_cv_is_that_of_the_tokens_weighted_by_the_decode_ratio():
    rng = np.random.default_rng(11)
    context = rng.gamma(1.1, 1000.0, size=5000)
    generated = rng.gamma(1.7, 100.0, size=5000) + 0.05 * context
    stats = token_statistics(context, generated)
    for ratio in (0.0, 1.0, 10.0, 100.0):
        work = context + ratio * generated
        assert work_cv(stats, ratio) == pytest.approx(work.std() / work.mean(), rel=1e-9)
    assert work_cv(stats, 0.0) == pytest.approx(stats.context_cv)


def test_the_llm_trace_work_varies_less_than_its_tokens():
    conv, code = LLM_CONVERSATION_TOKENS_2023, LLM_CODE_TOKENS_2023
    assert work_cv(conv) == pytest.approx(0.571, abs=1e-3)
    assert work_cv(code) == pytest.approx(0.887, abs=1e-3)
    # over decode ratios of 5 to 20 the CV hardly moves, and stays within the M/G/1 range
    for tokens, (lo, hi) in ((conv, (0.57, 0.62)), (code, (0.88, 0.92))):
        cvs = [work_cv(tokens, r) for r in (5.0, 10.0, 15.0, 20.0)]
        assert min(cvs) > lo - 0.005
        assert max(cvs) < hi
    # with a huge decode ratio the work is the generated tokens' alone
    assert work_cv(code, 1e6) == pytest.approx(code.generated_cv, rel=1e-3)
    assert isinstance(conv, TokenStatistics)


def test_the_weekly_profile_has_a_mean_of_one_and_weekdays_above_weekends():
    diurnal = fit_diurnal(weekly=AZURE_FUNCTIONS_2019_WEEKLY, start_day=2)
    assert diurnal.weekly is not None
    assert sum(diurnal.weekly) / 7 == pytest.approx(1.0, abs=1e-4)
    assert diurnal.weekly[:5] == [1.054] * 5
    assert diurnal.weekly[5:] == [0.8651] * 2
    assert diurnal.start_day == 2


def test_the_generator_draws_the_weekly_profile():
    diurnal = fit_diurnal([1.0] * 24, slots_per_hour=1, weekly=AZURE_FUNCTIONS_2019_WEEKLY)
    counts = synthetic_counts(
        200.0, np.ones(1), 24 * 7 * 4, np.random.default_rng(2), None, diurnal
    )
    per_day = counts[:, 0].reshape(4, 7, 24).mean(axis=(0, 2))
    assert per_day == pytest.approx(200.0 * np.array(diurnal.weekly), rel=0.02)


def test_the_bursty_preset_is_the_calibrated_one_with_the_fitted_arrivals():
    calibrated = load_scenario("paper-case-study-calibrated")
    bursty = load_scenario("paper-case-study-calibrated-bursty")
    assert bursty.domains == calibrated.domains
    for mine, theirs in zip(bursty.services, calibrated.services, strict=True):
        llm = mine.processors == [ProcessorKind.GPU]
        assert mine.work_cv == (round(work_cv(LLM_CONVERSATION_TOKENS_2023), 2) if llm else 0.0)
        assert mine.model_copy(update={"work_cv": 0.0}) == theirs
    assert sum(s.work_cv > 0 for s in bursty.services) == 13
    assert bursty.radio == calibrated.radio
    assert bursty.twin == calibrated.twin
    assert bursty.workload.model_copy(update={"burstiness": None, "diurnal": None}) == (
        calibrated.workload
    )
    assert bursty.workload.burstiness == fit_mmpp(LLM_CONVERSATION_2023)
    assert bursty.workload.burstiness.start == "stationary"
    assert bursty.workload.diurnal == fit_diurnal(
        slots_per_hour=3600, start_hour=14, weekly=AZURE_FUNCTIONS_2019_WEEKLY, start_day=0
    )
    # slot 0 is in the busiest hour of the daily profile, on a weekday
    assert max(bursty.workload.diurnal.profile) == bursty.workload.diurnal.profile[14]
    assert bursty.workload.diurnal.weekly[0] == max(bursty.workload.diurnal.weekly)
    process = demand_process(compile_scenario(bursty))
    assert process.mmpp_stationary is not None
    assert process.weekly is not None


def test_data_size_cvs_follow_the_token_counts():
    rng = np.random.default_rng(12)
    context = rng.gamma(1.1, 1000.0, size=5000)
    generated = rng.gamma(0.3, 100.0, size=5000)
    stats = token_statistics(context, generated)
    assert data_size_cvs(stats) == (stats.context_cv, stats.generated_cv)
    # 2 kbit per context token after a fixed 500 kbit (a share of the mean input size).
    size = 500.0 + 2.0 * context
    share = 500.0 / size.mean()
    got_in, got_out = data_size_cvs(stats, input_fixed_share=share, output_fixed_share=0.5)
    assert got_in == pytest.approx(size.std() / size.mean(), rel=1e-9)
    assert got_out == pytest.approx(0.5 * stats.generated_cv, rel=1e-12)
    conv = data_size_cvs(LLM_CONVERSATION_TOKENS_2023)
    assert conv == pytest.approx((0.9602, 0.7714))
    assert data_size_cvs(LLM_CODE_TOKENS_2023) == pytest.approx((0.9638, 2.1468))
    with pytest.raises(ValueError, match="output_fixed_share must lie in"):
        data_size_cvs(stats, output_fixed_share=1.0)
    with pytest.raises(ValueError, match="input_fixed_share must lie in"):
        data_size_cvs(stats, input_fixed_share=-0.1)
