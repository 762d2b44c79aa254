"""The regions' prices by a restricted master LP (Dantzig-Wolfe), for OPT by region.

:func:`~cnc6g.policies.opt.decompose.decompose_slot` bounds a slot by pricing what its regions
share and summing the regions' LP optima; the best bound any prices give is the whole model's
LP relaxation. The subgradient method stalls some 10-15 % below that LP at 50-200 cells; this
module finds the prices as the duals of a *master* LP over points the regions' LPs return.

The master holds what the regions share as columns and rows of its own:

- the binaries of the nodes several regions reach (instances, awake, tiers) are the master's
  columns, with their costs; a region's copy of such a binary costs it nothing, and a master
  row keeps it at most the master's value (a route needs an instance, a tier; a copy may use
  one only where the master pays for it);
- the model's rows over those nodes' columns alone (memory, an instance only on an awake node,
  one tier) are the master's rows on its columns, a node's load in them the sum of the loads
  the copies send it, and each node's load within its capacity;
- each shared wired link's use within its capacity;
- a master column per point ``v`` of a copy ``g``: its cost, its load on each shared node, its
  use of each shared link and its copies of the shared binaries; each copy's weights sum to 1.

Any point of the whole model's LP relaxation gives one of this LP of the same cost (each copy
its region's part, the master the shared binaries), so its optimum is no more than the whole
LP's, and equal to it since the rows a route shares with a binary only bound the route by it.
The Lagrangian value at the master's duals (:func:`_Master.bound`: the copies' LPs priced by
them, the master's columns at their best within their bounds) is a lower bound for any
duals; the copies' optima at the duals are the next columns, and the master's optimum and the
best bound meet at the whole LP's (Dantzig and Wolfe's decomposition, whose dual is Kelley's
cutting planes on the Lagrangian). Two stabilisers keep the first iterations' duals, set by a
handful of columns, from swinging: slack columns on the master's rows hold each dual in a box
around the best bound's (:data:`BOX`, :data:`BOX_FLOOR`), and the duals the copies are priced
at are smoothed towards the best bound's (Wentges' rule, :data:`SMOOTHING`). The master
starts from each copy's point that rejects every task (so that it is feasible) and its point
at zero prices. The decision is recovered from the copies' parts of the master's optimum, as
from the whole LP's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from cnc6g.policies.opt.highs import MatrixFormat, new_solver, sparse_lp
from cnc6g.twin.system import FloatArray, IntArray

if TYPE_CHECKING:  # the decomposition's types; it imports this module
    from cnc6g.policies.opt.decompose import RegionSolver, _Layout

SMOOTHING = 0.9
"""Weight of the best bound's duals in the duals the copies are priced at (Wentges)."""

BOX = 0.2
"""Half-width of the box the master's duals are kept in around the best bound's, relative."""

BOX_FLOOR = 1.0
"""Smallest half-width of the box, J per unit of a row."""

TOLERANCE = 1e-5
"""Relative distance of the master's optimum from the best bound at which the iterations stop."""


