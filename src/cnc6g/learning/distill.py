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

Several teachers of different sizes (a sized checkpoint fits one layout only) teach one student
with :func:`imitate_many`: each is run on variants of its own layout (:func:`teacher_layout`
reads its cell and service counts from its signature), the rows of all are pooled and fitted
at once.

The student's critics are not fitted. Same inputs and seed give the same student.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnc6g.model import Scenario
from cnc6g.policies.hmarl.agents import DDPG, DQN
from cnc6g.policies.hmarl.executor import LEVELS, execute
from cnc6g.policies.hmarl.features import KINDS, layout
from cnc6g.policies.hmarl.hierarchy import Agents
from cnc6g.policies.hmarl.pooled import PooledAgents, pooled_global_observation
from cnc6g.scenarios.family import Family, Variant
from cnc6g.twin import Twin, compile_scenario


def teacher_variants(
    fam: Family, n_cells: int, n_services: int, count: int, seed: int, first: int = 0
) -> list[Variant]:
    """``count`` variants of ``fam`` with the teacher's cell and service counts (seeded).

    The variants are the family's draws ``first``, ``first + 1``, ... of ``seed`` with the
    teacher's counts; hotspot cells the teacher's layout does not have are left out.
    """
    out = []
    for i in range(first, first + count):
        drawn = fam.draw((seed, 2_000_000 + i))
        hot = tuple(h for h in drawn.hotspots if h < n_cells)
        out.append(replace(drawn, n_cells=n_cells, n_services=n_services, hotspots=hot))
    return out


def teacher_scenario(fam: Family, n_cells: int, n_services: int, seed: int = 0) -> Scenario:
    """The scenario a sized teacher of ``n_cells`` cells and ``n_services`` services trains on.

    It is the first of :func:`teacher_variants` (the family's draw of ``seed``, the teacher's
    counts), named ``teacher-<n_cells>-cells-<n_services>-services``, at load 0.8 (training
    sets its own loads).
    """
    (variant,) = teacher_variants(fam, n_cells, n_services, 1, seed)
    name = f"teacher-{n_cells}-cells-{n_services}-services"
    return replace(variant, name=name).scenario()


def teacher_layout(signature: Mapping[str, object]) -> tuple[int, int]:
    """The cell and service counts of the family variants a sized checkpoint's agents fit.

    ``signature`` is the checkpoint's (:meth:`Agents.signature`). Every family variant has
    ``2 * cells + 1`` domains; the services are what the distributor's observation has beyond
    that of a one-service variant with as many cells.

    Raises:
        ValueError: the signature is not of sized agents, or of no family variant's layout.
    """
    domains = signature.get("n_domains")
    size = signature.get("global_size")
    if not isinstance(domains, int) or not isinstance(size, int):
        raise ValueError("the teacher must be sized agents (its signature has no n_domains)")
    if domains < 3 or domains % 2 == 0:
        raise ValueError(
            f"the teacher's {domains} domains are not a family variant's 2 x cells + 1"
        )
    cells = (domains - 1) // 2
    reference = layout(compile_scenario(Variant("reference", cells, 1).scenario()))
    services = size - reference.global_size + 1
    if services < 1:
        raise ValueError(
            f"the teacher's distributor sees {size} values, fewer than a family variant "
            f"of {cells} cells and one service"
        )
    return cells, services


def _collect(
    student: PooledAgents,
    teacher: Agents,
    variants: list[Variant],
    loads: tuple[float, ...],
    copies: int,
    slots: int,
    seed: int,
    rng: np.random.Generator,
    data: dict[str, list[tuple[np.ndarray, np.ndarray]]],
    first: int = 0,
) -> None:
    """Append (observation, teacher's action) rows per learner of the student to ``data``.

    ``first`` is the index of the first variant among all the teachers' (it seeds the twins).
    """
    for i, variant in enumerate(variants, start=first):
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
    return imitate_many(
        student, [(teacher, variants)], loads, copies, slots, updates, batch, margin, seed
    )


def imitate_many(
    student: PooledAgents,
    lessons: Sequence[tuple[Agents, list[Variant]]],
    loads: tuple[float, ...],
    copies: int = 2,
    slots: int = 60,
    updates: int = 1000,
    batch: int = 256,
    margin: float = 0.05,
    seed: int = 0,
) -> dict[str, float]:
    """Fit ``student`` to several teachers at once: ``lessons`` pairs each with its variants.

    Every teacher is run greedily on its own variants (which must have its layout) at
    ``loads``; the rows of all teachers are pooled and every learner is fitted to them in one
    pass of ``updates`` minibatches (one teacher: the same student as :func:`imitate`).
    Returns the last loss per learner and the number of rows per learner (``rows_<name>``).

    Raises:
        ValueError: no lessons, or a lesson without variants.
    """
    if not lessons or any(not variants for _, variants in lessons):
        raise ValueError("imitation needs at least one teacher, each with at least one variant")
    torch.set_num_threads(1)  # small networks: one thread is fastest (as in training)
    torch.manual_seed(seed)
    data: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {n: [] for n in student.learners}
    play = np.random.default_rng(seed)
    first = 0
    for teacher, variants in lessons:
        _collect(student, teacher, variants, loads, copies, slots, seed, play, data, first)
        first += len(variants)
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


def main(argv: list[str]) -> None:
    """``python -m cnc6g.learning.distill FAMILY CELLS SERVICES FILE``: a teacher's scenario."""
    from cnc6g.scenarios import dump_scenario
    from cnc6g.scenarios.family import family

    if len(argv) != 4:
        raise SystemExit("usage: python -m cnc6g.learning.distill FAMILY CELLS SERVICES FILE")
    name, cells, services, path = argv
    scenario = teacher_scenario(family(name), int(cells), int(services))
    Path(path).write_text(dump_scenario(scenario))


if __name__ == "__main__":
    main(sys.argv[1:])
