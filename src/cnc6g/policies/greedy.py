"""GRD: popularity-based deployment and load-aware traffic distribution (seed 002, baseline 2).

GRD acts on local information, as the domain orchestrators of one cell would: each origin uses
its own terminal domain, the MEC node(s) of its own RAN domain, and the transport domain behind
them; it knows the load it puts on its own nodes exactly and the transport nodes' load only as
reported for the previous slot.

**Deployment.** Every ``redeploy_every`` slots, services are taken from the most to the least
requested (exponential moving average of the counts); for each origin of a service, from the
largest demand down, its demand is placed on the origin's nodes from the nearest out: an existing
instance with planned utilisation below ``target_utilisation`` takes what fits, otherwise a new
instance is started on the nearest node with memory and headroom, provided the demand left is at
least ``min_tasks_per_instance`` per slot (the long tail of unpopular services goes to the
transport domain, where the cells' demands add up). Instances are kept between redeployments.

**Distribution.** Each origin splits each service's demand into ``chunks`` and sends every chunk to
the instance with the least estimated latency (network delay plus the processor-sharing sojourn
at the estimated load), as join-the-shortest-expected-delay. Origins do not see each other's
choices in the slot, so when their own cells fill up they crowd the transport nodes together: the
weakness of local information that seed 002 reports at high load.

**Services placed step by step** (``place_steps``). Deployed as above (with their total work), and
also on the terminals' nodes when a step is pinned there. Each origin splits each such demand
into ``chunks`` pieces too; every piece takes the path of least estimated latency, found by
dynamic programming over the layers of the chain's steps (a DAG: step by step in topological
order), with each step's time its work over the candidate's estimated free capacity and each
transfer's time its delay and size over the radio's rate and the links' capacity; the pieces'
load is added to the estimate as they are placed.
"""

from __future__ import annotations

from graphlib import TopologicalSorter

import numpy as np

from cnc6g.model import DomainKind
from cnc6g.model.decision import Decision, Observation
from cnc6g.policies.base import Policy, usable_candidates
from cnc6g.policies.paths import best_layered_path
from cnc6g.twin.chains import internode
from cnc6g.twin.jit import kernel
from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System, wired_s_per_mbit


