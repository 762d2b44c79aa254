"""QoAIS: the vocabulary, decomposition, evaluation, the TS 28.105 lifecycle, and on the twin."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cnc6g.ai.qoais import (
    INDICATORS,
    Dimension,
    IndicatorReport,
    Lifecycle,
    QoAIS,
    RequestStatus,
    Resource,
    ServiceKind,
    TrainingType,
    decompose,
    evaluate,
    profile,
    responsible_resources,
    ts28105_gaps,
)
from cnc6g.cli.main import app
from cnc6g.experiments import run_policy
from cnc6g.experiments.qoais import default_qoais, measure, run_qoais
from cnc6g.orchestration.loop import SlotLoop
from cnc6g.policies import GreedyPolicy
from cnc6g.scenarios import load_scenario
from cnc6g.twin import Twin, compile_scenario


def test_the_training_profile_has_seed_001_table_4_1_1():
    names = {i.name for i in profile(ServiceKind.TRAINING)}
    for expected in (
        "performance_bound",
        "training_time_s",
        "generalisation",
        "reusability",
        "robustness",
        "interpretability",
        "objective_consistency",
        "fairness",
        "storage_gb",
        "energy_j_per_task",
        "storage_security",
        "transmission_security",
        "data_privacy",
        "algorithm_privacy",
        "autonomy",
    ):
        assert expected in names
    assert {i.dimension for i in profile(ServiceKind.TRAINING)} == set(Dimension)
    # Table 4.1-2: no quantitative metric yet for these.
    for name in ("robustness", "reusability", "generalisation", "interpretability", "fairness"):
        assert not INDICATORS[name].quantitative
    assert "response_time_s" in ts28105_gaps()
    assert "availability" not in ts28105_gaps()


def test_a_requirement_names_indicators_of_its_kind_and_valid_levels():
    with pytest.raises(ValueError, match="not inference indicators"):
        QoAIS("asr", ServiceKind.INFERENCE, {"training_time_s": 10.0})
    with pytest.raises(ValueError, match="one of"):
        QoAIS("asr", ServiceKind.INFERENCE, {"data_privacy": "secret"})
    with pytest.raises(ValueError, match=">= 0"):
        QoAIS("asr", ServiceKind.INFERENCE, {"response_time_s": -1.0})


def test_decomposition_splits_budgets_and_turns_privacy_into_tiers():
    req = QoAIS(
        "asr",
        ServiceKind.INFERENCE,
        {"response_time_s": 0.2, "energy_j_per_task": 3.0, "data_privacy": "edge"},
    )
    targets = decompose(req, compute_share=0.25, radio_share=0.4)
    by = {(t.resource, t.metric): t.value for t in targets}
    assert by[(Resource.COMPUTING, "processing_time_s")] == pytest.approx(0.05)
    assert by[(Resource.CONNECTION, "transfer_time_s")] == pytest.approx(0.15)
    assert by[(Resource.COMPUTING, "compute_energy_j")] == pytest.approx(1.8)
    assert by[(Resource.CONNECTION, "transmission_energy_j")] == pytest.approx(1.2)
    assert by[(Resource.DATA, "allowed_tiers")] == "terminal,ran"
    training = QoAIS("t", ServiceKind.TRAINING, {"robustness": 0.9, "training_time_s": 60.0})
    assert all(t.source != "robustness" for t in decompose(training))


def test_evaluation_marks_met_missed_unmeasured_and_unmeasurable():
    req = QoAIS(
        "t",
        ServiceKind.TRAINING,
        {"training_time_s": 60.0, "robustness": 0.9, "data_privacy": "edge", "storage_gb": 2.0},
    )
    report = {
        r.indicator: r.status
        for r in evaluate(req, {"training_time_s": 75.0, "data_privacy": "device"})
    }
    assert report == {
        "training_time_s": "missed",
        "robustness": "no metric yet",
        "data_privacy": "met",
        "storage_gb": "not measured",
    }


def test_the_lifecycle_follows_ts_28_105_and_retrains_only_on_model_drift():
    life = Lifecycle("asr", drift_windows=2)
    first = life.request(TrainingType.INITIAL_TRAINING)
    with pytest.raises(ValueError, match="cannot go from NOT_STARTED to FINISHED"):
        life.move(first, RequestStatus.FINISHED)
    life.move(first, RequestStatus.IN_PROGRESS)
    life.move(first, RequestStatus.FINISHED)
    assert life.activated
    slow = [IndicatorReport("response_time_s", Dimension.PERFORMANCE, 0.1, 0.3, "missed")]
    for _ in range(4):
        assert life.observe(slow) is None  # a resource problem: re-plan, not re-train
    assert responsible_resources(slow) == [Resource.CONNECTION, Resource.COMPUTING]
    wrong = [IndicatorReport("accuracy", Dimension.PERFORMANCE, 0.9, 0.7, "missed")]
    assert life.observe(wrong) is None
    index = life.observe(wrong)
    assert index is not None
    assert life.requests[index] == (TrainingType.RE_TRAINING, RequestStatus.NOT_STARTED)
    assert life.observe(wrong) is None  # one open request at a time


@pytest.mark.parametrize(("preset", "load"), [("tiny", 1.0), ("xr-offload", 0.5)])
def test_measured_service_figures_add_up_to_the_run(preset, load):
    sc = load_scenario(preset).at_load(load)
    system = compile_scenario(sc)
    loop = SlotLoop(Twin(system, seed=3), GreedyPolicy(), 3)
    records = list(loop.run(30))
    measured = measure(system, records)
    offered = np.stack([r.demand for r in records]).sum(axis=(0, 1))

    def total(indicator):
        return sum(
            measured[n].get(indicator, 0.0) * offered[s] for s, n in enumerate(system.service_names)
        )

    result = run_policy(GreedyPolicy(), sc, 30, seed=3, sample=False)
    summary = result.summary()
    assert total("deadline_success") / offered.sum() == pytest.approx(
        summary.satisfaction_rate, rel=1e-6
    )
    served = sum(float(r.outcome.served[0]) for r in records)
    assert total("availability") == pytest.approx(served, rel=1e-9)
    if system.chains is not None:  # services placed step by step are measured too
        chained = [n for s, n in enumerate(system.service_names) if system.chains.is_chain[s]]
        assert chained
        for name in chained:
            assert measured[name]["availability"] > 0.5
            assert measured[name]["response_time_s"] > 0.0
            assert measured[name]["transmission_mbit_per_task"] > 0.0
            assert measured[name]["data_privacy"] in ("edge", "operator")
    for name in system.service_names:
        m = measured[name]
        if "availability" in m:
            assert 0.0 <= m["deadline_success"] <= m["availability"] <= 1.0 + 1e-9


def test_defaults_read_privacy_from_the_allowed_tiers():
    system = compile_scenario(load_scenario("speech-translation"))
    req = default_qoais(system)
    tiers = {s.name: s.tiers for s in system.scenario.services}
    for name, q in req.items():
        if [t.value for t in tiers[name]] == ["terminal"]:
            assert q.targets["data_privacy"] == "device"


def test_run_qoais_windows_and_the_cli():
    sc = load_scenario("tiny").at_load(1.2)
    windows = run_qoais(GreedyPolicy(), sc, 40, 10, seed=1)
    assert [(w.first_slot, w.last_slot) for w in windows] == [(0, 9), (10, 19), (20, 29), (30, 39)]
    assert any(w.replan for w in windows)
    runner = CliRunner(env={"COLUMNS": "160", "NO_COLOR": "1"})
    shown = runner.invoke(app, ["qoais", "-s", "tiny", "--slots", "40", "--window", "10"])
    assert shown.exit_code == 0, shown.output
    assert "within deadline" in shown.output
    as_json = runner.invoke(
        app, ["qoais", "-s", "tiny", "--slots", "20", "--window", "10", "--json"]
    )
    data = json.loads(as_json.output)
    assert len(data) == 2
    assert {"indicator", "status", "target", "measured"} <= set(
        next(iter(data[0]["services"].values()))[0]
    )
    bad = runner.invoke(app, ["qoais", "-s", "tiny", "--slots", "10", "--window", "20"])
    assert bad.exit_code == 2
    assert "--window" in bad.output
