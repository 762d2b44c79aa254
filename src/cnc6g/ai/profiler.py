"""Per-block profiles of real architectures, built from their published configurations.

Each model is instantiated from its ``transformers`` configuration class with the published
dimensions, without weights and without any download: under PyTorch's ``FakeTensorMode`` every
tensor has a shape and a dtype but no storage, so a 70 B model costs no memory. Its forward pass
runs under :class:`torch.utils.flop_counter.FlopCounterMode`, which attributes the FLOPs of every
matrix product, convolution and attention kernel to the module that ran it; forward hooks record
the size of each block's output, and the key/value cache left by a prefill gives the KV bytes per
token. Attention runs in the ``eager`` implementation: fused kernels are not counted.

A *block* is a set of modules (a bottleneck's convolution, a transformer layer, the embedding,
the head) with the blocks whose outputs it reads; each pass checks that no FLOP falls outside
the blocks. Autoregressive models (decoder LLMs, Whisper's decoder, SpeechT5's decoder) are
profiled in three passes: the *prefill* over the stated prompt (``prompt_tokens``), one *decode
step* with a cache of ``decode_context`` tokens (the mean context over ``decode_steps`` steps),
and, where blocks run once on the whole generated output (SpeechT5's post-net), a teacher-forced
*full* pass over all of it. Prefills compute the logits of the last position only, as
generation does.

Needs ``torch`` and ``transformers`` (the ``profile`` extra); this module imports them only when
a profile is made. The shipped tables under ``cnc6g/ai/profiles`` are its output
(``cnc6g profile``); nothing else in :mod:`cnc6g.ai` needs either package.
"""

from __future__ import annotations

import importlib
import json
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

FORMAT = 1
"""Version of the table layout written by :func:`profile_model`."""


@dataclass(frozen=True)
class BlockSpec:
    """How one block is found in a model: its modules and its inputs."""

    name: str
    kind: str
    modules: tuple[str, ...]
    """Module paths whose FLOPs and parameters make the block."""
    out: str
    """Module whose output is the block's output."""
    inputs: tuple[str, ...]
    """Blocks whose outputs the block reads; ``"input"`` is the model's input."""
    phase: str = "once"
    """``once``: runs in the prefill; ``loop``: runs in the prefill and once per decode step;
    ``post``: runs once on the whole generated output (measured in the full pass)."""
    kv_layer: int | None = None
    """Index of the block's self-attention layer in the key/value cache."""


@dataclass
class Part:
    """A model (or a model's separate vocoder) with its blocks and the passes that measure it."""

    model: Any
    blocks: list[BlockSpec]
    passes: dict[str, Callable[[], Any]]
    """Pass name (``prefill``, ``step``, ``full``) -> a call that runs it."""
    cache_of: Callable[[Any], Any] | None = None
    """Self-attention cache from the prefill's output (decoders only)."""


@dataclass(frozen=True)
class Recipe:
    """A model to profile: its configuration and what its input stands for."""

    name: str
    title: str
    family: str
    source: str
    """Where the dimensions are published."""
    task_input: str
    input_bytes: int
    """Bytes of the raw input a terminal would send (image, audio, token ids)."""
    result_bytes: int
    """Bytes that return to the terminal: logits, token ids, or 16-bit audio."""
    build: Callable[[Any, Any, Recipe], list[Part]]
    """(torch, transformers, the recipe) -> the parts, built inside ``FakeTensorMode``."""
    config: dict[str, Any]
    prompt_tokens: int = 0
    decode_steps: int = 0
    published: dict[str, Any] = field(default_factory=dict)


# --- recipes -----------------------------------------------------------------------------------


def _chain(
    names: Iterable[tuple[str, str, tuple[str, ...]]], first_input: str = "input"
) -> list[BlockSpec]:
    """Blocks of a chain: (name, kind, modules), each reading the one before; out: last module."""
    out: list[BlockSpec] = []
    prev = first_input
    for name, kind, modules in names:
        out.append(BlockSpec(name, kind, modules, modules[-1], (prev,)))
        prev = name
    return out


