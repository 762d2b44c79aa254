"""The rewards HMARL's agents learn from (pure, batched over copies).

**Reward decomposition.** The global cost of a slot is the twin's objective, energy plus the
penalty for every unsatisfied task. Domain ``d`` is charged its nodes' energy (idle or sleep,
load-proportional, instances, cold starts) and the penalty for every task routed to its nodes
that was not satisfied (rejected by a node, late, or lost to a cold start), and is credited the
penalty for every task it satisfied: without the credit a domain would gain by pricing its load
away. What no domain owns, the radio and wired energy, the tasks the network or the
distributor rejected and the credits, is the remainder; domain costs and remainder add up to the
global cost exactly (:func:`decompose_cost`). Rewards are minus costs per request of the slot,
in units of the penalty.

Training and, online, the deployed policy credit each group of knobs with its **difference
reward** (Wolpert and Tumer, 2002): what it gained over the neutral knobs in the same slot, all
else equal, scored by :func:`learning_cost`, the slot's objective with what changing the
deployment costs spread over time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnc6g.policies.hmarl.executor import Execution, Knobs, execute
from cnc6g.policies.hmarl.features import layout
from cnc6g.policies.hmarl.hierarchy import Agents
from cnc6g.twin.chains import ChainOutcome
from cnc6g.twin.costs import REMOVAL_WEIGHT, node_energy, removal_cost
from cnc6g.twin.dynamics import SlotOutcome, evaluate_slot
from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System


@dataclass(frozen=True)
class RewardConfig:
    """How a slot's cost is charged to the knobs that made it.

    Attributes:
        amortise_slots: slots over which the difference rewards spread what starting an
            instance costs (see :func:`learning_cost`).
        removal_weight: share of an instance's restart cost the difference rewards charge
            for removing it (see :func:`learning_cost`).
    """

    amortise_slots: float = 10.0
    removal_weight: float = REMOVAL_WEIGHT

    def __post_init__(self) -> None:
        if self.amortise_slots < 1 or self.removal_weight < 0:
            raise ValueError("amortise_slots must be >= 1 and removal_weight >= 0")


def decompose_cost(
    system: System,
    outcome: SlotOutcome,
    deployment: BoolArray,
    previous: BoolArray,
    credit: float = 1.0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Global cost ``[B]``, per-domain cost ``[B, D]`` and the unowned remainder ``[B]``, J.

    ``credit`` times the penalty is taken off a domain's cost for every task it satisfied (and
    added to the remainder), so that a domain gains by serving well rather than by shedding
    its load.
    """
    sy = system
    lay = layout(sy)
    beta = sy.unsatisfied_penalty_j
    total = outcome.objective(beta)
    routed = outcome.flow_requests.sum(axis=2)  # [B, O, K]
    satisfied = outcome.flow_satisfied.sum(axis=2)
    B = routed.shape[0]
    N = sy.n_nodes
    index = np.arange(B)[:, None] * N + sy.candidates.ravel()[None, :]
    failed = _per_node(index.ravel(), (routed - satisfied).reshape(B, -1).ravel(), B, N)
    served_ok = _per_node(index.ravel(), satisfied.reshape(B, -1).ravel(), B, N)
    if outcome.chains is not None:  # a task placed step by step: its steps' nodes share it
        failed_c, served_c = _chain_credit(outcome.chains, B, N)
        failed = failed + failed_c
        served_ok = served_ok + served_c
    energy = node_energy(sy, outcome, deployment, previous)
    per_node = energy + beta * failed - credit * beta * served_ok
    per_domain = np.zeros((B, lay.n_domains))
    # The stubs type ufunc.at's indices as integer arrays only; (slice, array) is a valid index.
    np.add.at(per_domain, (slice(None), sy.node_domain), per_node)  # type: ignore[arg-type]
    return total, per_domain, total - per_domain.sum(axis=1)


def _per_node(index: IntArray, tasks: FloatArray, B: int, N: int) -> FloatArray:
    """``tasks`` summed by flat (copy, node) ``index`` into ``[B, N]``."""
    out = np.bincount(index, weights=tasks, minlength=B * N)  # float64 with weights
    return np.asarray(out, dtype=np.float64).reshape(B, N)


def _chain_credit(chains: ChainOutcome, B: int, N: int) -> tuple[FloatArray, FloatArray]:
    """Chain tasks failed and satisfied per node ``[B, N]``, each shared by its steps' nodes."""
    cf = chains.flows
    used = cf.steps >= 0  # [F, Q]
    share = 1.0 / np.maximum(used.sum(axis=1), 1)  # [F]
    index = (cf.copy[:, None] * N + cf.node)[used]

    def spread(tasks: FloatArray) -> FloatArray:
        return np.broadcast_to((tasks * share)[:, None], used.shape)[used]

    failed = _per_node(index, spread(cf.requests - chains.satisfied), B, N)
    return failed, _per_node(index, spread(chains.satisfied), B, N)


