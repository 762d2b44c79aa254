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
from cnc6g.policies.opt.highs import HighsLp, MatrixFormat, new_solver, primal
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

GRADIENT_SHARE = 10
"""The projected gradient steps run only where one gradient takes at most ``1 / GRADIENT_SHARE``
of the work (on large systems the LP steps, which also cross the admission kinks, get it all)."""

SHRINK = 1e-4
"""Relative cut of every share at which the sequential LP takes its gradient (inside the limits)."""

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


def _load_rows(objective: TwinObjective, rows: _Rows) -> tuple[FloatArray, FloatArray]:
    """Compute load per unit of each free share, ``[N, V]``, and each node's admission limit."""
    sy = objective.system
    o, s, k = rows.index.T
    demand = np.asarray(objective.inputs.demand, dtype=float)
    per_share = np.zeros((sy.n_nodes, rows.size))
    per_share[sy.candidates[o, k], np.arange(rows.size)] = demand[o, s] * sy.work[s] / sy.slot_s
    return per_share, sy.admission_utilisation * sy.capacity


def _direction(
    g: FloatArray,
    v: FloatArray,
    rows: _Rows,
    loads: tuple[FloatArray, FloatArray],
    radius: float,
) -> FloatArray | None:
    """The LP step: ``d`` minimising ``g . d`` (``None`` where none descends).

    ``v + d`` stays in each row's simplex and every node's offered load within its admission
    limit (or not above where it is), and ``|d| <= radius``.
    """
    per_share, limit = loads
    V = rows.size
    R = rows.padded.shape[0]
    load = per_share @ v
    room = np.maximum(limit - load, 0.0)
    lp = HighsLp()
    lp.num_col_ = V
    lp.num_row_ = R + per_share.shape[0]
    lp.col_cost_ = g
    lp.col_lower_ = np.maximum(-v, -radius)
    lp.col_upper_ = np.minimum(1.0 - v, radius)
    row_sum = np.bincount(rows.row, weights=v, minlength=R)
    a = np.zeros((lp.num_row_, V))
    a[rows.row, np.arange(V)] = 1.0
    a[R:] = per_share
    lp.row_lower_ = np.full(lp.num_row_, -np.inf)
    lp.row_upper_ = np.concatenate([np.maximum(1.0 - row_sum, 0.0), room])
    r, c = np.nonzero(a)
    lp.a_matrix_.format_ = MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = V
    lp.a_matrix_.num_row_ = lp.num_row_
    lp.a_matrix_.start_ = np.searchsorted(r, np.arange(lp.num_row_ + 1)).astype(np.int32)
    lp.a_matrix_.index_ = c.astype(np.int32)
    lp.a_matrix_.value_ = a[r, c]
    h = new_solver(10.0, 0.0)
    h.passModel(lp)
    h.run()
    d = primal(h, V)
    if d is None or float(g @ d) >= 0.0:
        return None
    return d


def _reach(
    v: FloatArray, d: FloatArray, rows: _Rows, loads: tuple[FloatArray, FloatArray]
) -> float:
    """How far along ``d`` from ``v`` the step stays feasible.

    The shares stay in their rows' simplices and the nodes within their limits; at least 1
    (``d`` itself is feasible).
    """
    per_share, limit = loads
    with np.errstate(divide="ignore", invalid="ignore"):
        t_zero = np.where(d < 0, -v / d, np.inf).min(initial=np.inf)
        rs = np.bincount(rows.row, weights=v, minlength=rows.padded.shape[0])
        rd = np.bincount(rows.row, weights=d, minlength=rows.padded.shape[0])
        t_row = np.where(rd > 0, (1.0 - rs) / rd, np.inf).min(initial=np.inf)
        ld = per_share @ d
        room = np.maximum(limit - per_share @ v, 0.0)
        t_load = np.where(ld > 1e-12, room / ld, np.inf).min(initial=np.inf)
    return float(max(1.0, min(t_zero, t_row, t_load, 1e6)))