def _resnet50(torch: Any, tf: Any, _recipe: Recipe) -> list[Part]:
    cfg = tf.ResNetConfig(**RESNET50)
    model = tf.ResNetForImageClassification(cfg).eval()
    blocks = [BlockSpec("stem", "conv", ("resnet.embedder",), "resnet.embedder", ("input",))]
    prev = "stem"
    for s, depth in enumerate(cfg.depths):
        for j in range(depth):
            base = f"resnet.encoder.stages.{s}.layers.{j}"
            tag = f"s{s + 1}.b{j + 1}"
            layer = model.get_submodule(base)
            residual = prev
            if not isinstance(layer.shortcut, torch.nn.Identity):
                blocks.append(
                    BlockSpec(
                        f"{tag}.shortcut",
                        "conv",
                        (f"{base}.shortcut",),
                        f"{base}.shortcut",
                        (prev,),
                    )
                )
                residual = f"{tag}.shortcut"
            blocks.append(
                BlockSpec(f"{tag}.conv1", "conv", (f"{base}.layer.0",), f"{base}.layer.0", (prev,))
            )
            blocks.append(
                BlockSpec(
                    f"{tag}.conv2",
                    "conv",
                    (f"{base}.layer.1",),
                    f"{base}.layer.1",
                    (f"{tag}.conv1",),
                )
            )
            # The third convolution with the residual addition and its ReLU.
            blocks.append(
                BlockSpec(
                    f"{tag}.conv3",
                    "conv",
                    (f"{base}.layer.2",),
                    f"{base}.layer.2",
                    (f"{tag}.conv2", residual),
                )
            )
            prev = f"{tag}.conv3"
    blocks.append(BlockSpec("pool", "elementwise", ("resnet.pooler",), "resnet.pooler", (prev,)))
    blocks.append(BlockSpec("fc", "linear", ("classifier",), "classifier", ("pool",)))
    x = torch.zeros(1, 3, 224, 224)
    return [Part(model, blocks, {"prefill": lambda: model(pixel_values=x)})]


def _mobilenetv2(torch: Any, tf: Any, _recipe: Recipe) -> list[Part]:
    cfg = tf.MobileNetV2Config(**MOBILENETV2)
    model = tf.MobileNetV2ForImageClassification(cfg).eval()
    n = len(model.mobilenet_v2.layer)
    spec = [("stem", "depthwise", ("mobilenet_v2.conv_stem",))]
    spec += [(f"ir{i + 1}", "depthwise", (f"mobilenet_v2.layer.{i}",)) for i in range(n)]
    spec += [
        ("conv_1x1", "conv", ("mobilenet_v2.conv_1x1",)),
        ("pool", "elementwise", ("mobilenet_v2.pooler",)),
        ("fc", "linear", ("classifier",)),
    ]
    x = torch.zeros(1, 3, 224, 224)
    return [Part(model, _chain(spec), {"prefill": lambda: model(pixel_values=x)})]


def _vit_b16(torch: Any, tf: Any, _recipe: Recipe) -> list[Part]:
    cfg = tf.ViTConfig(**VIT_B16)
    model = tf.ViTForImageClassification(cfg).eval()
    spec = [("patch_embed", "conv", ("vit.embeddings",))]
    spec += [
        (f"layer{i + 1}", "transformer", (f"vit.layers.{i}",)) for i in range(cfg.num_hidden_layers)
    ]
    spec += [("norm", "elementwise", ("vit.layernorm",)), ("head", "linear", ("classifier",))]
    x = torch.zeros(1, 3, 224, 224)
    return [Part(model, _chain(spec), {"prefill": lambda: model(pixel_values=x)})]


