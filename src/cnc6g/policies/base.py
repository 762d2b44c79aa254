"""The policy contract every orchestration policy implements (RAND, GRD, OPT, HMARL, yours).

A policy follows the estimator rules of scikit-learn: settings go to ``__init__`` and are stored
unchanged; everything learnt or remembered is set up in :meth:`Policy.reset`, which also takes the
seed. Each slot the orchestrator's loop calls :meth:`Policy.decide` with a read-only
:class:`~cnc6g.model.decision.Observation` and then :meth:`Policy.feedback` with the slot's
outcome; when the twin's system changes (a node fails) it calls :meth:`Policy.system_changed`.
A decision must be feasible (see :func:`feasibility_problems`); check a policy with
:func:`cnc6g.testing.check_policy`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from cnc6g.model.decision import Decision, Observation
from cnc6g.twin.dynamics import SlotOutcome
from cnc6g.twin.jit import kernel
from cnc6g.twin.system import BoolArray, FloatArray, IntArray, System


class UnsupportedSystemError(ValueError):
    """A policy cannot decide for a system: the system needs something the policy does not model."""


class Policy(ABC):
    """Base class of orchestration policies."""

    name: str = "custom"
    """Short name used in tables and figures (a class default; HMARL's ablations set their own)."""

    system: System
    rng: np.random.Generator

    def reset(self, system: System, seed: int | None = None) -> None:
        """Forget everything and prepare to decide for ``system``; seed the policy's RNG."""
        self.system = system
        self.rng = np.random.default_rng(seed)

    @abstractmethod
    def decide(self, obs: Observation) -> Decision:
        """Deployment and traffic distribution for the slot ``obs`` describes."""

    def system_changed(self, system: System) -> None:
        """The twin's system changed (a node failed): decide for ``system`` from the next slot.

        The new system has the same shapes (nodes, services, origins, candidates) with some
        hosting taken away. Policies that derive state from the system rebuild it here.
        """
        self.system = system

    def feedback(self, obs: Observation, decision: Decision, outcome: SlotOutcome) -> None:
        """What ``decision`` did in the slot of ``obs`` (``outcome`` has batch size 1)."""
        del obs, decision, outcome

    def info(self) -> dict[str, float]:
        """Figures about the last decision (solver time, gap, ...) that runs should record."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def usable_candidates(system: System, deployment: BoolArray) -> BoolArray:
    """``[O, S, K]`` candidates that are admissible and host an instance in ``deployment``."""
    return deployment[:, system.candidates].transpose(1, 0, 2) & system.admissible


def feasibility_problems(system: System, decision: Decision, atol: float = 1e-9) -> list[str]:
    """Why ``decision`` is not feasible for ``system`` (empty when it is)."""
    S, N, O, K = system.n_services, system.n_nodes, system.n_origins, system.n_candidates
    problems: list[str] = []
    x, y = np.asarray(decision.deployment), np.asarray(decision.routing)
    if x.shape != (S, N):
        return [f"deployment has shape {x.shape}, expected {(S, N)}"]
    if y.shape != (O, S, K):
        return [f"routing has shape {y.shape}, expected {(O, S, K)}"]
    if x.dtype != np.bool_:
        problems.append(f"deployment must be bool, is {x.dtype}")
    x = x.astype(bool)
    stray: int | None = None  # the first share sent without an admissible instance (-1: none)
    if decision.paths is None and decision.path_shares is None and y.dtype == np.float64:
        # One compiled pass; the rows' sums only where one may exceed 1.
        finite, negative, stray, row = _scan_routing(system, x, y, atol)
    else:
        finite, negative, row = _routing_sums(y, atol)
    if not finite:
        problems.append("routing has non-finite shares")
    if negative:
        problems.append("routing has negative shares")
    if system.chains is not None:
        problems += _pinned_routing_problems(system, x, y, atol)
    if decision.paths is not None or decision.path_shares is not None:
        got = _path_problems(system, decision, x, atol)
        if got:
            return problems + got
        w = np.asarray(decision.path_shares, dtype=float)
        row = row + w.sum(axis=-1)
        y = np.concatenate([y, w], axis=-1)  # for the message below: a row's shares in all
    over = row > 1.0 + 1e-6
    if over.any():
        o, s = np.argwhere(over)[0]
        problems.append(
            f"routing of origin {system.origin_names[o]} service {system.service_names[s]} "
            f"sums to {y[o, s].sum():.6f} > 1"
        )
    bad_host = x & ~system.can_host
    if bad_host.any():
        s, n = np.argwhere(bad_host)[0]
        problems.append(
            f"service {system.service_names[s]} may not run on node {system.node_names[n]} "
            "(tier, processor or memory)"
        )
    used = (x * system.service_memory[:, None]).sum(axis=0)
    full = used > system.memory + 1e-9
    if full.any():
        n = int(np.flatnonzero(full)[0])
        problems.append(
            f"node {system.node_names[n]} memory {used[n]:.2f} GB > {system.memory[n]:.2f} GB"
        )
    # The shares sent somewhere (row-major, as argwhere) without an admissible instance there.
    if stray is None:
        stray = _first_stray(system, x, y[..., :K], atol)
    if stray >= 0:
        o, s, k = np.unravel_index(stray, (O, S, K))
        origin, service = system.origin_names[o], system.service_names[s]
        node = system.node_names[system.candidates[o, k]]
        problems.append(
            f"routing sends origin {origin} service {service} to node {node} "
            "without an admissible instance"
        )
    if decision.cpu_share is not None:
        c = np.asarray(decision.cpu_share)
        if c.shape != (S, N):
            problems.append(f"cpu_share has shape {c.shape}, expected {(S, N)}")
        else:
            if (c < -atol).any() or ((c > atol) & ~x).any():
                problems.append("cpu_share must be >= 0 and only on deployed instances")
            if (c.sum(axis=0) > 1.0 + 1e-6).any():
                problems.append("cpu_share of a node sums to more than 1")
    return problems


def _path_problems(system: System, decision: Decision, x: BoolArray, atol: float) -> list[str]:
    """Why the decision's paths (services placed step by step) are not feasible."""
    O, S = system.n_origins, system.n_services
    p = np.asarray(decision.paths)
    w = np.asarray(decision.path_shares)
    if decision.paths is None or decision.path_shares is None:
        return ["give paths and path_shares together"]
    if p.ndim != 4 or p.shape[:2] != (O, S) or w.shape != p.shape[:3]:
        return [f"paths {p.shape} and path_shares {w.shape} must be [O, S, P, Q] and [O, S, P]"]
    if not np.issubdtype(p.dtype, np.integer):
        return [f"paths must be integers, are {p.dtype}"]
    if not np.isfinite(w).all() or (w < -atol).any():
        return ["path_shares must be finite and >= 0"]
    spec = system.chains
    o, s, q = np.nonzero(w > atol)
    if not o.size:
        return []
    if spec is None or not spec.is_chain[s].all():
        i = 0 if spec is None else int(np.flatnonzero(~spec.is_chain[s])[0])
        return [
            f"path_shares send origin {system.origin_names[o[i]]} service "
            f"{system.service_names[s[i]]} along paths, but its steps are not placed separately "
            "(place_steps)"
        ]
    need = spec.n_steps[s]
    if p.shape[3] < need.max():
        return [f"paths have {p.shape[3]} steps, service steps need {int(need.max())}"]
    problems: list[str] = []
    K = system.n_candidates
    steps = p[o, s, q]  # [M, Q]
    for i in range(o.size):
        oi, si = int(o[i]), int(s[i])
        for step in range(int(need[i])):
            k = int(steps[i, step])
            where = (
                f"path {int(q[i])} of origin {system.origin_names[oi]} service "
                f"{system.service_names[si]} step {spec.step_names[si][step]}"
            )
            if not (0 <= k < K and system.candidate_valid[oi, k]):
                problems.append(f"{where}: {k} is not a candidate of the origin")
                continue
            n = int(system.candidates[oi, k])
            if not (x[si, n] and system.admissible[oi, si, k]):
                problems.append(
                    f"{where} runs on node {system.node_names[n]} without an admissible instance"
                )
            if spec.step_pinned[si, step] and not system.candidate_local[oi, k]:
                problems.append(
                    f"{where} is pinned to the terminal but placed on node {system.node_names[n]}"
                )
            if len(problems) >= 5:
                return problems
    return problems


def _pinned_routing_problems(system: System, x: BoolArray, y: np.ndarray, atol: float) -> list[str]:
    """Routing rows of step-placed services whose pinned steps have no instance on a terminal."""
    spec = system.chains
    assert spec is not None
    pinned = np.asarray(spec.step_pinned.any(axis=1), dtype=bool)  # [S]
    o, s, _ = np.nonzero((y > atol) & pinned[None, :, None])
    local = system.candidate_local & system.candidate_valid
    term = np.where(local.any(axis=1), np.argmax(local, axis=1), -1)
    for oi, si in zip(o.tolist(), s.tolist(), strict=True):
        k = int(term[oi])
        if k < 0 or not x[si, system.candidates[oi, k]]:
            return [
                f"routing sends origin {system.origin_names[oi]} service "
                f"{system.service_names[si]}, whose pinned steps run on the terminal, without "
                "an instance on the terminal's node"
            ]
    return []


def _routing_sums(y: np.ndarray, atol: float) -> tuple[bool, bool, FloatArray]:
    """Whether the routing is finite and has a share below ``-atol``; its rows' sums ``[O, S]``."""
    row: FloatArray = y.sum(axis=-1)  # not finite where a share is not
    finite = bool(np.isfinite(row).all()) or bool(np.all(np.isfinite(y)))
    negative = bool(y.size and (y.min() < -atol if finite else (y < -atol).any()))
    return finite, negative, row


def _first_stray(system: System, x: BoolArray, y: np.ndarray, atol: float) -> int:
    """Flat ``[O, S, K]`` index of the first share above ``atol`` with no admissible instance.

    Row-major order, as ``argwhere``; -1: none.
    """
    o, s, k = np.nonzero(y > atol)
    stray = np.flatnonzero(~(x[s, system.candidates[o, k]] & system.admissible[o, s, k]))
    if not stray.size:
        return -1
    i = stray[0]
    return int((o[i] * system.n_services + s[i]) * system.n_candidates + k[i])


def _scan_routing(
    system: System, x: BoolArray, y: FloatArray, atol: float
) -> tuple[bool, bool, int, FloatArray]:
    """:func:`_routing_sums` and :func:`_first_stray` of a float64 routing in one compiled pass.

    The rows' sums are NumPy's (whose pairwise order may differ from a loop's in the last bits)
    for the rows whose sum may exceed 1; the other rows' are returned as 0.
    """
    near = np.empty(y.shape[0] * y.shape[1], dtype=np.int64)
    finite, negative, stray, count = _routing_pass(
        np.ascontiguousarray(y), x, system.candidates, system.admissible, atol, near
    )
    near = near[:count]
    row = np.zeros(y.shape[:-1])
    if near.size:
        row.reshape(-1)[near] = y.reshape(-1, y.shape[-1])[near].sum(axis=-1)
    return finite, negative, stray, row


@kernel
def _routing_pass(
    y: FloatArray,
    x: BoolArray,
    candidates: IntArray,
    admissible: BoolArray,
    atol: float,
    near: IntArray,
) -> tuple[bool, bool, int, int]:
    """Finite, negative, the first stray share (-1: none) and the rows whose sum may pass 1.

    Those rows go into ``near`` (``O * S``), their count is returned: a kernel that returned
    an array would run Python code to box it, where an interrupt surfaces as an internal error.
    """
    O, S, K = y.shape
    finite, negative, stray = True, False, -1
    count = 0
    margin = 4.0 * K * 2.220446049250313e-16  # bounds a sum's rounding in any order
    for o in range(O):
        for s in range(S):
            total = 0.0
            size = 0.0
            for k in range(K):
                v = y[o, s, k]
                if v == 0.0:  # most shares: nothing to check or add
                    continue
                if not np.isfinite(v):
                    finite = False
                if v < -atol:
                    negative = True
                total += v
                size += abs(v)
                if stray < 0 and v > atol and not (admissible[o, s, k] and x[s, candidates[o, k]]):
                    stray = (o * S + s) * K + k
            if not total + margin * size <= 1.0 + 1e-6:  # not finite, or may pass 1
                near[count] = o * S + s
                count += 1
    return finite, negative, stray, count
