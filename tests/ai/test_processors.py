"""Processors: the roofline, and the calibration on seed 000's time-to-first-token figures."""

import numpy as np
import pytest

from cnc6g.ai.processors import (
    PROCESSORS,
    Processor,
    block_costs,
    processor,
    tpot_s,
    ttft_s,
)
from cnc6g.ai.profiles import KINDS, load_profile


def test_llama_3b_on_a_snapdragon_8_gen_3_takes_at_least_700_ms_to_first_token():
    # Seed 000 section 4.1 (Meta's quantised Llama 3.2 3B on a OnePlus 12): TTFT >= 700 ms.
    # Stated prompt: 64 tokens; 4-bit weights, 8-bit activations on the Arm CPU.
    profile = load_profile("llama-3.2-3b")
    assert profile.table.prompt_tokens == 64
    ttft = ttft_s(profile, PROCESSORS["sd8g3-cpu"])
    assert 0.70 <= ttft <= 0.80


def test_llama_70b_on_four_a100s_takes_about_154_ms_to_first_token():
    # Seed 000 section 4.1 (Databricks on 4 x A100): 154 ms; stated prompt: 512 tokens, fp16.
    profile = load_profile("llama-2-70b")
    assert profile.table.prompt_tokens == 512
    assert ttft_s(profile, PROCESSORS["a100x4"]) == pytest.approx(0.154, rel=0.05)


def test_decode_steps_are_bound_by_memory_on_every_processor():
    profile = load_profile("llama-2-7b")
    for proc in PROCESSORS.values():
        cost = block_costs(profile, proc)
        weights = profile.param_bytes[profile.loop] * proc.weight_bits / 32
        floor = weights.sum() / (proc.memory_bw * proc.memory_efficiency)
        # The embedding reads only its looked-up rows, so the floor is a slight over-estimate.
        assert tpot_s(profile, proc) >= 0.9 * floor
        assert cost.step_s.sum() == pytest.approx(tpot_s(profile, proc))


def test_a_block_takes_the_larger_of_its_compute_and_memory_time():
    profile = load_profile("vit-b16")
    proc = PROCESSORS["l4"]
    cost = block_costs(profile, proc)
    i = profile.names.index("layer1")
    compute = profile.flops[i] / (proc.peak_flops * proc.efficiency["transformer"])
    memory = (profile.param_bytes[i] + profile.out_bytes[i]) * 0.5 / (proc.memory_bw * 0.8)
    assert cost.prefill_s[i] == pytest.approx(max(compute, memory))
    np.testing.assert_allclose(cost.energy_j, proc.active_w * cost.total_s)


def test_every_processor_covers_every_block_kind_and_says_where_its_figures_come_from():
    for proc in PROCESSORS.values():
        assert set(proc.efficiency) == set(KINDS)
        assert proc.note


def test_a_group_scales_peak_bandwidth_and_power():
    one, four = PROCESSORS["a100"], PROCESSORS["a100x4"]
    assert four.peak_flops == pytest.approx(4 * 0.82 * one.peak_flops)
    assert four.memory_bw == 4 * one.memory_bw
    assert four.active_w == 4 * one.active_w


def test_bad_processors_are_refused():
    with pytest.raises(KeyError, match="sd8g3-npu"):
        processor("sd9")
    with pytest.raises(ValueError, match="no efficiency"):
        Processor("x", "x", "edge", 1.0, 1.0, 1.0, 1.0, 16, 16, {"conv": 0.5})
