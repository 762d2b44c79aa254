"""Checkpoints of trained agents: save, load, and the ones shipped with the package.

A checkpoint is one ``torch.save`` file holding the learners' online networks (target networks
are restored as copies), the training config, the layout signature the networks fit, and what
produced it (scenario, seed, steps, wall time, the command). Replay buffers and optimiser
states are not kept: resuming starts them afresh, after a short warm-up.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from cnc6g.learning.trainer import TrainConfig
from cnc6g.policies.hmarl.hierarchy import Agents
from cnc6g.policies.hmarl.policy import TrainedAgents
from cnc6g.policies.hmarl.pooled import make_agents
from cnc6g.twin.system import System

FORMAT = 1

FAMILY = "family"
"""Shipped checkpoints trained on a scenario family are named ``family-<mode>.pt``: the
``hmarl`` one (pooled agents) serves every scenario that has no checkpoint of its own."""


def shipped_path(scenario: str, mode: str) -> Path:
    """Where the package keeps the checkpoint of ``mode`` trained on preset ``scenario``."""
    return Path(str(resources.files("cnc6g.learning") / "checkpoints" / f"{scenario}-{mode}.pt"))


def _slim(state: dict[str, Any]) -> dict[str, Any]:
    """Drop target networks (they are restored as copies of the online ones)."""
    return {
        name: {k: v for k, v in nets.items() if k not in ("target", "actor_t", "critic_t")}
        for name, nets in state.items()
    }


def save_checkpoint(
    path: str | Path,
    agents: Agents,
    config: TrainConfig,
    meta: dict[str, Any],
    state: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (a partial file never replaces a good one).

    ``state`` (default: the agents' own) is the networks to save, e.g. the best validated.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "format": FORMAT,
        "signature": agents.signature(),
        "config": config.to_dict(),
        "state": _slim(agents.state() if state is None else state),
        "meta": dict(meta),
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(data, tmp)
        os.chmod(tmp, 0o644)  # mkstemp's file is private; a checkpoint is for everyone to read
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw content of a checkpoint file.

    Raises:
        ValueError: the file is missing or is not a checkpoint of this format.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a corrupt or foreign file
        # Only torch's first line: its advice to load untrusted files unsafely is not passed on.
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if any(w in first.lower() for w in ("weights only", "weights_only", "trust")):
            first = "it holds objects other than tensors and plain data"
        elif len(first) > 160:
            first = type(err).__name__
        raise ValueError(
            f"checkpoint {path} cannot be read: it is not a checkpoint file of cnc6g ({first})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"checkpoint {path} is not a cnc6g checkpoint of format {FORMAT}")
    return data


def load_agents(system: System, path: str | Path) -> tuple[Agents, TrainConfig, dict[str, Any]]:
    """Agents for ``system`` with the checkpoint's networks, its config and its metadata.

    A checkpoint of the ``pooled`` architecture fits any system; a ``sized`` one only systems
    with the layout it was trained on.

    Raises:
        ValueError: the checkpoint does not fit ``system`` (other domains, nodes or services).
    """
    data = read_checkpoint(path)
    config = TrainConfig.from_dict(data["config"])
    agents = make_agents(system, config.mode, config.learner, config.seed, config.arch)
    want, got = agents.signature(), data["signature"]
    if want != got:
        diff = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
        raise ValueError(
            f"checkpoint {path} was trained for another system: "
            + ", ".join(f"{k} {a} != {b}" for k, (a, b) in diff.items())
        )
    state = data["state"]
    for nets in state.values():
        if "net" in nets and "target" not in nets:
            nets["target"] = nets["net"]
        if "actor" in nets and "actor_t" not in nets:
            nets["actor_t"], nets["critic_t"] = nets["actor"], nets["critic"]
    agents.load(state)
    return agents, config, dict(data["meta"])


@dataclass(frozen=True)
class FromCheckpoint:
    """An :class:`~cnc6g.policies.hmarl.policy.AgentSource` that loads a checkpoint.

    Attributes:
        path: the checkpoint file; ``None``: the one shipped for the system's scenario and the
            policy's mode (see :func:`shipped_path`) or, when none ships for the scenario, the
            one trained on the scenario family (``family-<mode>.pt``), which fits any system.
    """

    path: str | Path | None = None

    def resolve(self, scenario: str, mode: str) -> Path:
        """The file this source loads for preset ``scenario`` and ``mode``.

        Raises:
            ValueError: the file does not exist (none ships for the scenario, or a bad path).
        """
        if self.path is not None:
            path = Path(self.path)
            if not path.is_file():
                raise ValueError(f"checkpoint {path} does not exist")
            return path
        path = shipped_path(scenario, mode)
        if not path.is_file():
            path = shipped_path(FAMILY, mode)
        if not path.is_file():
            name = "hmarl" if mode == "hmarl" else f"hmarl-{mode}"
            raise ValueError(
                f"no {name} checkpoint ships for scenario {scenario!r}: train one with "
                f"`cnc6g train {name} --scenario ...` and pass it, or retrain"
            )
        return path

    def __call__(self, system: System, mode: str, seed: int | None) -> TrainedAgents:
        """The checkpoint's agents of ``mode`` for ``system`` (``seed`` is not used).

        Raises:
            ValueError: no such file, not a checkpoint, agents of another mode, or trained for
                another system.
        """
        del seed
        path = self.resolve(system.scenario.name, mode)
        agents, config, meta = load_agents(system, path)
        if config.mode != mode:
            raise ValueError(f"checkpoint {path} holds {config.mode} agents, not {mode}")
        return TrainedAgents(agents, config.rewards, meta)