def _decoder_llm(
    config_class: str, dims: dict[str, Any]
) -> Callable[[Any, Any, Recipe], list[Part]]:
    def build(torch: Any, tf: Any, recipe: Recipe) -> list[Part]:
        cfg = getattr(tf, config_class)(**dims)
        model = tf.AutoModelForCausalLM.from_config(cfg).eval()
        layers = cfg.num_hidden_layers
        blocks = [
            BlockSpec(
                "embed",
                "embedding",
                ("model.embed_tokens", "model.rotary_emb"),
                "model.embed_tokens",
                ("input",),
                "loop",
            )
        ]
        prev = "embed"
        for i in range(layers):
            blocks.append(
                BlockSpec(
                    f"layer{i + 1}",
                    "decoder",
                    (f"model.layers.{i}",),
                    f"model.layers.{i}",
                    (prev,),
                    "loop",
                    kv_layer=i,
                )
            )
            prev = f"layer{i + 1}"
        blocks.append(
            BlockSpec("head", "linear", ("model.norm", "lm_head"), "lm_head", (prev,), "loop")
        )
        prompt, ctx = recipe.prompt_tokens, _context(recipe)
        ids = torch.zeros(1, prompt, dtype=torch.long)
        one = torch.zeros(1, 1, dtype=torch.long)

        def step() -> Any:
            cache = _cache(model(input_ids=torch.zeros(1, ctx, dtype=torch.long), use_cache=True))
            return lambda: model(input_ids=one, cache=cache, use_cache=True, logits_to_keep=1)

        return [
            Part(
                model,
                blocks,
                {
                    "prefill": lambda: model(input_ids=ids, use_cache=True, logits_to_keep=1),
                    "step": step,
                },
                cache_of=_cache,
            )
        ]

    return build


def _whisper(torch: Any, tf: Any, recipe: Recipe) -> list[Part]:
    cfg = tf.WhisperConfig(**WHISPER_BASE)
    model = tf.WhisperForConditionalGeneration(cfg).eval()
    enc, dec = "model.encoder", "model.decoder"
    blocks = [
        BlockSpec(
            "enc.stem",
            "conv",
            (f"{enc}.conv1", f"{enc}.conv2", f"{enc}.embed_positions"),
            f"{enc}.conv2",
            ("input",),
        )
    ]
    prev = "enc.stem"
    for i in range(cfg.encoder_layers):
        blocks.append(
            BlockSpec(
                f"enc.layer{i + 1}",
                "transformer",
                (f"{enc}.layers.{i}",),
                f"{enc}.layers.{i}",
                (prev,),
            )
        )
        prev = f"enc.layer{i + 1}"
    blocks.append(
        BlockSpec("enc.norm", "elementwise", (f"{enc}.layer_norm",), f"{enc}.layer_norm", (prev,))
    )
    blocks.append(
        BlockSpec(
            "dec.embed",
            "embedding",
            (f"{dec}.embed_tokens", f"{dec}.embed_positions"),
            f"{dec}.embed_tokens",
            (),
            "loop",
        )
    )
    prev = "dec.embed"
    for i in range(cfg.decoder_layers):
        blocks.append(
            BlockSpec(
                f"dec.layer{i + 1}",
                "decoder",
                (f"{dec}.layers.{i}",),
                f"{dec}.layers.{i}",
                (prev, "enc.norm"),
                "loop",
                kv_layer=i,
            )
        )
        prev = f"dec.layer{i + 1}"
    blocks.append(
        BlockSpec(
            "dec.head", "linear", (f"{dec}.layer_norm", "proj_out"), "proj_out", (prev,), "loop"
        )
    )
    prompt, ctx = recipe.prompt_tokens, _context(recipe)
    frames = 2 * cfg.max_source_positions
    feats = torch.zeros(1, cfg.num_mel_bins, frames)
    ids = torch.zeros(1, prompt, dtype=torch.long)
    one = torch.zeros(1, 1, dtype=torch.long)

    def prefill() -> Any:
        return model(input_features=feats, decoder_input_ids=ids, use_cache=True)

    def step() -> Any:
        warm = model(
            input_features=feats,
            decoder_input_ids=torch.zeros(1, ctx, dtype=torch.long),
            use_cache=True,
        )
        encoded = (warm.encoder_last_hidden_state,)
        cache = _cache(warm)
        return lambda: model(
            encoder_outputs=encoded, decoder_input_ids=one, cache=cache, use_cache=True
        )

    return [
        Part(
            model,
            blocks,
            {"prefill": prefill, "step": step},
            cache_of=lambda out: _cache(out).self_attention_cache,
        )
    ]


