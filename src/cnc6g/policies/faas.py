"""FaaS: services as functions, started on a trigger, scaled with load, released when idle.

Seed 000's computing service framework (section 5.5) serves some services as functions: no
instance runs until a request arrives (the trigger), the platform scales the instances with the
load, and releases an instance once it has been idle for a keep-alive time. The twin charges
what that costs: a start's energy and the wait of the requests that meet its cold start, the
keep-alive power of an instance while it waits for the next request, nothing after release.

**Decision, each slot.** Every (origin, service) with requests sends them to the instances of the
service on the network nodes its cell can reach (functions run in the network), filling each up
to ``target_utilisation`` of its node's capacity (shared with the node's other instances): warm
instances first, then cold starts; awake nodes before nodes that sleep (a cold start there would
wake the node), nearest first among them. What fits nowhere is rejected. An instance that took
no request in a slot counts one idle slot; after ``keep_alive_slots`` idle slots in a row it is
released. ``keep_alive_slots=None`` never releases: the always-on deployment of the same
placement, to compare with.

A service whose steps are placed separately (``place_steps``) is routed as one unit: its steps
run on the network node the request is sent to, except the steps pinned to the terminal, which
run on a function instance started on the requesting cell's terminal node (no terminal instance
fits: the requests are rejected).
"""

from __future__ import annotations

import numpy as np

from cnc6g.model.decision import Decision, Observation
from cnc6g.policies.base import Policy
from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System


class FaaSPolicy(Policy):
    """Functions as a service (see the module's text).

    Args:
        keep_alive_slots: idle slots after which an instance is released (None: never).
        target_utilisation: share of a node's capacity the instances on it are filled to.
    """

    name = "faas"

    def __init__(self, keep_alive_slots: int | None = 5, target_utilisation: float = 0.8) -> None:
        if keep_alive_slots is not None and keep_alive_slots < 0:
            raise ValueError("keep_alive_slots must be >= 0 or None")
        if not 0 < target_utilisation <= 1:
            raise ValueError("target_utilisation must be in (0, 1]")
        self.keep_alive_slots = keep_alive_slots
        self.target_utilisation = target_utilisation
        if keep_alive_slots is None:
            self.name = "faas-always-on"

    def reset(self, system: System, seed: int | None = None) -> None:
        """No instance, no idle time."""
        super().reset(system, seed)
        self._idle: IntArray = np.zeros((system.n_services, system.n_nodes), dtype=np.int64)
        self._x: BoolArray = np.zeros((system.n_services, system.n_nodes), dtype=bool)

    def system_changed(self, system: System) -> None:
        """Drop the instances the new system cannot host (a failed node)."""
        super().system_changed(system)
        self._x &= system.can_host

    def decide(self, obs: Observation) -> Decision:
        """Route the slot's requests, starting instances on demand and releasing idle ones."""
        sy = self.system
        x = self._x.copy()
        budget = self.target_utilisation * sy.capacity * sy.slot_s  # gigacycles per slot
        planned = np.zeros(sy.n_nodes)
        free_mem = sy.memory - (x * sy.service_memory[:, None]).sum(axis=0)
        routing: FloatArray = np.zeros((sy.n_origins, sy.n_services, sy.n_candidates))
        used = np.zeros_like(x)
        demand = obs.demand
        pinned: BoolArray = np.zeros(sy.n_services, dtype=bool)
        if sy.chains is not None:
            pinned = np.asarray(sy.chains.step_pinned.any(axis=1), dtype=bool)
        for o, s in zip(*np.nonzero(demand), strict=True):
            if pinned[s]:
                local = self._terminal_instance(o, s, x, free_mem)
                if local is None:
                    continue
                used[s, local] = True
            need = float(demand[o, s] * sy.work[s])
            total = need
            # Network nodes only (a function platform is the network's): awake nodes first (a
            # cold start on a node that sleeps would wake it), nearest first among them.
            options = np.flatnonzero(sy.admissible[o, s] & ~sy.candidate_local[o])
            awake = x.any(axis=0) | ~sy.can_sleep
            options = options[np.argsort(~awake[sy.candidates[o, options]], kind="stable")]
            # Warm instances first, then cold starts on the nearest nodes with room.
            for warm in (True, False):
                for k in options:
                    if need <= 0:
                        break
                    n = int(sy.candidates[o, k])
                    if x[s, n] != warm:
                        continue
                    room = budget[n] - planned[n]
                    if room <= 0:
                        continue
                    if not warm:
                        if free_mem[n] < sy.service_memory[s]:
                            continue
                        x[s, n] = True
                        free_mem[n] -= sy.service_memory[s]
                    take = min(need, room)
                    planned[n] += take
                    routing[o, s, k] += take / total
                    used[s, n] = True
                    need -= take
        self._idle = np.where(used, 0, self._idle + x)
        if self.keep_alive_slots is not None:
            expired = x & ~used & (self._idle > self.keep_alive_slots)
            x &= ~expired
            self._idle[expired] = 0
        self._x = x
        return Decision(deployment=x.copy(), routing=np.minimum(routing, 1.0))

    def _terminal_instance(self, o: int, s: int, x: BoolArray, free_mem: FloatArray) -> int | None:
        """The terminal node of origin ``o`` that runs service ``s``'s pinned steps, or None.

        Started there when not running; ``None`` when no terminal node can host it.
        """
        sy = self.system
        local = np.flatnonzero(sy.candidate_local[o] & sy.candidate_valid[o])
        nodes = [int(n) for n in sy.candidates[o, local] if sy.can_host[s, n]]
        for n in nodes:
            if x[s, n]:
                return n
        for n in nodes:
            if free_mem[n] >= sy.service_memory[s]:
                x[s, n] = True
                free_mem[n] -= sy.service_memory[s]
                return n
        return None
