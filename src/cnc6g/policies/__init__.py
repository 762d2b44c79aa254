"""Orchestration policies behind one contract, and a registry of the built-in ones."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from cnc6g.policies.base import Policy, feasibility_problems, usable_candidates
from cnc6g.policies.greedy import GreedyPolicy
from cnc6g.policies.opt import OptimalPolicy
from cnc6g.policies.random import RandomPolicy


def _learned(mode: str) -> Callable[..., Policy]:
    """A factory of the learning orchestrator in ``mode`` (PyTorch is imported on first use)."""

    def build(**options: Any) -> Policy:
        from cnc6g.learning.policy import HMARLPolicy

        return HMARLPolicy(mode=mode, **options)

    build.__name__ = build.__qualname__ = f"hmarl_{mode}"
    return build


BUILTIN: dict[str, Callable[..., Policy]] = {
    "rand": RandomPolicy,
    "grd": GreedyPolicy,
    "opt": OptimalPolicy,
    "hmarl": _learned("hmarl"),
    "hmarl-central": _learned("central"),
    "hmarl-independent": _learned("independent"),
}
"""Built-in policies by their short name: constructors taking the policy's keyword options.

``hmarl`` is seed 002's hierarchical learning orchestrator with the checkpoint shipped for the
scenario; ``hmarl-central`` and ``hmarl-independent`` are its two ablations (see
:mod:`cnc6g.learning`)."""


def make_policy(spec: str) -> Policy:
    """A policy from a short name (see :data:`BUILTIN`) or an import path ``package.module:Class``.

    Raises:
        ValueError: the name is unknown or the import path does not give a Policy subclass.
    """
    if spec in BUILTIN:
        return BUILTIN[spec]()
    if ":" not in spec:
        raise ValueError(
            f"unknown policy {spec!r}: use one of {', '.join(BUILTIN)} or package.module:Class"
        )
    module_name, _, attr = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"cannot import policy {spec!r}: {err}") from None
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise ValueError(f"{spec!r} is not a subclass of cnc6g.policies.Policy")
    return cls()


__all__ = [
    "BUILTIN",
    "GreedyPolicy",
    "OptimalPolicy",
    "Policy",
    "RandomPolicy",
    "feasibility_problems",
    "make_policy",
    "usable_candidates",
]