class _Master:
    """The restricted master LP and the copies' points its columns stand for."""

    def __init__(self, layout: _Layout) -> None:
        self.layout = layout
        built, copies = layout.built, layout.copies
        G = len(copies)
        model = built.model
        lp, _ = model.to_lp(relax=True)
        n = model.n_cols
        col_lo = np.asarray(lp.col_lower_, dtype=float)
        col_hi = np.asarray(lp.col_upper_, dtype=float)
        # the shared nodes' columns: their binaries (the master's) and their loads (the copies')
        binary = np.zeros(n, dtype=bool)
        binary[built.x] = True
        binary[built.a[built.a >= 0]] = True
        binary[built.z[built.z >= 0]] = True
        shared = layout.in_copies > 1
        self.binaries = np.flatnonzero(binary & shared)
        is_load = np.zeros(n, dtype=bool)
        is_load[built.load] = True
        loads = np.flatnonzero(is_load & shared)
        # the master's rows: those over the shared nodes' columns alone, and those over the
        # columns of several regions but no load (shared links, a node's tier capacity)
        start, rcols, rvals = model.rows_csr
        n_rows = start.size - 1
        row_of = np.repeat(np.arange(n_rows), np.diff(start))
        node_col = binary | is_load
        owner = layout.col_region  # the copy (region) of each region's column
        first, last = layout.row_regions
        has = np.zeros((3, n_rows), dtype=bool)  # a load; a shared node's column; another's
        np.logical_or.at(has[0], row_of, is_load[rcols])
        np.logical_or.at(has[1], row_of, node_col[rcols] & shared[rcols])
        np.logical_or.at(has[2], row_of, ~(node_col[rcols] & shared[rcols]))
        node_only = has[1] & ~has[2]
        across = (last > first) & (last >= 0) & ~has[0]
        picked = np.flatnonzero(node_only | across)
        row_lo = np.asarray(lp.row_lower_, dtype=float)
        row_hi = np.asarray(lp.row_upper_, dtype=float)
        # master rows: [convexity G | picked rows | load bounds | agreement]
        k_rows = G
        k_load = k_rows + picked.size
        k_agree = k_load + loads.size
        entries = np.isin(row_of, picked)
        e_row = np.searchsorted(picked, row_of[entries]) + k_rows
        e_col, e_val = rcols[entries], rvals[entries]
        # each copy's map from its point to its master column's entries (but convexity)
        triplets = []
        self.unit: list[FloatArray] = []
        # the master's binaries: their entries in the picked rows, -1 in the agreement rows
        on_bin = binary[e_col] & shared[e_col]
        b_rows = [e_row[on_bin]]
        b_cols = [np.searchsorted(self.binaries, e_col[on_bin])]
        b_vals = [e_val[on_bin]]
        k = k_agree
        for g, c in enumerate(copies):
            local = np.full(n, -1, dtype=np.int64)
            local[c.cols] = np.arange(c.cols.size)
            rows, cols, vals = [], [], []
            # its region's columns, and its part of a shared node's load
            mine = (owner[e_col] == g) | (is_load[e_col] & (local[e_col] >= 0))
            rows.append(e_row[mine])
            cols.append(local[e_col[mine]])
            vals.append(e_val[mine])
            held = local[loads] >= 0
            rows.append(k_load + np.flatnonzero(held))
            cols.append(local[loads[held]])
            vals.append(np.ones(int(held.sum())))
            own_b = self.binaries[local[self.binaries] >= 0]
            rows.append(k + np.arange(own_b.size))
            cols.append(local[own_b])
            vals.append(np.ones(own_b.size))
            b_rows.append(k + np.arange(own_b.size))
            b_cols.append(np.searchsorted(self.binaries, own_b))
            b_vals.append(-np.ones(own_b.size))
            k += own_b.size
            triplets.append((rows, cols, vals, c.cols.size))
            unit = layout.cost[c.cols] * layout.share[g]
            unit[local[own_b]] = 0.0  # the master pays for the shared binaries
            self.unit.append(unit)
        self.n_rows = k
        self.maps = [_csr(*t, height=k) for t in triplets]
        self.lo = np.full(k, -np.inf)
        self.hi = np.full(k, np.inf)
        self.lo[:G] = self.hi[:G] = 1.0
        self.lo[k_rows:k_load] = row_lo[picked]
        self.hi[k_rows:k_load] = row_hi[picked]
        self.hi[k_load:k_agree] = col_hi[loads]
        self.hi[k_agree:] = 0.0
        self.coupling = slice(G, k)
        # the bound each priced row is held at (0 where there is none: its dual is 0 there)
        self.finite = (
            np.where(np.isfinite(self.lo), self.lo, 0.0),
            np.where(np.isfinite(self.hi), self.hi, 0.0),
        )
        self.bmap = sp.csc_matrix(
            (np.concatenate(b_vals), (np.concatenate(b_rows), np.concatenate(b_cols))),
            shape=(k, self.binaries.size),
        )
        self.b_cost = layout.cost[self.binaries]
        self.b_lo, self.b_hi = col_lo[self.binaries], col_hi[self.binaries]
        m = sparse_lp(
            self.b_cost,
            (self.b_lo, self.b_hi),
            (self.lo, self.hi),
            (MatrixFormat.kColwise, self.bmap.indptr, self.bmap.indices, self.bmap.data),
        )
        self.h = new_solver(1e9, 0.0)
        self.h.passModel(m)
        # a pair of slack columns on each coupling row, whose costs keep its dual in a box
        # (:meth:`centre`); the copies' points follow them
        boxed = np.arange(G, k, dtype=np.int32)
        n_box = 2 * boxed.size
        self.h.addCols(
            n_box,
            np.zeros(n_box),
            np.zeros(n_box),
            np.full(n_box, np.inf),
            n_box,
            np.arange(n_box, dtype=np.int32),
            np.concatenate([boxed, boxed]),
            np.concatenate([np.ones(boxed.size), -np.ones(boxed.size)]),
        )
        self.box_cols = self.binaries.size + np.arange(n_box, dtype=np.int32)
        self.offset = self.binaries.size + n_box  # the master's columns before the points
        self.points: list[tuple[int, FloatArray]] = []

    def centre(self, y: FloatArray, width: FloatArray) -> None:
        """Keep the coupling rows' duals within ``width`` of ``y``.

        A slack adding to a row at cost ``c`` caps its dual at ``c``, one taking from it at
        cost ``c`` holds it at ``-c`` or more; while a slack is in use (:meth:`boxed`) the
        master's optimum is not a point of the whole LP.
        """
        yc = y[self.coupling]
        w = width[self.coupling]
        cost = np.concatenate([yc + w, w - yc])
        self.h.changeColsCost(self.box_cols.size, self.box_cols, cost)

    def add(self, points: list[tuple[int, FloatArray]]) -> None:
        """Add copy points ``(copy, values)`` as master columns."""
        cost, starts, index, value = [], [0], [], []
        for g, v in points:
            entries = self.maps[g] @ v
            rows = np.flatnonzero(entries)
            index.append(np.concatenate([[g], rows]))
            value.append(np.concatenate([[1.0], entries[rows]]))
            cost.append(float(self.unit[g] @ v))
            starts.append(starts[-1] + index[-1].size)
        count = len(points)
        self.h.addCols(
            count,
            np.asarray(cost),
            np.zeros(count),
            np.full(count, np.inf),
            int(starts[-1]),
            np.asarray(starts[:-1], dtype=np.int32),
            np.concatenate(index).astype(np.int32),
            np.concatenate(value),
        )
        self.points.extend(points)

    def solve(self) -> tuple[float, FloatArray]:
        """The master's optimum (with the model's offset) and its coupling rows' duals."""
        h = self.h
        h.run()
        if h.modelStatusToString(h.getModelStatus()) != "Optimal":
            raise RuntimeError("the regions' master LP was not solved to optimality")
        dual = np.asarray(h.getSolution().row_dual, dtype=float)
        value = float(h.getInfo().objective_function_value) + self.layout.offset
        return value, self._signed(dual)

    def boxed(self) -> bool:
        """Whether the master's optimum uses a slack of the box (its duals are held back)."""
        values = np.asarray(self.h.getSolution().col_value, dtype=float)
        return bool(values[self.box_cols].max(initial=0.0) > 1e-9)

    def _signed(self, dual: FloatArray) -> FloatArray:
        """``dual`` with the convexity rows' set to 0 and each other's sign as its row allows."""
        y = dual.copy()
        y[: self.coupling.start] = 0.0
        y[(y > 0) & ~np.isfinite(self.lo)] = 0.0
        y[(y < 0) & ~np.isfinite(self.hi)] = 0.0
        return y

    def costs(self, y: FloatArray) -> list[FloatArray]:
        """Each copy's column costs priced by the master's duals ``y``."""
        return [u - m.T @ y for u, m in zip(self.unit, self.maps, strict=True)]

    def bound(self, y: FloatArray, total: float) -> float:
        """The Lagrangian value at ``y``, given the sum of the copies' optima at :meth:`costs`.

        The master's binaries take their best value within their bounds at the priced cost,
        and each priced row adds its dual times the bound it is held at.
        """
        d = self.b_cost - self.bmap.T @ y
        binaries = float(np.sum(np.where(d > 0, d * self.b_lo, d * self.b_hi)))
        lo, hi = self.finite
        rows = float(np.sum(np.where(y > 0, y * lo, y * hi)))
        return float(total + binaries + rows + self.layout.offset)

    def parts(self) -> list[FloatArray]:
        """Each copy's part of the master's optimum: its points weighted by their columns."""
        weight = np.asarray(self.h.getSolution().col_value, dtype=float)[self.offset :]
        parts = [np.zeros(c.cols.size) for c in self.layout.copies]
        for w, (g, v) in zip(weight, self.points, strict=True):
            if w > 0:
                parts[g] += w * v
        return parts