def learning_cost(
    system: System,
    outcome: SlotOutcome,
    demand: np.ndarray,
    deployment: np.ndarray,
    previous: np.ndarray,
    amortise_slots: float,
    removal_weight: float,
) -> FloatArray:
    """The slot's objective with what changing the deployment costs spread over time, J, ``[B]``.

    An instance started now serves the slots after it too, so a learner judged on one slot
    would never start one: the cold-start energy and the tasks that meet a cold start are
    charged ``1 / amortise_slots`` of their cost (the same amortisation as OPT's plan). And a
    learner judged on one slot would remove instances whenever that saves energy in the slot,
    since the restart falls in slots after it: removing an instance that ran (``previous``
    ``[B, S, N]`` and not ``deployment``) is charged ``removal_weight`` times
    :func:`~cnc6g.twin.dynamics.restart_cost` for the slot's ``demand`` ``[B, O, S]``
    (:func:`~cnc6g.twin.dynamics.removal_cost`), as in OPT's plan and the executor's
    consolidation.
    """
    beta = system.unsatisfied_penalty_j
    cold_tasks: FloatArray = (outcome.flow_served * outcome.flow_cold_fraction).sum(axis=(1, 2, 3))
    rebate = (1.0 - 1.0 / amortise_slots) * (outcome.energy["cold_start"] + beta * cold_tasks)
    removal = removal_cost(system, demand, deployment, previous, removal_weight)
    return outcome.objective(beta) - rebate + removal


def _learning_cost(
    systems: list[System],
    parts: list[slice],
    inputs: tuple[np.ndarray, ...],
    x: np.ndarray,
    y: np.ndarray,
    cfg: RewardConfig,
) -> FloatArray:
    """:func:`learning_cost` of decision ``(x, y)`` for every copy, without stepping the twins."""
    demand, up, down, previous = inputs
    return np.concatenate(
        [
            learning_cost(
                sy,
                evaluate_slot(sy, demand[p], up[p], down[p], x[p], previous[p], y[p]),
                demand[p],
                x[p],
                previous[p],
                cfg.amortise_slots,
                cfg.removal_weight,
            )
            for sy, p in zip(systems, parts, strict=True)
        ]
    )


def difference_rewards(
    agents: Agents,
    systems: list[System],
    parts: list[slice],
    inputs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    idle: np.ndarray | None,
    knobs: Knobs,
    decision: Execution,
    cfg: RewardConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """What each group of knobs gained over neutral knobs in the same slot, per request.

    Copies ``parts[i]`` of the inputs run on ``systems[i]``. Returns the gain of every kind's
    level ``[B, kinds]`` (all domains of the kind reset together), one domain per copy drawn
    kind-first (``[B]``), and the gains of that domain's threshold and of its prices and trims
    (``[B]`` each). Positive: better than neutral.
    """
    base = agents.system
    demand, up, down, previous = inputs
    B = demand.shape[0]
    scale: FloatArray = base.unsatisfied_penalty_j * np.maximum(demand.sum(axis=(1, 2)), 1.0)
    x, y = decision.deployment, decision.routing
    actual = _learning_cost(systems, parts, inputs, x, y, cfg)
    off = decision.switched_off

    def gain(mask: np.ndarray, group: str) -> np.ndarray:
        alt = knobs.neutralised(base, group, mask)
        xc, yc, _, _ = execute(base, demand, up, down, previous, alt, idle, switched_off=off)
        cost = _learning_cost(systems, parts, inputs, xc, yc, cfg)
        return (cost - actual) / scale

    kind_of = agents.layout.domain_kind
    level_gain = np.stack(
        [gain(np.broadcast_to(kind_of == k, (B, kind_of.size)), "level") for k in agents.kinds],
        axis=1,
    )
    kind = rng.choice(agents.kinds, size=B)
    pick = np.array([rng.choice(agents.kind_domains[k]) for k in kind])
    one = np.arange(kind_of.size)[None, :] == pick[:, None]
    return level_gain, pick, {group: gain(one, group) for group in ("threshold", "route")}


def slot_rewards(
    system: System, outcome: Any, deployment: np.ndarray, previous: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Global reward ``[B]``, domain rewards ``[B, D]`` and the global cost ``[B]``, J.

    Rewards are minus costs per request of the slot, in units of the penalty.
    """
    total, per_domain, _ = decompose_cost(system, outcome, deployment, previous)
    scale = system.unsatisfied_penalty_j * np.maximum(outcome.offered, 1.0)
    return -total / scale, -per_domain / scale[:, None], total