def _speecht5(torch: Any, tf: Any, recipe: Recipe) -> list[Part]:
    cfg = tf.SpeechT5Config(**SPEECHT5)
    model = tf.SpeechT5ForTextToSpeech(cfg).eval()
    enc, dec = "speecht5.encoder", "speecht5.decoder"
    blocks = [
        BlockSpec(
            "enc.prenet",
            "embedding",
            (
                f"{enc}.prenet",
                f"{enc}.wrapped_encoder.layer_norm",
                f"{enc}.wrapped_encoder.embed_positions",
            ),
            f"{enc}.wrapped_encoder.layer_norm",
            ("input",),
        )
    ]
    prev = "enc.prenet"
    for i in range(cfg.encoder_layers):
        path = f"{enc}.wrapped_encoder.layers.{i}"
        blocks.append(BlockSpec(f"enc.layer{i + 1}", "transformer", (path,), path, (prev,)))
        prev = f"enc.layer{i + 1}"
    encoded = prev
    blocks.append(
        BlockSpec("dec.prenet", "linear", (f"{dec}.prenet",), f"{dec}.prenet", (), "loop")
    )
    prev = "dec.prenet"
    for i in range(cfg.decoder_layers):
        path = f"{dec}.wrapped_decoder.layers.{i}"
        blocks.append(
            BlockSpec(
                f"dec.layer{i + 1}", "decoder", (path,), path, (prev, encoded), "loop", kv_layer=i
            )
        )
        prev = f"dec.layer{i + 1}"
    post = "speech_decoder_postnet"
    blocks.append(
        BlockSpec(
            "dec.out",
            "linear",
            (f"{post}.feat_out", f"{post}.prob_out"),
            f"{post}.feat_out",
            (prev,),
            "loop",
        )
    )
    last = f"{post}.layers.{cfg.speech_decoder_postnet_layers - 1}"
    blocks.append(BlockSpec("postnet", "conv", (f"{post}.layers",), last, ("dec.out",), "post"))
    text = torch.zeros(1, TTS_TEXT_TOKENS, dtype=torch.long)
    speaker = torch.zeros(1, cfg.speaker_embedding_dim)
    steps = recipe.prompt_tokens + recipe.decode_steps
    ctx = _context(recipe)

    def run(n: int, **kw: Any) -> Any:
        return model(
            input_ids=text,
            decoder_input_values=torch.zeros(1, n, cfg.num_mel_bins),
            speaker_embeddings=speaker,
            use_cache=True,
            **kw,
        )

    def step() -> Any:
        warm = run(ctx)
        encoded_out = (warm.encoder_last_hidden_state,)
        cache = _cache(warm)
        return lambda: run(1, encoder_outputs=encoded_out, cache=cache)

    main = Part(
        model,
        blocks,
        {"prefill": lambda: run(recipe.prompt_tokens), "step": step, "full": lambda: run(steps)},
        cache_of=lambda out: _cache(out).self_attention_cache,
    )

    vcfg = tf.SpeechT5HifiGanConfig(**HIFIGAN)
    vocoder = tf.SpeechT5HifiGan(vcfg).eval()
    vblocks = [BlockSpec("voc.conv_pre", "conv", ("conv_pre",), "conv_pre", ("postnet",))]
    k = len(vcfg.resblock_kernel_sizes)
    feeding: tuple[str, ...] = ("voc.conv_pre",)
    for i in range(len(vcfg.upsample_rates)):
        vblocks.append(
            BlockSpec(f"voc.up{i + 1}", "conv", (f"upsampler.{i}",), f"upsampler.{i}", feeding)
        )
        names = []
        for j in range(k):
            path = f"resblocks.{i * k + j}"
            names.append(f"voc.res{i + 1}.{j + 1}")
            vblocks.append(BlockSpec(names[-1], "conv", (path,), path, (f"voc.up{i + 1}",)))
        feeding = tuple(names)
    vblocks.append(BlockSpec("voc.conv_post", "conv", ("conv_post",), "conv_post", feeding))
    frames = steps * cfg.reduction_factor
    mel = torch.zeros(1, frames, cfg.num_mel_bins)
    voc = Part(vocoder, vblocks, {"prefill": lambda: vocoder(mel)})
    return [main, voc]


