"""Processors and how long a block takes on them: a roofline per block kind.

A block of FLOPs ``F`` that moves ``B`` bytes takes

    t = max(F / (peak x efficiency[kind]), B / (bandwidth x memory_efficiency))

on a processor, and its energy is ``active_w x t``. The bytes moved are the weights the block
reads at the processor's serving precision (an embedding reads only the rows it looks up, i.e.
its output) plus its output activations; a decode step also reads the key/value cache of its
context. A decode loop's block runs its prefill once and then one step per generated token, each
step again a roofline (decode steps are matrix-vector products: memory-bound on every processor
here).

Peaks are dense (no sparsity) at the precision each processor serves: int8 for the phone's CPU
and NPU (weights 4-bit on the CPU, as in the measurement it is calibrated on), fp16/bf16 tensor
cores for the GPUs, fp32 for the 2014-era platforms Neurosurgeon measured. Efficiencies per kind
are batch-1 utilisations: assumptions, except those calibrated on the published figures that the
tests pin (seed 000 section 4.1):

- Llama 3.2 3B, quantised (4-bit weights, 8-bit activations), on a Snapdragon 8 Gen 3 phone: time
  to first token at least 700 ms (Meta, "Introducing quantized Llama models", 2024; measured with
  ExecuTorch on the phone's Arm CPU). With a 64-token prompt (363 GFLOP) the ``sd8g3-cpu``
  processor's ``decoder`` efficiency of 0.18 gives 0.72 s.
- Llama 2 70B on 4 x A100 (fp16, tensor parallel): time to first token 154 ms (Databricks, "LLM
  Inference Performance Engineering: Best Practices", 2023). With a 512-token prompt (70.8 TFLOP)
  an A100's prefill efficiency of 0.45 and a 4-GPU scaling efficiency of 0.82 give 154 ms.
  The prompt lengths are this project's reading of those setups, stated with the figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

import numpy as np

from cnc6g.ai.profiles import KINDS, FloatArray, Kind, ModelProfile

Tier = Literal["terminal", "edge", "cloud"]
TIERS: tuple[Tier, ...] = ("terminal", "edge", "cloud")


@dataclass(frozen=True)
class Processor:
    """A processor class: its peak, memory, power and efficiency per block kind."""

    name: str
    title: str
    tier: Tier
    peak_flops: float
    """Dense peak, FLOP/s (an int8 op counts as one FLOP), at the serving precision."""
    memory_bw: float
    """Memory bandwidth, bytes/s."""
    memory_bytes: float
    """Memory a model's weights may take."""
    active_w: float
    """Power while it computes, W."""
    weight_bits: float
    """Bits per weight it serves models at."""
    act_bits: float
    """Bits per activation (and per key/value cache entry)."""
    efficiency: Mapping[Kind, float]
    """Share of the peak a block of each kind reaches at batch 1."""
    memory_efficiency: float = 0.8
    """Share of the bandwidth streaming reads reach."""
    note: str = ""
    """Where the figures come from."""

    def __post_init__(self) -> None:
        missing = [k for k in KINDS if k not in self.efficiency]
        if missing:
            raise ValueError(f"{self.name}: no efficiency for {missing}")
        if not all(0 < v <= 1 for v in self.efficiency.values()):
            raise ValueError(f"{self.name}: efficiencies must lie in (0, 1]")
        object.__setattr__(self, "efficiency", MappingProxyType(dict(self.efficiency)))

    def group(self, count: int, scaling: float, name: str | None = None) -> Processor:
        """``count`` of these working on one request (tensor parallel).

        Compute speeds up ``scaling`` times linearly; bandwidth, memory and power add up.
        """
        return replace(
            self,
            name=name or f"{self.name}x{count}",
            title=f"{count} x {self.title}",
            peak_flops=self.peak_flops * count * scaling,
            memory_bw=self.memory_bw * count,
            memory_bytes=self.memory_bytes * count,
            active_w=self.active_w * count,
            note=f"{count} x {self.name} at {scaling:.0%} scaling efficiency. {self.note}",
        )


def _eff(
    conv: float, depthwise: float, transformer: float, decoder: float, linear: float
) -> dict[Kind, float]:
    """Efficiencies per kind; embeddings and element-wise blocks are memory-bound anyway."""
    return {
        "conv": conv,
        "depthwise": depthwise,
        "transformer": transformer,
        "decoder": decoder,
        "linear": linear,
        "embedding": 0.01,
        "elementwise": 0.01,
    }


