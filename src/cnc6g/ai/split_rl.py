"""A learned policy for the coupled slot: split and shares for every user, one user at a time.

After seed 001's table 6.3-1 (end-to-end collaborative inference by reinforcement learning), on
the options of :mod:`cnc6g.ai.coupled`:

- **State.** Base-station side: the uplink share still to allocate (``r``) and the edge compute
  still to allocate (``g``, a fraction of the edge GPUs), how many users are still waiting and how
  much of ``r`` and ``g`` they need at least; per user, its uplink channel quality (its full-cell
  rate), whether its own terminal meets its deadline (its compute against its deadline), how many
  of its options still fit and the least share of what is left that one of them takes.
  The downlink's quality and the bandwidth between compute units are the same for every user here
  (the network's fixed downlink and wired rates) and are left out.
- **Action.** One (user, option) pair among those that still fit: which part of the model the
  terminal computes (blocks before ``a``), which part the edge computes (``a..b``; the rest in the
  cloud), the uplink share ``phi`` and the edge compute share ``psi``. Options that no longer fit
  the remaining capacities and users already decided are masked out, so every decision sequence
  is feasible. Running the whole request on the terminal takes no share, so that choice is
  deferred: the episode ends when no option that takes a share fits, then every user left whose
  own terminal meets its deadline runs there, and the others are not served.
- **Reward.** Per user served, 1 (its deadline met; a user not served has missed it: the deadline
  penalty) plus ``beta`` times the terminal energy its plan saves against running on its own
  terminal, relative to the slot's largest local energy (the energy term). The energy of the base
  station's edge is the same whatever the split here (the edge runs what it is given at a fixed
  speed), so the terminal's energy is the energy term.

One network with shared parameters scores every feasible pair from its features (a pointer over
the options, independent of the number of users), so a policy trained on slots of 8-40 users runs
on slots of any size. Training is REINFORCE with, as baseline, the mean return of several sampled
rollouts on the same slot (Kool, van Hoof and Welling, "Attention, Learn to Solve Routing
Problems!", ICLR 2019), on random slots from :func:`cnc6g.ai.coupled.make_instance` (random user
counts, loads, models, terminals, deadlines and channel qualities), optionally after imitating
the MILP's least-energy solutions. Decisions at run time take two stages: the highest-scoring
pair at each step (the first stage), then :func:`share_stage` (the second: each offloaded user's
division of its slack between uplink and edge, and the room that frees), then :func:`improve`,
a local search; :func:`random_policy` is the same action space chosen at random (the floor to
beat). Neither stage calls a solver.

The slot's terminal energy (:func:`slot_energy`) counts the energy of every served user's plan
and, for a user not served, the energy of running its request on its own terminal (late): the
fallback. :func:`solve_milp_energy` is the reference: the least slot energy among the plans that
serve at least a given number of users (HiGHS), at the count of
:func:`cnc6g.ai.coupled.solve_milp` (the most that can be served) or at another method's own
count. :func:`compare_slot` runs every method on a slot.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from cnc6g.ai.coupled import (
    Instance,
    IntArray,
    Options,
    Outcome,
    _tiers,
    _with_uplink,
    assignment_milp,
    build_options,
    make_instance,
    solve_independent,
    solve_milp,
    solve_prices,
)
from cnc6g.ai.profiles import FloatArray, load_profile
from cnc6g.ai.split import evaluate_cuts

FORMAT = 1
"""Version of the checkpoint's layout."""

FEATURES = 24
"""Inputs of the scoring network per (user, option) pair (see :func:`_features`)."""

TRAIN_MODELS = ("mobilenetv2", "resnet50", "vit-b16", "whisper-base")
"""Models a training slot draws from (a random non-empty subset per slot)."""

TRAIN_SEED_BASE = 1_000_000
"""Training slots use seeds from here up; evaluation uses seeds below it (held out)."""

_EPS = 1e-9


@dataclass(frozen=True)
class TrainConfig:
    """How :func:`train` draws slots and learns."""

    iterations: int = 400
    """Iterations of REINFORCE."""
    imitation: int = 0
    """Iterations of imitation of the MILP's least-energy solutions first."""
    slots: int = 8
    """Slots per iteration."""
    samples: int = 8
    """Rollouts sampled per slot (their mean return is the baseline)."""
    users: tuple[int, int] = (8, 40)
    loads: tuple[float, float] = (0.3, 1.4)
    models: tuple[str, ...] = TRAIN_MODELS
    hidden: int = 64
    lr: float = 1e-3
    beta: float = 0.2
    """Weight of the energy saved (relative to the slot's largest local energy) per user."""
    entropy: float = 0.01
    second_stage: bool = False
    """Score each sampled rollout after :func:`share_stage` (what the policy decides at run
    time) instead of as the scorer left it. In the one trial made (400 iterations) the scorer
    then learned to leave most of the slot to the stage and the whole policy did worse, so it
    is off by default."""
    validation_slots: int = 16
    """Slots the training is followed on (most served, then most energy saved; greedy)."""
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "iterations": self.iterations >= 0,
            "imitation": self.imitation >= 0,
            "slots": self.slots >= 1,
            "samples": self.samples >= 2,
            "users": 1 <= self.users[0] <= self.users[1],
            "loads": 0 < self.loads[0] <= self.loads[1],
            "models": len(self.models) >= 1,
            "hidden": self.hidden >= 1,
            "lr": self.lr > 0,
            "beta": 0 <= self.beta < 1,
            "entropy": self.entropy >= 0,
            "validation_slots": self.validation_slots >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"TrainConfig.{name}: invalid value {getattr(self, name)!r}")