def _sequential_lp(
    budget: _Budget,
    deployment: BoolArray,
    base: FloatArray,
    rows: _Rows,
    v: FloatArray,
    f: float,
    reserve: int,
) -> tuple[FloatArray, float]:
    """Sequential LP steps with a trust region, nodes kept within their admission limit.

    At a node's admission limit the objective has a kink: sending more there is rejected, so
    the forward differences see the penalty and a gradient step cannot trade one origin's share
    of the node for another's. Here the gradient is taken a little inside the limits (every
    share scaled by ``1 - SHRINK``), and the LP finds the best step with each node's offered
    load kept within its limit, so such trades are found; the step is scored along its length
    in one batch of the twin and taken where it improves.
    """
    loads = _load_rows(budget.objective, rows)
    radius = 0.25
    while budget.left() - reserve >= rows.size + STEP_FACTORS.size and radius > 1e-5:
        inside = v * (1.0 - SHRINK)
        f_in = float(budget.scores(deployment, _routings(base, rows, inside[None]))[0])
        g = _gradient(budget, deployment, base, rows, inside, f_in)
        d = _direction(g, v, rows, loads, radius)
        if d is None:
            break
        reach = _reach(v, d, rows, loads)
        ts = reach * 2.0 ** -np.arange(0, 14)
        trial = np.maximum(v[None] + ts[:, None] * d[None], 0.0)
        values = budget.scores(deployment, _routings(base, rows, trial))
        best = int(np.argmin(values))
        if not values[best] < f - IMPROVEMENT * abs(f):
            radius /= 4.0
            continue
        v, f = trial[best], float(values[best])
        radius = min(1.0, radius * 2.0) if best == 0 else radius
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
    # a third of the work each for the gradient steps, the sequential LP and the pattern search;
    # where one gradient takes more than a tenth of the work, none for the gradient steps
    if rows.size * GRADIENT_SHARE <= max_evaluations:  # else the LP steps get the work
        v, f = _projected_gradient(budget, x, base, rows, v, f, 2 * max_evaluations // 3)
    v, f = _sequential_lp(budget, x, base, rows, v, f, reserve=max_evaluations // 3)
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


def _wanted(objective: TwinObjective) -> BoolArray:
    """``[S, N]`` instances some origin with demand for the service may use."""
    sy = objective.system
    demand = np.asarray(objective.inputs.demand, dtype=float)
    wanted = np.zeros((sy.n_services, sy.n_nodes), dtype=bool)
    o, s, k = np.nonzero((demand > 0)[:, :, None] & sy.admissible)
    wanted[s, sy.candidates[o, k]] = True
    return wanted


def _neighbour_count(objective: TwinObjective, deployment: BoolArray) -> int:
    """How many neighbours :func:`_neighbours` gives, at most (memory not checked)."""
    sy = objective.system
    open_ = ~deployment & sy.can_host & _wanted(objective)  # [S, N] where one may go
    per_service = open_.sum(axis=1)
    placed = deployment.sum(axis=1)
    return int(placed.sum() + (placed * per_service).sum() + open_.sum())


def _neighbours(
    objective: TwinObjective, deployment: BoolArray, routing: FloatArray
) -> list[tuple[BoolArray, FloatArray]]:
    """Deployments one move away that fit memory, each with the routing its search starts from.

    The moves: an instance dropped (its shares rejected), one added (nothing sent to it yet),
    one moved to another node (its shares sent there where the origin may use it). An
    instance is only added or moved where some origin with demand for its service can use it.
    """
    sy = objective.system
    wanted = _wanted(objective)
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
    few = 0 < _neighbour_count(objective, x0) <= neighbours
    y, f, n = refine_routing(objective, x0, y0, limit // 4 if few else limit)
    used += n
    if f < best.objective:
        best = Refinement(Decision(x0, y), f, start, used, "routing")
    while neighbours:
        x_best = np.asarray(best.decision.deployment, dtype=bool)
        if _neighbour_count(objective, x_best) > neighbours:
            break
        near = _neighbours(objective, x_best, np.asarray(best.decision.routing, dtype=float))
        if not near:
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
