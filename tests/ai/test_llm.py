"""LLM requests: prefill and decode on different tiers, small/large routing."""

import numpy as np
import pytest

from cnc6g.ai.llm import QUALITY, best_plan, disaggregate, route
from cnc6g.ai.processors import PROCESSORS
from cnc6g.ai.profiles import load_profile
from cnc6g.ai.split import Network

TIERS = [PROCESSORS["sd8g3-cpu"], PROCESSORS["l4"], PROCESSORS["a100x4"]]


def test_nine_plans_with_the_kv_cache_priced_where_the_tiers_differ():
    profile = load_profile("llama-3.2-3b")
    plans = disaggregate(profile, TIERS, Network())
    assert len(plans) == 9
    kv = float(profile.kv_bytes_per_token.sum()) * profile.table.prompt_tokens
    for p in plans:
        if p.prefill == p.decode:
            assert p.kv_bytes == 0
        else:
            assert p.kv_bytes > 0
            assert p.kv_bytes <= kv
        assert p.total_s >= p.ttft_s


def test_a_slow_uplink_keeps_decoding_where_the_prefill_was():
    profile = load_profile("llama-3.2-3b")
    net = Network(uplink_mbps=1.0, downlink_mbps=1.0)
    plans = {(p.prefill, p.decode): p for p in disaggregate(profile, TIERS, net)}
    # Moving the cache down a 1 Mbit/s link costs more than decoding in the network.
    assert plans[("cloud", "terminal")].total_s > plans[("cloud", "cloud")].total_s


def test_seventy_billion_parameters_fit_no_phone():
    plans = disaggregate(load_profile("llama-2-70b"), TIERS, Network())
    assert not any(p.feasible for p in plans if "terminal" in (p.prefill, p.decode))
    best = best_plan(plans)
    assert (best.prefill, best.decode) == ("cloud", "cloud")


def test_energy_objective_prefers_the_network_within_a_loose_deadline():
    plans = disaggregate(load_profile("qwen2.5-0.5b"), TIERS, Network())
    best = best_plan(plans, "energy", deadline_s=30.0)
    local = next(p for p in plans if p.prefill == p.decode == "terminal")
    assert best.energy_j < local.energy_j


def test_routing_sends_what_the_small_model_can_answer_to_the_terminal():
    small, large = load_profile("llama-3.2-3b"), load_profile("llama-2-70b")
    required = np.array([40.0, 55.0, 58.0, 60.0, 70.0])
    r = route(small, large, TIERS, Network(), required)
    np.testing.assert_array_equal(r.to_small, required <= QUALITY["llama-3.2-3b"])
    np.testing.assert_array_equal(r.quality_met, required <= QUALITY["llama-2-70b"])
    assert np.all(r.network_gpu_s[r.to_small] == 0)
    assert np.all(r.network_gpu_s[~r.to_small] > 0)


def test_models_without_a_loop_are_refused():
    with pytest.raises(ValueError, match="no decode loop"):
        disaggregate(load_profile("resnet50"), TIERS, Network())