class GreedyPolicy(Policy):
    """GRD baseline.

    Args:
        target_utilisation: planned utilisation at which a node stops taking new load.
        redeploy_every: slots between deployment updates.
        smoothing: weight of the newest slot in the moving average of demand.
        chunks: pieces each (origin, service) demand is split into for distribution.
        min_tasks_per_instance: least demand (tasks per slot) that starts an instance on a node
            other than the origin's farthest one.
    """

    name = "grd"

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
        self._prepare(system)
        self._demand: FloatArray | None = None
        self._deployment = np.zeros((system.n_services, system.n_nodes), dtype=bool)

    def system_changed(self, system: System) -> None:
        """Plan on ``system`` from now on (a failed node is no option any more)."""
        super().system_changed(system)
        self._prepare(system)

    def _prepare(self, system: System) -> None:
        """What the deployment and the distribution use of ``system``, computed once."""
        node_domain = system.node_domain[system.candidates]  # [O, K]
        kinds = np.array([k.value for k in system.node_domain_kind])[system.candidates]
        own_ran = node_domain == system.origin_ran[:, None]
        self._scope = system.candidate_valid & (
            system.candidate_local | own_ran | (kinds == DomainKind.TRANSPORT.value)
        )
        # Transport nodes are shared with other cells: their load is known as last reported;
        # the cell's own nodes carry only its own load, known exactly.
        self._shared = np.array([k is DomainKind.TRANSPORT for k in system.node_domain_kind])
        # The nodes each (origin, service) demand may use, nearest first, [S][O]: built once
        # per system (the candidates never change).
        # Flat: the options of (service s, origin o) are
        # ``_option_nodes[_option_start[s * O + o] : _option_start[s * O + o + 1]]``.
        usable = (system.admissible & self._scope[:, None, :]).transpose(1, 0, 2)  # [S, O, K]
        self._option_nodes = np.broadcast_to(system.candidates, usable.shape)[usable]
        self._option_start = np.concatenate([[0], np.cumsum(usable.sum(axis=2).ravel())])
        self._remote = ~system.candidate_local  # [O, K]
        self._delay2 = 2.0 * system.candidate_delay_s  # [O, K]
        self._capacity_ok = system.capacity[system.candidates]  # [O, K]
        if system.chains is not None:  # idle time per Mbit between network nodes
            inv = np.append(1.0 / system.link_capacity, 0.0)
            self._internode_spm = inv[internode(system).links].sum(axis=2)  # [N, N]

    def decide(self, obs: Observation) -> Decision:
        """Update the demand average, redeploy when due, then distribute."""
        demand = obs.demand.astype(float)
        if self._demand is None:
            self._demand = demand.copy()
        else:
            self._demand += self.smoothing * (demand - self._demand)
        if obs.slot % self.redeploy_every == 0 or not self._deployment.any():
            self._deployment = self._deploy(self._demand)
            if self.system.chains is not None:
                self._deploy_pinned(self._deployment)
        routing = self._distribute(obs, self._deployment)
        if self.system.chains is None:
            return Decision(deployment=self._deployment.copy(), routing=routing)
        paths, shares = self._chain_paths(obs, self._deployment, routing)
        return Decision(
            deployment=self._deployment.copy(), routing=routing, paths=paths, path_shares=shares
        )

    def _deploy_pinned(self, x: BoolArray) -> None:
        """Add instances on the terminals' nodes for services with steps pinned there."""
        sy = self.system
        assert sy.chains is not None
        free = sy.memory - (x * sy.service_memory[:, None]).sum(axis=0)
        terminals = np.unique(sy.candidates[sy.candidate_local & sy.candidate_valid])
        for s in np.flatnonzero(sy.chains.step_pinned.any(axis=1)):
            for n in terminals:
                if not x[s, n] and sy.can_host[s, n] and free[n] >= sy.service_memory[s]:
                    x[s, n] = True
                    free[n] -= sy.service_memory[s]

    def _transfer_tables(self, obs: Observation) -> tuple[FloatArray, FloatArray]:
        """Per origin, delay and time per Mbit between its candidates and the terminal.

        ``[O, K + 1, K + 1]`` each, index ``K`` the terminal itself; at no load (the radio at
        this slot's rates), ``inf`` to and from invalid candidates.
        """
        sy = self.system
        O, K = sy.n_origins, sy.n_candidates
        inter = internode(sy)
        local = np.concatenate([sy.candidate_local, np.ones((O, 1), dtype=bool)], axis=1)
        valid = np.concatenate([sy.candidate_valid, np.ones((O, 1), dtype=bool)], axis=1)
        delay = np.concatenate([sy.candidate_delay_s, np.zeros((O, 1))], axis=1)
        wired = np.concatenate([wired_s_per_mbit(sy), np.zeros((O, 1))], axis=1)
        node = np.concatenate([sy.candidates, np.zeros((O, 1), dtype=np.int64)], axis=1)
        up = 1.0 / obs.uplink_mbps[:, None] + wired  # [O, K + 1], to a remote candidate
        down = 1.0 / obs.downlink_mbps[:, None] + wired
        la, lb = local[:, :, None], local[:, None, :]
        d = np.where(la & lb, delay[:, :, None] + delay[:, None, :], 0.0)
        spm = np.zeros((O, K + 1, K + 1))
        d = np.where(la & ~lb, delay[:, None, :], d)
        spm = np.where(la & ~lb, up[:, None, :], spm)
        d = np.where(~la & lb, delay[:, :, None], d)
        spm = np.where(~la & lb, down[:, :, None], spm)
        na, nb = node[:, :, None], node[:, None, :]
        both = ~la & ~lb
        d = np.where(both, inter.delay_s[na, nb], d)
        spm = np.where(both, self._internode_spm[na, nb], spm)
        same = np.eye(K + 1, dtype=bool)[None]
        d = np.where(same, 0.0, d)
        spm = np.where(same, 0.0, spm)
        ok = valid[:, :, None] & valid[:, None, :]
        return np.where(ok, d, np.inf), np.where(ok, spm, np.inf)

    def _chain_paths(
        self, obs: Observation, x: BoolArray, routing: FloatArray
    ) -> tuple[IntArray, FloatArray]:
        """Paths for the services placed step by step, ``chunks`` pieces per demand.

        Each piece of an (origin, service) demand, largest demands first, takes the path of
        least estimated latency: for a chain, by dynamic programming over the layers of its
        steps' usable candidates (:func:`~cnc6g.policies.paths.best_layered_path`); for a DAG,
        step by step in topological order, each on the candidate that finishes it first. A
        step's time is its work over the candidate's free capacity (reported load of shared
        nodes, plus what this origin sends there, the one-unit routing included); a transfer's
        its delay and size at the radio's rate and the links' capacity. Pinned steps stay on
        the terminal's node.
        """
        sy = self.system
        spec = sy.chains
        assert spec is not None
        O, S, Q, P = sy.n_origins, sy.n_services, spec.n_max_steps, self.chunks
        demand = obs.demand.astype(float)
        own = np.einsum("osk,os,s->ok", routing, demand, sy.work) / sy.slot_s
        reported = np.where(self._shared, obs.utilisation * sy.capacity, 0.0)[sy.candidates]
        usable = usable_candidates(sy, x) & self._scope[:, None, :]
        local = sy.candidate_local & sy.candidate_valid
        delay, spm = self._transfer_tables(obs)
        paths = np.full((O, S, P, Q), -1, dtype=np.int64)
        shares = np.zeros((O, S, P))
        chain_s = np.flatnonzero(spec.is_chain)
        for s in chain_s[np.argsort(-demand[:, chain_s].sum(axis=0), kind="stable")].tolist():
            n = int(spec.n_steps[s])
            work = spec.step_work[s, :n]
            opts = np.where(  # [O, n, K]
                spec.step_pinned[s, None, :n, None],
                (usable[:, s] & local)[:, None, :],
                usable[:, s][:, None, :],
            )
            transfers = [
                (int(a), int(b), float(m))
                for a, b, m, v in zip(
                    spec.src[s], spec.dst[s], spec.mbit[s], spec.transfer_valid[s], strict=True
                )
                if v
            ]
            linear = len(transfers) == n + 1 and all(
                (a, b) == (q - 1, q if q < n else -1) for q, (a, b, _) in enumerate(transfers)
            )
            for o in np.argsort(-demand[:, s], kind="stable").tolist():
                if demand[o, s] <= 0:
                    break
                if not opts[o].any(axis=1).all():
                    continue
                added = demand[o, s] / P / sy.slot_s  # tasks/s of one piece
                picked: list[tuple[int, ...]] = []
                for _ in range(P):
                    free = self._capacity_ok[o] - (reported[o] + own[o])
                    with np.errstate(divide="ignore"):
                        step = np.where(
                            opts[o] & (free > 0), work[:, None] / np.maximum(free, 1e-12), np.inf
                        )
                    if linear:
                        nodes = self._best_chain(step, transfers, delay[o], spm[o])
                    else:
                        nodes = self._best_dag(step, transfers, delay[o], spm[o])
                    if nodes is None:
                        break
                    picked.append(nodes)
                    np.add.at(own[o], list(nodes), work * added)
                for i, nodes in enumerate(dict.fromkeys(picked)):
                    paths[o, s, i, :n] = nodes
                    shares[o, s, i] = picked.count(nodes) / P
        return paths, shares

    @staticmethod
    def _best_chain(
        step: FloatArray,
        transfers: list[tuple[int, int, float]],
        delay: FloatArray,
        spm: FloatArray,
    ) -> tuple[int, ...] | None:
        """The chain's best candidates by dynamic programming (None: no path)."""
        K = step.shape[1]
        hops = [delay[:K, :K] + m * spm[:K, :K] for _, _, m in transfers[1:-1]]
        hop = np.stack(hops) if hops else np.zeros((0, K, K))
        m_in, m_out = transfers[0][2], transfers[-1][2]
        first = delay[K, :K] + m_in * spm[K, :K]
        last = delay[:K, K] + m_out * spm[:K, K]
        cost, picks = best_layered_path(first, step, hop, last)
        if not np.isfinite(cost):
            return None
        return tuple(int(k) for k in picks)

    @staticmethod
    def _best_dag(
        step: FloatArray,
        transfers: list[tuple[int, int, float]],
        delay: FloatArray,
        spm: FloatArray,
    ) -> tuple[int, ...] | None:
        """Steps in topological order, each on the candidate finishing it first (None: none)."""
        n, K = step.shape
        parents: dict[int, list[tuple[int, float]]] = {q: [] for q in range(n)}
        for a, b, m in transfers:
            if b >= 0:
                parents[b].append((a, m))
        order = TopologicalSorter({q: [a for a, _ in parents[q] if a >= 0] for q in range(n)})
        finish = np.zeros(n)
        nodes = [0] * n
        for q in order.static_order():
            ready = np.zeros(K)
            for a, m in parents[q]:
                src = K if a < 0 else nodes[a]
                start = 0.0 if a < 0 else finish[a]
                ready = np.maximum(ready, start + delay[src, :K] + m * spm[src, :K])
            done = ready + step[q]
            k = int(np.argmin(done))
            if not np.isfinite(done[k]):
                return None
            nodes[q], finish[q] = k, float(done[k])
        return tuple(nodes)

    def _deploy(self, demand: FloatArray) -> BoolArray:
        """Instances for the smoothed ``demand``, the most requested services first.

        Services placed step by step come after the one-unit services: their deployment plans
        a task's whole work on its nearest option, the terminal first, while their paths put
        only the pinned steps there, so planned first they would fill the terminals' budgets
        and leave a service that runs only on the terminal without an instance.
        """
        sy = self.system
        x = np.zeros((sy.n_services, sy.n_nodes), dtype=bool)
        order = np.argsort(-demand.sum(axis=0), kind="stable")
        if sy.chains is not None:
            chained = sy.chains.is_chain[order]
            order = np.concatenate([order[~chained], order[chained]])
        _deploy_services(
            order,
            np.argsort(-demand, axis=0, kind="stable"),  # [O, S], largest demand first
            demand,
            (self._option_start, self._option_nodes),
            (sy.work, sy.service_memory, self.min_tasks_per_instance),
            (sy.memory.copy(), self.target_utilisation * sy.capacity * sy.slot_s),
            x,
        )
        return x

    def _distribute(self, obs: Observation, x: BoolArray) -> FloatArray:
        sy = self.system
        chunk = obs.demand.astype(float) / self.chunks  # [O, S]
        if sy.chains is not None:  # services placed step by step take paths instead
            chunk = np.where(sy.chains.is_chain[None, :], 0.0, chunk)
        routing = np.zeros((sy.n_origins, sy.n_services, sy.n_candidates))
        _distribute_chunks(
            self.chunks,
            chunk,
            (x, sy.admissible, self._scope),
            (sy.candidates, self._delay2, self._remote, self._capacity_ok),
            (sy.input_mbit, sy.output_mbit, sy.work, sy.slot_s),
            (obs.uplink_mbps, obs.downlink_mbps),
            (self._shared, obs.utilisation, sy.capacity),
            routing,
        )
        return routing


