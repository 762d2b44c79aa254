"""The knowledge base's estimates converge on known demand, follow drift, and round-trip."""

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnc6g.policies.knowledge import DemandSketch, KnowledgeBase


def _fill(sketch, values):
    for v in values:
        sketch.observe(float(v))
    return sketch


def test_mean_std_and_quantiles_converge_on_a_normal_demand():
    rng = np.random.default_rng(1)
    sk = _fill(DemandSketch(forgetting=0.0), rng.normal(5.0, 2.0, 5000))
    assert sk.mean == pytest.approx(5.0, abs=0.1)
    assert sk.std == pytest.approx(2.0, rel=0.05)
    for q, z in ((0.5, 0.0), (0.9, 1.2816), (0.95, 1.6449)):
        assert sk.quantile(q) == pytest.approx(5.0 + 2.0 * z, rel=0.03)
    assert sk.count == 5000
    assert len(sk.means) <= sk.max_centroids


def test_the_upper_quantile_converges_on_a_skewed_demand():
    rng = np.random.default_rng(2)
    sk = _fill(DemandSketch(forgetting=0.0, max_centroids=48), rng.lognormal(0.0, 0.5, 8000))
    assert sk.quantile(0.95) == pytest.approx(math.exp(1.6449 * 0.5), rel=0.05)
    assert sk.quantile(0.5) == pytest.approx(1.0, rel=0.05)
    assert sk.mean == pytest.approx(math.exp(0.125), rel=0.03)


def test_forgetting_follows_a_step_in_demand_and_no_forgetting_does_not():
    rng = np.random.default_rng(3)
    before, after = rng.normal(1.0, 0.05, 500), rng.normal(2.0, 0.1, 300)
    fresh = _fill(DemandSketch(forgetting=0.02), np.concatenate([before, after]))
    stale = _fill(DemandSketch(forgetting=0.0), np.concatenate([before, after]))
    assert fresh.quantile(0.5) == pytest.approx(2.0, rel=0.05)
    assert fresh.mean == pytest.approx(2.0, rel=0.05)
    assert fresh.quantile(0.9) == pytest.approx(2.0 + 1.2816 * 0.1, rel=0.05)
    assert stale.quantile(0.5) < 1.2  # most of its weight is the old demand


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=80))
def test_quantiles_stay_within_the_data_and_grow_with_q(values):
    sk = _fill(DemandSketch(forgetting=0.05, max_centroids=8), values)
    qs = [sk.quantile(q) for q in np.linspace(0.0, 1.0, 11)]
    assert all(a <= b + 1e-9 for a, b in itertools.pairwise(qs))
    assert min(values) - 1e-9 <= qs[0]
    assert qs[-1] <= max(values) + 1e-9


def test_a_constant_demand_has_no_spread():
    sk = _fill(DemandSketch(), [1.3] * 200)
    assert sk.std == 0.0
    assert sk.quantile(0.99) == pytest.approx(1.3)


def test_bad_parameters_and_observations_are_refused():
    with pytest.raises(ValueError, match="forgetting"):
        DemandSketch(forgetting=1.0)
    with pytest.raises(ValueError, match="max_centroids"):
        DemandSketch(max_centroids=1)
    with pytest.raises(ValueError, match="finite"):
        DemandSketch().observe(float("nan"))
    with pytest.raises(ValueError, match="quantile"):
        KnowledgeBase(quantile=1.0)
    with pytest.raises(ValueError, match="unknown quantity"):
        KnowledgeBase().observe("asr", cpu=1.0)


def test_an_unseen_service_has_no_provision_and_a_seen_one_its_quantile():
    kb = KnowledgeBase(quantile=0.9)
    assert kb.provision("asr", "compute_gcycles") is None
    rng = np.random.default_rng(4)
    for v in rng.normal(0.6, 0.06, 2000):
        kb.observe("asr", compute_gcycles=float(v), memory_gb=0.5, bandwidth_mbit=0.258)
    assert kb.provision("asr", "compute_gcycles") == pytest.approx(0.6 + 1.2816 * 0.06, rel=0.03)
    assert kb.provision("asr", "memory_gb") == pytest.approx(0.5)
    assert kb.provision("asr", "bandwidth_mbit", q=0.5) == pytest.approx(0.258)
    assert kb.provision("tts", "compute_gcycles") is None
    assert {r["quantity"] for r in kb.summary()} == {
        "compute_gcycles",
        "memory_gb",
        "bandwidth_mbit",
    }


def test_the_base_round_trips_through_plain_json():
    kb = KnowledgeBase(quantile=0.95, forgetting=0.01)
    rng = np.random.default_rng(5)
    for v in rng.exponential(1.0, 300):
        kb.observe("llm", compute_gcycles=float(v))
    back = KnowledgeBase.from_dict(json.loads(json.dumps(kb.to_dict())))
    assert back.to_dict() == kb.to_dict()
    sk, sk2 = kb.sketch("llm", "compute_gcycles"), back.sketch("llm", "compute_gcycles")
    for q in (0.1, 0.5, 0.95):
        assert sk2.quantile(q) == sk.quantile(q)
    # it goes on learning exactly as the original would
    sk.observe(2.5)
    sk2.observe(2.5)
    assert sk2.to_dict() == sk.to_dict()


def test_another_schema_is_refused():
    data = KnowledgeBase().to_dict()
    data["schema"] = 99
    with pytest.raises(ValueError, match="schema"):
        KnowledgeBase.from_dict(data)
    with pytest.raises(ValueError, match="malformed"):
        KnowledgeBase.from_dict({"schema": 1, "services": {"a": {"compute_gcycles": {}}}})
