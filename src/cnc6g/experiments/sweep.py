"""Sweep policies over offered load (the case study of seed 002, Figs. 4 and 5)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnc6g.experiments.backends import Backend, Job, make_backend
from cnc6g.experiments.runner import run_policy
from cnc6g.model import DEFAULT_LOADS, Scenario
from cnc6g.policies import BUILTIN, Policy, make_policy
from cnc6g.policies.opt import SlotInputs, lower_bound
from cnc6g.twin import System, Twin, compile_scenario, requests_for_load


def window_lower_bound(system: System, slots: int, window: int, seed: int) -> float:
    """Mean over the last ``window`` of ``slots`` slots of a per-slot lower bound, J per slot.

    The twin draws the same demand and channel for a seed whatever the policy does, so one bound
    serves every policy: the LP relaxation of the optimistic slot model (see
    :func:`cnc6g.policies.opt.lower_bound`) with every hostable instance counted as already
    running, so that no cold start is charged.
    """
    twin = Twin(system, seed=seed)
    idle = np.zeros((1, system.n_services, system.n_nodes), dtype=bool)
    empty = np.zeros((1, system.n_origins, system.n_services, system.n_candidates))
    bounds = []
    for t in range(slots):
        if t >= slots - window:
            inputs = SlotInputs(
                twin.demand[0].astype(float),
                twin.uplink_mbps[0],
                twin.downlink_mbps[0],
                system.can_host,
            )
            bounds.append(lower_bound(system, inputs))
        twin.step_arrays(idle, empty, clean=False)
    return float(np.mean(bounds))


@dataclass(frozen=True)
class PolicySpec:
    """A policy by name and constructor options: picklable, so it is built where its job runs.

    Attributes:
        name: a built-in short name or ``package.module:Class`` (see :func:`make_policy`).
        options: keyword arguments of a built-in policy's constructor, as ``(name, value)`` pairs.
    """

    name: str
    options: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, name: str, **options: Any) -> PolicySpec:
        """The spec of policy ``name`` built with ``options``."""
        return cls(name, tuple(sorted(options.items())))

    def build(self) -> Policy:
        """A fresh policy.

        Raises:
            ValueError: the name is unknown, or options are given for a policy that is not built in.
        """
        if not self.options:
            return make_policy(self.name)
        if self.name not in BUILTIN:
            raise ValueError(f"options are for built-in policies only, not {self.name!r}")
        return BUILTIN[self.name](**dict(self.options))


PolicyLike = str | PolicySpec | Callable[[], Policy]
"""What names a policy in a sweep: a spec, its name, or a picklable zero-argument factory."""


def build_policy(policy: PolicyLike) -> Policy:
    """A fresh policy from a name, a :class:`PolicySpec` or a factory."""
    if isinstance(policy, str):
        return make_policy(policy)
    if isinstance(policy, PolicySpec):
        return policy.build()
    return policy()


def run_job(
    scenario: Scenario,
    load: float,
    seed: int,
    policy: PolicyLike,
    slots: int,
    window: int,
    on_slot: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """One run of a sweep: the summary row of ``policy`` on ``scenario`` (already at ``load``).

    The policy is built here, so a learning policy trains (or loads its checkpoint) inside the
    job, wherever the job runs.

    Returns:
        :meth:`RunResult.summary` over the last ``window`` slots with ``load`` and the mean
        requests per slot that the load maps to.
    """
    system = compile_scenario(scenario)
    result = run_policy(build_policy(policy), system, slots, seed=seed, on_slot=on_slot)
    row = result.summary(window)
    row["load"] = load
    row["requests_mean"] = round(requests_for_load(system, load), 1)
    return row


def bound_job(scenario: Scenario, seed: int, slots: int, window: int) -> float:
    """The LP lower bound of one load and seed of a sweep, J per slot.

    See :func:`window_lower_bound`; ``scenario`` is already at the load.
    """
    return window_lower_bound(compile_scenario(scenario), slots, window, seed)


def compare(
    scenario: Scenario,
    policies: Sequence[PolicyLike],
    loads: Sequence[float] = DEFAULT_LOADS,
    slots: int = 200,
    window: int = 50,
    seeds: Sequence[int] = (0,),
    on_slot: Callable[[int], None] | None = None,
    bound: bool = True,
    backend: str | Backend = "local",
) -> list[dict[str, Any]]:
    """Run every policy at every load and seed; one summary row per run.

    Each row is :meth:`RunResult.summary` over the last ``window`` slots plus the load, the mean
    requests per slot the load maps to and, with ``bound``, ``lp_bound_j_per_slot`` (see
    :func:`window_lower_bound`) and the policy's objective relative to it.

    The sweep is a list of independent jobs (:func:`run_job` per load, policy and seed,
    :func:`bound_job` per load and seed) handed to ``backend``; rows come back in the same order
    and with the same values whatever the backend, except wall-clock timings (``*_ms_*``).

    Args:
        scenario: the scenario; its workload is set to each load in turn.
        policies: the policies, by name, :class:`PolicySpec` or picklable factory.
        loads: offered loads.
        slots: slots per run.
        window: the last slots each summary covers.
        seeds: seeds of every (load, policy).
        on_slot: called once per simulated slot (progress bars); with Ray, a run's slots are
            reported together when it finishes.
        bound: add the LP lower bound columns.
        backend: ``"local"``, ``"ray"`` (a local Ray instance for this call) or a
            :class:`Backend`, whose start and close are then the caller's.
    """
    if window > slots:
        raise ValueError(f"window ({window}) must not exceed slots ({slots})")
    jobs: list[Job] = []
    keys: list[tuple[str, float, int]] = []
    for load in loads:
        at_load = scenario.at_load(load)
        if bound:
            for seed in seeds:
                args = {"scenario": at_load, "seed": seed, "slots": slots, "window": window}
                jobs.append(Job(bound_job, args))
                keys.append(("bound", load, seed))
        for spec in policies:
            for seed in seeds:
                args = {"scenario": at_load, "load": load, "seed": seed, "policy": spec}
                args.update(slots=slots, window=window)
                jobs.append(Job(run_job, args, slots=slots))
                keys.append(("run", load, seed))
    if isinstance(backend, str):
        with make_backend(backend) as runner:
            results = runner.run(jobs, on_slot)
    else:
        results = backend.run(jobs, on_slot)
    bounds = {
        (load, seed): r
        for (kind, load, seed), r in zip(keys, results, strict=True)
        if kind == "bound"
    }
    rows: list[dict[str, Any]] = []
    for (kind, load, seed), row in zip(keys, results, strict=True):
        if kind != "run":
            continue
        if bound:
            row["lp_bound_j_per_slot"] = bounds[load, seed]
            row["objective_over_bound"] = row["objective_j_per_slot"] / bounds[load, seed]
        rows.append(row)
    return rows