@kernel
def _distribute_chunks(
    chunks: int,
    chunk: FloatArray,
    allowed: tuple[BoolArray, BoolArray, BoolArray],
    candidates: tuple[IntArray, FloatArray, BoolArray, FloatArray],
    services: tuple[FloatArray, FloatArray, FloatArray, float],
    radio: tuple[FloatArray, FloatArray],
    reports: tuple[BoolArray, FloatArray, FloatArray],
    routing: FloatArray,
) -> None:
    """GRD's distribution of the ``chunk`` ``[O, S]`` pieces into ``routing`` ``[O, S, K]``.

    Only the (origin, service) rows with demand and a usable instance (deployed in ``x``
    ``[S, N]``, admissible, in the origin's scope) are distributed, in (origin, service)
    order. A row with one usable candidate sends every chunk there; in each of the ``chunks``
    rounds a row with a choice prices its usable candidates at the sojourn at the estimated
    load (its own chunks so far plus the shared nodes' reported load; inf without headroom)
    plus the network (round trip and the radio's transfers), takes the first least (NaN first,
    as ``argmin``), and then every row adds its chunk to its choice, in row order.
    """
    x, admissible, scope = allowed
    cand, delay2, remote, capacity = candidates
    input_mbit, output_mbit, work, slot_s = services
    uplink, downlink = radio
    shared, utilisation, node_capacity = reports
    O, S = chunk.shape
    K = cand.shape[1]
    origin = np.empty(O * S, dtype=np.int64)
    service = np.empty(O * S, dtype=np.int64)
    best = np.empty(O * S, dtype=np.int64)  # the only usable candidate of a row without choice
    choice = np.empty(O * S, dtype=np.int64)
    usable = np.zeros((O * S, K), dtype=np.bool_)
    R = C = 0
    for o in range(O):
        for s in range(S):
            if not chunk[o, s] > 0:
                continue
            first = -1
            count = 0
            for k in range(K):
                ok = x[s, cand[o, k]] and admissible[o, s, k] and scope[o, k]
                usable[R, k] = ok
                if ok:
                    count += 1
                    if first < 0:
                        first = k
            if count:
                origin[R], service[R], best[R] = o, s, first
                if count > 1:
                    choice[C] = R
                    C += 1
                R += 1
    network = np.empty((C, K))
    for c in range(C):
        o, s = origin[choice[c]], service[choice[c]]
        for k in range(K):
            far = 1.0 if remote[o, k] else 0.0
            network[c, k] = (
                delay2[o, k] + far * input_mbit[s] / uplink[o] + far * output_mbit[s] / downlink[o]
            )
    reported = np.empty((O, K))  # the shared nodes' load as last reported, gigacycles/s
    for o in range(O):
        for k in range(K):
            n = cand[o, k]
            reported[o, k] = utilisation[n] * node_capacity[n] if shared[n] else 0.0
    own = np.zeros((O, K))  # gigacycles/s each origin adds to its candidates
    added = np.empty(R)
    for i in range(R):
        added[i] = chunk[origin[i], service[i]] * work[service[i]] / slot_s
    step = 1.0 / chunks
    for _ in range(chunks):
        for c in range(C):
            i = choice[c]
            o = origin[i]
            pick = 0
            least = np.inf
            for k in range(K):
                free = capacity[o, k] - (reported[o, k] + own[o, k])
                latency = free if free >= 1e-12 or free != free else 1e-12
                latency = work[service[i]] / latency
                if free <= 0:
                    latency = np.inf
                latency = network[c, k] + latency
                latency = latency if latency <= 1e30 or latency != latency else 1e30
                if not usable[i, k]:
                    latency = np.inf
                if latency != latency:  # argmin takes the first NaN
                    pick = k
                    break
                if k == 0 or latency < least:
                    pick, least = k, latency
            best[i] = pick
        for i in range(R):
            routing[origin[i], service[i], best[i]] += step
        for i in range(R):
            own[origin[i], best[i]] += added[i]


