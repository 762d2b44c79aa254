"""How a node's power grows with its utilisation: the share of its dynamic range it draws.

An awake node draws ``idle + (peak - idle) * g(u)`` at utilisation ``u``; this module gives
``g`` per node from the scenario's :class:`~cnc6g.model.PowerModel`:

- ``linear``: ``g(u) = u`` (the default; the twin then uses ``u`` itself, so results of scenarios
  that do not choose another model are bit for bit those of the linear twin);
- ``fan2007``: ``g(u) = 2u - u^r``, the empirical curve Fan, Weber and Barroso fitted to measured
  servers (ISCA 2007, r = 1.4 there);
- ``measured``: piecewise linear through the eleven points of a SPECpower_ssj2008 result (active
  idle, 10 % ... 100 % target load), normalised to the node's idle and peak.

Utilisation is clipped to ``[0, 1]`` first. Policies that price a gigacycle at the node's mean
slope ``(peak - idle) / capacity`` see the secant of the curve; the twin charges the curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnc6g.model import PowerModel
from cnc6g.model.infra import POWER_CURVE_POINTS
from cnc6g.twin.system import BoolArray, FloatArray, System, per_system


@dataclass(frozen=True)
class PowerShapes:
    """The non-linear nodes of a system and their curves."""

    fan: BoolArray  # [N] nodes on the fan2007 curve
    exponent: FloatArray  # [N] its exponent r (1 elsewhere)
    measured: BoolArray  # [N] nodes with a measured curve
    curve: FloatArray  # [N, 11] g at u = 0, 0.1, ..., 1 (the identity elsewhere)


@per_system
def power_shapes(system: System) -> PowerShapes | None:
    """The curves of the system's nodes, or ``None`` when every node is linear."""
    by_name = {n.name: n for d in system.scenario.domains for n in d.nodes}
    nodes = [by_name[name] for name in system.node_names]
    models = [n.power_model for n in nodes]
    if all(m is PowerModel.LINEAR for m in models):
        return None
    grid = np.linspace(0.0, 1.0, POWER_CURVE_POINTS)
    curve = np.tile(grid, (len(nodes), 1))
    exponent = np.ones(len(nodes))
    for i, node in enumerate(nodes):
        if node.power_model is PowerModel.FAN2007:
            exponent[i] = node.power_exponent
        elif node.power_model is PowerModel.MEASURED and node.power_curve_w is not None:
            span = node.peak_power_w - node.idle_power_w
            points = np.asarray(node.power_curve_w) - node.idle_power_w
            curve[i] = points / span if span > 0 else np.zeros(POWER_CURVE_POINTS)
    return PowerShapes(
        fan=np.array([m is PowerModel.FAN2007 for m in models]),
        exponent=exponent,
        measured=np.array([m is PowerModel.MEASURED for m in models]),
        curve=curve,
    )


def dynamic_share(system: System, utilisation: FloatArray) -> FloatArray:
    """``g(u)``: the share of each node's dynamic power drawn at ``utilisation`` ``[..., N]``.

    Returns ``utilisation`` itself (not a copy) when every node is linear.
    """
    shapes = power_shapes(system)
    if shapes is None:
        return utilisation
    u = np.clip(utilisation, 0.0, 1.0)
    out = u.copy()
    if shapes.fan.any():
        uf = u[..., shapes.fan]
        out[..., shapes.fan] = 2.0 * uf - uf ** shapes.exponent[shapes.fan]
    if shapes.measured.any():
        um = u[..., shapes.measured]
        curve = shapes.curve[shapes.measured]  # [M, 11]
        steps = POWER_CURVE_POINTS - 1
        pos = um * steps
        lo = np.minimum(pos.astype(np.int64), steps - 1)
        frac = pos - lo
        cols = np.arange(curve.shape[0])
        below = curve[cols, lo]
        above = curve[cols, lo + 1]
        out[..., shapes.measured] = below + frac * (above - below)
    return out