def _cache(out: Any) -> Any:
    """The key/value cache a forward pass returned (its attribute name moved between releases)."""
    for attr in ("cache", "past_key_values"):
        value = getattr(out, attr, None)
        if value is not None:
            return value
    raise RuntimeError("the forward pass returned no cache")


def _context(recipe: Recipe) -> int:
    """Context of the measured decode step: the mean over the decode steps."""
    return recipe.prompt_tokens + recipe.decode_steps // 2


RESNET50 = {"num_labels": 1000}
"""``ResNetConfig`` defaults are ResNet-50 (v1.5): bottleneck stages 3-4-6-3, widths 256-2048."""
MOBILENETV2 = {"num_labels": 1001}
"""``MobileNetV2Config`` defaults are MobileNetV2 1.0 at 224 (with TF padding, 1001 classes)."""
VIT_B16 = {"num_labels": 1000}
"""``ViTConfig`` defaults are ViT-B/16 at 224: 12 layers, width 768, 12 heads, MLP 3072."""
WHISPER_BASE = {
    "d_model": 512,
    "encoder_layers": 6,
    "decoder_layers": 6,
    "encoder_attention_heads": 8,
    "decoder_attention_heads": 8,
    "encoder_ffn_dim": 2048,
    "decoder_ffn_dim": 2048,
    "vocab_size": 51865,
    "num_mel_bins": 80,
    "max_source_positions": 1500,
    "max_target_positions": 448,
}
SPEECHT5: dict[str, Any] = {}
"""``SpeechT5Config`` defaults are the released text-to-speech model's dimensions."""
HIFIGAN: dict[str, Any] = {}
"""``SpeechT5HifiGanConfig`` defaults are the released vocoder's dimensions."""
TTS_TEXT_TOKENS = 64

QWEN25_05B = {
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "max_position_embeddings": 32768,
    "tie_word_embeddings": True,
}
LLAMA2_7B = {
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "vocab_size": 32000,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": False,
}
LLAMA32_3B = {
    "hidden_size": 3072,
    "intermediate_size": 8192,
    "num_hidden_layers": 28,
    "num_attention_heads": 24,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 128256,
    "max_position_embeddings": 131072,
    "tie_word_embeddings": True,
}
LLAMA2_70B = {
    "hidden_size": 8192,
    "intermediate_size": 28672,
    "num_hidden_layers": 80,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "vocab_size": 32000,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": False,
}

