"""Provisioning from a learned resource knowledge base against fixed SLA templates, in the twin.

Every slot, GRD places instances and routes the demand; a *provisioner* then gives each instance
a hard CPU quota (the twin's ``cpu_share``: each instance is its own M/M/1 queue) sized from the
work per request it believes the service needs, ``w``:

    quota = w * (arrivals/s + ln(1 / (1 - p)) / (h * deadline))

the M/M/1 rule that keeps a task's compute within ``h`` of its deadline with probability ``p``
when ``w`` is right (``p`` = :data:`TARGET`, ``h`` = :data:`COMPUTE_SHARE`). A node's quotas are
scaled down to its capacity when they exceed it.

The demand: each service's mean work per request varies from slot to slot (lognormal around its
mean, a coefficient of variation drawn per service from :data:`SPREAD`: requests differ, e.g. in
prompt length), and the most requested service's mean grows linearly by ``drift`` (50 %) over
the run. The twin runs each slot with the work drawn for it; the policy is not told.

- A **fixed template** believes ``w = level x`` the service's nominal work (the scenario's), for
  every service and every slot (:data:`LEVELS`).
- The **knowledge base** (:class:`~cnc6g.policies.knowledge.KnowledgeBase`) believes the upper
  quantile of what it learned, the nominal work until a service has been seen; after each slot
  it observes, for every service that served tasks, the work per request the twin consumed.
- The **oracle** knows each slot's work (a reference, not a policy).

Reserved capacity is the sum of the quotas; used, the compute the twin admitted; waste, their
difference. A request misses its deadline when it is dropped or served late.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from cnc6g.model import Scenario
from cnc6g.model.decision import Decision
from cnc6g.orchestration import make_policy
from cnc6g.policies.knowledge import KnowledgeBase
from cnc6g.twin import Twin, compile_scenario
from cnc6g.twin.system import FloatArray, System

TARGET = 0.8
"""Probability a task's compute should meet its share of the deadline when ``w`` is right."""

COMPUTE_SHARE = 0.5
"""Share of a service's deadline its compute may take (the rest is transfers and margin)."""

LEVELS = (0.8, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0)
"""Fixed templates: multiples of the nominal work per request (SLA levels)."""

KB_QUANTILES = (0.5, 0.75, 0.95)
"""Quantiles of the extra knowledge-base runs (the main one uses its base's, 0.9 by default)."""

DEMO_LOAD = 0.2
"""Offered load of the demo (the drifting service's work grows on top of it)."""

SPREAD = (0.1, 0.5)
"""Range of the services' coefficients of variation of the work per request from slot to slot."""


@dataclass(frozen=True)
class _Work:
    """A twin event that sets every service's work per task (the drift)."""

    work: FloatArray

    def apply(self, system: System) -> System:
        return replace(system, work=self.work)


@dataclass(frozen=True)
class ProvisionerRun:
    """One provisioner over the run: totals and per-slot series."""

    name: str
    reserved: float
    """Reserved compute, gigacycle/s summed over slots."""
    used: float
    offered: float
    missed: float
    waste_series: tuple[float, ...]
    """Per slot: share of the reserved compute left unused."""
    miss_series: tuple[float, ...]
    """Per slot: share of the requests dropped or late."""
    belief_series: tuple[float, ...]
    """Per slot: believed work of the most popular service over its nominal work."""

    @property
    def waste_share(self) -> float:
        """Share of the reserved compute left unused over the run."""
        return (self.reserved - self.used) / self.reserved if self.reserved > 0 else 0.0

    @property
    def miss_rate(self) -> float:
        """Share of the requests dropped or served late over the run."""
        return self.missed / self.offered if self.offered > 0 else 0.0