@kernel
def _deploy_services(
    services: IntArray,
    by_origin: IntArray,
    demand: FloatArray,
    options: tuple[IntArray, IntArray],
    sizes: tuple[FloatArray, FloatArray, float],
    nodes: tuple[FloatArray, FloatArray],
    x: BoolArray,
) -> None:
    """GRD's deployment of the smoothed ``demand`` ``[O, S]`` into ``x`` ``[S, N]``.

    Services in the order ``services``, each service's origins in the order ``by_origin``
    (largest demand first, stopping at the first without demand); each demand (gigacycles per
    slot) fills its options (``options``: start of each (service, origin) entry, the nodes,
    nearest first) up to the nodes' budgets: a hosted instance takes what fits; a node without
    one starts one if it has the memory, and while the demand left is below ``min_tasks``
    tasks only on the last option.
    """
    start, option_nodes = options
    work, memory, min_tasks = sizes
    free_mem, budget = nodes
    O = demand.shape[0]
    planned = np.zeros(budget.size)
    for s in services:
        w, mem = work[s], memory[s]
        small_below = min_tasks * w
        for o in by_origin[:, s]:
            need = demand[o, s] * w
            if need <= 0:
                break
            first, end = start[s * O + o], start[s * O + o + 1]
            for i in range(first, end):
                n = option_nodes[i]
                fresh = not x[s, n]
                if fresh and need < small_below and i != end - 1:
                    continue  # a small demand starts an instance on the last node only
                room = budget[n] - planned[n]
                if room <= 0:
                    continue
                if fresh:
                    if free_mem[n] < mem:
                        continue
                    x[s, n] = True
                    free_mem[n] -= mem
                take = need if need <= room else room
                planned[n] += take
                need -= take
                if need <= 0:
                    break
