"""Builders the tests share: hand-built systems and one-step helpers."""

import numpy as np

from cnc6g.twin import Twin


def greedy_step(agents, system, seed=3):
    """What ``agents`` do without exploration on the first slot of two copies of ``system``."""
    twin = Twin(system, batch=2, seed=seed)
    return agents.act(
        twin.demand.astype(float),
        twin.uplink_mbps,
        twin.deployment,
        twin.utilisation,
        0.0,
        0.0,
        np.random.default_rng(0),
    )