GPU_EFFICIENCY = _eff(conv=0.10, depthwise=0.02, transformer=0.35, decoder=0.45, linear=0.05)
"""Batch-1 utilisation of a data-centre GPU by block kind (assumed; ``decoder`` calibrated)."""

PROCESSORS: dict[str, Processor] = {
    p.name: p
    for p in (
        Processor(
            "sd8g3-cpu",
            "Snapdragon 8 Gen 3 Arm CPU (int8 i8mm)",
            "terminal",
            peak_flops=2.8e12,
            memory_bw=76.8e9,
            memory_bytes=6e9,
            active_w=5.0,
            weight_bits=4,
            act_bits=8,
            efficiency=_eff(conv=0.25, depthwise=0.10, transformer=0.18, decoder=0.18, linear=0.10),
            memory_efficiency=0.6,
            note="1 x Cortex-X4 (4 x 128-bit SIMD) + 5 x A720 + 2 x A520 (2 x 128-bit each) "
            "with int8 matrix instructions: about 2.8 Tops; LPDDR5X-9600 on 64 bits: 76.8 GB/s "
            "(Qualcomm product brief). Power: an assumption for all big cores busy. decoder "
            "efficiency calibrated: Llama 3.2 3B TTFT >= 700 ms (seed 000 section 4.1).",
        ),
        Processor(
            "sd8g3-npu",
            "Snapdragon 8 Gen 3 Hexagon NPU (int8)",
            "terminal",
            peak_flops=34e12,
            memory_bw=76.8e9,
            memory_bytes=6e9,
            active_w=4.0,
            weight_bits=8,
            act_bits=8,
            efficiency=_eff(conv=0.30, depthwise=0.10, transformer=0.20, decoder=0.15, linear=0.05),
            note="Peak: order of magnitude of public reports (Qualcomm publishes no Tops figure "
            "for this NPU); efficiencies and power are assumptions.",
        ),
        Processor(
            "sd8g3-gpu",
            "Snapdragon 8 Gen 3 Adreno 750 GPU (fp16)",
            "terminal",
            peak_flops=9.2e12,
            memory_bw=76.8e9,
            memory_bytes=6e9,
            active_w=6.0,
            weight_bits=16,
            act_bits=16,
            efficiency=_eff(conv=0.20, depthwise=0.05, transformer=0.15, decoder=0.15, linear=0.05),
            note="About 4.6 TFLOPS fp32 as widely reported, twice that in fp16; efficiencies "
            "and power are assumptions.",
        ),
        Processor(
            "jetson-tk1",
            "NVIDIA Jetson TK1 GPU (fp32)",
            "terminal",
            peak_flops=326e9,
            memory_bw=14.9e9,
            memory_bytes=1.5e9,
            active_w=6.0,
            weight_bits=32,
            act_bits=32,
            efficiency=_eff(conv=0.35, depthwise=0.10, transformer=0.30, decoder=0.30, linear=0.10),
            note="Neurosurgeon's mobile platform (Kang et al., ASPLOS 2017): Kepler GK20A, "
            "192 cores, 326 GFLOPS fp32 (NVIDIA), LPDDR3 14.9 GB/s. Power: an assumption.",
        ),
        Processor(
            "titan-x",
            "NVIDIA GeForce GTX Titan X (Maxwell, fp32)",
            "cloud",
            peak_flops=6.6e12,
            memory_bw=336.5e9,
            memory_bytes=12e9,
            active_w=250.0,
            weight_bits=32,
            act_bits=32,
            efficiency=_eff(conv=0.30, depthwise=0.05, transformer=0.40, decoder=0.40, linear=0.05),
            note="Neurosurgeon's server GPU: 6.6 TFLOPS fp32, 336.5 GB/s, 250 W board power "
            "(NVIDIA).",
        ),
        Processor(
            "l4",
            "NVIDIA L4 (fp16 tensor)",
            "edge",
            peak_flops=121e12,
            memory_bw=300e9,
            memory_bytes=24e9,
            active_w=72.0,
            weight_bits=16,
            act_bits=16,
            efficiency=GPU_EFFICIENCY,
            note="121 TFLOPS fp16 dense (242 with sparsity), 300 GB/s, 24 GB, 72 W (NVIDIA "
            "datasheet): a MEC card at the RAN.",
        ),
        Processor(
            "a100",
            "NVIDIA A100 40 GB SXM (fp16 tensor)",
            "cloud",
            peak_flops=312e12,
            memory_bw=1555e9,
            memory_bytes=40e9,
            active_w=400.0,
            weight_bits=16,
            act_bits=16,
            efficiency=GPU_EFFICIENCY,
            note="312 TFLOPS fp16 dense, 1,555 GB/s, 400 W (NVIDIA datasheet).",
        ),
        Processor(
            "h100",
            "NVIDIA H100 SXM (fp16 tensor)",
            "cloud",
            peak_flops=989e12,
            memory_bw=3350e9,
            memory_bytes=80e9,
            active_w=700.0,
            weight_bits=16,
            act_bits=16,
            efficiency=GPU_EFFICIENCY,
            note="989 TFLOPS fp16 dense, 3.35 TB/s, 80 GB, 700 W (NVIDIA datasheet).",
        ),
    )
}
A100_TP_SCALING = 0.82
"""Compute scaling of 4 A100s in tensor parallel on a prefill (calibrated: 154 ms, 70B)."""
PROCESSORS["a100x4"] = PROCESSORS["a100"].group(4, A100_TP_SCALING)
"""The processor classes, by name."""

