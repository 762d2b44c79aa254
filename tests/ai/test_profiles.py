"""The shipped profile tables: consistent, and true to published and closed-form figures."""

import numpy as np
import pytest

from cnc6g.ai.profiles import load_profile, load_table, parse_table, profile_names

NAMES = profile_names()
LLMS = ["qwen2.5-0.5b", "llama-3.2-3b", "llama-2-7b", "llama-2-70b"]


def test_the_nine_models_ship():
    assert set(NAMES) == {
        "resnet50",
        "mobilenetv2",
        "vit-b16",
        "whisper-base",
        "speecht5-tts",
        *LLMS,
    }


@pytest.mark.parametrize("name", NAMES)
def test_blocks_add_up_to_the_totals(name):
    t = load_table(name)
    assert sum(b.flops for b in t.blocks) == t.totals["flops"]
    assert sum(b.decode_flops for b in t.blocks) == t.totals["decode_flops"]
    assert sum(b.params for b in t.blocks) == t.totals["params"]
    assert t.totals["param_bytes"] == 4 * t.totals["params"]
    # A block reads at least the parameters it is first to use (tied weights are read twice).
    assert all(b.param_bytes >= 4 * b.params for b in t.blocks)
    assert all(b.out_bytes > 0 for b in t.blocks)


@pytest.mark.parametrize("name", NAMES)
def test_tables_round_trip_through_validation(name):
    t = load_table(name)
    assert parse_table(t.model_dump_json()) == t


@pytest.mark.parametrize("name", [n for n in NAMES if "params" in load_table(n).published])
def test_parameters_match_the_published_counts(name):
    t = load_table(name)
    assert t.totals["params"] == pytest.approx(t.published["params"], rel=0.01)


@pytest.mark.parametrize(
    ("name", "gmac"), [("resnet50", 4.09), ("mobilenetv2", 0.30), ("vit-b16", 17.56)]
)
def test_vision_flops_match_the_published_multiply_adds(name, gmac):
    t = load_table(name)
    assert t.published["macs"] == gmac * 1e9
    assert t.totals["flops"] / 2 == pytest.approx(gmac * 1e9, rel=0.03)


def _decoder_closed_form(cfg, tokens, context):
    """FLOPs of a Llama-style decoder: 2 x weights x tokens for every linear layer, eager
    attention over the full ``tokens x context`` score matrix (scores and values), and the head
    on the last position only."""
    d = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    hd = cfg.get("head_dim", d // heads)
    kv = cfg["num_key_value_heads"]
    linear = d * heads * hd * 2 + 2 * d * kv * hd + 3 * d * cfg["intermediate_size"]
    attention = 2 * 2 * tokens * context * heads * hd
    per_layer = 2 * tokens * linear + attention
    return cfg["num_hidden_layers"] * per_layer + 2 * d * cfg["vocab_size"]


@pytest.mark.parametrize("name", LLMS)
def test_decoder_flops_match_the_closed_form(name):
    t = load_table(name)
    p, ctx = t.prompt_tokens, t.decode_context
    assert t.totals["flops"] == pytest.approx(_decoder_closed_form(t.config, p, p), rel=0.03)
    step = _decoder_closed_form(t.config, 1, ctx + 1)
    assert t.totals["decode_flops"] == pytest.approx(step, rel=0.03)


@pytest.mark.parametrize("name", LLMS)
def test_kv_cache_per_token_is_two_tensors_per_layer(name):
    t = load_table(name)
    cfg = t.config
    hd = cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])
    per_layer = 2 * cfg["num_key_value_heads"] * hd * 4
    assert {b.kv_bytes_per_token for b in t.blocks if b.kind == "decoder"} == {per_layer}
    total = sum(b.kv_bytes_per_token for b in t.blocks)
    assert total == per_layer * cfg["num_hidden_layers"]


def test_qwen_prefill_and_step_scale_with_its_parameters():
    # 2 x non-embedding parameters per token, plus attention: the usual rule of thumb.
    t = load_table("qwen2.5-0.5b")
    body = sum(b.params for b in t.blocks if b.kind == "decoder")
    assert t.totals["decode_flops"] > 2 * body
    assert t.totals["flops"] == pytest.approx(2 * body * t.prompt_tokens, rel=0.10)


ENCODERS = {
    "vit-b16": (12, 197, 768, 3072, "layer"),
    "whisper-base": (6, 1500, 512, 2048, "enc.layer"),
    "speecht5-tts": (12, 64, 768, 3072, "enc.layer"),
}


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_encoder_layers_match_the_closed_form(name):
    t = load_table(name)
    layers, tokens, d, ffn, prefix = ENCODERS[name]
    expected = 2 * tokens * (4 * d * d + 2 * d * ffn) + 4 * tokens * tokens * d
    encoder = [b for b in t.blocks if b.name.startswith(prefix)]
    assert len(encoder) == layers
    for b in encoder:
        assert b.flops == pytest.approx(expected, rel=0.03)


@pytest.mark.parametrize("name", ["mobilenetv2", "vit-b16", "qwen2.5-0.5b"])
def test_chains_send_the_last_output_at_each_cut(name):
    p = load_profile(name)
    assert p.is_chain
    np.testing.assert_array_equal(p.live_bytes[1:-1], p.out_bytes[:-1])
    assert p.live_bytes[0] == 0
    assert p.live_bytes[-1] == 0


def test_resnet_is_a_dag_whose_residuals_cross_cuts():
    p = load_profile("resnet50")
    assert not p.is_chain
    # Inside a bottleneck the block's input is still needed by the addition.
    k = p.names.index("s1.b2.conv2")
    assert p.live_bytes[k] == p.out_bytes[k - 1] + p.out_bytes[p.names.index("s1.b1.conv3")]


def test_whisper_decoder_cuts_carry_the_encoder_output():
    p = load_profile("whisper-base")
    enc = p.out_bytes[p.names.index("enc.norm")]
    k = p.names.index("dec.layer3")
    assert p.in_loop[k]
    assert p.live_bytes[k] == enc + p.out_bytes[k - 1]
    assert p.live_step_bytes[k] == p.decode_out_bytes[k - 1]


def test_an_unknown_model_names_the_known_ones():
    with pytest.raises(KeyError, match="resnet50"):
        load_table("resnet-51")
