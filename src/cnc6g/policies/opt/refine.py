"""OPT's decision refined against the twin's own objective: routing, then deployment neighbours.

The MILP charges each task a failure bound at its node's utilisation tier and sends transfers at
the network cap, so its optimum is the optimum of a conservative plan, not of the twin. Its
deployment is nearly always the twin's best; its routing is not. :func:`refine_decision` keeps
the deployment and optimises the routing (each (origin, service) row's shares over its deployed
candidates, summing to at most 1, the rest rejected) against the twin's objective
(:class:`~cnc6g.policies.opt.twin_objective.TwinObjective`), then tries the deployments one
instance away (one dropped, or one added) with their routing refined too. For a fixed deployment
the twin's objective is smooth in the shares except where a node, cell or link reaches its
admission limit, so the routing is optimised by projected gradient steps (the gradient by
forward differences, one batch of the twin; the step sizes tried in one batch), and finished by a
pattern search of pairwise moves between a row's options, which also crosses the kinks. Every
step is accepted only where it lowers the twin's objective, so the refined decision is never
worse in the twin than the one given. The work is bounded by a number of twin evaluations, not
by time, so that a slot is refined the same way on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnc6g.model.decision import Decision
from cnc6g.policies.base import usable_candidates
from cnc6g.policies.opt.twin_objective import TwinObjective
from cnc6g.twin.system import BoolArray, FloatArray, IntArray

MAX_EVALUATIONS = 20_000
"""Most twin evaluations (decisions scored) a slot's refinement takes by default."""

WORK = 8_000_000
"""Flows (origin, service, candidate) scored in all by a slot's refinement by default: a large
system gets fewer evaluations (the case study, 3,900 flows, about 2,000)."""

NEIGHBOURS = 48
"""Most deployment neighbours tried (more: none are tried); 0 turns them off."""

NEIGHBOUR_EVALUATIONS = 600
"""Twin evaluations each deployment neighbour's routing may take before it is compared."""

FD_STEP = 1e-6
"""Share step of the forward differences."""

STEP_FACTORS = 2.0 ** np.arange(2, -13, -1)
"""Multiples of the current step length tried in one batch along the projected gradient."""

PATTERN_STEPS = 2.0 ** -np.arange(3, 13)
"""Share moved between two options of a row by the pattern search, coarse to fine."""

IMPROVEMENT = 1e-10
"""Relative decrease below which a step does not count as an improvement."""


@dataclass(frozen=True, eq=False)
class Refinement:
    """A refined decision and what the refinement did."""

    decision: Decision
    objective: float  # the twin's objective of ``decision``, J
    start_objective: float  # the twin's objective of the decision given, J
    evaluations: int  # decisions scored in the twin
    source: str  # "given", "routing" or "deployment neighbour"


class _Budget:
    """Twin evaluations left, counted on every batch scored."""

    def __init__(self, objective: TwinObjective, limit: int) -> None:
        self.objective = objective
        self.limit = limit
        self.used = 0

    def left(self) -> int:
        """Evaluations left."""
        return self.limit - self.used

    def scores(self, deployment: BoolArray, routings: FloatArray) -> FloatArray:
        """Twin objective of ``routings`` ``[B, O, S, K]`` with ``deployment``, counted."""
        self.used += routings.shape[0]
        return self.objective.scores(deployment, routings)


@dataclass(frozen=True, eq=False)
class _Rows:
    """The free shares of a deployment: its usable candidates of the rows with demand.

    ``index`` ``[V, 3]`` is (o, s, k) of each free share; ``row`` ``[V]`` its row; ``padded``
    ``[R, M]`` the shares of each row (``-1``: padding).
    """

    index: IntArray
    row: IntArray
    padded: IntArray

    @property
    def size(self) -> int:
        """Number of free shares."""
        return int(self.row.size)