class Scorer(nn.Module):
    """Scores one (user, option) pair from its features; shared by every pair."""

    def __init__(self, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(FEATURES, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scores (..., ) of features (..., FEATURES)."""
        out: torch.Tensor = self.net(x).squeeze(-1)
        return out


def _local_runs(inst: Instance) -> tuple[FloatArray, FloatArray]:
    """Each user's latency and terminal energy with its whole request on its own terminal."""
    latency = np.zeros(len(inst.users))
    energy = np.zeros(len(inst.users))
    groups: dict[tuple[str, str], list[int]] = {}
    for i, u in enumerate(inst.users):
        groups.setdefault((u.model, u.terminal), []).append(i)
    for (model, terminal), members in groups.items():
        profile = load_profile(model)
        idx = np.array(members)
        cell = np.array([inst.users[i].cell_mbps for i in members])
        full = np.full(idx.size, profile.n)
        plan = evaluate_cuts(
            profile, _tiers(inst, terminal), _with_uplink(inst.net, cell), full, full
        )
        latency[idx] = plan.latency_s
        energy[idx] = plan.energy_j
    return latency, energy


def local_energy(inst: Instance) -> FloatArray:
    """Each user's terminal energy with its whole request on its own terminal (J)."""
    return _local_runs(inst)[1]


def slot_energy(opts: Options, choice: IntArray, local_j: FloatArray) -> float:
    """Terminal energy of a slot: served users' plans, the others on their own terminal."""
    served = choice >= 0
    return float(opts.energy_j[choice[served]].sum() + local_j[~served].sum())


@dataclass(frozen=True)
class _Slot:
    """One slot's static arrays for the policy (numpy, unpadded)."""

    user: IntArray
    phi: FloatArray
    psi: FloatArray
    """Share of the whole edge (``psi / gpus``)."""
    saving: FloatArray
    """Energy saved against the user's local run, over the slot's largest local energy."""
    parts: FloatArray
    """(K, 3): shares of the blocks on terminal, edge, cloud."""
    local_ok: npt.NDArray[np.bool_]
    local_col: IntArray
    """Each user's option that runs it whole on its terminal within its deadline (-1: none)."""
    user_feat: FloatArray
    """(U, 2): channel quality, local time over deadline."""
    users: int


def _slot(inst: Instance, opts: Options, local_j: FloatArray | None = None) -> _Slot:
    local_j = local_energy(inst) if local_j is None else local_j
    scale = max(float(local_j.max()), _EPS)
    n = np.array([load_profile(u.model).n for u in inst.users])[opts.user]
    a, b = opts.a.astype(float), opts.b.astype(float)
    parts = np.stack([a / n, (b - a) / n, (n - b) / n], axis=1)
    zero = (opts.phi <= 0) & (opts.psi <= 0)
    local_ok = np.zeros(len(inst.users), dtype=np.bool_)
    local_ok[opts.user[zero]] = True
    local_col = np.full(len(inst.users), -1, dtype=np.int64)
    local_col[opts.user[zero]] = np.flatnonzero(zero)
    cell = np.array([u.cell_mbps for u in inst.users])
    deadline = np.array([u.deadline_s for u in inst.users])
    user_feat = np.stack(
        [np.log10(np.maximum(cell, 1e-3)) / 3.0, _local_runs(inst)[0] / deadline], axis=1
    )
    return _Slot(
        user=opts.user,
        phi=opts.phi,
        psi=opts.psi / max(inst.gpus, _EPS),
        saving=(local_j[opts.user] - opts.energy_j) / scale,
        parts=parts,
        local_ok=local_ok,
        local_col=local_col,
        user_feat=np.minimum(user_feat, 5.0),
        users=len(inst.users),
    )


@dataclass
class _Batch:
    """Slots side by side: every option of every slot in one flat list (torch, float32).

    Slot ``i``'s user ``u`` is the global user ``i * U + u``; option ``j`` of the list sits in
    column ``col[j]`` of its slot's row of scores (``K`` columns: the most options of a slot).
    """

    slots: int
    users: int  # U: the most users of a slot
    columns: int  # K
    slot: torch.Tensor  # (N,) long
    user: torch.Tensor  # (N,) long, global
    col: torch.Tensor  # (N,) long
    phi: torch.Tensor
    psi: torch.Tensor
    saving: torch.Tensor
    parts: torch.Tensor  # (N, 3)
    local_ok: torch.Tensor  # (B * U,) bool
    local_col: torch.Tensor  # (B * U,) long, -1: none
    shared: torch.Tensor  # (N,) bool: the option takes a share of the uplink or the edge
    user_feat: torch.Tensor  # (B * U, 2)
    user_valid: torch.Tensor  # (B * U,) bool
    max_saving: torch.Tensor  # (B * U,)
    users_n: torch.Tensor  # (B,)


def _batch(slots: Sequence[_Slot]) -> _Batch:
    b = len(slots)
    u = max(s.users for s in slots)
    k = max(max(s.user.size for s in slots), 1)
    local_ok = np.zeros((b, u), dtype=np.bool_)
    local_col = np.full((b, u), -1, dtype=np.int64)
    user_feat = np.zeros((b, u, 2))
    user_valid = np.zeros((b, u), dtype=np.bool_)
    max_saving = np.zeros((b, u))
    for i, s in enumerate(slots):
        local_ok[i, : s.users] = s.local_ok
        local_col[i, : s.users] = s.local_col
        user_feat[i, : s.users] = s.user_feat
        user_valid[i, : s.users] = True
        np.maximum.at(max_saving[i], s.user, s.saving)

    def f(x: npt.NDArray[Any]) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))

    def cat(xs: list[npt.NDArray[Any]]) -> npt.NDArray[Any]:
        return np.concatenate(xs) if xs else np.zeros(0)

    return _Batch(
        slots=b,
        users=u,
        columns=k,
        slot=torch.from_numpy(cat([np.full(s.user.size, i) for i, s in enumerate(slots)])).long(),
        user=torch.from_numpy(cat([s.user + i * u for i, s in enumerate(slots)])).long(),
        col=torch.from_numpy(cat([np.arange(s.user.size) for s in slots])).long(),
        phi=f(cat([s.phi for s in slots])),
        psi=f(cat([s.psi for s in slots])),
        saving=f(cat([s.saving for s in slots])),
        parts=f(np.concatenate([s.parts for s in slots]).reshape(-1, 3)),
        local_ok=torch.from_numpy(local_ok.reshape(-1)),
        local_col=torch.from_numpy(local_col.reshape(-1)),
        shared=torch.from_numpy(cat([(s.phi > 0) | (s.psi > 0) for s in slots]).astype(bool)),
        user_feat=f(user_feat.reshape(-1, 2)),
        user_valid=torch.from_numpy(user_valid.reshape(-1)),
        max_saving=f(max_saving.reshape(-1)),
        users_n=f(user_valid.sum(1)),
    )


