"""Sweep policies over offered load (the case study of seed 002, Figs. 4 and 5)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cnc6g.experiments.backends import Backend, Job, JobError, make_backend
from cnc6g.experiments.runner import RunSummary, run_policy
from cnc6g.model import DEFAULT_LOADS, Scenario
from cnc6g.orchestration import make_policy
from cnc6g.policies import Policy
from cnc6g.policies.opt import SlotInputs, lower_bound
from cnc6g.policies.opt.decompose import regional_lower_bound
from cnc6g.twin import System, Twin, compile_scenario, requests_for_load

REGIONAL_BOUND_ORIGINS = 200
"""Systems with more origins take the per-slot bound by region (the LP takes too long)."""


def window_lower_bound(system: System, slots: int, window: int, seed: int) -> float:
    """Mean over the last ``window`` of ``slots`` slots of a per-slot lower bound, J per slot.

    The twin draws the same demand and channel for a seed whatever the policy does, so one bound
    serves every policy: the LP relaxation of the optimistic slot model (see
    :func:`cnc6g.policies.opt.lower_bound`) with every hostable instance counted as already
    running, so that no cold start is charged. On systems of more than
    :data:`REGIONAL_BOUND_ORIGINS` origins the LP is bounded by region instead
    (:func:`cnc6g.policies.opt.decompose.regional_lower_bound`: lower, still a bound).
    """
    bound = lower_bound if system.n_origins <= REGIONAL_BOUND_ORIGINS else regional_lower_bound
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
            bounds.append(bound(system, inputs))
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
            ValueError: the name is unknown, or an option is not the policy's.
        """
        return make_policy(self.name, **dict(self.options))


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
) -> RunSummary:
    """One run of a sweep: the summary of ``policy`` on ``scenario`` (already at ``load``).

    The policy is built here, so a learning policy trains (or loads its checkpoint) inside the
    job, wherever the job runs.

    Returns:
        :meth:`RunResult.summary` over the last ``window`` slots with ``load`` and the mean
        requests per slot that the load maps to.
    """
    system = compile_scenario(scenario)
    result = run_policy(build_policy(policy), system, slots, seed=seed, on_slot=on_slot)
    return replace(
        result.summary(window),
        load=load,
        requests_mean=round(requests_for_load(system, load), 1),
    )


def bound_job(scenario: Scenario, seed: int, slots: int, window: int) -> float:
    """The LP lower bound of one load and seed of a sweep, J per slot.

    See :func:`window_lower_bound`; ``scenario`` is already at the load.
    """
    return window_lower_bound(compile_scenario(scenario), slots, window, seed)


@dataclass(frozen=True)
class FailedRun:
    """A run of a sweep that raised: which one, and why.

    Attributes:
        policy: the policy's label (its spec).
        load: the offered load.
        seed: the seed.
        error: the exception's type and message.
    """

    policy: str
    load: float
    seed: int
    error: str

    def as_row(self) -> dict[str, Any]:
        """The failure as a row of the results table."""
        return {"policy": self.policy, "load": self.load, "seed": self.seed, "error": self.error}


SweepRow = RunSummary | FailedRun
"""A row of a sweep: a run's summary, or the record of a run that failed."""


def policy_label(policy: PolicyLike) -> str:
    """What names a policy in a sweep's keys: its spec name, or the factory's name."""
    if isinstance(policy, str):
        return policy
    if isinstance(policy, PolicySpec):
        return policy.name
    return str(getattr(policy, "__name__", repr(policy)))


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
    *,
    done: Mapping[tuple[str, float, int], RunSummary] | None = None,
    on_row: Callable[[SweepRow], None] | None = None,
    keep_going: bool = False,
) -> list[SweepRow]:
    """Run every policy at every load and seed; one summary per run.

    Each is :meth:`RunResult.summary` over the last ``window`` slots with the load, the mean
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
        done: runs finished before (a resumed sweep), by ``(policy_label, load, seed)``: they
            are not run again and come back as they are.
        on_row: called with each row as soon as it is complete (its run and, with ``bound``,
            its bound are done), so that a caller can keep finished work.
        keep_going: a run that raises becomes a :class:`FailedRun` row and the others go on
            (else its error is raised).

    Raises:
        ValueError: ``window`` exceeds ``slots``, or loads, seeds or policies repeat.
    """
    if window > slots:
        raise ValueError(f"window ({window}) must not exceed slots ({slots})")
    labels = [policy_label(p) for p in policies]
    for what, values in (("loads", list(loads)), ("seeds", list(seeds)), ("policies", labels)):
        repeated = sorted({str(v) for v in values if values.count(v) > 1})
        if repeated:
            raise ValueError(f"{what} repeat: {', '.join(repeated)}")
    done = dict(done or {})
    order = [(label, load, seed) for load in loads for label in labels for seed in seeds]
    jobs: list[Job] = []
    keys: list[tuple[str, str, float, int]] = []
    bounds: dict[tuple[float, int], float] = {}
    for load in loads:
        at_load = scenario.at_load(load)
        for seed in seeds:
            known = [r for (_, ld, sd), r in done.items() if (ld, sd) == (load, seed)]
            lp = next((r.lp_bound_j_per_slot for r in known if r.lp_bound_j_per_slot), None)
            if lp is not None:
                bounds[load, seed] = lp
            elif bound and any((label, load, seed) not in done for label in labels):
                args = {"scenario": at_load, "seed": seed, "slots": slots, "window": window}
                jobs.append(Job(bound_job, args))
                keys.append(("bound", "", load, seed))
        for spec, label in zip(policies, labels, strict=True):
            for seed in seeds:
                if (label, load, seed) in done:
                    continue
                args = {"scenario": at_load, "load": load, "seed": seed, "policy": spec}
                args.update(slots=slots, window=window)
                jobs.append(Job(run_job, args, slots=slots))
                keys.append(("run", label, load, seed))
    finished: dict[tuple[str, float, int], SweepRow] = {}
    waiting: dict[tuple[str, float, int], RunSummary] = {}

    def complete(key: tuple[str, float, int], row: RunSummary) -> None:
        lp = bounds.get(key[1:])
        if bound and lp is None:
            waiting[key] = row
            return
        if bound and lp is not None and lp == lp:  # NaN: the bound job failed
            row = replace(
                row, lp_bound_j_per_slot=lp, objective_over_bound=row.objective_j_per_slot / lp
            )
        finished[key] = row
        if on_row is not None:
            on_row(row)

    def on_done(i: int, result: Any) -> None:
        kind, label, load, seed = keys[i]
        if kind == "bound":
            if isinstance(result, JobError):  # runs at this load and seed go without a bound
                bounds[load, seed] = float("nan")
            else:
                bounds[load, seed] = float(result)
            for key in [k for k in waiting if k[1:] == (load, seed)]:
                complete(key, waiting.pop(key))
        elif isinstance(result, JobError):
            failure = FailedRun(label, load, seed, result.error)
            finished[label, load, seed] = failure
            if on_row is not None:
                on_row(failure)
        else:
            complete((label, load, seed), result)

    if jobs:
        if isinstance(backend, str):
            with make_backend(backend) as runner:
                runner.run(jobs, on_slot, on_done, keep_going)
        else:
            backend.run(jobs, on_slot, on_done, keep_going)
    rows: list[SweepRow] = []
    for key in order:
        if key in done:
            rows.append(done[key])
        else:
            rows.append(finished[key])
    return rows
