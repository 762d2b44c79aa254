"""Valid inequalities that tighten the slot model's LP relaxation without changing its optimum.

Each is a row every integer point of the model satisfies, added by
:func:`add_strengthening_rows` after the model's own rows. They are stated and argued in
``docs/opt.md`` (*Strengthening*).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the model's builders call this module; it only reads their data
    from cnc6g.policies.opt.model import LinearModel, _Columns, _Slot


ENABLED = True
"""Whether the model gets these rows (off only to compare with the plain model)."""


def add_strengthening_rows(m: LinearModel, slot: _Slot, cols: _Columns) -> None:
    """Add every valid inequality of this module to ``m`` (unless :data:`ENABLED` is off)."""
    if ENABLED:
        _instance_capacity_rows(m, slot, cols)


def _instance_capacity_rows(m: LinearModel, slot: _Slot, cols: _Columns) -> None:
    """An instance carries at most its node's capacity, and only while it runs.

    ``sum_{r to p} lam_r w_s y_r / tau - rho_max C_n x_p <= 0`` for each instance ``p`` of
    service ``s`` on node ``n``. Valid: with ``x_p = 0`` its routes carry nothing
    (``y_r <= x_p``); with ``x_p = 1`` its load is part of the node's, at most ``rho_max C_n``.
    The model's rows only bound each route by ``x_p`` and the node's total by its capacity, so
    that the relaxation may run an instance at the share of the node's capacity its load takes
    (a device full with one service's load then pays a fraction of the instance); with these
    rows that instance is whole.

    Only instances whose routes could send more than the node's capacity get a row: for the
    others it follows from ``y_r <= x_p``.
    """
    sy = slot.system
    load_r = slot.lam_r * sy.work[slot.rs] / sy.slot_s
    cap = sy.admission_utilisation * sy.capacity[slot.pn]
    most = np.bincount(slot.inv, load_r, slot.ps.size)  # the instance's load, every route full
    binds = np.flatnonzero(most > cap * (1 + 1e-9))
    row = np.full(slot.ps.size, -1, dtype=np.int64)
    row[binds] = np.arange(binds.size)
    routes = np.flatnonzero(row[slot.inv] >= 0)
    m.rows(
        binds.size,
        np.concatenate([row[slot.inv[routes]], np.arange(binds.size)]),
        np.concatenate([cols.y[routes], cols.x[binds]]),
        np.concatenate([load_r[routes], -cap[binds]]),
        -np.inf,
        0.0,
    )