def _segment_min(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """The least of ``values`` per ``index`` (inf where none)."""
    out = torch.full((size,), math.inf)
    return out.scatter_reduce(0, index, values, reduce="amin", include_self=True)


def _segment_sum(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    return torch.zeros(size).index_add(0, index, values)


def _features(
    bt: _Batch, r: torch.Tensor, g: torch.Tensor, open_: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The options that may be chosen (indices into the flat list) and their features.

    ``r``, ``g`` (B,): uplink and edge shares left; ``open_`` (B * U,): users not decided yet.
    """
    b, nu = bt.slots, bt.slots * bt.users
    active = (
        bt.shared & open_[bt.user] & (bt.phi <= r[bt.slot] + 1e-7) & (bt.psi <= g[bt.slot] + 1e-7)
    )
    sel = active.nonzero().squeeze(1)
    slot, user = bt.slot[sel], bt.user[sel]
    rr = r.clamp_min(1e-6)[slot]
    gg = g.clamp_min(1e-6)[slot]
    phi, psi = bt.phi[sel], bt.psi[sel]
    phi_r = (phi / rr).clamp(max=10.0)
    psi_r = (psi / gg).clamp(max=10.0)
    cost = phi_r + psi_r
    user_min = _segment_min(cost, user, nu)
    min_phi = _segment_min(phi, user, nu)
    min_psi = _segment_min(psi, user, nu)
    count = _segment_sum(torch.ones_like(phi), user, nu)
    reachable = torch.isfinite(user_min)
    needy = (open_ & reachable & ~bt.local_ok).reshape(b, bt.users)
    zero = torch.zeros(b, bt.users)
    crowd_phi = torch.where(needy, min_phi.reshape(b, -1), zero).sum(1) / r.clamp_min(1e-6)
    crowd_psi = torch.where(needy, min_psi.reshape(b, -1), zero).sum(1) / g.clamp_min(1e-6)
    glob = torch.stack(
        [
            r,
            g,
            open_.reshape(b, -1).float().sum(1) / bt.users_n,
            (open_ & reachable).reshape(b, -1).float().sum(1) / bt.users_n,
            needy.float().sum(1) / bt.users_n,
            torch.log1p(crowd_phi.clamp(max=1e3)),
            torch.log1p(crowd_psi.clamp(max=1e3)),
        ],
        dim=1,
    )  # (B, 7)
    umin = user_min[user]
    # What taking the option leaves of each resource, against what the other users that need
    # it still ask for at least.
    after_r = (r[slot] - phi) / (crowd_phi[slot] * r.clamp_min(1e-6)[slot] + 1e-3)
    after_g = (g[slot] - psi) / (crowd_psi[slot] * g.clamp_min(1e-6)[slot] + 1e-3)
    x = torch.cat(
        [
            torch.stack(
                [
                    phi,
                    psi,
                    phi_r,
                    psi_r,
                    cost - umin,
                    bt.saving[sel],
                    bt.local_ok[user].float(),
                    torch.log1p(count[user]) / 3.0,
                    umin,
                    bt.max_saving[user],
                    torch.log1p(after_r.clamp(0.0, 1e3)),
                    torch.log1p(after_g.clamp(0.0, 1e3)),
                ],
                dim=1,
            ),
            bt.user_feat[user],
            bt.parts[sel],
            glob[slot],
        ],
        dim=1,
    )
    return sel, x


@dataclass
class _Rollout:
    choice: torch.Tensor  # (B, U) option column, -1 none
    logp: torch.Tensor  # (B,)
    entropy: torch.Tensor  # (B,)
    served: torch.Tensor  # (B,)
    saving: torch.Tensor  # (B,)
    imitation: torch.Tensor  # (B,)


def _rollout(
    scorer: Scorer,
    bt: _Batch,
    greedy: bool,
    gen: torch.Generator | None,
    expert: torch.Tensor | None = None,
) -> _Rollout:
    """One episode per slot of the batch.

    With ``expert`` (N,) bool, the options of a reference solution: while some of them still
    fit, the step takes the policy's likeliest one of them and ``imitation`` adds the negative
    log of the probability the policy gives them together.
    """
    b, u = bt.slots, bt.users
    imitation = torch.zeros(b)
    r = torch.ones(b)
    g = torch.ones(b)
    open_ = bt.user_valid.clone()
    choice = torch.full((b * u,), -1, dtype=torch.long)
    logp = torch.zeros(b)
    ent = torch.zeros(b)
    served = torch.zeros(b)
    saving = torch.zeros(b)
    for _ in range(u):
        sel, x = _features(bt, r, g, open_)
        if sel.numel() == 0:
            break
        slot = bt.slot[sel]
        live = torch.zeros(b, dtype=torch.bool)
        live[slot] = True
        logits = torch.full((b, bt.columns), -math.inf)
        logits = logits.index_put((slot, bt.col[sel]), scorer(x))
        logits = torch.where(live.unsqueeze(1), logits, torch.zeros_like(logits))
        logprob = torch.log_softmax(logits, dim=1)
        if greedy:
            pick = logits.argmax(1)
        else:
            pick = torch.multinomial(logprob.exp().detach(), 1, generator=gen).squeeze(1)
        if expert is not None:
            good = torch.zeros(b, bt.columns, dtype=torch.bool)
            good[slot, bt.col[sel]] = expert[sel]
            follow = good.any(1)
            in_set = torch.logsumexp(logprob.masked_fill(~good, -math.inf), dim=1)
            imitation = imitation - torch.where(follow, in_set, torch.zeros_like(in_set))
            best_good = logits.detach().masked_fill(~good, -math.inf).argmax(1)
            pick = torch.where(follow, best_good, pick)
        rows = torch.arange(b)
        lp = logprob[rows, pick]
        p = logprob.exp()
        h = -(p * torch.where(torch.isfinite(logprob), logprob, torch.zeros_like(logprob))).sum(1)
        logp = logp + torch.where(live, lp, torch.zeros_like(lp))
        ent = ent + torch.where(live, h, torch.zeros_like(h))
        # The flat option each live slot picked.
        where = torch.full((b, bt.columns), -1, dtype=torch.long)
        where[slot, bt.col[sel]] = sel
        j = where[rows[live], pick[live]]
        lv = rows[live]
        r = r.index_add(0, lv, -bt.phi[j])
        g = g.index_add(0, lv, -bt.psi[j])
        served = served.index_add(0, lv, torch.ones(lv.numel()))
        saving = saving.index_add(0, lv, bt.saving[j])
        who = bt.user[j]
        open_ = open_.clone()
        open_[who] = False
        choice[who] = bt.col[j]
    # Users left whose own terminal meets their deadline run there (no share: deferring that
    # choice to the end never costs anything).
    home = open_ & (bt.local_col >= 0)
    choice[home] = bt.local_col[home]
    served = served + home.reshape(b, u).float().sum(1)
    return _Rollout(choice.reshape(b, u), logp, ent, served, saving, imitation)


@dataclass
class SplitPolicy:
    """A trained scorer and what it was trained with."""

    scorer: Scorer
    config: TrainConfig
    meta: dict[str, Any] = field(default_factory=dict)

    def decide(
        self,
        inst: Instance,
        opts: Options | None = None,
        local_j: FloatArray | None = None,
        samples: int = 0,
        seed: int = 0,
        stages: bool = True,
    ) -> Outcome:
        """The policy's choice per user on a slot (always within both capacities).

        First stage: the highest-scoring pair at each step (the scorer's picks); with
        ``samples`` > 0, also that many rollouts sampled from the policy. With ``stages``, every
        one of them then goes through the second stage (:func:`share_stage`, once keeping every
        user the scorer offloaded and once only those without a local fallback) and
        :func:`improve`, and the plan that serves most, then spends least terminal energy, is
        kept. Without ``stages``, the best first-stage rollout by the training return is kept.
        """
        if samples < 0:
            raise ValueError("samples must be >= 0")
        t0 = time.perf_counter()
        opts = build_options(inst) if opts is None else opts
        local_j = local_energy(inst) if local_j is None else local_j
        users = len(inst.users)
        if opts.user.size == 0:
            choice = np.full(users, -1, dtype=np.int64)
        else:
            slot = _slot(inst, opts, local_j)
            with torch.no_grad():
                roll = _rollout(self.scorer, _batch([slot]), greedy=True, gen=None)
                firsts = [roll.choice[0, :users].numpy().astype(np.int64)]
                rets = [float(roll.served[0] + self.config.beta * roll.saving[0])]
                if samples:
                    gen = torch.Generator().manual_seed(seed)
                    many = _rollout(self.scorer, _batch([slot] * samples), False, gen)
                    ret = many.served + self.config.beta * many.saving
                    firsts += [c[:users].numpy().astype(np.int64) for c in many.choice]
                    rets += [float(v) for v in ret]
            if stages:
                best: tuple[int, float] | None = None
                choice = firsts[0]
                seen: set[bytes] = set()
                for first in firsts:
                    for keep_all in (True, False):
                        plan = share_stage(inst, opts, first, local_j, keep_all)
                        if plan.tobytes() in seen:
                            continue
                        seen.add(plan.tobytes())
                        plan = improve(inst, opts, plan, local_j)
                        key = (int((plan >= 0).sum()), -slot_energy(opts, plan, local_j))
                        if best is None or key > best:
                            best, choice = key, plan
            else:
                i = int(np.argmax(rets))
                choice = firsts[i] if rets[i] > rets[0] + 1e-9 else firsts[0]
        out = rl_outcome(inst, opts, choice, local_j, time.perf_counter() - t0)
        name = "rl" if stages else "rl-scorer"
        return replace(out, method=name if not samples else f"{name}-best-of-{samples + 1}")

    def state(self) -> dict[str, Any]:
        """The checkpoint's content: plain data (the weights as nested lists of floats)."""
        return {
            "format": FORMAT,
            "features": FEATURES,
            "config": asdict(self.config),
            "state": {k: v.detach().tolist() for k, v in self.scorer.state_dict().items()},
            "meta": dict(self.meta),
        }

    def to_json(self) -> str:
        """The checkpoint as JSON text (float32 weights round-trip exactly)."""
        return json.dumps(self.state(), separators=(",", ":"))


def rl_outcome(
    inst: Instance, opts: Options, choice: IntArray, local_j: FloatArray, seconds: float
) -> Outcome:
    """The policy's decisions as an :class:`~cnc6g.ai.coupled.Outcome`."""
    chosen = choice[choice >= 0]
    return Outcome(
        method="rl",
        choice=choice,
        satisfied=int(chosen.size),
        users=len(inst.users),
        radio_used=float(opts.phi[chosen].sum()),
        gpu_used=float(opts.psi[chosen].sum()),
        energy_j=float(opts.energy_j[chosen].sum()),
        seconds=seconds,
        detail={"slot_energy_j": slot_energy(opts, choice, local_j)},
    )


def policy_from_state(data: Any) -> SplitPolicy:
    """A policy from a checkpoint's content (see :meth:`SplitPolicy.state`).

    Raises:
        ValueError: not a checkpoint of this policy, or of another layout.
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not a split-inference policy checkpoint of format {FORMAT}")
    if data.get("features") != FEATURES:
        raise ValueError(
            f"checkpoint has {data.get('features')} features per pair, this code {FEATURES}"
        )
    try:
        raw = dict(data["config"])
        for key in ("users", "loads", "models"):
            raw[key] = tuple(raw[key])
        raw.setdefault("second_stage", False)  # checkpoints from before that setting
        config = TrainConfig(**raw)
        scorer = Scorer(config.hidden)
        weights = {k: torch.tensor(v, dtype=torch.float32) for k, v in data["state"].items()}
        scorer.load_state_dict(weights)
    except (KeyError, TypeError, RuntimeError) as err:
        raise ValueError(f"checkpoint does not fit this policy ({type(err).__name__})") from None
    scorer.eval()
    return SplitPolicy(scorer, config, dict(data.get("meta", {})))


def policy_from_json(text: str) -> SplitPolicy:
    """A policy from a checkpoint's JSON text (see :meth:`SplitPolicy.to_json`).

    Raises:
        ValueError: not JSON, or not a checkpoint of this policy.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("checkpoint is not JSON: not a split-inference policy") from None
    return policy_from_state(data)


SHIPPED = "split-rl.json"
"""The checkpoint shipped with the package, in ``cnc6g/ai/checkpoints``."""


def load_policy() -> SplitPolicy:
    """The shipped policy (package data; ``cnc6g splitslot --train-rl`` makes others)."""
    text = resources.files("cnc6g.ai").joinpath("checkpoints", SHIPPED).read_text("utf-8")
    return policy_from_json(text)


def random_slot(rng: np.random.Generator, config: TrainConfig, seed: int) -> Instance:
    """A training slot: random user count, load and models, from ``make_instance``."""
    users = int(rng.integers(config.users[0], config.users[1] + 1))
    load = float(rng.uniform(*config.loads))
    k = int(rng.integers(1, len(config.models) + 1))
    models = tuple(rng.choice(np.array(config.models), k, replace=False).tolist())
    return make_instance(users, load, seed=seed, models=models)


@dataclass(frozen=True)
class _Drawn:
    """A training slot: the instance, its options and the policy's arrays."""

    inst: Instance
    opts: Options
    local_j: FloatArray
    slot: _Slot


def _draw(
    rng: np.random.Generator, config: TrainConfig, seed: int, expert: bool
) -> tuple[_Drawn, IntArray | None, int]:
    """A training slot with options (and the reference's choice), and the next seed."""
    while True:
        inst = random_slot(rng, config, seed)
        seed += 1
        opts = build_options(inst)
        if not opts.user.size:
            continue
        local_j = local_energy(inst)
        ref = None
        if expert:
            milp = solve_milp(inst, opts, EXPERT_TIME_LIMIT)
            ref = solve_milp_energy(inst, opts, milp.satisfied, local_j, EXPERT_TIME_LIMIT).choice
        return _Drawn(inst, opts, local_j, _slot(inst, opts, local_j)), ref, seed


def _staged_return(drawn: _Drawn, choice: IntArray, beta: float) -> float:
    """The training return of a rollout's choice after :func:`share_stage`."""
    plan = share_stage(drawn.inst, drawn.opts, choice, drawn.local_j)
    scale = max(float(drawn.local_j.max()), _EPS)
    saved = float(drawn.local_j.sum()) - slot_energy(drawn.opts, plan, drawn.local_j)
    return float((plan >= 0).sum()) + beta * saved / scale


VALIDATION_SEED = 900_000
"""Validation slots use seeds from here (below the training seeds)."""

VALIDATE_EVERY = 10
"""Iterations of REINFORCE between two validations."""

EXPERT_TIME_LIMIT = 5.0
"""HiGHS's limit per reference solution while imitating, s."""


def train(
    config: TrainConfig | None = None,
    on_iteration: Callable[[int, dict[str, float]], None] | None = None,
) -> SplitPolicy:
    """Train a policy on random slots (seeds from :data:`TRAIN_SEED_BASE` up).

    First ``config.imitation`` iterations of imitation: the policy learns to pick, at each step,
    one of the options of the MILP's least-energy solution that still fit (whichever order it
    likes). Then ``config.iterations`` of REINFORCE on its own rollouts. ``on_iteration`` gets
    the iteration (counting both phases) and its statistics.
    """
    config = config or TrainConfig()
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    scorer = Scorer(config.hidden)
    optim = torch.optim.Adam(scorer.parameters(), lr=config.lr)
    seed = TRAIN_SEED_BASE + config.seed * 100_000
    t0 = time.perf_counter()
    for it in range(1, config.imitation + 1):
        slots: list[_Slot] = []
        marks: list[npt.NDArray[np.bool_]] = []
        for _ in range(config.slots):
            drawn, ref, seed = _draw(rng, config, seed, expert=True)
            slot = drawn.slot
            assert ref is not None
            mark = np.zeros(slot.user.size, dtype=np.bool_)
            chosen = ref[ref >= 0]
            mark[chosen] = (slot.phi[chosen] > 0) | (slot.psi[chosen] > 0)
            slots.append(slot)
            marks.append(mark)
        bt = _batch(slots)
        roll = _rollout(scorer, bt, False, gen, torch.from_numpy(np.concatenate(marks)))
        per_user = torch.tensor([s.users for s in slots], dtype=torch.float32)
        loss = (roll.imitation / per_user).mean()
        optim.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(scorer.parameters(), 1.0)
        optim.step()
        if on_iteration is not None:
            on_iteration(
                it,
                {
                    "served": float((roll.served / per_user).mean()),
                    "imitation": float(loss.detach()),
                    "seconds": time.perf_counter() - t0,
                },
            )
    # Validation slots (seeds of their own, below the training seeds and above those the
    # benchmark and the tests evaluate on), to follow the training. On this problem the count
    # they give barely moves, so they do not choose the policy kept: the last one is.
    val_rng = np.random.default_rng(VALIDATION_SEED)
    val = [
        _draw(val_rng, config, VALIDATION_SEED + 1000 * i, expert=False)[0].slot
        for i in range(config.validation_slots)
    ]
    val_bt = _batch(val)

    def validate() -> float:
        """Requests served over the validation slots, plus 1e-3 x the energy saved."""
        with torch.no_grad():
            roll = _rollout(scorer, val_bt, greedy=True, gen=None)
        return float(roll.served.sum() + 1e-3 * roll.saving.sum())

    score = validate()
    for it in range(config.imitation + 1, config.imitation + config.iterations + 1):
        draws: list[_Drawn] = []
        for _ in range(config.slots):
            drawn, _, seed = _draw(rng, config, seed, expert=False)
            draws.append(drawn)
        slots = [d.slot for d in draws]
        bt = _batch([s for s in slots for _ in range(config.samples)])
        roll = _rollout(scorer, bt, greedy=False, gen=gen)
        if config.second_stage:
            picks = roll.choice.numpy().astype(np.int64)
            ret = torch.tensor(
                [
                    _staged_return(d, picks[i * config.samples + k, : d.slot.users], config.beta)
                    for i, d in enumerate(draws)
                    for k in range(config.samples)
                ],
                dtype=torch.float32,
            ).reshape(config.slots, config.samples)
        else:
            ret = (roll.served + config.beta * roll.saving).reshape(config.slots, config.samples)
        adv = (ret - ret.mean(1, keepdim=True)).reshape(-1)
        per_user = torch.tensor(
            [s.users for s in slots for _ in range(config.samples)], dtype=torch.float32
        )
        loss = (
            -(adv * roll.logp / per_user).mean() - config.entropy * (roll.entropy / per_user).mean()
        )
        optim.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(scorer.parameters(), 1.0)
        optim.step()
        stats = {
            "served": float((roll.served / per_user).mean()),
            "return": float((ret.reshape(-1) / per_user).mean()),
        }
        if it % VALIDATE_EVERY == 0 or it == config.imitation + config.iterations:
            score = stats["validation"] = validate()
        if on_iteration is not None:
            on_iteration(it, {**stats, "seconds": time.perf_counter() - t0})
    scorer.eval()
    meta = {
        "validation_score": round(score, 6),
        "imitation": config.imitation,
        "iterations": config.iterations,
        "seconds": round(time.perf_counter() - t0, 1),
        "first_seed": TRAIN_SEED_BASE + config.seed * 100_000,
        "last_seed": seed - 1,
    }
    return SplitPolicy(scorer, config, meta)


def random_policy(inst: Instance, opts: Options, local_j: FloatArray, seed: int = 0) -> Outcome:
    """The floor to beat: the policy's action space, uniformly at random.

    Uniformly random (user, option) pairs that take a share and still fit until none does, then
    every user left whose own terminal meets its deadline runs there.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    users = len(inst.users)
    choice = np.full(users, -1, dtype=np.int64)
    shared = (opts.phi > 0) | (opts.psi > 0)
    r, g = 1.0, inst.gpus
    while True:
        ok = np.flatnonzero(
            shared & (choice[opts.user] < 0) & (opts.phi <= r + 1e-7) & (opts.psi <= g + 1e-7)
        )
        if ok.size == 0:
            break
        j = int(rng.choice(ok))
        choice[opts.user[j]] = j
        r -= float(opts.phi[j])
        g -= float(opts.psi[j])
    home = np.flatnonzero(~shared)
    home = home[choice[opts.user[home]] < 0]
    choice[opts.user[home]] = home
    out = rl_outcome(inst, opts, choice, local_j, time.perf_counter() - t0)
    return replace(out, method="random")


def solve_milp_energy(
    inst: Instance,
    opts: Options,
    served: int,
    local_j: FloatArray,
    time_limit: float = 30.0,
) -> Outcome:
    """Least slot energy (:func:`slot_energy`) among plans serving at least ``served`` users.

    With ``served`` the count of :func:`cnc6g.ai.coupled.solve_milp`, this is the joint
    optimum's energy: most requests within their deadline, then least terminal energy, solved
    exactly (HiGHS, relative gap 1e-6).
    """
    t0 = time.perf_counter()
    users = len(inst.users)
    k = opts.user.size
    choice = np.full(users, -1, dtype=np.int64)
    if k == 0 or served <= 0:
        out = rl_outcome(inst, opts, choice, local_j, time.perf_counter() - t0)
        return replace(out, method="milp-energy")
    _, choice, optimal = assignment_milp(
        inst, opts, opts.energy_j - local_j[opts.user], time_limit, {"mip_rel_gap": 1e-6}, served
    )
    out = rl_outcome(inst, opts, choice, local_j, time.perf_counter() - t0)
    return replace(out, method="milp-energy", detail={**out.detail, "optimal": float(optimal)})


SEARCH_SAMPLES = 4
"""Rollouts sampled from the policy, besides its greedy one, for ``rl-search``."""

METHODS = (
    "milp",
    "milp-energy",
    "prices",
    "independent-latency",
    "independent-energy",
    "rl-scorer",
    "rl",
    "rl-search",
    "random",
)
"""What :func:`compare_slot` runs: ``independent-latency`` is Neurosurgeon's per-user best
split at an equal share, ``rl-scorer`` the policy's first stage alone (its highest-scoring
pairs), ``rl`` the whole policy (those pairs, then :func:`share_stage` and :func:`improve`),
``rl-search`` the whole policy on its greedy rollout and :data:`SEARCH_SAMPLES` sampled ones,
the best kept, ``random`` uniformly random feasible choices (:func:`random_policy`)."""


@dataclass(frozen=True)
class SlotResult:
    """One method on one slot."""

    method: str
    users: int
    served: int
    slot_energy_j: float
    seconds: float
    feasible: bool
    """Both capacities hold (independent splits: their shares are equal, always)."""
    floor_j: float
    """The least slot energy among plans that serve as many users (at most the MILP's count)."""


def compare_slot(
    inst: Instance,
    policy: SplitPolicy,
    time_limit: float = 30.0,
    methods: Sequence[str] = METHODS,
) -> list[SlotResult]:
    """Every method of ``methods`` on one slot, with the slot's terminal energy."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"methods: unknown {', '.join(unknown)}; use {', '.join(METHODS)}")
    opts = build_options(inst)
    local_j = local_energy(inst)
    out: list[SlotResult] = []
    milp = solve_milp(inst, opts, time_limit)
    floors: dict[int, float] = {}

    def floor(served: int) -> float:
        k = min(served, milp.satisfied)
        if k not in floors:
            o = solve_milp_energy(inst, opts, k, local_j, time_limit)
            floors[k] = o.detail["slot_energy_j"]
        return floors[k]

    def add(o: Outcome, energy: float, name: str | None = None) -> None:
        fits = o.radio_used <= 1.0 + 1e-6 and o.gpu_used <= inst.gpus * (1.0 + 1e-6)
        out.append(
            SlotResult(
                name or o.method,
                o.users,
                o.satisfied,
                energy,
                o.seconds,
                bool(fits),
                floor(o.satisfied),
            )
        )

    for m in methods:
        if m == "milp":
            add(milp, slot_energy(opts, milp.choice, local_j))
        elif m == "milp-energy":
            o = solve_milp_energy(inst, opts, milp.satisfied, local_j, time_limit)
            floors.setdefault(milp.satisfied, o.detail["slot_energy_j"])
            add(o, o.detail["slot_energy_j"])
        elif m == "prices":
            o = solve_prices(inst, opts)
            add(o, slot_energy(opts, o.choice, local_j))
        elif m.startswith("independent-"):
            o = solve_independent(inst, "latency" if m.endswith("latency") else "energy")
            add(o, o.energy_j + float(local_j[o.choice < 0].sum()), m)
        elif m == "rl-scorer":
            o = policy.decide(inst, opts, local_j, stages=False)
            add(o, o.detail["slot_energy_j"], m)
        elif m == "rl":
            o = policy.decide(inst, opts, local_j)
            add(o, o.detail["slot_energy_j"], m)
        elif m == "rl-search":
            o = policy.decide(inst, opts, local_j, samples=SEARCH_SAMPLES)
            add(o, o.detail["slot_energy_j"], m)
        elif m == "random":
            o = random_policy(inst, opts, local_j)
            add(o, o.detail["slot_energy_j"])
    return out


SHARE_RATIOS = (0.25, 0.5, 0.71, 1.0, 1.41, 2.0, 4.0)
"""Weights of a share of the edge left against the same share of the uplink left that
:func:`share_stage` tries (one plan each; the best is kept)."""


def _least_per_user(user: IntArray, cost: FloatArray, users: int) -> IntArray:
    """Each user's option of least finite ``cost`` (-1: none is finite)."""
    out = np.full(users, -1, dtype=np.int64)
    idx = np.flatnonzero(np.isfinite(cost))
    if idx.size:
        order = idx[np.lexsort((cost[idx], user[idx]))]
        first = np.ones(order.size, dtype=np.bool_)
        first[1:] = user[order][1:] != user[order][:-1]
        out[user[order[first]]] = order[first]
    return out


def share_stage(
    inst: Instance,
    opts: Options,
    choice: IntArray,
    local_j: FloatArray,
    keep_all: bool = True,
    ratios: Sequence[float] = SHARE_RATIOS,
) -> IntArray:
    """The policy's second action stage: each offloaded user's shares, then the room left.

    The first stage (the scorer) decides which users leave their terminal and takes whole
    options, whose division of a split's slack between uplink and edge is one of a few; the
    options it takes leave one resource short while the other has room. Here, for a weight
    ``t`` of ``ratios``, the users the first stage offloaded (with ``keep_all`` False: only
    those without a local fallback; the others compete below) take, one at a time, largest
    first, the option of least ``phi / r + t psi / g`` (``r``, ``g``: the shares of uplink and
    edge still free), which balances what is left; then the room left goes, one user at a time,
    to users without a local fallback (least such cost first: most served), then to users on
    their terminal whose option saves most energy per such cost. Waiting users may also take
    the place of a larger served one (:func:`_swap_needy`, with ``keep_all`` False), get room
    from offloaded users sent home (:func:`_make_room`) or from offloaded users moving load from
    the short resource to the other (:func:`_shift_room`). The plan of the weight that serves
    most, then spends least, is kept; if none is better than ``choice``, ``choice`` is
    returned. No solver: sorts and a 1-D search per user.
    """
    users = len(inst.users)
    shared = (opts.phi > 0) | (opts.psi > 0)
    e = opts.energy_j
    phi = opts.phi
    psi = opts.psi / max(inst.gpus, _EPS)
    home_col = np.full(users, -1, dtype=np.int64)
    home_col[opts.user[~shared]] = np.flatnonzero(~shared)
    local_ok = home_col >= 0
    served = choice >= 0
    off = np.zeros(users, dtype=np.bool_)
    off[served] = shared[choice[served]]
    if not keep_all:
        off &= ~local_ok
    size = np.where(shared, phi + psi, np.inf)
    least = _least_per_user(opts.user, np.where(off[opts.user], size, np.inf), users)
    first = np.flatnonzero(off)
    first = first[np.argsort(-size[least[first]], kind="stable")]
    own = [np.flatnonzero((opts.user == u) & shared) for u in range(users)]
    cand = shared & (~local_ok[opts.user] | (e < local_j[opts.user]))
    needy = ~local_ok[opts.user]

    def energy(ch: IntArray) -> float:
        return slot_energy(opts, ch, local_j)

    best = np.asarray(choice, dtype=np.int64).copy()
    best_key = (int((best >= 0).sum()), -energy(best))
    for t in ratios:
        plan = np.full(users, -1, dtype=np.int64)
        r = g = 1.0
        complete = True
        for u in first:
            js = own[u]
            js = js[(phi[js] <= r + 1e-9) & (psi[js] <= g + 1e-9)]
            if js.size == 0:
                complete = False
                break
            j = int(js[np.argmin(phi[js] / max(r, _EPS) + t * psi[js] / max(g, _EPS))])
            plan[u] = j
            r -= float(phi[j])
            g -= float(psi[j])
        if not complete:
            continue
        if not keep_all:
            r, g = _swap_needy(plan, own, phi, psi, local_ok, t, r, g)
        r, g = _make_room(plan, own, phi, psi, local_ok, local_j[opts.user] - e, t, r, g)
        for shift in (False, True):
            if shift:
                r, g = _shift_room(plan, own, opts.user, phi, psi, e, local_ok, local_j, r, g)
            free = cand & (plan[opts.user] < 0)
            while True:
                fit = free & (phi <= r + 1e-9) & (psi <= g + 1e-9)
                if not fit.any():
                    break
                cost = phi / max(r, _EPS) + t * psi / max(g, _EPS)
                if (fit & needy).any():
                    j = int(np.argmin(np.where(fit & needy, cost, np.inf)))
                else:
                    gain = (local_j[opts.user] - e) / np.maximum(cost, 1e-12)
                    j = int(np.argmax(np.where(fit, gain, -np.inf)))
                who = int(opts.user[j])
                plan[who] = j
                r -= float(phi[j])
                g -= float(psi[j])
                free &= opts.user != who
        rest = (plan < 0) & local_ok
        plan[rest] = home_col[rest]
        key = (int((plan >= 0).sum()), -energy(plan))
        if key > best_key:
            best, best_key = plan, key
    return best


def _swap_needy(
    plan: IntArray,
    own: list[IntArray],
    phi: FloatArray,
    psi: FloatArray,
    local_ok: npt.NDArray[np.bool_],
    t: float,
    r: float,
    g: float,
) -> tuple[float, float]:
    """Serve a waiting user without a local fallback instead of a served one that takes more.

    ``plan`` is changed in place (the user left out is not served); the shares left come back.
    Sizes are ``phi + t psi``; the served user of largest size that the waiting one can replace
    with a smaller option goes, waiting users of least size first.
    """
    size = phi + t * psi
    waiting = [u for u in range(len(plan)) if plan[u] < 0 and not local_ok[u] and own[u].size]
    waiting.sort(key=lambda u: float(size[own[u]].min()))
    for b in waiting:
        held = np.flatnonzero((plan >= 0) & ~local_ok)
        if held.size == 0:
            break
        held = held[np.argsort(-size[plan[held]], kind="stable")]
        for a in held:
            ja = int(plan[a])
            jb = own[b]
            jb = jb[(phi[jb] <= r + phi[ja] + 1e-9) & (psi[jb] <= g + psi[ja] + 1e-9)]
            if jb.size == 0:
                continue
            j = int(jb[np.argmin(size[jb])])
            if size[j] >= size[ja] - 1e-12:
                break
            plan[a] = -1
            plan[b] = j
            r += float(phi[ja] - phi[j])
            g += float(psi[ja] - psi[j])
            break
    return r, g


def _make_room(
    plan: IntArray,
    own: list[IntArray],
    phi: FloatArray,
    psi: FloatArray,
    local_ok: npt.NDArray[np.bool_],
    saving: FloatArray,
    t: float,
    r: float,
    g: float,
) -> tuple[float, float]:
    """Serve waiting users without a local fallback by sending offloaded ones home.

    For each waiting user (least size ``phi + t psi`` first) and each of its few smallest
    options, the offloaded users with a local fallback that lose least energy per share freed
    go back to their terminals until the option fits; the option that loses least is taken
    (one more request served). ``plan`` is changed in place; the shares left come back.
    """
    size = phi + t * psi
    waiting = [u for u in range(len(plan)) if plan[u] < 0 and not local_ok[u] and own[u].size]
    waiting.sort(key=lambda u: float(size[own[u]].min()))
    for b in waiting:
        goers = np.flatnonzero((plan >= 0) & local_ok)
        jg = plan[goers]
        best: tuple[float, int, IntArray] | None = None
        jb = own[b][np.argsort(size[own[b]], kind="stable")[:8]]
        for j in jb:
            short_r, short_g = max(phi[j] - r, 0.0), max(psi[j] - g, 0.0)
            if short_r <= 1e-9 and short_g <= 1e-9:
                best = (0.0, int(j), goers[:0])
                break
            freed = (phi[jg] * (short_r > 1e-9) + t * psi[jg] * (short_g > 1e-9)) + 1e-12
            order = np.argsort(saving[jg] / freed, kind="stable")
            got_r = np.cumsum(phi[jg][order])
            got_g = np.cumsum(psi[jg][order])
            enough = np.flatnonzero((got_r >= short_r - 1e-9) & (got_g >= short_g - 1e-9))
            if enough.size == 0:
                continue
            gone = order[: enough[0] + 1]
            lost = float(saving[jg[gone]].sum())
            if best is None or lost < best[0]:
                best = (lost, int(j), goers[gone])
        if best is None:
            continue
        _, j, gone = best
        r += float(phi[plan[gone]].sum()) - float(phi[j])
        g += float(psi[plan[gone]].sum()) - float(psi[j])
        plan[gone] = -1
        plan[b] = j
    return r, g


def _shift_room(
    plan: IntArray,
    own: list[IntArray],
    user: IntArray,
    phi: FloatArray,
    psi: FloatArray,
    e: FloatArray,
    local_ok: npt.NDArray[np.bool_],
    local_j: FloatArray,
    r: float,
    g: float,
) -> tuple[float, float]:
    """Fit waiting users by moving offloaded users' load from the short resource to the other.

    For each waiting user (those without a local fallback first, then those whose local run
    costs most) and each of its few smallest options, one resource is short and the other has
    room: offloaded users move to options that take less of the short one (each to its option
    that frees most of it per share of the other taken), most efficient first, until the option
    fits; the move is made if it costs less energy than the waiting user then saves (any, for
    a user without a local fallback: one more request served). ``plan`` is changed in place;
    the shares left come back.
    """
    users = len(plan)
    size = phi + psi
    shared = np.zeros(user.size, dtype=np.bool_)
    for o in own:
        shared[o] = True
    waiting = [u for u in range(users) if plan[u] < 0 and own[u].size]
    waiting.sort(key=lambda u: (bool(local_ok[u]), -float(local_j[u])))
    for b in waiting:
        for j in own[b][np.argsort(size[own[b]], kind="stable")[:4]]:
            gain = np.inf if not local_ok[b] else float(local_j[b] - e[j])
            short_r, short_g = float(phi[j]) - r, float(psi[j]) - g
            if gain <= 0 or (short_r > 1e-9) == (short_g > 1e-9):
                continue  # saves nothing, both resources short, or it fits already
            short, other = (phi, psi) if short_r > 1e-9 else (psi, phi)
            need = max(short_r, short_g)
            spare = (g - float(psi[j])) if short_r > 1e-9 else (r - float(phi[j]))
            k = np.flatnonzero(shared & (plan[user] >= 0))
            cur = plan[user[k]]
            freed = short[cur] - short[k]
            k, cur, freed = k[freed > 1e-12], cur[freed > 1e-12], freed[freed > 1e-12]
            if k.size == 0:
                continue
            added = other[k] - other[cur]
            at = _least_per_user(user[k], -freed / np.maximum(added, 1e-12), users)
            at = at[at >= 0]  # positions in k: each user's most efficient move
            order = np.argsort(-(freed[at] / np.maximum(added[at], 1e-12)), kind="stable")
            at = at[order]
            got = np.cumsum(freed[at])
            taken = np.cumsum(added[at])
            enough = np.flatnonzero((got >= need - 1e-12) & (taken <= spare + 1e-12))
            if enough.size == 0:
                continue
            moved = at[: enough[0] + 1]
            if float((e[k[moved]] - e[cur[moved]]).sum()) >= gain:
                continue
            plan[user[k[moved]]] = k[moved]
            plan[b] = j
            r = 1.0 - float(phi[plan[plan >= 0]].sum())
            g = 1.0 - float(psi[plan[plan >= 0]].sum())
            break
    return r, g


def improve(
    inst: Instance, opts: Options, choice: IntArray, local_j: FloatArray, rounds: int = 0
) -> IntArray:
    """Local search after a decision: serve more users, then spend less terminal energy.

    A move gives one user a new option that takes a share (a user on its terminal or not
    served moves off it; an offloaded user takes another split or division of its slack), and
    may change one other offloaded user to make room: another option of its own, or, where its
    terminal meets its deadline, back to its terminal. It must keep both capacities. The best
    move (more users served, then most terminal energy saved) is made; when none improves, a
    waiting user without a local fallback is served by a chain of changes to several others
    (:func:`insert_chain`: users sent home, others given other options), and the single moves
    go on; until neither improves, at most ``rounds`` times (0: twice the users).
    """
    users = len(inst.users)
    choice = np.asarray(choice, dtype=np.int64).copy()
    use = np.stack([opts.phi, opts.psi], axis=1)
    cap = np.array([1.0, inst.gpus]) + 1e-9
    e = opts.energy_j
    shared = (opts.phi > 0) | (opts.psi > 0)
    home_col = np.full(users, -1, dtype=np.int64)
    home_col[opts.user[~shared]] = np.flatnonzero(~shared)
    cols = np.flatnonzero(shared)
    for _ in range(rounds or 2 * users):
        moved = _best_move(choice, opts, use, cap, e, shared, home_col, cols, local_j, users)
        if moved:
            continue
        # No single move helps: serve a waiting user by a chain of changes.
        chained = insert_chain(inst, opts, choice, local_j)
        if np.array_equal(chained, choice):
            break
        choice = chained
    return choice


def _best_move(
    choice: IntArray,
    opts: Options,
    use: FloatArray,
    cap: FloatArray,
    e: FloatArray,
    shared: npt.NDArray[np.bool_],
    home_col: IntArray,
    cols: IntArray,
    local_j: FloatArray,
    users: int,
) -> bool:
    """Make :func:`improve`'s best single move on ``choice`` in place; False if none helps."""
    picked = choice[choice >= 0]
    load = use[picked].sum(axis=0) if picked.size else np.zeros(2)
    off = np.zeros(users, dtype=np.bool_)
    off[opts.user[picked[shared[picked]]]] = True
    # The other user's change, one row each: every option of an offloaded user (its current
    # one included: no change), every offloaded user with a local fallback going home, and
    # a "no change" row for when nobody is offloaded.
    alt = np.flatnonzero(off[opts.user] & shared)
    cur = choice[opts.user[alt]]
    home = np.flatnonzero(off & (home_col >= 0))
    d_use = np.vstack([use[alt] - use[cur], -use[choice[home]], np.zeros((1, 2))])
    d_e = np.concatenate([e[alt] - e[cur], local_j[home] - e[choice[home]], [0.0]])
    row_user = np.concatenate([opts.user[alt], home, [-1]])
    row_col = np.concatenate([alt, home_col[home], [-1]])
    # A change that frees nothing and saves nothing never helps (the "no change" row does
    # at least as well).
    useful = np.any(d_use < 0, axis=1) | (d_e < 0)
    useful[-1] = True
    d_use, d_e, row_user, row_col = (
        d_use[useful],
        d_e[useful],
        row_user[useful],
        row_col[useful],
    )
    least_gain = float(d_e.min()) + 1e-12  # the most the other user's change can save
    # Every option that takes a share as the first user's move, all at once: its user's
    # current share is freed if it is offloaded; a served user only takes options that
    # spend less than its current plan by more than the other change could save.
    mover = opts.user[cols]
    moving = off[mover]
    base = load[None, :] - np.where(moving[:, None], use[choice[mover]], 0.0)
    now = np.where(moving, e[choice[mover]], local_j[mover])
    keep = (choice[mover] < 0) | (e[cols] < now - least_gain)
    js, base, now = cols[keep], base[keep], now[keep]
    if js.size == 0:
        return False
    ok = np.all(base[None, :, :] + d_use[:, None, :] + use[js][None, :, :] <= cap, axis=2)
    ok &= row_user[:, None] != opts.user[js][None, :]
    bonus = np.where(choice[opts.user[js]] < 0, 1e3, 0.0)
    score = np.where(ok, now[None, :] + bonus[None, :] - (d_e[:, None] + e[js][None, :]), -np.inf)
    i, k = np.unravel_index(int(np.argmax(score)), score.shape)
    best: tuple[int, int, int, int] | None = None
    if score[i, k] > 1e-12:
        best = (int(opts.user[js[k]]), int(row_user[i]), int(row_col[i]), int(js[k]))
    if best is None:
        return False
    gets, other, col, jb_best = best
    if other >= 0:
        choice[other] = col
    choice[gets] = jb_best
    return True


CHAIN_OPTIONS = 6
"""Options of a waiting user (smallest ``phi + psi`` first) that :func:`insert_chain` tries."""

CHAIN_WEIGHTS = (0.0, 0.5, 1.0)
"""Weights of a share taken of a resource within its capacity against one freed of a resource
over it, with which :func:`insert_chain` measures a change (one chain each)."""

CHANGE_COST = 0.01
"""Energy (relative to the largest option's) that :func:`_repair` adds to every change's loss:
among changes that lose little energy, those that free most go first, so a chain takes few
changes. On the 100-user slots of ``benchmarks/split_rl.py`` the chains' energy was the same
from 0.003 to 0.1 and higher below."""


def insert_chain(
    inst: Instance,
    opts: Options,
    choice: IntArray,
    local_j: FloatArray,
    options: int = CHAIN_OPTIONS,
    weights: Sequence[float] = CHAIN_WEIGHTS,
) -> IntArray:
    """Serve waiting users without a local fallback by a chain of changes to the others.

    A waiting user whose own terminal misses its deadline takes one of its ``options``
    smallest options (size ``phi + psi``, ``psi`` over the edge's GPUs) although the
    capacities are then exceeded; the excess is then removed one change at a time (offloaded
    users other than it going back to their terminals, where that meets their deadline, or
    taking another of their options, :func:`_repair`) until both capacities hold. Several users
    may go home and several change their split or shares: plans that the single moves of
    :func:`improve` and the room-making of :func:`share_stage` do not reach. Of the chains that
    end within the capacities (one per option and weight of ``weights``) the one of least slot
    energy is kept: one more request served, since the users sent home still meet their
    deadline on their terminal. A user for whom no chain ends within the capacities stays
    waiting. Waiting users are tried least size first. No solver: each change is one pass over
    the options.
    """
    users = len(inst.users)
    plan = np.asarray(choice, dtype=np.int64).copy()
    shared = (opts.phi > 0) | (opts.psi > 0)
    local_ok = np.zeros(users, dtype=np.bool_)
    local_ok[opts.user[~shared]] = True
    use = np.stack([opts.phi, opts.psi / max(inst.gpus, _EPS)], axis=1)
    size = np.where(shared, use.sum(axis=1), np.inf)
    least = _least_per_user(opts.user, size, users)
    waiting = np.flatnonzero((plan < 0) & ~local_ok & (least >= 0))
    mix = np.linspace(0.0, 1.0, 11)
    mix = np.stack([mix, 1.0 - mix], axis=1)  # (11, 2): weights of uplink and edge
    room = _room(plan, opts, use, shared, mix)
    for b in waiting[np.argsort(size[least[waiting]], kind="stable")]:
        own = np.flatnonzero((opts.user == b) & shared)
        best: tuple[float, IntArray] | None = None
        for j in own[np.argsort(size[own], kind="stable")[:options]]:
            if np.any(mix @ use[j] > room + 1e-9):
                continue  # no chain can make room for it
            for weight in weights:
                trial = plan.copy()
                trial[b] = j
                if _repair(trial, int(b), opts, use, shared, weight):
                    energy = slot_energy(opts, trial, local_j)
                    if best is None or energy < best[0]:
                        best = (energy, trial)
        if best is not None:
            plan = best[1]
            room = _room(plan, opts, use, shared, mix)
    return plan


def _room(
    plan: IntArray, opts: Options, use: FloatArray, shared: npt.NDArray[np.bool_], mix: FloatArray
) -> FloatArray:
    """The most room any chain of changes to ``plan``'s offloaded users can leave, per mix.

    For each row ``m`` of ``mix`` (weights of uplink and edge, normalised shares), 1 less the
    least ``m . use`` the users can take together when every offloaded user may take any of
    its options (its local fallback, which takes nothing, included) and the others keep
    theirs (which take nothing). An option whose ``m . use`` exceeds it for some ``m`` fits
    after no chain (a necessary condition: the combination of resources is relaxed).
    """
    users = plan.size
    off = np.zeros(users, dtype=np.bool_)
    off[plan >= 0] = shared[plan[plan >= 0]]
    cols = np.flatnonzero(off[opts.user])
    least = np.full((users, mix.shape[0]), np.inf)
    np.minimum.at(least, opts.user[cols], use[cols] @ mix.T)
    taken = np.where(np.isfinite(least), least, 0.0).sum(axis=0)
    out: FloatArray = 1.0 - taken
    return out


def _repair(
    plan: IntArray,
    fixed: int,
    opts: Options,
    use: FloatArray,
    shared: npt.NDArray[np.bool_],
    weight: float,
) -> bool:
    """Remove the excess over both capacities by changes to the offloaded users but ``fixed``.

    ``use`` is normalised (both capacities 1). A change is any option of an offloaded user:
    another one that takes a share, or the one that runs its request on its terminal (its
    local fallback, which takes none). The change that loses least terminal energy per share
    freed is made first (one that saves energy and frees a share goes before any that loses),
    a share taken of a resource within its capacity counting as ``weight`` times a share freed
    of one over it and every loss raised by :data:`CHANGE_COST`; only changes that lower the
    excess count. ``plan`` is changed in place; True when both capacities hold at the end.
    Every change lowers the excess, so it ends.
    """
    e = opts.energy_j
    cols = np.arange(opts.user.size)
    load = use[plan[plan >= 0]].sum(axis=0)
    movable = opts.user != fixed
    cost = CHANGE_COST * float(np.abs(e).max(initial=0.0))
    while True:
        over = np.maximum(load - 1.0, 0.0)
        if np.all(over <= 1e-9):
            return True
        now = plan[opts.user]
        ok = movable & (now >= 0) & (now != cols)
        ok &= shared[np.maximum(now, 0)]
        d_use = use - use[np.maximum(now, 0)]
        removed = (over - np.maximum(load + d_use - 1.0, 0.0)).sum(axis=1)
        freed = -(d_use @ np.where(over > 1e-9, 1.0, weight))
        ok &= (removed > 1e-12) & (freed > 1e-12)
        if not ok.any():
            return False
        d_e = e - e[np.maximum(now, 0)]
        k = int(np.argmin(np.where(ok, (d_e + cost) / np.where(ok, freed, 1.0), np.inf)))
        plan[opts.user[k]] = k
        load = load + d_use[k]
