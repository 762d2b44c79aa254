"""The plan's paths of services placed step by step (``place_steps``): enumeration and terms.

OPT's MILP gives each (origin, service) demand of such a service one share column per *path*:
a candidate for every step (the origin's own candidate for a step pinned to the terminal), that
is, one source-to-sink path of the layered network whose layer ``q`` holds the candidates step
``q`` may use. The path columns are the path decomposition of that network's flow, so flow
conservation between consecutive steps holds by construction and a solution is directly the
twin's ``paths`` and ``path_shares``. A path is also what the twin evaluates as a unit, so every
term is exact in the plan's form for a DAG too (its transfers need the nodes of steps that are
not consecutive, which arc flows between consecutive layers would not give):

- each step's work loads its node; a path uses the instance of the service on every node its
  steps run on;
- transfers are classified as the twin classifies them (:func:`~cnc6g.twin.chains.chain_flows`):
  terminal to network loads the cell's uplink and the candidate's wired path, network to
  terminal the downlink and the path back, between network nodes the wired links between their
  domains in the twin's direction;
- energy per task: every step's dynamic energy and every transfer's radio, link and access
  energy, as the one-unit routes count theirs;
- the failure bound at each tier ``t`` (the admission limit first): every step's node at
  utilisation ``t`` at most (its sojourn exponential at the headroom ``(1 - t) C / devices``),
  every transfer at the plan's network utilisation; the probability that each first-to-last
  route meets the deadline is the hypoexponential distribution function of its sojourns at its
  slack, and the task's is the product over the routes (the twin's critical-path bound); a path
  some route of which cannot meet the deadline has no column. The model charges a path the
  bound at the loosest tier among its nodes. Cold starts: the share of the latest-starting
  step, as for one unit.

The number of paths is the product of the steps' options; above :data:`MAX_PLAN_PATHS` per
(origin, service) each unpinned step keeps only its nearest candidates (noted in the model).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from cnc6g.twin.chains import ChainFlows, chain_flows, hypoexp_cdf, internode
from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System, wired_s_per_mbit

MAX_PLAN_PATHS = 512
"""Most path columns of one (origin, service) demand."""


@dataclass(frozen=True, eq=False)
class PlanPaths:
    """The slot's path columns: one entry per (origin, service, path), ``M`` in all.

    Per-task terms; the node, instance and link terms are sparse entries ``(path, ...)``.
    """

    origin: IntArray  # [M]
    service: IntArray  # [M]
    steps: IntArray  # [M, Q] candidate of each step (-1 past the service's steps)
    energy_j: FloatArray  # [M] energy per task: steps' dynamic energy and transfers
    fail: FloatArray  # [M, T] failure bound per task (no cold start), every node at tier T
    cold: FloatArray  # [M] share of the tasks meeting a cold start
    up_mbit: FloatArray  # [M] Mbit per task on the origin's uplink
    down_mbit: FloatArray  # [M] Mbit per task on its downlink
    work_path: IntArray  # [E] path of each (path, node) work entry
    work_node: IntArray  # [E]
    work_gcycles: FloatArray  # [E] gigacycles per task the path brings to the node
    link_path: IntArray  # [H] path of each link entry
    link_dir: IntArray  # [H] 0 away from the origin (input rows), 1 towards it (output rows)
    link: IntArray  # [H]
    link_mbit: FloatArray  # [H] Mbit per task on that link direction

    @property
    def size(self) -> int:
        """Path columns, ``M``."""
        return int(self.origin.size)

    @property
    def instances(self) -> tuple[IntArray, IntArray]:
        """Each path's instances ``(path, node)``, one per node its steps use."""
        return self.work_path, self.work_node


def _options(system: System, o: int, s: int) -> list[IntArray]:
    """Candidates each step of service ``s`` may use for origin ``o`` (pins respected)."""
    spec = system.chains
    assert spec is not None
    base = system.candidate_valid[o] & system.admissible[o, s]
    local = base & system.candidate_local[o]
    return [
        np.flatnonzero(local if spec.step_pinned[s, q] else base)
        for q in range(int(spec.n_steps[s]))
    ]


def _trim(system: System, o: int, options: list[IntArray], notes: list[str], name: str) -> None:
    """Keep the nearest candidates of the steps until the paths number at most the limit."""
    if int(np.prod([len(k) for k in options])) <= MAX_PLAN_PATHS:
        return
    delay = system.candidate_delay_s[o]
    width = max(len(k) for k in options)
    while width > 1 and int(np.prod([len(k) for k in options])) > MAX_PLAN_PATHS:
        width -= 1
        for q, k in enumerate(options):
            options[q] = np.sort(k[np.argsort(delay[k], kind="stable")[:width]])
    notes.append(
        f"origin {system.origin_names[o]} service {name}: each step keeps its {width} nearest "
        f"candidates (at most {MAX_PLAN_PATHS} paths)"
    )


