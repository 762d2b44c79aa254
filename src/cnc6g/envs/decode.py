"""Turn raw learner outputs into feasible decisions (pure; shared by the RL environments).

A learner scores every hostable instance and every (origin, service, candidate) route with real
numbers. :func:`decode_action` keeps the instances scored above zero that fit in memory (best
first), and splits each origin's demand for a service over its usable candidates plus a
"reject" option by a softmax of the route scores, so every decision it returns passes
:func:`cnc6g.policies.feasibility_problems`.
"""

from __future__ import annotations

import numpy as np

from cnc6g.model.decision import Decision
from cnc6g.twin.system import FloatArray, System


def action_size(system: System) -> tuple[int, int]:
    """Sizes of the two parts of a flat action: instance scores, route scores."""
    return (
        system.n_services * system.n_nodes,
        system.n_origins * system.n_services * (system.n_candidates + 1),
    )


def decode_action(system: System, action: FloatArray) -> Decision:
    """A feasible decision from a flat action in ``[-1, 1]``.

    Args:
        system: the compiled scenario.
        action: ``S * N`` instance scores (an instance runs when its score is > 0 and it fits),
            then ``O * S * (K + 1)`` route scores (the last of each row is "reject"), scaled by
            4 before the softmax so that the range [-1, 1] spans near-one-hot to uniform splits.
    """
    n_inst, n_route = action_size(system)
    action = np.asarray(action, dtype=float).ravel()
    if action.size != n_inst + n_route:
        raise ValueError(f"action has {action.size} entries, expected {n_inst + n_route}")
    S, N, O, K = system.n_services, system.n_nodes, system.n_origins, system.n_candidates
    score = action[:n_inst].reshape(S, N)
    want = (score > 0) & system.can_host
    x = np.zeros((S, N), dtype=bool)
    free = system.memory.copy()
    s_idx, n_idx = np.nonzero(want)
    for i in np.argsort(-score[s_idx, n_idx], kind="stable"):
        s, n = s_idx[i], n_idx[i]
        if free[n] >= system.service_memory[s]:
            x[s, n] = True
            free[n] -= system.service_memory[s]
    logits = 4.0 * action[n_inst:].reshape(O, S, K + 1)
    usable = np.concatenate(
        [x[:, system.candidates].transpose(1, 0, 2) & system.admissible, np.ones((O, S, 1), bool)],
        axis=-1,
    )
    logits = np.where(usable, logits, -np.inf)
    logits -= logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    shares = weights / weights.sum(axis=-1, keepdims=True)
    return Decision(deployment=x, routing=shares[..., :K])