_IMAGE = "one 224 x 224 RGB image"
_IMAGE_BYTES = 224 * 224 * 3
"""8-bit RGB: what a terminal sends before any layer ran."""

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "resnet50",
            "ResNet-50 (v1.5)",
            "cnn",
            "He et al., CVPR 2016; torchvision resnet50 (IMAGENET1K_V1): 25,557,032 parameters, "
            "4.09 GMAC",
            _IMAGE,
            _IMAGE_BYTES,
            1000 * 4,
            _resnet50,
            RESNET50,
            published={"params": 25_557_032, "macs": 4.09e9},
        ),
        Recipe(
            "mobilenetv2",
            "MobileNetV2 1.0 / 224",
            "cnn",
            "Sandler et al., CVPR 2018 (300 M multiply-adds); torchvision mobilenet_v2: "
            "3,504,872 parameters with 1,000 classes (this 1,001-class head adds 1,281), 0.30 GMAC",
            _IMAGE,
            _IMAGE_BYTES,
            1001 * 4,
            _mobilenetv2,
            MOBILENETV2,
            published={"params": 3_504_872 + 1_281, "macs": 0.30e9},
        ),
        Recipe(
            "vit-b16",
            "ViT-B/16",
            "vit",
            "Dosovitskiy et al., ICLR 2021; torchvision vit_b_16: 86,567,656 parameters, "
            "17.56 GMAC (attention included)",
            _IMAGE,
            _IMAGE_BYTES,
            1000 * 4,
            _vit_b16,
            VIT_B16,
            published={"params": 86_567_656, "macs": 17.56e9},
        ),
        Recipe(
            "whisper-base",
            "Whisper base (30 s audio)",
            "asr",
            "Radford et al., 2022 (base: d=512, 6+6 layers, 8 heads; 74 M in the paper's table, "
            "72.6 M tensors in the released checkpoint, whose output projection is tied to the "
            "token embedding)",
            "30 s of 16 kHz audio as an 80 x 3000 log-mel spectrogram; 4 prompt tokens, 124 "
            "decoded tokens",
            30 * 16_000 * 2,
            128 * 4,
            _whisper,
            WHISPER_BASE,
            prompt_tokens=4,
            decode_steps=124,
            published={"params": 72_593_920},
        ),
        Recipe(
            "speecht5-tts",
            "SpeechT5 TTS + HiFi-GAN vocoder",
            "tts",
            "Ao et al., ACL 2022 (SpeechT5: d=768, 12+6 layers, reduction factor 2); "
            "Kong et al., NeurIPS 2020 (HiFi-GAN V1 generator as released with SpeechT5)",
            "64 text tokens and a 512-d speaker embedding -> 200 mel frames (100 decoder steps) "
            "-> 51,200 samples (3.2 s at 16 kHz)",
            TTS_TEXT_TOKENS * 4 + 512 * 4,
            200 * 256 * 2,
            _speecht5,
            SPEECHT5,
            prompt_tokens=1,
            decode_steps=99,
        ),
        Recipe(
            "qwen2.5-0.5b",
            "Qwen2.5-0.5B (dimensions)",
            "llm",
            "Qwen2.5 technical report, 2024: 0.49 B parameters (0.36 B without embeddings), "
            "24 layers, 14 query / 2 KV heads, tied embeddings",
            "a 512-token prompt, 128 generated tokens",
            512 * 4,
            4,
            _decoder_llm("Qwen2Config", QWEN25_05B),
            QWEN25_05B,
            prompt_tokens=512,
            decode_steps=128,
            published={"params": 0.49e9},
        ),
        Recipe(
            "llama-3.2-3b",
            "Llama 3.2 3B (dimensions)",
            "llm",
            "Meta Llama 3.2 model card, 2024: 3.21 B parameters; 28 layers, 24 query / 8 KV "
            "heads, tied embeddings",
            "a 64-token prompt, 128 generated tokens",
            64 * 4,
            4,
            _decoder_llm("LlamaConfig", LLAMA32_3B),
            LLAMA32_3B,
            prompt_tokens=64,
            decode_steps=128,
            published={"params": 3.21e9},
        ),
        Recipe(
            "llama-2-7b",
            "Llama 2 7B (dimensions)",
            "llm",
            "Touvron et al., 2023 (Llama 2): 6,738,415,616 parameters in the released checkpoint",
            "a 512-token prompt, 128 generated tokens",
            512 * 4,
            4,
            _decoder_llm("LlamaConfig", LLAMA2_7B),
            LLAMA2_7B,
            prompt_tokens=512,
            decode_steps=128,
            published={"params": 6_738_415_616},
        ),
        Recipe(
            "llama-2-70b",
            "Llama 2 70B (dimensions)",
            "llm",
            "Touvron et al., 2023 (Llama 2): 68,976,648,192 parameters in the released "
            "checkpoint; 80 layers, 64 query / 8 KV heads",
            "a 512-token prompt, 128 generated tokens",
            512 * 4,
            4,
            _decoder_llm("LlamaConfig", LLAMA2_70B),
            LLAMA2_70B,
            prompt_tokens=512,
            decode_steps=128,
            published={"params": 68_976_648_192},
        ),
    )
}
"""The models ``cnc6g profile`` knows, by name."""