def plan_paths(
    system: System,
    lam: FloatArray,
    uplink_mbps: FloatArray,
    downlink_mbps: FloatArray,
    prev: BoolArray,
    transfer_util: float,
    levels: FloatArray,
    optimistic: bool,
    notes: list[str],
) -> PlanPaths:
    """The path columns of the demand ``lam`` ``[O, S]`` of the services placed step by step.

    Transfers are timed at ``transfer_util`` of the radio and the links, steps at each
    utilisation of ``levels`` (the tiers, the admission limit first); ``optimistic`` drops the
    failure bound and cold starts (the lower bound's model).
    """
    spec = system.chains
    assert spec is not None
    O, S, Q = system.n_origins, system.n_services, spec.n_max_steps
    found: dict[tuple[int, int], IntArray] = {}
    for o, s in np.argwhere((lam > 0) & spec.is_chain[None, :]):
        options = _options(system, int(o), int(s))
        if any(k.size == 0 for k in options):
            notes.append(
                f"origin {system.origin_names[o]} service {system.service_names[s]}: a step has "
                "no candidate; its requests drop"
            )
            continue
        _trim(system, int(o), options, notes, system.service_names[s])
        found[int(o), int(s)] = np.array(list(itertools.product(*options)), dtype=np.int64)
    P = max((p.shape[0] for p in found.values()), default=0)
    paths = np.full((1, O, S, max(P, 1), Q), -1, dtype=np.int64)
    shares = np.zeros((1, O, S, max(P, 1)))
    for (o, s), p in found.items():
        paths[0, o, s, : p.shape[0], : p.shape[1]] = p
        shares[0, o, s, : p.shape[0]] = 1.0
    deployment = np.broadcast_to(system.can_host, (1, S, system.n_nodes))
    demand = np.where(spec.is_chain[None, :], lam, 0.0)[None]
    routing = np.zeros((1, O, S, system.n_candidates))
    cf = chain_flows(system, demand, routing, deployment, paths, shares)
    keep = np.flatnonzero(cf.usable & (cf.requests > 0))
    return _terms(
        system, cf, keep, uplink_mbps, downlink_mbps, prev, transfer_util, levels, optimistic, notes
    )


