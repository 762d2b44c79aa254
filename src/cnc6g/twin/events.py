"""Events of the twin that change the system itself while it runs (a node failure, a radio drop).

A change of the demand pattern (a hotspot shift, a new popularity ranking) is part of the
workload model (:class:`~cnc6g.model.HotspotShift`): the twin's demand follows it and policies
see it in their observations, as a real orchestrator would detect it. An event here changes what
the infrastructure can do; the twin applies it (:meth:`cnc6g.twin.Twin.apply`) and the policy is
told through its contract (:meth:`cnc6g.policies.Policy.system_changed`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cnc6g.model.decision import Decision
from cnc6g.twin.system import System, without_node


@dataclass(frozen=True)
class NodeFailure:
    """``node`` fails: from now on it can host no instance and take no task.

    Attributes:
        node: the node's name.
    """

    node: str

    def apply(self, system: System) -> System:
        """``system`` without the node (see :func:`~cnc6g.twin.system.without_node`).

        Raises:
            ValueError: ``system`` has no such node.
        """
        return without_node(system, self.node)


@dataclass(frozen=True)
class RadioDrop:
    """The radio links of ``terminals`` lose capacity by ``factor`` from now on.

    A blocked or faded link, interference, a handover to a worse cell: the bandwidth the twin
    uses for each named terminal domain's uplink (and, with ``downlink``, its downlink) is
    multiplied by ``factor``; a later event with ``factor`` > 1 restores it.

    Attributes:
        terminals: names of terminal domains; empty: every one.
        factor: multiplier of the bandwidth (> 0; 0.1 is a tenfold drop).
        downlink: also scale the downlink.
    """

    terminals: tuple[str, ...] = ()
    factor: float = 0.1
    downlink: bool = False

    def apply(self, system: System) -> System:
        """``system`` with the scaled radio bandwidths.

        Raises:
            ValueError: an unknown terminal domain or a factor that is not > 0.
        """
        if not self.factor > 0:
            raise ValueError(f"factor must be > 0, got {self.factor}")
        unknown = sorted(set(self.terminals) - set(system.origin_names))
        if unknown:
            raise ValueError(f"unknown terminal domains {unknown}")
        hit = np.array(
            [not self.terminals or name in self.terminals for name in system.origin_names]
        )
        scale = np.where(hit, self.factor, 1.0)
        return replace(
            system,
            uplink_mhz=system.uplink_mhz * scale,
            downlink_mhz=system.downlink_mhz * scale if self.downlink else system.downlink_mhz,
        )


TwinEvent = NodeFailure | RadioDrop
"""The events :meth:`cnc6g.twin.Twin.apply` takes."""


def drop_failed(system: System, decision: Decision, nodes: list[int]) -> tuple[Decision, bool]:
    """``decision`` without instances on the failed ``nodes`` or shares sent to them.

    Returns the decision and whether it had any (a failed node runs nothing, whatever a policy
    asks of it).
    """
    x = np.asarray(decision.deployment, dtype=bool)
    y = np.asarray(decision.routing, dtype=float)
    to_failed = system.candidate_valid & np.isin(system.candidates, nodes)  # [O, K]
    paths, path_shares = decision.paths, decision.path_shares
    hit_paths = None
    if paths is not None and path_shares is not None:
        p = np.asarray(paths)
        K = system.n_candidates
        on = to_failed[np.arange(p.shape[0])[:, None, None, None], np.clip(p, 0, K - 1)]
        hit_paths = (on & (p >= 0)).any(axis=-1) & (np.asarray(path_shares) > 0)
    touched = bool(
        x[:, nodes].any()
        or (y * to_failed[:, None, :] > 0).any()
        or (hit_paths is not None and hit_paths.any())
    )
    if not touched:
        return decision, False
    x = x.copy()
    x[:, nodes] = False
    y = np.where(to_failed[:, None, :], 0.0, y)
    share = None if decision.cpu_share is None else np.asarray(decision.cpu_share) * x
    if hit_paths is not None and path_shares is not None:
        path_shares = np.where(hit_paths, 0.0, np.asarray(path_shares))
    return (
        Decision(deployment=x, routing=y, cpu_share=share, paths=paths, path_shares=path_shares),
        True,
    )