@dataclass(frozen=True)
class DemoResult:
    """Every provisioner's run, the true drift, and the knowledge base learned."""

    runs: tuple[ProvisionerRun, ...]
    true_series: tuple[float, ...]
    """Per slot: the drifting service's mean work over its nominal work."""
    base: KnowledgeBase
    n_templates: int
    """The first ``n_templates`` runs are the fixed templates."""

    def run(self, name: str) -> ProvisionerRun:
        """The run of provisioner ``name``."""
        return next(r for r in self.runs if r.name == name)

    @property
    def templates(self) -> tuple[ProvisionerRun, ...]:
        """The fixed templates' runs."""
        return self.runs[: self.n_templates]

    def cheapest_template_missing_at_most(self, run: ProvisionerRun) -> ProvisionerRun | None:
        """The template reserving least among those missing no more deadlines than ``run``."""
        ok = [r for r in self.templates if r.miss_rate <= run.miss_rate]
        return min(ok, key=lambda r: r.reserved) if ok else None

    def best_template_reserving_at_most(self, run: ProvisionerRun) -> ProvisionerRun | None:
        """The template missing fewest deadlines among those reserving no more than ``run``."""
        ok = [r for r in self.templates if r.reserved <= run.reserved]
        return min(ok, key=lambda r: r.miss_rate) if ok else None


def template_name(level: float) -> str:
    """Name of the fixed template at ``level``."""
    return f"template x{level:g}"


KB_NAME = "knowledge base"


def kb_name(q: float) -> str:
    """Name of a knowledge base provisioning at quantile ``q``."""
    return f"knowledge base q{q:g}"


KB_STATIC_NAME = "knowledge base, no forgetting"
ORACLE_NAME = "oracle (true work each slot)"


def _arrivals(system: System, demand: np.ndarray, routing: np.ndarray) -> FloatArray:
    """Expected tasks/s of each instance, ``[S, N]``, from the demand and the routing."""
    flows = demand[:, :, None] * routing  # [O, S, K]
    out = np.zeros((system.n_services, system.n_nodes))
    cand = np.where(system.candidate_valid, system.candidates, 0)
    for o in range(system.n_origins):
        for k in range(system.n_candidates):
            if system.candidate_valid[o, k]:
                out[:, cand[o, k]] += flows[o, :, k]
    rate: FloatArray = out / system.slot_s
    return rate


def _quota_share(
    system: System, believed: FloatArray, rate: FloatArray, dep: np.ndarray
) -> FloatArray:
    """CPU share of each instance from the believed work per request ``[S]``."""
    margin = math.log(1.0 / (1.0 - TARGET)) / (COMPUTE_SHARE * system.deadline_s)  # [S]
    quota = believed[:, None] * (rate + margin[:, None]) * dep
    share = quota / system.capacity[None, :]
    total = share.sum(axis=0)
    scale = np.where(total > 1.0, 1.0 / np.maximum(total, 1e-12), 1.0)
    out: FloatArray = share * scale[None, :]
    return out


