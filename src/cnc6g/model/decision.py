"""What a policy decides each slot, and what it sees before deciding."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, eq=False)
class Decision:
    """One slot's decision for one copy of the system.

    Attributes:
        deployment: ``[S, N]`` bool, an instance of service ``s`` runs on node ``n``.
        routing: ``[O, S, K]`` shares: the part of origin ``o``'s demand for service ``s`` sent
            to the origin's ``k``-th candidate node (``System.candidates[o, k]``). Each row sums
            to at most 1; the rest is rejected.
        cpu_share: optional ``[S, N]`` hard CPU quota of each instance as a fraction of its
            node; ``None`` lets each node share its capacity among all its tasks.
        paths: optional ``[O, S, P, Q]`` step placements of the services whose steps are placed
            separately (``place_steps``): ``paths[o, s, p, q]`` is the candidate (index ``k``
            into ``System.candidates[o]``) that runs step ``q`` (in workflow order) on the
            ``p``-th path of origin ``o``'s demand for service ``s``; entries past a service's
            steps are ignored. For such a service, ``routing[o, s, k]`` places every step on
            candidate ``k`` except those pinned to the terminal (one-unit placement).
        path_shares: ``[O, S, P]`` the part of the demand sent along each path (with
            ``paths``); together with ``routing`` each row sums to at most 1.
    """

    deployment: NDArray[np.bool_]
    routing: NDArray[np.float64]
    cpu_share: NDArray[np.float64] | None = None
    paths: NDArray[np.int64] | None = None
    path_shares: NDArray[np.float64] | None = None


@dataclass(frozen=True, eq=False)
class Observation:
    """What a policy sees at the start of a slot, for one copy. Arrays are read-only.

    Attributes:
        slot: index of the slot about to be decided.
        demand: ``[O, S]`` requests that arrive in this slot.
        uplink_mbps: ``[O]`` radio uplink rate of each origin this slot.
        downlink_mbps: ``[O]`` radio downlink rate.
        deployment: ``[S, N]`` instances running now (the previous slot's deployment).
        utilisation: ``[N]`` admitted compute utilisation of each node in the previous slot.
        satisfied_share: ``[O, S]`` share of the previous slot's requests that were satisfied
            (1 where there were none).
    """

    slot: int
    demand: NDArray[np.int64]
    uplink_mbps: NDArray[np.float64]
    downlink_mbps: NDArray[np.float64]
    deployment: NDArray[np.bool_]
    utilisation: NDArray[np.float64]
    satisfied_share: NDArray[np.float64]