def _csr(
    rows: list[IntArray], cols: list[IntArray], vals: list[FloatArray], width: int, height: int
) -> sp.csr_matrix:
    """A sparse ``height`` x ``width`` matrix from its entries."""
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    return sp.csr_matrix((v, (r, c)), shape=(height, width))


def reject_all_costs(layout: _Layout) -> list[FloatArray]:
    """Costs under which each copy's LP rejects every task: 1 on every column but rejections."""
    rejections = np.zeros(layout.cost.size, dtype=bool)
    rejections[layout.built.u] = True
    return [np.where(rejections[c.cols], 0.0, 1.0) for c in layout.copies]


def master_prices(
    layout: _Layout,
    work: RegionSolver,
    iterations: int,
    recover: Callable[[list[FloatArray]], float],
) -> tuple[float, list[float]]:
    """The regions' prices by the master LP; returns the best bound and each iteration's.

    Each iteration solves the master, prices the copies at its duals smoothed towards those of
    the best bound so far, and adds the copies' optima as columns; it stops after
    ``iterations`` copy solves or once the master's optimum is within :data:`TOLERANCE` of the
    best bound. ``recover`` is called once, with the copies' parts of the last master's optimum.
    """
    master = _Master(layout)
    start = _solved(work, reject_all_costs(layout))
    centre = np.zeros(master.n_rows)
    results = _solved(work, master.costs(centre))
    best = master.bound(centre, sum(obj for obj, _ in results))
    history = [best]
    master.add([(g, v) for g, (_, v) in enumerate(start)])
    master.add([(g, v) for g, (_, v) in enumerate(results)])
    width = np.full(master.n_rows, BOX_FLOOR)
    master.centre(centre, width)
    last = np.inf
    for _ in range(iterations - 1):
        upper, duals = master.solve()
        if upper - best <= TOLERANCE * max(abs(best), 1.0):
            if not master.boxed():  # the master's optimum is the whole LP's: the bound meets it
                break
            width *= 2  # the box holds the duals back: widen it
            master.centre(centre, width)
            continue
        # the master did not move with the last (smoothed) columns: price at its duals, where
        # a copy either finds a better column or the bound meets the master
        weight = SMOOTHING if upper < last - TOLERANCE * max(abs(upper), 1.0) else 0.0
        last = upper
        y = weight * centre + (1 - weight) * duals
        results = _solved(work, master.costs(y))
        value = master.bound(y, sum(obj for obj, _ in results))
        history.append(value)
        if value > best:
            best, centre = value, y
            width = np.maximum(BOX * np.abs(centre), BOX_FLOOR)
            master.centre(centre, width)
        master.add([(g, v) for g, (_, v) in enumerate(results)])
    else:
        master.solve()
    recover(master.parts())
    return best, history


def _solved(work: RegionSolver, costs: list[FloatArray]) -> list[tuple[float, FloatArray]]:
    """Each copy's LP optimum at ``costs``; every copy must be solved to optimality."""
    out = []
    for obj, v in work.solve_lps(costs):
        if v is None:
            raise RuntimeError("a region's LP was not solved to optimality")
        out.append((obj, v))
    return out
