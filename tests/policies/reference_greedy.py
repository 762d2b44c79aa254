"""GRD before its speed-up, frozen: the decisions GRD must keep making.

A copy of :class:`cnc6g.policies.GreedyPolicy` as it was before its deployment loop moved to
Python scalars with cached candidate lists and its distribution to the rows with demand; the
tests run both on seeded twins and compare their decisions.
"""

from __future__ import annotations

import numpy as np

from cnc6g.model import DomainKind
from cnc6g.model.decision import Decision, Observation
from cnc6g.policies.base import Policy, usable_candidates
from cnc6g.twin.system import BoolArray, FloatArray, System


class ReferenceGreedy(Policy):
    """GRD as it was before its deployment and distribution were restructured (frozen).

    Args:
        target_utilisation: planned utilisation at which a node stops taking new load.
        redeploy_every: slots between deployment updates.
        smoothing: weight of the newest slot in the moving average of demand.
        chunks: pieces each (origin, service) demand is split into for distribution.
        min_tasks_per_instance: least demand (tasks per slot) that starts an instance on a node
            other than the origin's farthest one.
    """

    name = "grd-reference"

    def __init__(
        self,
        target_utilisation: float = 0.8,
        redeploy_every: int = 10,
        smoothing: float = 0.3,
        chunks: int = 8,
        min_tasks_per_instance: float = 5.0,
    ) -> None:
        if not 0 < target_utilisation <= 1:
            raise ValueError("target_utilisation must be in (0, 1]")
        if redeploy_every < 1 or chunks < 1 or not 0 < smoothing <= 1:
            raise ValueError("redeploy_every and chunks must be >= 1, smoothing in (0, 1]")
        self.target_utilisation = target_utilisation
        self.redeploy_every = redeploy_every
        self.smoothing = smoothing
        self.chunks = chunks
        self.min_tasks_per_instance = min_tasks_per_instance

    def reset(self, system: System, seed: int | None = None) -> None:
        """Clear the demand history and the planned deployment."""
        super().reset(system, seed)
        node_domain = system.node_domain[system.candidates]  # [O, K]
        kinds = np.array([k.value for k in system.node_domain_kind])[system.candidates]
        own_ran = node_domain == system.origin_ran[:, None]
        self._scope = system.candidate_valid & (
            system.candidate_local | own_ran | (kinds == DomainKind.TRANSPORT.value)
        )
        # Transport nodes are shared with other cells: their load is known as last reported;
        # the cell's own nodes carry only its own load, known exactly.
        self._shared = np.array([k is DomainKind.TRANSPORT for k in system.node_domain_kind])
        self._demand: FloatArray | None = None
        self._deployment = np.zeros((system.n_services, system.n_nodes), dtype=bool)

    def decide(self, obs: Observation) -> Decision:
        """Update the demand average, redeploy when due, then distribute."""
        demand = obs.demand.astype(float)
        if self._demand is None:
            self._demand = demand.copy()
        else:
            self._demand += self.smoothing * (demand - self._demand)
        if obs.slot % self.redeploy_every == 0 or not self._deployment.any():
            self._deployment = self._deploy(self._demand)
        routing = self._distribute(obs, self._deployment)
        return Decision(deployment=self._deployment.copy(), routing=routing)

    def _deploy(self, demand: FloatArray) -> BoolArray:
        sy = self.system
        x = np.zeros((sy.n_services, sy.n_nodes), dtype=bool)
        free_mem = sy.memory.copy()
        budget = self.target_utilisation * sy.capacity * sy.slot_s  # gigacycles per slot
        planned = np.zeros(sy.n_nodes)
        for s in np.argsort(-demand.sum(axis=0), kind="stable"):
            for o in np.argsort(-demand[:, s], kind="stable"):
                need = demand[o, s] * sy.work[s]
                if need <= 0:
                    break
                options = np.flatnonzero(sy.admissible[o, s] & self._scope[o])
                for i, k in enumerate(options):
                    n = sy.candidates[o, k]
                    room = budget[n] - planned[n]
                    if room <= 0:
                        continue
                    if not x[s, n]:
                        last = i == options.size - 1
                        small = need < self.min_tasks_per_instance * sy.work[s]
                        if free_mem[n] < sy.service_memory[s] or (small and not last):
                            continue
                        x[s, n] = True
                        free_mem[n] -= sy.service_memory[s]
                    take = min(need, room)
                    planned[n] += take
                    need -= take
                    if need <= 0:
                        break
        return x

    def _distribute(self, obs: Observation, x: BoolArray) -> FloatArray:
        sy = self.system
        O, S, K = sy.n_origins, sy.n_services, sy.n_candidates
        usable = usable_candidates(sy, x) & self._scope[:, None, :]
        remote = ~sy.candidate_local
        network = (
            2.0 * sy.candidate_delay_s[:, None, :]
            + remote[:, None, :] * sy.input_mbit[None, :, None] / obs.uplink_mbps[:, None, None]
            + remote[:, None, :] * sy.output_mbit[None, :, None] / obs.downlink_mbps[:, None, None]
        )  # [O, S, K]
        reported = np.where(self._shared, obs.utilisation * sy.capacity, 0.0)  # gigacycles/s
        own = np.zeros((O, sy.n_nodes))  # gigacycles/s this origin adds
        chunk = obs.demand.astype(float) / self.chunks  # [O, S]
        routing = np.zeros((O, S, K))
        rows = np.arange(O)[:, None]
        has = usable.any(axis=-1) & (chunk > 0)
        for _ in range(self.chunks):
            est_load = reported[None, :] + own  # [O, N]
            headroom = sy.capacity[None, :] - est_load
            free = headroom[rows, sy.candidates]  # [O, K]
            with np.errstate(divide="ignore"):
                sojourn = np.where(
                    free[:, None, :] > 0,
                    sy.work[None, :, None] / np.maximum(free[:, None, :], 1e-12),
                    np.inf,
                )
            latency = np.where(usable, np.minimum(network + sojourn, 1e30), np.inf)
            best = np.argmin(latency, axis=-1)  # [O, S]
            o_idx, s_idx = np.nonzero(has)
            k_idx = best[o_idx, s_idx]
            routing[o_idx, s_idx, k_idx] += 1.0 / self.chunks
            np.add.at(
                own,
                (o_idx, sy.candidates[o_idx, k_idx]),
                chunk[o_idx, s_idx] * sy.work[s_idx] / sy.slot_s,
            )
        return routing
