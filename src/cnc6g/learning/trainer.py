"""Training HMARL (and its ablations) on batched twins across the load sweep.

One twin per training load, each with ``copies`` independent copies of the system, is stepped
together every training step: the agents act for all copies at once, the executor turns their
knobs into decisions, the twins evaluate them, and every learner takes one gradient step on
its replay buffer. A single set of networks thus learns every load (the observation carries
the offered load). Twins start afresh with a new seed every ``horizon`` slots.

Exploration: the DQNs' epsilon and the DDPGs' noise decay linearly over the first
``explore_share`` of the steps. Same config and seed give the same training.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from cnc6g.model import DEFAULT_LOADS, Scenario
from cnc6g.policies.hmarl.agents import LearnerConfig
from cnc6g.policies.hmarl.executor import execute
from cnc6g.policies.hmarl.hierarchy import MODES, Agents
from cnc6g.policies.hmarl.policy import TrainedAgents
from cnc6g.policies.hmarl.pooled import ARCHS, make_agents
from cnc6g.policies.hmarl.rewards import RewardConfig, difference_rewards, slot_rewards
from cnc6g.scenarios.family import FAMILIES
from cnc6g.twin import Twin, compile_scenario
from cnc6g.twin.costs import REMOVAL_WEIGHT
from cnc6g.twin.system import System


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Attributes:
        mode: ``hmarl``, ``central`` or ``independent`` (see :data:`MODES`).
        loads: offered loads of the training twins.
        copies: copies of the system per load stepped together.
        steps: training steps (each is one slot of every copy).
        horizon: slots after which a twin starts afresh with a new seed.
        warmup: steps before the first gradient step.
        eps: start and end epsilon of the DQNs.
        noise: start and end Gaussian noise of the DDPGs.
        explore_share: share of the steps over which exploration decays.
        amortise_slots: slots over which the difference rewards spread what starting an
            instance costs (see :func:`~cnc6g.policies.hmarl.rewards.learning_cost`).
        removal_weight: share of an instance's restart cost the difference rewards charge
            for removing it (see :func:`~cnc6g.policies.hmarl.rewards.learning_cost`).
        validate_every: steps between validations of the greedy agents (0: never); the
            agents that validated best are the result (the untrained agents, which act as the
            executor's neutral knobs, are validated first).
        validate_slots: slots of a validation run (the last two thirds are scored).
        seed: seed of the networks, the exploration and the twins.
        learner: the learners' hyper-parameters.
        arch: the agents' architecture (see :data:`~cnc6g.policies.hmarl.pooled.ARCHS`):
            ``sized`` networks fit the training scenario only, ``pooled`` ones any scenario.
        family: train on a family of scenarios (see :data:`~cnc6g.scenarios.family.FAMILIES`)
            instead of one: every ``horizon`` steps a new variant is drawn (seeded), and the
            agents are validated on ``validate_variants`` variants drawn apart. Needs the
            ``pooled`` architecture. Empty: train on the given scenario.
        validate_variants: variants a family training validates on.
    """

    mode: str = "hmarl"
    loads: tuple[float, ...] = DEFAULT_LOADS
    copies: int = 4
    steps: int = 2000
    horizon: int = 200
    warmup: int = 20
    eps: tuple[float, float] = (0.2, 0.01)
    noise: tuple[float, float] = (0.3, 0.02)
    explore_share: float = 0.6
    amortise_slots: float = 10.0
    removal_weight: float = REMOVAL_WEIGHT
    validate_every: int = 100
    validate_slots: int = 60
    seed: int = 0
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    arch: str = "sized"
    family: str = ""
    validate_variants: int = 2

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in MODES:
            problems.append(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not self.loads or min(self.loads) <= 0:
            problems.append("loads must be positive")
        if self.copies < 1 or self.steps < 1 or self.horizon < 2 or self.warmup < 0:
            problems.append("copies and steps must be >= 1, horizon >= 2, warmup >= 0")
        if not 0 < self.explore_share <= 1:
            problems.append("explore_share must be in (0, 1]")
        if self.arch not in ARCHS:
            problems.append(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        elif self.arch == "pooled" and self.mode != "hmarl":
            problems.append(f"the pooled architecture has mode hmarl only, not {self.mode!r}")
        if self.family:
            if self.family not in FAMILIES:
                problems.append(f"unknown family {self.family!r}: use one of {', '.join(FAMILIES)}")
            if self.arch != "pooled":
                problems.append("a family needs the pooled architecture (arch='pooled')")
            if self.validate_variants < 1:
                problems.append("validate_variants must be >= 1")
        try:
            self.rewards  # noqa: B018 (validates the reward settings)
        except ValueError as err:
            problems.append(str(err))
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def rewards(self) -> RewardConfig:
        """The reward settings of the difference rewards (kept by the trained agents)."""
        return RewardConfig(self.amortise_slots, self.removal_weight)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for checkpoints and logs)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["learner"] = LearnerConfig(**data.get("learner", {}))
        for key in ("loads", "eps", "noise"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


def validate(
    agents: Agents, systems: list[System], copies: int, slots: int, seed: int
) -> dict[str, float]:
    """Greedy agents on fresh twins (seeds apart from training's), one per system.

    Returns the mean objective J per slot and the satisfaction per load over the last two
    thirds of ``slots``, and ``score``: the mean over loads of minus the objective per request
    in units of the penalty (higher is better).
    """
    twins = [
        Twin(sy, batch=copies, seed=int(7_000_003 + 101 * seed + i)) for i, sy in enumerate(systems)
    ]
    rng = np.random.default_rng(0)
    base = systems[0]
    idle: np.ndarray | None = None
    start = slots // 3
    cost = np.zeros(len(systems))
    offered = np.zeros(len(systems))
    satisfied = np.zeros(len(systems))
    agents.reset_episode()
    for t in range(slots):
        demand = np.concatenate([tw.demand for tw in twins]).astype(float)
        up = np.concatenate([tw.uplink_mbps for tw in twins])
        down = np.concatenate([tw.downlink_mbps for tw in twins])
        previous = np.concatenate([tw.deployment for tw in twins])
        util = np.concatenate([tw.utilisation for tw in twins])
        acted = agents.act(demand, up, previous, util, 0.0, 0.0, rng)
        x, y, idle, _ = execute(base, demand, up, down, previous, acted.knobs, idle)
        for i, twin in enumerate(twins):
            part = slice(i * copies, (i + 1) * copies)
            outcome = twin.step_arrays(x[part], y[part], clean=False)
            if t >= start:
                cost[i] += outcome.objective(base.unsatisfied_penalty_j).sum()
                offered[i] += outcome.offered.sum()
                satisfied[i] += outcome.satisfied.sum()
    agents.reset_episode()
    n = (slots - start) * copies
    out = {"score": float(-np.mean(cost / (base.unsatisfied_penalty_j * np.maximum(offered, 1))))}
    for sy, c, o, s in zip(systems, cost, offered, satisfied, strict=True):
        load = sy.scenario.workload.offered_load
        out[f"val_objective_j@{load:g}"] = float(c / n)
        out[f"val_satisfaction@{load:g}"] = float(s / max(o, 1.0))
    return out


@dataclass(eq=False)
class TrainResult:
    """Trained agents and the learning curve (one row per logged step)."""

    agents: Agents
    config: TrainConfig
    curve: list[dict[str, float]]
    wall_s: float
    steps_done: int
    validation: list[dict[str, float]] = field(default_factory=list)
    best_step: int = 0


StepHook = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """Where a training stands after a validation: what to keep if it stopped there.

    Attributes:
        steps_done: training steps done.
        best_step: the step whose agents validated best so far.
        state: those agents' networks.
        curve: the learning curve so far.
        validation: the validations so far.
    """

    steps_done: int
    best_step: int
    state: dict[str, object]
    curve: list[dict[str, float]]
    validation: list[dict[str, float]]


ValidationHook = Callable[[Checkpoint], None]


def _schedule(start_end: tuple[float, float], step: int, steps: int, share: float) -> float:
    frac = min(step / max(share * steps, 1.0), 1.0)
    return start_end[0] + frac * (start_end[1] - start_end[0])


def train(
    scenario: Scenario,
    config: TrainConfig,
    agents: Agents | None = None,
    start_step: int = 0,
    on_step: StepHook | None = None,
    log_every: int = 10,
    on_validate: ValidationHook | None = None,
) -> TrainResult:
    """Train (or, with ``agents`` and ``start_step``, resume training) on ``scenario``.

    Args:
        scenario: the scenario; its workload is replaced by each training load (with a
            ``family`` in ``config``, the family's variants are trained on instead).
        config: how to train.
        agents: agents to continue training (from a checkpoint); new ones otherwise.
        start_step: steps already done (sets the exploration schedule when resuming).
        on_step: called after every step with the step index and running figures.
        log_every: steps between rows of the learning curve.
        on_validate: called after every validation with what to keep so far (the best
            agents), so that an interrupted training loses nothing it validated.
    """
    torch.set_num_threads(1)  # small networks: one thread is fastest, and leaves a core free
    cfg = config
    fam = FAMILIES[cfg.family] if cfg.family else None

    def episode_systems(ep: int) -> list[System]:
        if fam is None:
            return [compile_scenario(scenario.at_load(load)) for load in cfg.loads]
        variant = fam.draw((cfg.seed, ep))
        return [compile_scenario(variant.scenario(load)) for load in cfg.loads]

    episode = start_step // cfg.horizon
    systems = episode_systems(episode)
    base = systems[0]
    if agents is None:
        agents = make_agents(base, cfg.mode, cfg.learner, cfg.seed, cfg.arch)
    agents.bind(base)
    rng = np.random.default_rng([cfg.seed, 7])
    held: list[list[System]] = []
    if fam is not None:  # validation variants: seeds no training episode draws
        for i in range(cfg.validate_variants):
            variant = fam.draw((cfg.seed, 1_000_000 + i))
            held.append([compile_scenario(variant.scenario(load)) for load in cfg.loads])

    def new_twins(ep: int) -> list[Twin]:
        return [
            Twin(sy, batch=cfg.copies, seed=int(1_000_003 * cfg.seed + 1009 * ep + i))
            for i, sy in enumerate(systems)
        ]

    twins = new_twins(episode)
    B = cfg.copies * len(systems)
    parts = [slice(i * cfg.copies, (i + 1) * cfg.copies) for i in range(len(systems))]
    validation: list[dict[str, float]] = []
    best: tuple[float, int, dict[str, object]] | None = None

    curve: list[dict[str, float]] = []

    def check(at: int) -> None:
        nonlocal best
        if fam is None:
            row = {"step": float(at), **validate(agents, systems, 2, cfg.validate_slots, cfg.seed)}
        else:
            row, scores = {"step": float(at)}, []
            for i, val_systems in enumerate(held):
                agents.bind(val_systems[0])
                part = validate(agents, val_systems, 2, cfg.validate_slots, cfg.seed)
                scores.append(part.pop("score"))
                row.update({f"{k}#{i}": v for k, v in part.items()})
            row["score"] = float(np.mean(scores))
            agents.bind(base)
        validation.append(row)
        if best is None or row["score"] > best[0]:
            best = (row["score"], at, copy.deepcopy(agents.state()))
        if on_validate is not None:
            on_validate(Checkpoint(at, best[1], best[2], list(curve), list(validation)))

    if cfg.validate_every:
        check(start_step)
    idle: np.ndarray | None = None
    pending: tuple[Any, np.ndarray, np.ndarray] | None = None
    running: dict[str, float] = {}
    started = time.perf_counter()
    updates_s = 0.0
    env_s = 0.0
    step = start_step
    for step in range(start_step, cfg.steps):
        if step > start_step and step % cfg.horizon == 0:
            episode = step // cfg.horizon
            if fam is not None:
                systems = episode_systems(episode)
                base = systems[0]
                agents.bind(base)
            twins = new_twins(episode)
            idle, pending = None, None
            agents.reset_episode()
        eps = _schedule(cfg.eps, step, cfg.steps, cfg.explore_share)
        noise = _schedule(cfg.noise, step, cfg.steps, cfg.explore_share)
        t0 = time.perf_counter()
        demand = np.concatenate([t.demand for t in twins]).astype(float)
        up = np.concatenate([t.uplink_mbps for t in twins])
        down = np.concatenate([t.downlink_mbps for t in twins])
        previous = np.concatenate([t.deployment for t in twins])
        util = np.concatenate([t.utilisation for t in twins])
        acted = agents.act(demand, up, previous, util, eps, noise, rng)
        if pending is not None and cfg.mode != "hmarl":
            agents.remember(pending[0], acted, pending[1], pending[2])
        idle_before = idle
        executed = execute(base, demand, up, down, previous, acted.knobs, idle)
        x, y, idle = executed.deployment, executed.routing, executed.idle
        rewards, domain_rewards, costs, satisfied, offered = [], [], [], [], []
        for i, twin in enumerate(twins):
            part = slice(i * cfg.copies, (i + 1) * cfg.copies)
            outcome = twin.step_arrays(x[part], y[part], clean=False)
            r, rd, cost = slot_rewards(twin.system, outcome, x[part], previous[part])
            rewards.append(r)
            domain_rewards.append(rd)
            costs.append(cost)
            satisfied.append(outcome.satisfied)
            offered.append(outcome.offered)
        pending = (acted, np.concatenate(rewards), np.concatenate(domain_rewards))
        if cfg.mode == "hmarl":
            inputs = (demand, up, down, previous)
            level_gain, pick, gains = difference_rewards(
                agents, systems, parts, inputs, idle_before, acted.knobs, executed, cfg.rewards, rng
            )
            agents.remember_differences(acted, level_gain, pick, gains)
        t1 = time.perf_counter()
        env_s += t1 - t0
        losses = agents.update() if step >= cfg.warmup else {}
        updates_s += time.perf_counter() - t1
        reward = float(pending[1].mean())
        running["reward"] = reward if not running else 0.95 * running["reward"] + 0.05 * reward
        if on_step is not None:
            on_step(step, {"reward": running["reward"], "eps": eps})
        if (step + 1) % log_every == 0 or step == cfg.steps - 1:
            row: dict[str, float] = {
                "step": step + 1,
                "slots": (step + 1) * B,
                "wall_s": time.perf_counter() - started,
                "env_s": env_s,
                "update_s": updates_s,
                "eps": eps,
                "noise": noise,
                "reward": reward,
            }
            for load, cost, sat, off in zip(cfg.loads, costs, satisfied, offered, strict=True):
                row[f"objective_j@{load:g}"] = float(cost.mean())
                row[f"satisfaction@{load:g}"] = float(sat.sum() / max(off.sum(), 1.0))
            for name, loss in losses.items():
                row[f"loss_{name}"] = loss
            curve.append(row)
        done = step + 1
        if cfg.validate_every and (done % cfg.validate_every == 0 or done == cfg.steps):
            check(done)
    best_step = step + 1
    if best is not None:
        agents.load(best[2])
        best_step = best[1]
    return TrainResult(
        agents, cfg, curve, time.perf_counter() - started, step + 1, validation, best_step
    )


@dataclass(frozen=True)
class Retrain:
    """An :class:`~cnc6g.policies.hmarl.policy.AgentSource` that trains afresh at every reset.

    The training is seeded with the run's seed, on the system's scenario at every training load.

    Attributes:
        steps: training steps (default: :class:`TrainConfig`'s).
    """

    steps: int | None = None

    def __post_init__(self) -> None:
        if self.steps is not None and self.steps < 1:
            raise ValueError("train_steps must be >= 1")

    def __call__(self, system: System, mode: str, seed: int | None) -> TrainedAgents:
        """Train agents of ``mode`` on ``system``'s scenario with ``seed``."""
        steps = {} if self.steps is None else {"steps": self.steps}
        cfg = TrainConfig(mode=mode, seed=int(seed or 0), **steps)
        result = train(system.scenario, cfg)
        meta = {"trained": "in reset", "seed": cfg.seed, "steps": cfg.steps}
        return TrainedAgents(result.agents, cfg.rewards, meta)