# --- measurement -------------------------------------------------------------------------------


def _libraries() -> tuple[Any, Any, Any, Any]:
    """(torch, transformers, FakeTensorMode, FlopCounterMode); ImportError names the extra."""
    try:
        torch = importlib.import_module("torch")
        tf = importlib.import_module("transformers")
        fake = importlib.import_module("torch._subclasses.fake_tensor").FakeTensorMode
        counter = importlib.import_module("torch.utils.flop_counter").FlopCounterMode
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"profiling needs torch and transformers (pip install 'cnc6g[profile]'): {err}"
        ) from err
    return torch, tf, fake, counter


def _tensor_bytes(value: Any, torch: Any) -> int:
    """Bytes of the first tensor in a module's output (a tensor, a tuple or a model output)."""
    if isinstance(value, torch.Tensor):
        return int(value.numel() * value.element_size())
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        for item in value:
            found = _tensor_bytes(item, torch)
            if found:
                return found
    return 0


@dataclass
class _Pass:
    flops: dict[str, int]
    """Module path -> FLOPs (children included); ``""`` is the whole model."""
    out_bytes: dict[str, int]
    output: Any


def _run_pass(
    model: Any, call: Callable[[], Any], outs: Iterable[str], torch: Any, counter: Any
) -> _Pass:
    sizes: dict[str, int] = {}
    handles = []
    for path in set(outs):

        def hook(_m: Any, _i: Any, out: Any, path: str = path) -> None:
            sizes[path] = _tensor_bytes(out, torch)

        handles.append(model.get_submodule(path).register_forward_hook(hook))
    try:
        with counter(display=False) as fc:
            output = call()
    finally:
        for h in handles:
            h.remove()
    root = type(model).__name__
    flops: dict[str, int] = {}
    for key, ops in fc.get_flop_counts().items():
        if key == "Global":
            continue
        path = "" if key == root else key.removeprefix(root + ".")
        flops[path] = int(sum(ops.values()))
    flops[""] = int(fc.get_total_flops())
    return _Pass(flops, sizes, output)


def _module_flops(p: _Pass, model: Any, path: str) -> int:
    """FLOPs of one module.

    A container that is never called (a ``ModuleList``) has none of its own in the counter, so
    its children's are added.
    """
    if path in p.flops:
        return p.flops[path]
    return sum(
        _module_flops(p, model, f"{path}.{child}")
        for child, _ in model.get_submodule(path).named_children()
    )


def _block_flops(p: _Pass, model: Any, block: BlockSpec) -> int:
    return sum(_module_flops(p, model, m) for m in block.modules)


def _uncovered(p: _Pass, model: Any, blocks: list[BlockSpec]) -> int:
    return p.flops[""] - sum(_block_flops(p, model, b) for b in blocks)