DEFAULT_TIERS: tuple[str, str, str] = ("sd8g3-npu", "l4", "a100")
"""Processors of terminal, RAN edge and cloud when none are named."""


def processor(name: str) -> Processor:
    """The processor class ``name``.

    Raises:
        KeyError: unknown name (the message lists the known ones).
    """
    try:
        return PROCESSORS[name]
    except KeyError:
        raise KeyError(f"unknown processor {name!r}: use one of {', '.join(PROCESSORS)}") from None


@dataclass(frozen=True)
class BlockCost:
    """Time and energy of each block of a model on one processor, for one request."""

    prefill_s: FloatArray
    """Prefill (or only) pass, per block."""
    step_s: FloatArray
    """One decode step, per block (0 outside the loop)."""
    total_s: FloatArray
    """Prefill plus ``decode_steps`` steps."""
    energy_j: FloatArray
    weight_bytes: float
    """Weights at the processor's precision (memory it must hold for the whole model)."""
    extra: dict[str, float] = field(default_factory=dict)


def block_costs(
    profile: ModelProfile, proc: Processor, decode_steps: int | None = None
) -> BlockCost:
    """Roofline time and energy of every block of ``profile`` on ``proc`` for one request."""
    steps = profile.decode_steps if decode_steps is None else decode_steps
    eff = np.array([proc.efficiency[k] for k in profile.kinds])
    is_embedding = np.array([k == "embedding" for k in profile.kinds])
    w_scale = proc.weight_bits / 32.0
    a_scale = proc.act_bits / 32.0
    bandwidth = proc.memory_bw * proc.memory_efficiency
    weights = np.where(is_embedding, profile.out_bytes * a_scale, profile.param_bytes * w_scale)
    moved = weights + profile.out_bytes * a_scale
    prefill = np.maximum(profile.flops / (proc.peak_flops * eff), moved / bandwidth)
    context = profile.table.decode_context
    step_weights = np.where(
        is_embedding, profile.decode_out_bytes * a_scale, profile.param_bytes * w_scale
    )
    step_moved = (
        step_weights
        + profile.decode_out_bytes * a_scale
        + profile.kv_bytes_per_token * context * a_scale
    )
    step = np.where(
        profile.loop,
        np.maximum(profile.decode_flops / (proc.peak_flops * eff), step_moved / bandwidth),
        0.0,
    )
    total = prefill + steps * step
    return BlockCost(
        prefill_s=prefill,
        step_s=step,
        total_s=total,
        energy_j=proc.active_w * total,
        weight_bytes=float(profile.param_bytes.sum() * w_scale),
    )


def ttft_s(profile: ModelProfile, proc: Processor) -> float:
    """Time to first token of a decoder on one processor: its whole prefill pass."""
    return float(block_costs(profile, proc).prefill_s.sum())


def tpot_s(profile: ModelProfile, proc: Processor) -> float:
    """Time per output token after the first: one decode step of every loop block."""
    return float(block_costs(profile, proc).step_s.sum())
