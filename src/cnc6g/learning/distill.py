"""Start pooled HMARL agents from a trained sized checkpoint: imitation of its greedy actions.

Reinforcement learning from scratch on a family of scenarios costs many more slots than one
scenario; the sized agents trained on the case study already know how to act on its layout.
:func:`imitate` runs such a **teacher** greedily on variants of the family that have the
teacher's layout (its cell and service counts, the family's other parameters), records what the
pooled **student** observes in the same states, and fits the student's networks to the
teacher's actions (supervised, a fixed number of minibatch steps):

- the distributor's and the deployment agents' Q-values are regressed onto ``margin`` for the
  teacher's choice and 0 for the others (the scale of the difference rewards, as the untrained
  agents' preference for the default action), so that their greedy choice is the teacher's and
  later reinforcement learning starts from values of the right size;
- the shared distribution actor is regressed onto the teacher's price and trim of each node.

The student's critics are not fitted. Same inputs and seed give the same student.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import nn

from cnc6g.policies.hmarl.agents import DDPG, DQN
from cnc6g.policies.hmarl.executor import LEVELS, execute
from cnc6g.policies.hmarl.features import KINDS
from cnc6g.policies.hmarl.hierarchy import Agents
from cnc6g.policies.hmarl.pooled import PooledAgents, pooled_global_observation
from cnc6g.scenarios.family import Family, Variant
from cnc6g.twin import Twin, compile_scenario


def teacher_variants(
    fam: Family, n_cells: int, n_services: int, count: int, seed: int
) -> list[Variant]:
    """``count`` variants of ``fam`` with the teacher's cell and service counts (seeded)."""
    return [
        replace(fam.draw((seed, 2_000_000 + i)), n_cells=n_cells, n_services=n_services)
        for i in range(count)
    ]


def _collect(
    student: PooledAgents,
    teacher: Agents,
    variants: list[Variant],
    loads: tuple[float, ...],
    copies: int,
    slots: int,
    seed: int,
) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """(observation, teacher's action) rows per learner of the student."""
    data: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {n: [] for n in student.learners}
    rng = np.random.default_rng(seed)
    for i, variant in enumerate(variants):
        systems = [compile_scenario(variant.scenario(load)) for load in loads]
        base = systems[0]
        teacher.bind(base)
        student.bind(base)
        twins = [
            Twin(sy, batch=copies, seed=int(5_000_011 + 97 * seed + 13 * i + j))
            for j, sy in enumerate(systems)
        ]
        idle: np.ndarray | None = None
        teacher.reset_episode()
        for _ in range(slots):
            demand = np.concatenate([t.demand for t in twins]).astype(float)
            up = np.concatenate([t.uplink_mbps for t in twins])
            down = np.concatenate([t.downlink_mbps for t in twins])
            previous = np.concatenate([t.deployment for t in twins])
            util = np.concatenate([t.utilisation for t in twins])
            step = teacher.act(demand, up, previous, util, 0.0, 0.0, rng)
            knobs = step.knobs
            g = pooled_global_observation(base, demand, up, previous, util)
            dom_obs, node_obs = student.observe(demand, up, previous, util, knobs.level)
            levels = np.full((demand.shape[0], len(KINDS)), len(LEVELS) - 1)
            for k in student.kinds:
                levels[:, k] = knobs.level[:, student.kind_domains[k][0]]
            data["distributor"].append((g, levels))
            for k in student.kinds:
                doms, nodes = student.kind_domains[k], student.kind_nodes(k)
                data[f"deploy_{k}"].append(
                    (
                        dom_obs[k].reshape(-1, dom_obs[k].shape[2]),
                        knobs.threshold[:, doms].reshape(-1, 1),
                    )
                )
                act = np.stack([knobs.price[:, nodes], knobs.trim[:, nodes]], axis=2)
                data[f"route_{k}"].append(
                    (node_obs[k].reshape(-1, node_obs[k].shape[2]), act.reshape(-1, 2))
                )
            done = execute(base, demand, up, down, previous, knobs, idle)
            idle = done.idle
            for j, twin in enumerate(twins):
                part = slice(j * copies, (j + 1) * copies)
                twin.step_arrays(done.deployment[part], done.routing[part], clean=False)
    return data


def _fit(
    learner: DQN | DDPG,
    obs: np.ndarray,
    target: np.ndarray,
    updates: int,
    batch: int,
    margin: float,
    rng: np.random.Generator,
) -> float:
    """Fit one learner's greedy action to ``target``; the last minibatch loss."""
    o = torch.from_numpy(obs.astype(np.float32))
    if isinstance(learner, DQN):
        net: nn.Module = learner.net
        goal = torch.zeros(len(obs), learner.branches, learner.actions)
        goal.scatter_(2, torch.from_numpy(target.astype(np.int64)).unsqueeze(-1), margin)
    else:
        net = learner.actor
        goal = torch.from_numpy(target.astype(np.float32))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss = torch.zeros(())
    for _ in range(updates):
        idx = torch.from_numpy(rng.integers(0, len(obs), size=min(batch, len(obs))))
        out = net(o[idx])
        if isinstance(learner, DQN):
            loss = nn.functional.mse_loss(out.view(goal[idx].shape), goal[idx])
        else:
            loss = nn.functional.mse_loss(torch.tanh(out), goal[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    if isinstance(learner, DQN):
        learner.target.load_state_dict(learner.net.state_dict())
    else:
        learner.actor_t.load_state_dict(learner.actor.state_dict())
    return float(loss.item())


def imitate(
    student: PooledAgents,
    teacher: Agents,
    variants: list[Variant],
    loads: tuple[float, ...],
    copies: int = 2,
    slots: int = 60,
    updates: int = 1000,
    batch: int = 256,
    margin: float = 0.05,
    seed: int = 0,
) -> dict[str, float]:
    """Fit ``student`` to ``teacher``'s greedy actions on ``variants`` at ``loads``.

    Every variant must have the teacher's layout. Returns the last loss per learner and the
    number of rows per learner (``rows_<name>``).
    """
    torch.set_num_threads(1)  # small networks: one thread is fastest (as in training)
    torch.manual_seed(seed)
    data = _collect(student, teacher, variants, loads, copies, slots, seed)
    rng = np.random.default_rng([seed, 3])
    out: dict[str, float] = {}
    for name, rows in data.items():
        if not rows:
            continue
        obs = np.concatenate([r[0] for r in rows])
        target = np.concatenate([r[1] for r in rows])
        out[name] = _fit(student.learners[name], obs, target, updates, batch, margin, rng)
        out[f"rows_{name}"] = float(len(obs))
    return out
