"""What decisions cost beyond one slot's outcome: restarts, removals, amortised starts, per node.

The one home of the cost helpers that policies (OPT's plan, HMARL's executor and rewards) and
the learning environments share with the twin, so that each formula is written once:

- :func:`restart_cost`: starting an instance again (its start energy and the tasks that meet
  its cold start);
- :func:`removal_cost`: the charge for removing instances that ran, a share
  (:data:`REMOVAL_WEIGHT` by default) of their restart cost;
- :func:`amortised_objective`: the slot's objective with start costs spread over the slots an
  instance serves and removals charged;
- :func:`node_energy`: the energy of each node in a slot (the per-node terms of
  :func:`~cnc6g.twin.dynamics.evaluate_slot`'s idle, dynamic, instance and cold-start parts).
"""

from __future__ import annotations

import numpy as np

from cnc6g.twin.dynamics import SlotOutcome, evaluate_slot
from cnc6g.twin.power import dynamic_share
from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System

REMOVAL_WEIGHT = 0.3
"""Share of its restart cost charged for removing a running instance (OPT, HMARL, training)."""


def restart_cost(system: System, demand: FloatArray, previous: np.ndarray) -> FloatArray:
    """What starting an instance of each service again would cost, J, ``[..., S]``.

    Its start energy and the penalty of the tasks that meet its cold start, taking the
    service's demand this slot (``[..., O, S]``) shared evenly among its running instances
    (``previous``, ``[..., S, N]``).
    """
    sy = system
    per_instance: FloatArray = np.asarray(demand, dtype=float).sum(axis=-2) / np.maximum(
        np.asarray(previous, dtype=bool).sum(axis=-1), 1
    )
    cold = np.minimum(sy.cold_start_s / sy.slot_s, 1.0)
    return sy.instantiation_energy + sy.unsatisfied_penalty_j * cold * per_instance


def removal_cost(
    system: System,
    demand: FloatArray,
    deployment: BoolArray,
    previous: BoolArray,
    removal_weight: float,
    sleep_slots: float = 1.0,
) -> FloatArray:
    """What removing instances is charged, J, ``[B]``.

    ``removal_weight`` times :func:`restart_cost` of every instance of ``previous`` that
    ``deployment`` removes (``demand`` ``[B, O, S]``, the others ``[B, S, N]``). Where the
    removals leave a node that can sleep with no instance, so that it sleeps, their charge
    counts ``1 / sleep_slots``: the node saves its idle power in the slots after this one too,
    as a started instance serves them (OPT passes its ``amortise_slots``).
    """
    if sleep_slots < 1:
        raise ValueError(f"sleep_slots must be >= 1, got {sleep_slots}")
    prev = np.asarray(previous, dtype=bool)
    x = np.asarray(deployment, dtype=bool)
    removed = (prev & ~x).astype(float)
    if sleep_slots != 1.0:
        asleep = system.can_sleep & ~x.any(axis=-2)  # [B, N]
        removed *= np.where(asleep, 1.0 / sleep_slots, 1.0)[..., None, :]
    per_copy: FloatArray = np.einsum("bsn,bs->b", removed, restart_cost(system, demand, prev))
    return removal_weight * per_copy


def amortised_objective(
    system: System,
    demand: FloatArray,
    uplink_mbps: FloatArray,
    downlink_mbps: FloatArray,
    deployment: BoolArray,
    previous: BoolArray,
    routing: FloatArray,
    amortise_slots: float = 1.0,
    removal_weight: float = 0.0,
    warm_routing: FloatArray | None = None,
    paths: IntArray | None = None,
    path_shares: FloatArray | None = None,
) -> FloatArray:
    """The slot's objective with what changing the deployment costs spread over time, J, ``[B]``.

    Starting instances (their start energy and the tasks that meet their cold start: the
    difference to the same decision with every instance already running) counts
    ``1 / amortise_slots``: an instance started now serves the slots after it too. Removing an
    instance that ran is charged ``removal_weight`` times :func:`restart_cost`: a one-slot
    score would otherwise remove instances in every dip of their demand. Two evaluations of
    the ``B`` copies (arguments as in :func:`~cnc6g.twin.dynamics.evaluate_slot`).
    ``warm_routing`` (default: ``routing``) is the routing of the slots after this one, once
    every instance is warm. ``paths`` and ``path_shares`` place the steps of services placed
    step by step (as in :func:`~cnc6g.twin.dynamics.evaluate_slot`).
    """
    x = np.asarray(deployment, dtype=bool)
    prev = np.asarray(previous, dtype=bool)
    both = evaluate_slot(
        system,
        np.concatenate([demand, demand]),
        np.concatenate([uplink_mbps, uplink_mbps]),
        np.concatenate([downlink_mbps, downlink_mbps]),
        np.concatenate([x, x]),
        np.concatenate([prev, x]),
        np.concatenate([routing, routing if warm_routing is None else warm_routing]),
        paths=None if paths is None else np.concatenate([paths, paths]),
        path_shares=None if path_shares is None else np.concatenate([path_shares, path_shares]),
    ).objective(system.unsatisfied_penalty_j)
    c = x.shape[0]
    started, warm = both[:c], both[c:]
    removal = removal_cost(system, demand, x, prev, removal_weight)
    return warm + (started - warm) / amortise_slots + removal


def node_energy(
    system: System, outcome: SlotOutcome, deployment: BoolArray, previous: BoolArray
) -> FloatArray:
    """Energy of each node in the slot, J, ``[B, N]``: idle or sleep, dynamic, instances, cold.

    ``deployment`` and ``previous`` are ``[B, S, N]``. The per-node terms of the idle, dynamic,
    instance and cold-start parts of :func:`~cnc6g.twin.dynamics.evaluate_slot` (kept out of its
    hot path, which sums them directly).
    """
    sy = system
    tau = sy.slot_s
    awake = outcome.awake
    x = np.asarray(deployment, dtype=bool)
    started = x & ~np.asarray(previous, dtype=bool)
    idle = tau * np.where(awake, sy.idle_power, np.nan_to_num(sy.sleep_power))
    dynamic = tau * awake * (sy.peak_power - sy.idle_power) * dynamic_share(sy, outcome.utilisation)
    instances: FloatArray = tau * np.einsum("s,bsn->bn", sy.instance_power, x.astype(float))
    cold: FloatArray = np.einsum("s,bsn->bn", sy.instantiation_energy, started.astype(float))
    return idle + dynamic + instances + cold
