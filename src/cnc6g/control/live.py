"""The live system as the control plane sees it: names, where things may run, latency estimates.

A thin view over the compiled scenario the slot loop runs (:class:`cnc6g.twin.System`): cells are
the scenario's terminal domains (a terminal is attached to one), functions are its service
types (a registered service's steps run them), nodes and domains are the scenario's. Latency
estimates for the fast path use the same terms as the twin (propagation and access delay both
ways, transfers over the cell's mean radio rate and the wired path, execution at the node's
headroom) with the node's utilisation of the last slot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnc6g.model import DomainKind
from cnc6g.twin.dynamics import shannon_rate_mbps
from cnc6g.twin.system import FloatArray, System, wired_s_per_mbit

TIER_OF = {
    DomainKind.TERMINAL: "terminal",
    DomainKind.RAN: "ran",
    DomainKind.TRANSPORT: "transport",
}


@dataclass(frozen=True)
class StepOption:
    """A node a step may run on from a cell, with its estimated latency."""

    node: str
    domain: str
    tier: str
    local: bool
    latency_ms: float


class LiveSystem:
    """Names and estimates over a compiled system.

    Args:
        system: the system the slot loop runs.
    """

    def __init__(self, system: System) -> None:
        self.system = sy = system
        self.cells = sy.origin_names
        self.functions = sy.service_names
        self.nodes = sy.node_names
        domains = sy.scenario.domains
        self.node_domain = tuple(domains[d].name for d in sy.node_domain)
        self.node_tier = tuple(TIER_OF[k] for k in sy.node_domain_kind)
        self.domains = tuple(d.name for d in domains)
        self._cell = {c: i for i, c in enumerate(self.cells)}
        self._function = {f: i for i, f in enumerate(self.functions)}
        self._node = {n: i for i, n in enumerate(self.nodes)}
        up = shannon_rate_mbps(sy.uplink_mhz, sy.mean_snr_db)
        down = shannon_rate_mbps(sy.downlink_mhz, sy.mean_snr_db)
        remote = ~sy.candidate_local & sy.candidate_valid
        # s per Mbit sent and received over each (cell, candidate) path when idle.
        wired = wired_s_per_mbit(sy)
        self._per_mbit_up = np.where(remote, 1.0 / up[:, None], 0.0) + wired
        self._per_mbit_down = np.where(remote, 1.0 / down[:, None], 0.0) + wired
        self._delay2 = 2.0 * sy.candidate_delay_s

    def cell(self, name: str) -> int:
        """Index of a cell. Raises ``KeyError``."""
        return self._cell[name]

    def function(self, name: str) -> int:
        """Index of a function. Raises ``KeyError``."""
        return self._function[name]

    def node(self, name: str) -> int:
        """Index of a node. Raises ``KeyError``."""
        return self._node[name]

    def has_cell(self, name: str) -> bool:
        """Whether ``name`` is a cell."""
        return name in self._cell

    def has_function(self, name: str) -> bool:
        """Whether ``name`` is a function."""
        return name in self._function

    def function_tiers(self, name: str) -> set[str]:
        """Tiers some node of which can host ``name``."""
        s = self._function[name]
        return {self.node_tier[n] for n in np.flatnonzero(self.system.can_host[s])}

    def options(
        self,
        cell: str,
        function: str,
        utilisation: FloatArray | None = None,
        tiers: set[str] | None = None,
    ) -> list[StepOption]:
        """Nodes that can run ``function`` for ``cell``, fastest first.

        Args:
            cell: where the terminal is.
            function: the step's service type.
            utilisation: ``[N]`` utilisation of each node in the last slot (default idle).
            tiers: tiers allowed (default all).
        """
        sy = self.system
        o, s = self._cell[cell], self._function[function]
        util = np.zeros(sy.n_nodes) if utilisation is None else utilisation
        out = []
        for k in np.flatnonzero(sy.admissible[o, s]):
            n = int(sy.candidates[o, k])
            if tiers is not None and self.node_tier[n] not in tiers:
                continue
            headroom = sy.capacity[n] * max(1.0 - float(util[n]), 0.05)
            latency = (
                self._delay2[o, k]
                + sy.input_mbit[s] * self._per_mbit_up[o, k]
                + sy.output_mbit[s] * self._per_mbit_down[o, k]
                + sy.work[s] / headroom
            )
            out.append(
                StepOption(
                    node=self.nodes[n],
                    domain=self.node_domain[n],
                    tier=self.node_tier[n],
                    local=bool(sy.candidate_local[o, k]),
                    latency_ms=float(latency * 1e3),
                )
            )
        return sorted(out, key=lambda opt: (opt.latency_ms, opt.node))

    def task_energy_j(self, cell: str, function: str, node: str) -> float:
        """Marginal energy of one task of ``function`` from ``cell`` on ``node``, J.

        The node's load-proportional power for the task's work, the wired and access energy of
        its data both ways, and for a node reached over the radio the terminal's transmit energy
        of its input at the cell's mean uplink rate and the base station's energy per bit of its
        output.
        """
        sy = self.system
        o, s, n = self._cell[cell], self._function[function], self._node[node]
        energy = float(sy.work[s] * (sy.peak_power[n] - sy.idle_power[n]) / sy.capacity[n])
        where = np.flatnonzero(sy.candidate_valid[o] & (sy.candidates[o] == n))
        if not where.size:
            return energy
        k = int(where[0])
        data = float(sy.input_mbit[s] + sy.output_mbit[s])
        energy += float(sy.candidate_j_per_mbit[o, k]) * data
        if not sy.candidate_local[o, k]:
            up = float(shannon_rate_mbps(sy.uplink_mhz[o], sy.mean_snr_db[o]))
            energy += float(sy.tx_power[o]) * float(sy.input_mbit[s]) / up
            energy += float(sy.bs_j_per_mbit[o]) * float(sy.output_mbit[s])
        return energy

    def local_node(self, cell: str) -> str | None:
        """The terminal-side node of ``cell`` (None if it has none)."""
        sy = self.system
        o = self._cell[cell]
        local = np.flatnonzero(sy.candidate_local[o] & sy.candidate_valid[o])
        return self.nodes[int(sy.candidates[o, local[0]])] if local.size else None
