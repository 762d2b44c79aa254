"""Per-block model profiles: the shipped tables, their validation, and the arrays solvers use.

A table (``cnc6g/ai/profiles/NAME.json``, written by ``cnc6g profile``) lists a model's blocks in
a topological order, each with its kind, the blocks it reads, its FLOPs, parameters, output
bytes and, for the blocks of an autoregressive loop, the FLOPs and output bytes of one decode
step and the key/value cache bytes per token. Bytes are those of float32 tensors, as profiled;
the processors scale them to the precision they serve (:mod:`cnc6g.ai.processors`).

This module is the only one in :mod:`cnc6g.ai` that reads files, and only the shipped tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

Kind = Literal["conv", "depthwise", "transformer", "decoder", "linear", "embedding", "elementwise"]
KINDS: tuple[Kind, ...] = (
    "conv",
    "depthwise",
    "transformer",
    "decoder",
    "linear",
    "embedding",
    "elementwise",
)
"""Block kinds; a processor's efficiency is given per kind."""

INPUT = "input"
"""Name of the model's input among a block's inputs."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class BlockRow(_Strict):
    """One block of a table."""

    name: str = Field(min_length=1)
    kind: Kind
    inputs: list[str] = Field(description="blocks whose outputs it reads; 'input': the model's")
    loop: bool = Field(description="runs once per decode step (part of an autoregressive loop)")
    flops: int = Field(ge=0, description="FLOPs of the prefill (or the only) pass")
    decode_flops: int = Field(ge=0, description="FLOPs of one decode step")
    params: int = Field(ge=0, description="parameters first used by this block")
    param_bytes: int = Field(ge=0, description="float32 bytes of all parameters it reads")
    out_bytes: int = Field(ge=0, description="float32 bytes of its output in the prefill pass")
    decode_out_bytes: int = Field(ge=0, description="float32 bytes of its output per step")
    kv_bytes_per_token: int = Field(ge=0, description="float32 key/value cache bytes per token")


class ProfileTable(_Strict):
    """A model's table as shipped (see :mod:`cnc6g.ai.profiler` for how it is made)."""

    format: int = Field(ge=1, le=1)
    name: str
    title: str
    family: Literal["cnn", "vit", "asr", "tts", "llm"]
    source: str
    input: str
    input_bytes: int = Field(gt=0)
    result_bytes: int = Field(gt=0)
    dtype: Literal["float32"]
    prompt_tokens: int = Field(ge=0)
    decode_steps: int = Field(ge=0)
    decode_context: int = Field(ge=0)
    config: dict[str, Any]
    published: dict[str, float]
    generated_by: dict[str, str]
    totals: dict[str, int]
    blocks: list[BlockRow] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> ProfileTable:
        seen = {INPUT}
        for b in self.blocks:
            missing = [i for i in b.inputs if i not in seen]
            if missing:
                raise ValueError(f"block {b.name} reads {missing} before they are made")
            if b.name in seen:
                raise ValueError(f"block {b.name} appears twice")
            seen.add(b.name)
            if not b.loop and (b.decode_flops or b.decode_out_bytes):
                raise ValueError(f"block {b.name} has decode-step figures but is not in the loop")
        loops = [i for i, b in enumerate(self.blocks) if b.loop]
        if loops and loops != list(range(loops[0], loops[-1] + 1)):
            raise ValueError("the blocks of the autoregressive loop must be contiguous")
        if loops and self.decode_steps == 0:
            raise ValueError("a model with a decode loop needs decode_steps > 0")
        return self


