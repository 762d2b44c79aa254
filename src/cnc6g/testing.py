"""Conformance checks shipped for users: run them on your own policies and scenarios.

>>> from cnc6g.testing import check_policy
>>> from cnc6g.policies import GreedyPolicy
>>> from cnc6g.scenarios import load_scenario
>>> check_policy(GreedyPolicy, load_scenario("tiny"), slots=5)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

import numpy as np

from cnc6g.model import Scenario
from cnc6g.model.decision import Decision
from cnc6g.orchestration.loop import InfeasibleDecisionError, SlotLoop
from cnc6g.policies.base import Policy
from cnc6g.twin import System, Twin, compile_scenario

__all__ = ["PolicyCheckError", "check_policy", "check_scenario", "check_twin_determinism"]


class PolicyCheckError(AssertionError):
    """A policy failed conformance checks; ``problems`` lists them."""

    def __init__(self, name: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"policy {name} fails {len(problems)} check(s):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


def _snapshot(obj: object) -> dict[str, np.ndarray]:
    return {
        f.name: np.array(getattr(obj, f.name), copy=True)
        for f in fields(obj)  # type: ignore[arg-type]
        if isinstance(getattr(obj, f.name), np.ndarray)
    }


def _rollout(
    factory: Callable[[], Policy], system: System, slots: int, seed: int, problems: list[str]
) -> list[Decision]:
    """Decisions of a fresh policy over ``slots`` slots, stopping at the first infeasible one.

    What breaks the contract is added to ``problems``.
    """
    system_before = _snapshot(system)
    try:
        loop = SlotLoop(Twin(system, batch=1, seed=seed), factory(), seed, check=True)
    except Exception as err:
        problems.append(f"making or resetting the policy raised {type(err).__name__}: {err}")
        return []
    decisions = []
    for t in range(slots):
        obs = loop.observe()
        before = _snapshot(obs)
        try:
            record = loop.advance(obs)
        except InfeasibleDecisionError as err:
            problems.extend(f"slot {t}: infeasible decision: {p}" for p in err.problems)
            return decisions
        except ValueError as err:
            if "read-only" in str(err):
                problems.append(f"slot {t}: decide() tried to modify the observation ({err})")
            else:
                problems.append(f"slot {t}: the policy raised ValueError: {err}")
            return decisions
        except Exception as err:
            problems.append(f"slot {t}: the policy raised {type(err).__name__}: {err}")
            return decisions
        for name, arr in before.items():
            if not np.array_equal(arr, getattr(obs, name), equal_nan=arr.dtype.kind == "f"):
                problems.append(f"slot {t}: decide() changed observation.{name}")
        decisions.append(record.decision)
    for name, arr in system_before.items():
        if not np.array_equal(arr, getattr(system, name), equal_nan=arr.dtype.kind == "f"):
            problems.append(f"the policy changed system.{name}")
    return decisions


def _same_optional(x: np.ndarray | None, y: np.ndarray | None) -> bool:
    """Both absent, or both given and equal."""
    if x is None or y is None:
        return x is None and y is None
    return bool(np.array_equal(x, y))


def _same(a: list[Decision], b: list[Decision]) -> int | None:
    """First slot where two decision sequences differ, or None."""
    for t, (x, y) in enumerate(zip(a, b, strict=False)):
        if not (
            np.array_equal(x.deployment, y.deployment)
            and np.array_equal(x.routing, y.routing)
            and _same_optional(x.cpu_share, y.cpu_share)
            and _same_optional(x.paths, y.paths)
            and _same_optional(x.path_shares, y.path_shares)
        ):
            return t
    return None if len(a) == len(b) else min(len(a), len(b))


def check_policy(
    factory: Callable[[], Policy],
    scenario: Scenario | System,
    slots: int = 20,
    seed: int = 0,
) -> None:
    """Check a policy against the contract; raise :class:`PolicyCheckError` listing failures.

    Checks: every decision is a :class:`Decision` and feasible; the observation and the system
    are not modified; two fresh policies with the same seed decide identically; a policy reset
    with that seed again repeats its decisions (no state leaks across resets).

    Args:
        factory: makes a fresh policy (the class itself for policies without arguments).
        scenario: where to run it.
        slots: slots per rollout.
        seed: seed of the rollouts.
    """
    system = scenario if isinstance(scenario, System) else compile_scenario(scenario)
    problems: list[str] = []
    first = _rollout(factory, system, slots, seed, problems)
    if problems:
        raise PolicyCheckError(getattr(factory, "name", repr(factory)), problems)
    second = _rollout(factory, system, slots, seed, problems)
    t = _same(first, second)
    if t is not None:
        problems.append(f"two policies with seed {seed} decide differently from slot {t}")
    policy = factory()
    for _ in range(2):
        try:
            loop = SlotLoop(Twin(system, batch=1, seed=seed), policy, seed, check=False)
            again = [record.decision for record in loop.run(min(slots, 5))]
        except Exception as err:
            problems.append(f"a reset policy raised {type(err).__name__}: {err}")
            break
        t = _same(first[: len(again)], again)
        if t is not None:
            problems.append(f"after reset(seed={seed}) the policy decides differently (slot {t})")
            break
    if problems:
        raise PolicyCheckError(getattr(factory, "name", repr(factory)), problems)


def check_scenario(scenario: Scenario) -> list[str]:
    """Warnings about a valid scenario that may not be what its author meant."""
    system = compile_scenario(scenario)
    warnings = []
    for s in np.flatnonzero(~system.can_host.any(axis=1)):
        warnings.append(
            f"service {system.service_names[s]} fits on no node (tier, processor or memory): "
            "all its requests will be dropped"
        )
    unreachable = ~system.admissible.any(axis=2)
    for o, s in np.argwhere(unreachable & system.can_host.any(axis=1)[None, :]):
        warnings.append(
            f"origin {system.origin_names[o]} cannot reach any node that hosts "
            f"{system.service_names[s]}"
        )
    return warnings


def check_twin_determinism(
    system: System, decision: Decision, slots: int = 5, seed: int = 0
) -> None:
    """Two twins with the same seed give identical outcomes for the same decisions."""
    a, b = Twin(system, seed=seed), Twin(system, seed=seed)
    for t in range(slots):
        oa, ob = a.step(decision), b.step(decision)
        if not (
            np.array_equal(oa.flow_satisfied, ob.flow_satisfied)
            and np.array_equal(oa.energy_total, ob.energy_total)
        ):
            raise AssertionError(f"twin outcomes differ at slot {t} for seed {seed}")
