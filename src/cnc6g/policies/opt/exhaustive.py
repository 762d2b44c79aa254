"""Exhaustive search of a tiny slot against the twin: the reference OPT is measured against.

:func:`exhaustive_search` scores every deployment (every subset of the hostable instances that
fits memory, less new instances no demand can use) with every routing on a grid of shares, then
runs a pattern search on the routing of the best few deployments. Only for slots of a few
services and nodes: the work grows with the product of the rows' grids.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnc6g.model.decision import Decision
from cnc6g.policies.base import usable_candidates
from cnc6g.policies.opt.refine import refine_routing
from cnc6g.policies.opt.twin_objective import TwinObjective
from cnc6g.twin.system import BoolArray, FloatArray

GRID_LIMIT = 4_000
"""Most grid routings of one deployment; above it, only whole rows to one option."""

REFERENCE_EVALUATIONS = 40_000
"""Twin evaluations of the gradient refinement of each deployment the reference searches."""

STARTS = 3
"""Best grid routings of a deployment the reference's searches start from (a node overloaded
beyond its admission limit is a plateau of the objective, where a search from one start stalls)."""

SEARCH_STEPS = 2.0 ** -np.arange(1, 15)
"""Share moved between two options of a row by the reference's pattern search."""


@dataclass(frozen=True, eq=False)
class Exhaustive:
    """The best decision found and the work it took."""

    decision: Decision
    objective: float  # the twin's objective of ``decision``, J
    deployments: int  # deployments scored
    evaluations: int  # decisions scored in the twin


def _share_grid(m: int, steps: int) -> FloatArray:
    """Every share vector over ``m`` options in multiples of ``1 / steps`` summing to <= 1."""
    grid = [c for c in itertools.product(range(steps + 1), repeat=m) if sum(c) <= steps]
    return np.array(grid, dtype=float).reshape(-1, m) / steps


def _deployments(objective: TwinObjective) -> list[BoolArray]:
    """Every deployment that fits memory, without new instances that no demand can use."""
    sy = objective.system
    demand = np.asarray(objective.inputs.demand, dtype=float)
    prev = np.asarray(objective.inputs.previous, dtype=bool)
    wanted = np.zeros((sy.n_services, sy.n_nodes), dtype=bool)
    for o, s in np.argwhere(demand > 0):
        wanted[s, sy.candidates[o][sy.admissible[o, s]]] = True
    hosts = np.argwhere(sy.can_host & (wanted | prev))
    out = []
    for on in itertools.product([False, True], repeat=len(hosts)):
        x = np.zeros((sy.n_services, sy.n_nodes), dtype=bool)
        x[hosts[:, 0], hosts[:, 1]] = on
        if ((x * sy.service_memory[:, None]).sum(axis=0) <= sy.memory + 1e-9).all():
            out.append(x)
    return out


def _grid_routings(objective: TwinObjective, x: BoolArray, steps: int) -> FloatArray:
    """Every routing of deployment ``x`` on the share grid, ``[G, O, S, K]``."""
    sy = objective.system
    demand = np.asarray(objective.inputs.demand, dtype=float)
    usable = usable_candidates(sy, x)
    rows = [(o, s, np.flatnonzero(usable[o, s])) for o, s in np.argwhere(demand > 0)]
    rows = [r for r in rows if r[2].size]
    size = 1
    for _, _, ks in rows:
        size *= _share_grid(ks.size, steps).shape[0]
    if size > GRID_LIMIT and steps > 1:
        return _grid_routings(objective, x, 1)
    grids = [_share_grid(ks.size, steps) for _, _, ks in rows]
    shape = (sy.n_origins, sy.n_services, sy.n_candidates)
    if not rows:
        return np.zeros((1, *shape))
    idx = np.array(list(itertools.product(*[range(g.shape[0]) for g in grids])))
    y = np.zeros((idx.shape[0], *shape))
    for j, ((o, s, ks), g) in enumerate(zip(rows, grids, strict=True)):
        y[:, o, s, ks] = g[idx[:, j]]
    return y


def pattern_search(
    objective: TwinObjective, x: BoolArray, y: FloatArray, f: float
) -> tuple[FloatArray, float, int]:
    """Pairwise moves of shares between two options of a row (rejection one), coarse to fine.

    Returns the routing, its objective and the evaluations taken.
    """
    sy = objective.system
    demand = np.asarray(objective.inputs.demand, dtype=float)
    usable = usable_candidates(sy, x)
    moves: list[tuple[int, int, int, int]] = []  # (o, s, from k or -1, to k or -1)
    for o, s in np.argwhere(demand > 0):
        options = [*np.flatnonzero(usable[o, s]).tolist(), -1]
        moves.extend((int(o), int(s), a, b) for a in options for b in options if a != b)
    if not moves:
        return y, f, 0
    used = 0
    for delta in SEARCH_STEPS:
        while True:
            trials = []
            for o, s, a, b in moves:
                avail = y[o, s, a] if a >= 0 else 1.0 - y[o, s].sum()
                amount = min(delta, avail)
                if amount <= 1e-12:
                    continue
                t = y.copy()
                if a >= 0:
                    t[o, s, a] = max(t[o, s, a] - amount, 0.0)
                if b >= 0:
                    t[o, s, b] += amount
                trials.append(t)
            if not trials:
                break
            batch = np.stack(trials)
            values = objective.scores(x, batch)
            used += batch.shape[0]
            best = int(np.argmin(values))
            if not values[best] < f - 1e-12 * abs(f):
                break
            y, f = batch[best], float(values[best])
    return y, f, used


def exhaustive_search(
    objective: TwinObjective,
    steps: int = 2,
    keep: int = 4,
    also: Sequence[BoolArray] = (),
    gradient: bool = True,
) -> Exhaustive:
    """The best decision of the slot found by exhaustive search.

    Every deployment is scored with every routing on a grid of ``steps`` per unit share
    (whole rows only where the grid of a deployment exceeds :data:`GRID_LIMIT` routings); the
    ``keep`` best deployments, and those in ``also``, then get a pattern search on their
    routing from each of their :data:`STARTS` best grid points and, with ``gradient``, the
    projected-gradient routing refinement (:func:`~cnc6g.policies.opt.refine.refine_routing`)
    from the same points.
    """
    deployments = _deployments(objective)
    starts: list[FloatArray] = []  # [starts, O, S, K] best grid points of each deployment
    best_f = np.empty(len(deployments))
    used = 0
    for i, x in enumerate(deployments):
        y = _grid_routings(objective, x, steps)
        values = objective.scores(x, y)
        used += y.shape[0]
        top = np.argsort(values, kind="stable")[:STARTS]
        starts.append(y[top])
        best_f[i] = values[top[0]]
    order = list(np.argsort(best_f, kind="stable")[:keep])
    for x in also:
        match = [i for i, d in enumerate(deployments) if np.array_equal(d, x)]
        if match and match[0] not in order:
            order.append(match[0])
    winner: tuple[float, BoolArray, FloatArray] | None = None
    for i in order:
        x = deployments[i]
        for y0 in starts[i]:
            f0 = float(objective.scores(x, y0[None])[0])
            y, f, n = pattern_search(objective, x, y0, f0)
            used += n + 1
            if winner is None or f < winner[0]:
                winner = f, x, y
            if gradient:
                y, f, n = refine_routing(objective, x, y0, REFERENCE_EVALUATIONS)
                used += n
                if f < winner[0]:
                    winner = f, x, y
    assert winner is not None
    return Exhaustive(Decision(winner[1], winner[2]), winner[0], len(deployments), used)