@dataclass(frozen=True)
class ModelProfile:
    """A table as arrays over its ``n`` blocks (the form the solvers use).

    ``live_bytes[k]`` (``k = 0..n``) is what crosses a cut placed before block ``k`` (``k = n``:
    nothing, the result returns separately): the float32 outputs of blocks before ``k`` that a
    block at or after ``k`` reads; ``input_live[k]`` tells whether the raw input crosses too.
    ``live_step_bytes[k]`` is the same per decode step, and ``in_loop[k]`` tells whether the cut
    splits the autoregressive loop (then every decode step crosses it and the generated token
    comes back).
    """

    table: ProfileTable
    names: tuple[str, ...]
    kinds: tuple[Kind, ...]
    flops: FloatArray
    decode_flops: FloatArray
    params: FloatArray
    param_bytes: FloatArray
    out_bytes: FloatArray
    decode_out_bytes: FloatArray
    kv_bytes_per_token: FloatArray
    loop: BoolArray
    live_bytes: FloatArray
    input_live: BoolArray
    live_step_bytes: FloatArray
    in_loop: BoolArray
    edges: tuple[tuple[int, int], ...]
    """(producer, consumer) block indices; producer -1 is the model's input."""

    @property
    def name(self) -> str:
        """The model's name."""
        return self.table.name

    @property
    def n(self) -> int:
        """Number of blocks."""
        return len(self.names)

    @property
    def decode_steps(self) -> int:
        """Decode steps of one request (0: one pass)."""
        return self.table.decode_steps

    @property
    def input_bytes(self) -> float:
        """Bytes of the raw input on the terminal."""
        return float(self.table.input_bytes)

    @property
    def result_bytes(self) -> float:
        """Bytes that return to the terminal."""
        return float(self.table.result_bytes)

    @property
    def is_chain(self) -> bool:
        """Every block reads only the block before it."""
        return all(v == u + 1 for u, v in self.edges)

    def request_flops(self) -> float:
        """FLOPs of one request: the prefill pass plus every decode step."""
        return float(self.flops.sum() + self.decode_steps * self.decode_flops.sum())


def from_table(table: ProfileTable) -> ModelProfile:
    """The arrays of a validated table."""
    index = {b.name: i for i, b in enumerate(table.blocks)}
    index[INPUT] = -1
    n = len(table.blocks)
    edges = tuple((index[src], i) for i, b in enumerate(table.blocks) for src in b.inputs)

    def col(attr: str) -> FloatArray:
        return np.array([float(getattr(b, attr)) for b in table.blocks], dtype=np.float64)

    out = col("out_bytes")
    step_out = col("decode_out_bytes")
    last_use = np.full(n + 1, -1, dtype=np.int64)  # producer index + 1 -> last consumer
    for u, v in edges:
        last_use[u + 1] = max(last_use[u + 1], v)
    live = np.zeros(n + 1)
    live_step = np.zeros(n + 1)
    input_live = last_use[0] >= np.arange(n + 1)
    for k in range(n + 1):
        # Blocks before the cut read at or after it.
        for u in range(k):
            if last_use[u + 1] >= k:
                live[k] += out[u]
                live_step[k] += step_out[u]
    loop = np.array([b.loop for b in table.blocks], dtype=np.bool_)
    in_loop = np.zeros(n + 1, dtype=np.bool_)
    if loop.any():
        first, last = int(np.argmax(loop)), int(n - 1 - np.argmax(loop[::-1]))
        in_loop[first + 1 : last + 1] = True
    return ModelProfile(
        table=table,
        names=tuple(b.name for b in table.blocks),
        kinds=tuple(b.kind for b in table.blocks),
        flops=col("flops"),
        decode_flops=col("decode_flops"),
        params=col("params"),
        param_bytes=col("param_bytes"),
        out_bytes=out,
        decode_out_bytes=step_out,
        kv_bytes_per_token=col("kv_bytes_per_token"),
        loop=loop,
        live_bytes=live,
        input_live=input_live,
        live_step_bytes=live_step,
        in_loop=in_loop,
        edges=edges,
    )


def _folder() -> Any:
    return resources.files("cnc6g.ai").joinpath("profiles")


def profile_names() -> list[str]:
    """Names of the shipped profiles, sorted."""
    return sorted(
        entry.name.removesuffix(".json")
        for entry in _folder().iterdir()
        if entry.name.endswith(".json")
    )


def parse_table(text: str) -> ProfileTable:
    """A table from its JSON text (validated)."""
    return ProfileTable.model_validate(json.loads(text), strict=False)


@cache
def load_table(name: str) -> ProfileTable:
    """The shipped table of model ``name``.

    Raises:
        KeyError: no shipped profile of that name (the message lists them).
    """
    if name not in profile_names():
        raise KeyError(f"unknown model {name!r}: use one of {', '.join(profile_names())}")
    return parse_table(_folder().joinpath(f"{name}.json").read_text())


@cache
def load_profile(name: str) -> ModelProfile:
    """The shipped profile of model ``name`` as arrays (see :func:`load_table`)."""
    return from_table(load_table(name))