def _terms(
    system: System,
    cf: ChainFlows,
    keep: IntArray,
    uplink_mbps: FloatArray,
    downlink_mbps: FloatArray,
    prev: BoolArray,
    transfer_util: float,
    levels: FloatArray,
    optimistic: bool,
    notes: list[str],
) -> PlanPaths:
    """Per-task terms of the paths ``keep`` of the twin's flows ``cf``."""
    sy = system
    spec = sy.chains
    assert spec is not None
    inter = internode(sy)
    o, s = cf.origin[keep], cf.service[keep]
    steps, node = cf.steps[keep], cf.node[keep]
    kind, cand, mbit = cf.kind[keep], cf.cand[keep], cf.mbit[keep]
    a, b, direction, fixed = cf.a[keep], cf.b[keep], cf.direction[keep], cf.fixed_s[keep]
    valid = spec.step_valid[s]  # [M, Q]
    work = np.where(valid, spec.step_work[s], 0.0)
    slow = 1.0 / (1.0 - transfer_util)
    wired = wired_s_per_mbit(sy)
    oc = o[:, None]
    up = kind == 1
    down = kind == 2
    between = kind == 4
    radio_s = np.where(up, 1.0 / uplink_mbps[oc], 0.0) + np.where(
        down, 1.0 / downlink_mbps[oc], 0.0
    )
    spm_links = np.append(1.0 / sy.link_capacity, 0.0)[inter.links].sum(axis=2)  # [N, N]
    per_mbit = np.where(up | down, radio_s + wired[oc, cand], 0.0)
    per_mbit = np.where(between, spm_links[a, b], per_mbit)
    delay = np.where(up | down, sy.candidate_delay_s[oc, cand], fixed)
    time = delay + mbit * per_mbit * slow  # [M, T]
    r_tr = spec.route_transfers[s]  # [M, R, T]
    r_ok = spec.route_valid[s]  # [M, R]
    network = np.where(r_ok, (r_tr * time[:, None, :]).sum(axis=2), 0.0)
    slack = sy.deadline_s[s][:, None] - network  # [M, R]
    meets = np.asarray(np.where(r_ok, slack > 0, True).all(axis=1), dtype=bool)
    M = keep.size
    T = levels.size
    if optimistic:
        fail = np.zeros((M, T))
        cold = np.zeros(M)
    else:
        fail = np.ones((M, T))
        g = np.flatnonzero(meets)  # the others have no column
        r_st = (spec.route_steps[s] & valid[:, None, :])[g]
        R = r_ok.shape[1]
        Q = valid.shape[1]
        t = np.where(r_ok[g], slack[g], 1.0).reshape(-1)
        headroom = (sy.capacity[node] / sy.devices[node] / np.where(valid, work, 1.0))[g]
        for li, level in enumerate(levels):
            rate = np.where(valid[g], (1.0 - level) * headroom, 0.0)
            rates = np.broadcast_to(rate[:, None, :], (g.size, R, Q)).reshape(-1, Q)
            p = hypoexp_cdf(rates, r_st.reshape(-1, Q), t).reshape(g.size, R)
            fail[g, li] = 1.0 - np.where(r_ok[g], p, 1.0).prod(axis=1)
        starts = valid & ~prev[s[:, None], node]
        cold = np.where(starts.any(axis=1), np.minimum(sy.cold_start_s[s] / sy.slot_s, 1.0), 0.0)
    dyn = (sy.peak_power - sy.idle_power) / sy.capacity
    energy = (
        (dyn[node] * work).sum(axis=1)
        + (np.where(up, sy.tx_power[oc] / uplink_mbps[oc], 0.0) * mbit).sum(axis=1)
        + (np.where(down, sy.bs_j_per_mbit[oc], 0.0) * mbit).sum(axis=1)
        + (np.where(up | down, sy.candidate_j_per_mbit[oc, cand], 0.0) * mbit).sum(axis=1)
        + (np.where(between, inter.j_per_mbit[a, b], 0.0) * mbit).sum(axis=1)
    )
    for oi, si in {(int(x), int(y)) for x, y in zip(o[~meets], s[~meets], strict=True)}:
        if not meets[(o == oi) & (s == si)].any():
            notes.append(
                f"origin {sy.origin_names[oi]} service {sy.service_names[si]}: no path can "
                "meet the deadline; its requests drop"
            )
    # Keep the paths that can meet the deadline; renumber their sparse terms.
    sel = np.flatnonzero(meets)
    o, s, steps, node, valid, work = o[sel], s[sel], steps[sel], node[sel], valid[sel], work[sel]
    kind, cand, mbit, a, b = kind[sel], cand[sel], mbit[sel], a[sel], b[sel]
    direction = direction[sel]
    # Work per (path, node): steps on one node add up.
    Mk, N = sel.size, sy.n_nodes
    wp = np.repeat(np.arange(Mk), valid.shape[1])[valid.ravel()]
    per = np.asarray(np.bincount(wp * N + node[valid], work[valid], Mk * N), dtype=float)
    used = np.zeros(Mk * N, dtype=bool)
    used[wp * N + node[valid]] = True
    at = np.flatnonzero(used)
    # Links: the candidate's wired path for radio transfers, the domains' path between nodes.
    L = sy.n_links
    lp: list[IntArray] = []
    ld: list[IntArray] = []
    ll: list[IntArray] = []
    lm: list[FloatArray] = []
    if L:
        K = sy.n_candidates
        f, t = np.nonzero((kind == 1) | (kind == 2))
        hops = sy.path_links[o[f] * K + cand[f, t]]  # [E, H]
        e, h = np.nonzero(hops < L)
        lp.append(f[e])
        ld.append((kind[f, t] == 2).astype(np.int64)[e])
        ll.append(hops[e, h])
        lm.append(mbit[f, t][e])
        f, t = np.nonzero(kind == 4)
        hops = inter.links[a[f, t], b[f, t]]
        e, h = np.nonzero(hops < L)
        lp.append(f[e])
        ld.append(direction[f, t][e])
        ll.append(hops[e, h])
        lm.append(mbit[f, t][e])
    link_path, link_dir, link, link_mbit = (
        np.zeros(0, np.int64),
        *[np.zeros(0, np.int64)] * 2,
        np.zeros(0),
    )
    if lp:  # one entry per (path, direction, link): transfers crossing a link add up
        key = (np.concatenate(lp) * 2 + np.concatenate(ld)) * L + np.concatenate(ll)
        uniq, inv = np.unique(key, return_inverse=True)
        link_mbit = np.asarray(np.bincount(inv, np.concatenate(lm), uniq.size), dtype=float)
        link_path, link_dir, link = uniq // (2 * L), (uniq // L) % 2, uniq % L
    return PlanPaths(
        origin=o,
        service=s,
        steps=steps,
        energy_j=energy[sel],
        fail=fail[sel],
        cold=cold[sel],
        up_mbit=np.where(kind == 1, mbit, 0.0).sum(axis=1),
        down_mbit=np.where(kind == 2, mbit, 0.0).sum(axis=1),
        work_path=at // N,
        work_node=at % N,
        work_gcycles=per[at],
        link_path=link_path,
        link_dir=link_dir,
        link=link,
        link_mbit=link_mbit,
    )
