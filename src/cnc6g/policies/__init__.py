"""Orchestration policies behind one contract, and a registry of the built-in ones."""

from __future__ import annotations

import importlib

from cnc6g.policies.base import Policy, feasibility_problems, usable_candidates
from cnc6g.policies.greedy import GreedyPolicy
from cnc6g.policies.optimal import OptimalPolicy
from cnc6g.policies.random import RandomPolicy

BUILTIN: dict[str, type[Policy]] = {"rand": RandomPolicy, "grd": GreedyPolicy, "opt": OptimalPolicy}
"""Built-in policies by their short name."""


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