def _rows(objective: TwinObjective, deployment: BoolArray) -> _Rows:
    """Free shares of ``deployment`` in the slot of ``objective``."""
    demand = np.asarray(objective.inputs.demand, dtype=float)
    free = usable_candidates(objective.system, deployment) & (demand > 0)[:, :, None]
    index = np.argwhere(free)
    if not index.size:
        empty = np.zeros(0, dtype=np.int64)
        return _Rows(index.reshape(0, 3), empty, empty.reshape(0, 1))
    _, row, counts = np.unique(
        index[:, 0] * demand.shape[1] + index[:, 1], return_inverse=True, return_counts=True
    )
    padded = np.full((counts.size, int(counts.max())), -1, dtype=np.int64)
    slot = np.arange(index.shape[0]) - np.concatenate([[0], np.cumsum(counts)[:-1]])[row]
    padded[row, slot] = np.arange(index.shape[0])
    return _Rows(index, row, padded)


def _project(v: FloatArray, rows: _Rows) -> FloatArray:
    """Euclidean projection of shares ``[B, V]`` onto each row's ``{y >= 0, sum y <= 1}``."""
    B = v.shape[0]
    pad = rows.padded >= 0
    z = np.where(pad[None], v[:, np.maximum(rows.padded, 0)], -np.inf)  # [B, R, M]
    clipped = np.maximum(z, 0.0)
    over = clipped.sum(axis=-1) > 1.0  # [B, R]: project onto the simplex sum y = 1
    srt = -np.sort(-z, axis=-1)
    srt_f = np.where(np.isfinite(srt), srt, 0.0)
    cum = np.cumsum(srt_f, axis=-1) - 1.0
    j = np.arange(1, z.shape[-1] + 1)
    cond = (srt - cum / j > 0) & np.isfinite(srt)
    rho = np.maximum(cond.sum(axis=-1), 1)
    theta = np.take_along_axis(cum, (rho - 1)[..., None], axis=-1)[..., 0] / rho
    simplex = np.maximum(z - theta[..., None], 0.0)
    out = np.where(over[..., None], simplex, clipped)
    result = np.empty((B, rows.size))
    result[:, rows.padded[pad]] = out[:, pad]
    return result


def _routings(base: FloatArray, rows: _Rows, v: FloatArray) -> FloatArray:
    """Routings ``[B, O, S, K]``: ``base`` with its free shares set to ``v`` ``[B, V]``."""
    y = np.repeat(base[None], v.shape[0], axis=0)
    o, s, k = rows.index.T
    y[:, o, s, k] = v
    return y


def _gradient(
    budget: _Budget, deployment: BoolArray, base: FloatArray, rows: _Rows, v: FloatArray, f: float
) -> FloatArray:
    """Forward-difference gradient of the objective in the free shares ``v`` (one batch).

    A share is stepped down where stepping it up would take its row above 1.
    """
    row_sum = np.bincount(rows.row, weights=v, minlength=rows.padded.shape[0])
    up = row_sum[rows.row] + FD_STEP <= 1.0
    step = np.where(up, FD_STEP, -FD_STEP)
    moved = np.repeat(v[None], v.size, axis=0)
    moved[np.arange(v.size), np.arange(v.size)] += step
    values = budget.scores(deployment, _routings(base, rows, moved))
    grad: FloatArray = (values - f) / step
    return grad


def _projected_gradient(
    budget: _Budget,
    deployment: BoolArray,
    base: FloatArray,
    rows: _Rows,
    v: FloatArray,
    f: float,
    reserve: int,
) -> tuple[FloatArray, float]:
    """Projected gradient steps from ``v`` while they improve and ``reserve`` is left over."""
    length = 0.0
    while budget.left() - reserve >= v.size + STEP_FACTORS.size:
        g = _gradient(budget, deployment, base, rows, v, f)
        scale = float(np.abs(g).max())
        if scale <= 0.0:
            break
        if length <= 0.0:
            length = 0.25 / scale
        trial = _project(v[None] - (length * STEP_FACTORS)[:, None] * g[None], rows)
        values = budget.scores(deployment, _routings(base, rows, trial))
        best = int(np.argmin(values))
        if not values[best] < f - IMPROVEMENT * abs(f):
            break
        v, f = trial[best], float(values[best])
        length *= float(STEP_FACTORS[best])
    return v, f