def profile_model(name: str) -> dict[str, Any]:
    """The per-block table of model ``name`` (a key of :data:`RECIPES`), as a JSON-ready dict.

    Raises:
        KeyError: no such model.
        ImportError: torch or transformers is missing.
        RuntimeError: some FLOPs fall outside the blocks (the recipe no longer fits the
            installed ``transformers``).
    """
    recipe = RECIPES[name]
    torch, tf, fake_mode, counter = _libraries()
    no_init = importlib.import_module("transformers.initialization").no_init_weights
    rows: list[dict[str, Any]] = []
    total_flops = total_decode = 0
    params_total = 0
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        with fake_mode(), no_init():
            parts = recipe.build(torch, tf, recipe)
            for part in parts:
                model = part.model
                model.config._attn_implementation = "eager"
                model.tie_weights()
                outs = [b.out for b in part.blocks]
                pre = _run_pass(model, part.passes["prefill"], outs, torch, counter)
                step = full = None
                if "step" in part.passes:
                    step = _run_pass(model, part.passes["step"](), outs, torch, counter)
                if "full" in part.passes:
                    full = _run_pass(model, part.passes["full"], outs, torch, counter)
                for label, p in (("prefill", pre), ("step", step), ("full", full)):
                    if p is not None and _uncovered(p, model, part.blocks) > 1e-3 * p.flops[""]:
                        raise RuntimeError(
                            f"{name}: {_uncovered(p, model, part.blocks):,} FLOPs of the {label} "
                            "pass "
                            "fall outside the blocks"
                        )
                kv = _kv_per_token(part, pre.output, recipe.prompt_tokens)
                seen: set[int] = set()
                part_params = {id(q): q.numel() for q in model.parameters()}
                params_total += sum(part_params.values())
                for b in part.blocks:
                    src = full if b.phase == "post" and full is not None else pre
                    params = param_bytes = 0
                    for m in b.modules:
                        for q in model.get_submodule(m).parameters():
                            param_bytes += q.numel() * q.element_size()
                            if id(q) not in seen:
                                seen.add(id(q))
                                params += q.numel()
                    loop = b.phase == "loop" and step is not None
                    rows.append(
                        {
                            "name": b.name,
                            "kind": b.kind,
                            "inputs": list(b.inputs),
                            "loop": b.phase == "loop",
                            "flops": _block_flops(src, model, b),
                            "decode_flops": _block_flops(step, model, b) if loop and step else 0,
                            "params": params,
                            "param_bytes": param_bytes,
                            "out_bytes": src.out_bytes.get(b.out, 0),
                            "decode_out_bytes": step.out_bytes.get(b.out, 0)
                            if loop and step
                            else 0,
                            "kv_bytes_per_token": kv.get(b.kv_layer, 0)
                            if b.kv_layer is not None
                            else 0,
                        }
                    )
                post = [b for b in part.blocks if b.phase == "post"]
                total_flops += pre.flops[""] - sum(_block_flops(pre, model, b) for b in post)
                if full is not None:
                    total_flops += sum(_block_flops(full, model, b) for b in post)
                if step is not None:
                    total_decode += step.flops[""] - sum(_block_flops(step, model, b) for b in post)
    versions = {"torch": str(torch.__version__), "transformers": str(tf.__version__)}
    table: dict[str, Any] = {
        "format": FORMAT,
        "name": recipe.name,
        "title": recipe.title,
        "family": recipe.family,
        "source": recipe.source,
        "input": recipe.task_input,
        "input_bytes": recipe.input_bytes,
        "result_bytes": recipe.result_bytes,
        "dtype": "float32",
        "prompt_tokens": recipe.prompt_tokens,
        "decode_steps": recipe.decode_steps,
        "decode_context": _context(recipe) if recipe.decode_steps else 0,
        "config": dict(recipe.config),
        "published": dict(recipe.published),
        "generated_by": {"command": f"cnc6g profile --model {recipe.name}", **versions},
        "totals": {
            "flops": total_flops,
            "decode_flops": total_decode,
            "params": params_total,
            "param_bytes": 4 * params_total,
        },
        "blocks": rows,
    }
    return table


def _kv_per_token(part: Part, output: Any, prompt: int) -> dict[int | None, int]:
    """Self-attention key/value bytes per token of each decoder layer, from the prefill's cache."""
    if part.cache_of is None or prompt <= 0:
        return {}
    cache = part.cache_of(output)
    out: dict[int | None, int] = {}
    for i, layer in enumerate(cache.layers):
        keys, values = layer.keys, layer.values
        size = keys.numel() * keys.element_size() + values.numel() * values.element_size()
        out[i] = int(size // prompt)
    return out


def to_json(table: dict[str, Any]) -> str:
    """A table as JSON text: the header indented, one line per block (diffs stay readable)."""
    head = {k: v for k, v in table.items() if k != "blocks"}
    text = json.dumps(head, indent=1)
    rows = ",\n  ".join(json.dumps(b) for b in table["blocks"])
    return text[:-2] + ',\n "blocks": [\n  ' + rows + "\n ]\n}\n"