def run_provisioner(
    scenario: Scenario,
    name: str,
    slots: int,
    drift: float,
    seed: int,
    level: float | None = None,
    base: KnowledgeBase | None = None,
    oracle: float | None = None,
) -> ProvisionerRun:
    """One run: a fixed template at ``level`` or, with ``base``, the knowledge base (updated)."""
    system = compile_scenario(scenario)
    nominal = system.work.copy()
    twin = Twin(system, seed=seed)
    policy = make_policy("grd")
    policy.reset(system, seed)
    names = system.service_names
    top = int(np.argmax(twin.demand[0].sum(axis=0)))
    reserved = used = offered = missed = 0.0
    waste_s: list[float] = []
    miss_s: list[float] = []
    belief_s: list[float] = []
    cv = np.random.default_rng(seed + 2).uniform(*SPREAD, size=system.n_services)
    sigma = np.sqrt(np.log1p(cv**2))
    noise = np.random.default_rng(seed + 3)
    for t in range(slots):
        factor = np.ones(system.n_services)
        factor[top] = 1.0 + drift * t / max(slots - 1, 1)
        draw = noise.lognormal(-(sigma**2) / 2.0, sigma)
        true_work = nominal * factor * (draw if oracle is None else 1.0)
        twin.apply(_Work(true_work))  # type: ignore[arg-type]
        obs = twin.observe()
        dec = policy.decide(obs)
        if oracle is not None:
            believed = true_work * oracle
        elif base is None:
            believed = nominal * (1.0 if level is None else level)
        else:
            believed = np.array(
                [
                    base.provision(names[s], "compute_gcycles") or float(nominal[s])
                    for s in range(system.n_services)
                ]
            )
        dep = np.asarray(dec.deployment, dtype=bool)
        routing = np.asarray(dec.routing, dtype=float)
        share = _quota_share(twin.system, believed, _arrivals(system, obs.demand, routing), dep)
        out = twin.step(Decision(deployment=dep, routing=routing, cpu_share=share))
        res = float((share * system.capacity).sum())
        use = float((out.utilisation[0] * system.capacity).sum())
        off = float(out.offered[0])
        miss = off - float(out.satisfied[0])
        reserved += res
        used += use
        offered += off
        missed += miss
        waste_s.append((res - use) / res if res > 0 else 0.0)
        miss_s.append(miss / off if off > 0 else 0.0)
        belief_s.append(float(believed[top] / nominal[top]))
        if base is not None:
            served = out.served_by_demand[0].sum(axis=0)  # [S]
            for s in np.flatnonzero(served > 0.0):
                base.observe(
                    names[s],
                    compute_gcycles=float(true_work[s]),
                    memory_gb=float(system.service_memory[s]),
                    bandwidth_mbit=float(system.input_mbit[s] + system.output_mbit[s]),
                )
    return ProvisionerRun(
        name=name,
        reserved=reserved,
        used=used,
        offered=offered,
        missed=missed,
        waste_series=tuple(waste_s),
        miss_series=tuple(miss_s),
        belief_series=tuple(belief_s),
    )


def knowledge_demo(
    scenario: Scenario,
    slots: int = 300,
    drift: float = 0.5,
    seed: int = 0,
    levels: Sequence[float] = LEVELS,
    base: KnowledgeBase | None = None,
    kb_quantiles: Sequence[float] = KB_QUANTILES,
) -> DemoResult:
    """Every fixed template, the knowledge base at several quantiles, and the oracle.

    ``base``: the knowledge base to learn into (a fresh one when None), updated in place and
    returned; its run is :data:`KB_NAME`. The other quantiles start from empty bases.
    """
    kb = base if base is not None else KnowledgeBase()
    runs = [
        run_provisioner(scenario, template_name(lv), slots, drift, seed, level=lv) for lv in levels
    ]
    for q in kb_quantiles:
        other = KnowledgeBase(quantile=q, forgetting=kb.forgetting)
        runs.append(run_provisioner(scenario, kb_name(q), slots, drift, seed, base=other))
    runs.append(run_provisioner(scenario, KB_NAME, slots, drift, seed, base=kb))
    static = KnowledgeBase(quantile=kb.quantile, forgetting=0.0)
    runs.append(run_provisioner(scenario, KB_STATIC_NAME, slots, drift, seed, base=static))
    runs.append(run_provisioner(scenario, ORACLE_NAME, slots, drift, seed, oracle=1.0))
    true = tuple(1.0 + drift * t / max(slots - 1, 1) for t in range(slots))
    return DemoResult(tuple(runs), true, kb, len(levels))


def demo_scenario(scenario: Scenario, offered_load: float = DEMO_LOAD) -> Scenario:
    """``scenario`` at ``offered_load`` (the demo's default: quotas leave room for margins)."""
    wl = scenario.workload.model_copy(update={"offered_load": offered_load})
    return scenario.model_copy(update={"workload": wl})


__all__ = [
    "COMPUTE_SHARE",
    "DEMO_LOAD",
    "KB_NAME",
    "KB_QUANTILES",
    "KB_STATIC_NAME",
    "LEVELS",
    "ORACLE_NAME",
    "SPREAD",
    "TARGET",
    "DemoResult",
    "ProvisionerRun",
    "demo_scenario",
    "kb_name",
    "knowledge_demo",
    "run_provisioner",
    "template_name",
]