def _pattern_search(
    budget: _Budget,
    deployment: BoolArray,
    base: FloatArray,
    rows: _Rows,
    v: FloatArray,
    f: float,
    reserve: int,
) -> tuple[FloatArray, float]:
    """Pairwise moves of a share between two options of a row (rejection one of them).

    All moves of the current size are scored in one batch and the best improving one is
    taken; the size halves when none improves.
    """
    pad = rows.padded
    R, M = pad.shape
    # (row, from, to) over the options 0..M-1 of each row and M, the rejection
    a, b = np.meshgrid(np.arange(M + 1), np.arange(M + 1), indexing="ij")
    pairs = np.stack([a.ravel(), b.ravel()], axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    moves: list[tuple[int, int, int]] = []
    for r in range(R):
        n_opt = int((pad[r] >= 0).sum())
        ok = ((pairs[:, 0] < n_opt) | (pairs[:, 0] == M)) & (
            (pairs[:, 1] < n_opt) | (pairs[:, 1] == M)
        )
        moves.extend((r, int(i), int(j)) for i, j in pairs[ok])
    if not moves:
        return v, f
    mv = np.array(moves)
    src = np.where(mv[:, 1] == M, -1, pad[mv[:, 0], np.minimum(mv[:, 1], M - 1)])
    dst = np.where(mv[:, 2] == M, -1, pad[mv[:, 0], np.minimum(mv[:, 2], M - 1)])
    arange = np.arange(mv.shape[0])
    for delta in PATTERN_STEPS:
        while budget.left() - reserve >= mv.shape[0]:
            row_sum = np.bincount(rows.row, weights=v, minlength=R)
            avail = np.where(src >= 0, v[np.maximum(src, 0)], 1.0 - row_sum[mv[:, 0]])
            amount = np.minimum(delta, np.maximum(avail, 0.0))
            keep = amount > 1e-12
            if not keep.any():
                break
            trial = np.repeat(v[None], mv.shape[0], axis=0)
            has_src, has_dst = src >= 0, dst >= 0
            trial[arange[has_src], src[has_src]] -= amount[has_src]
            trial[arange[has_dst], dst[has_dst]] += amount[has_dst]
            trial = np.maximum(trial[keep], 0.0)
            values = budget.scores(deployment, _routings(base, rows, trial))
            best = int(np.argmin(values))
            if not values[best] < f - IMPROVEMENT * abs(f):
                break
            v, f = trial[best], float(values[best])
    return v, f


def refine_routing(
    objective: TwinObjective,
    deployment: BoolArray,
    routing: FloatArray,
    max_evaluations: int = MAX_EVALUATIONS,
) -> tuple[FloatArray, float, int]:
    """The routing of ``deployment`` optimised against the twin from ``routing``.

    Shares to candidates the deployment does not run are dropped first. Returns the routing, its
    objective (never above that of ``routing`` so cleaned) and the twin evaluations taken.
    """
    x = np.asarray(deployment, dtype=bool)
    budget = _Budget(objective, max_evaluations)
    rows = _rows(objective, x)
    base = np.where(usable_candidates(objective.system, x), np.asarray(routing, dtype=float), 0.0)
    base = np.maximum(base, 0.0)
    base /= np.maximum(base.sum(axis=-1, keepdims=True), 1.0)
    f = float(budget.scores(x, base[None])[0])
    if not rows.size:
        return base, f, budget.used
    o, s, k = rows.index.T
    v = base[o, s, k].copy()
    # keep a quarter of the work for the pattern search (its batches are larger per step)
    v, f = _projected_gradient(budget, x, base, rows, v, f, reserve=max_evaluations // 4)
    v, f = _pattern_search(budget, x, base, rows, v, f, reserve=0)
    return _routings(base, rows, v[None])[0], f, budget.used


def default_evaluations(objective: TwinObjective) -> int:
    """The default work of a slot's refinement, in twin evaluations.

    :data:`MAX_EVALUATIONS` decisions, or fewer where the system is large (:data:`WORK` flows
    scored in all).
    """
    sy = objective.system
    flows = sy.n_origins * sy.n_services * sy.n_candidates
    return int(max(1, min(MAX_EVALUATIONS, WORK // max(flows, 1))))


def _neighbours(
    objective: TwinObjective, deployment: BoolArray, routing: FloatArray
) -> list[tuple[BoolArray, FloatArray]]:
    """Deployments one move away that fit memory, each with the routing its search starts from.

    The moves: an instance dropped (its shares rejected), one added (nothing sent to it yet),
    one moved to another node (its shares sent there where the origin may use it). An
    instance is only added or moved where some origin with demand for its service can use it.
    """
    sy = objective.system
    demand = np.asarray(objective.inputs.demand, dtype=float)
    wanted = np.zeros((sy.n_services, sy.n_nodes), dtype=bool)
    for o, s in np.argwhere(demand > 0):
        wanted[s, sy.candidates[o][sy.admissible[o, s]]] = True
    used = (deployment * sy.service_memory[:, None]).sum(axis=0)

    def fits(s: int, n: int, freed: int = -1) -> bool:
        room = sy.memory[n] + (sy.service_memory[s] if n == freed else 0.0)
        return bool(used[n] + sy.service_memory[s] <= room + 1e-9)

    out = []
    for s, n in np.argwhere(deployment):
        x = deployment.copy()
        x[s, n] = False
        out.append((x, routing))
        for m in np.flatnonzero(~deployment[s] & sy.can_host[s] & wanted[s]):
            if not fits(int(s), int(m)):
                continue
            xm = x.copy()
            xm[s, m] = True
            y = routing.copy()
            for o in range(sy.n_origins):
                k_from = np.flatnonzero(sy.candidates[o] == n)
                k_to = np.flatnonzero((sy.candidates[o] == m) & sy.admissible[o, s])
                if k_from.size and k_to.size:
                    y[o, s, k_to[0]] += y[o, s, k_from[0]]
                    y[o, s, k_from[0]] = 0.0
            out.append((xm, y))
    for s, n in np.argwhere(~deployment & sy.can_host & wanted):
        if fits(int(s), int(n)):
            x = deployment.copy()
            x[s, n] = True
            out.append((x, routing))
    return out


def refine_decision(
    objective: TwinObjective,
    decision: Decision,
    max_evaluations: int | None = None,
    neighbours: int = NEIGHBOURS,
) -> Refinement:
    """``decision`` refined against the twin: its routing, then its deployment's neighbours.

    The routing of the decision's deployment is refined (:func:`refine_routing`). Then, while
    the deployment has at most ``neighbours`` neighbours (:func:`_neighbours`: one instance
    dropped, added or moved) and the work allows, each gets its routing refined with at most
    :data:`NEIGHBOUR_EVALUATIONS`; the best, if it beats the decision so far, is refined with
    more work and becomes the decision the next round starts from. ``max_evaluations``
    (default :func:`default_evaluations`) bounds the twin evaluations in all. The result is the
    best decision seen: never worse in the twin than the one given.
    """
    limit = default_evaluations(objective) if max_evaluations is None else max_evaluations
    x0 = np.asarray(decision.deployment, dtype=bool)
    y0 = np.asarray(decision.routing, dtype=float)
    start = objective.score(decision)
    used = 1
    best = Refinement(decision, start, start, used, "given")
    y, f, n = refine_routing(objective, x0, y0, limit // 4 if neighbours else limit)
    used += n
    if f < best.objective:
        best = Refinement(Decision(x0, y), f, start, used, "routing")
    while neighbours:
        x_best = np.asarray(best.decision.deployment, dtype=bool)
        near = _neighbours(objective, x_best, np.asarray(best.decision.routing, dtype=float))
        if not near or len(near) > neighbours:
            break
        each = min(NEIGHBOUR_EVALUATIONS, (limit - used) // (2 * len(near)))
        if each < 2:
            break
        found: tuple[float, BoolArray, FloatArray] | None = None
        for x, y_start in near:
            yn, fn, n = refine_routing(objective, x, y_start, each)
            used += n
            if fn < best.objective * (1 - IMPROVEMENT) and (found is None or fn < found[0]):
                found = fn, x, yn
        if found is None:
            break
        more = max(1, min(limit // 4, limit - used))
        yn, fn, n = refine_routing(objective, found[1], found[2], more)
        used += n
        best = Refinement(Decision(found[1], yn), fn, start, used, "deployment neighbour")
    return Refinement(best.decision, best.objective, start, used, best.source)
