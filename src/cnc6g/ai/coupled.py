"""Users coupled through a shared uplink and shared edge GPUs: a slot's split decisions together.

Each user ``u`` has one request with a deadline ``D_u``. A plan is a split (a terminal prefix,
then the rest on the edge or in the cloud, or all on the terminal) and shares: ``phi`` of the
cell's uplink (the user's rate is ``phi x`` its full-cell rate) and ``psi`` of an edge GPU (its
edge blocks take ``1 / psi`` times longer). With ``x`` the uplink air time at the full-cell rate
and ``w`` the edge compute time at a whole GPU, the plan meets the deadline when

    x / phi + w / psi <= slack = D_u - (everything else: terminal, delays, wired, cloud, return).

Each split is offered at a few divisions of its slack between radio and edge (``f`` of it to the
radio: ``phi = x / (f slack)``, ``psi = w / ((1 - f) slack)``); splits that use only one
resource give it the whole slack. Options dominated in (phi, psi, terminal energy) are dropped.
Running everything on the terminal needs no share and is an option where it meets the deadline.

Three ways to choose, on the same options:

- :func:`solve_milp`: the joint problem, a multiple-choice knapsack with two capacities
  (``sum phi <= 1``, ``sum psi <= gpus``) solved by HiGHS: most requests within their deadline,
  then least terminal energy (a small weight).
- :func:`solve_prices`: price-based decomposition. Dual prices on the two capacities; at given
  prices every user picks, on its own, its best option (value minus priced shares) or none; a
  subgradient step moves the prices towards the capacities; each round's choices are made
  feasible (the users with the least value per priced share leave until both capacities hold,
  then those left out are added greedily) and the best round is kept.
- :func:`solve_independent`: every user takes its own best split for an equal share (``1 / U``
  of the uplink, ``gpus / U`` of the edge) as if alone: its least latency (Neurosurgeon's way)
  or its least energy within its deadline; the shares are then what the users actually get: the
  uplink split equally among those that send, each edge GPU among those that use it.

:func:`make_instance` draws users at a given *load*: the capacities are set so that, if every
user sent its whole request to the edge, the work on each shared resource per deadline would be
``load`` times its capacity (``sum x_u / D_u = load`` for the uplink, ``sum w_u / D_u = load x
gpus`` for the edge).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from cnc6g.ai.processors import PROCESSORS, Processor
from cnc6g.ai.profiles import FloatArray, load_profile
from cnc6g.ai.split import EDGE, MBIT, Network, Objective, evaluate_cuts, solve, tiers_of

try:  # the core class does not print HiGHS's banner on construction (highspy.Highs does)
    from highspy._core import HighsLp, HighsModelStatus, HighsVarType, MatrixFormat
    from highspy._core import _Highs as _HighsSolver
except ImportError:  # pragma: no cover - other highspy layouts
    from highspy import Highs as _HighsSolver
    from highspy import HighsLp, HighsModelStatus, HighsVarType, MatrixFormat

IntArray = npt.NDArray[np.int64]

RADIO_FRACTIONS = (0.15, 0.3, 0.5, 0.7, 0.85)
"""Shares of a split's slack given to the uplink when it uses both shared resources."""

ENERGY_WEIGHT = 1e-4
"""Weight of terminal energy (relative to the largest option's) against one request served."""

MIP_ABS_GAP = 0.5
"""HiGHS's absolute gap. The energy terms add up to less than 0.05 for 500 users, so a point
within half a request of the optimum serves as many requests as the optimum: the count served is
exact, the energy within the gap."""

MODELS = ("resnet50", "vit-b16")
TERMINALS = ("sd8g3-cpu", "sd8g3-gpu")


@dataclass(frozen=True)
class User:
    """One user's request and link."""

    model: str
    terminal: str
    deadline_s: float
    cell_mbps: float
    """Its uplink rate with the whole cell to itself."""


@dataclass(frozen=True)
class Instance:
    """A slot: users, the shared capacities and the processors of edge and cloud."""

    users: tuple[User, ...]
    gpus: float
    """Edge GPUs (capacity of ``sum psi``)."""
    edge: str = "l4"
    cloud: str = "a100"
    net: Network = field(default_factory=Network)
    """Delays, wired rate and radio powers; its uplink rate is replaced by each user's."""


@dataclass(frozen=True)
class Options:
    """Every user's options, flat: option ``j`` belongs to user ``user[j]``."""

    user: IntArray
    phi: FloatArray
    psi: FloatArray
    energy_j: FloatArray
    latency_s: FloatArray
    a: IntArray
    """First network block (n: all local)."""
    b: IntArray
    """First cloud block (n: none)."""

    @property
    def value(self) -> FloatArray:
        """One per request served, less a small weight on terminal energy."""
        scale = float(self.energy_j.max()) if self.energy_j.size else 1.0
        return 1.0 - ENERGY_WEIGHT * self.energy_j / max(scale, 1e-12)


@dataclass(frozen=True)
class Outcome:
    """A slot's decisions: the option chosen per user (-1: none), and what they achieve."""

    method: str
    choice: IntArray
    satisfied: int
    users: int
    radio_used: float
    gpu_used: float
    energy_j: float
    seconds: float
    detail: dict[str, float] = field(default_factory=dict)

    @property
    def share(self) -> float:
        """Share of the requests that meet their deadline."""
        return self.satisfied / max(self.users, 1)


def _tiers(inst: Instance, terminal: str) -> list[Processor]:
    return [PROCESSORS[terminal], PROCESSORS[inst.edge], PROCESSORS[inst.cloud]]


def build_options(inst: Instance) -> Options:
    """Every user's deadline-feasible options (see the module), dominated ones dropped."""
    cols: dict[str, list[npt.NDArray[np.generic]]] = {
        k: [] for k in ("user", "phi", "psi", "energy_j", "latency_s", "a", "b")
    }
    groups: dict[tuple[str, str], list[int]] = {}
    for i, u in enumerate(inst.users):
        groups.setdefault((u.model, u.terminal), []).append(i)
    for (model, terminal), members in groups.items():
        profile = load_profile(model)
        n = profile.n
        # Plans: terminal prefix a, then edge to the end (b = n) or cloud (b = a); a = n local.
        a_list = np.concatenate([np.arange(n), np.arange(n), [n]])
        b_list = np.concatenate([np.full(n, n), np.arange(n), [n]])
        p = len(a_list)
        m = len(members)
        idx = np.array(members)
        cell = np.array([inst.users[i].cell_mbps for i in members])
        deadline = np.array([inst.users[i].deadline_s for i in members])
        net = _with_uplink(inst.net, np.repeat(cell, p))
        plan = evaluate_cuts(
            profile, _tiers(inst, terminal), net, np.tile(a_list, m), np.tile(b_list, m)
        )
        x = (8.0 * plan.uplink_bytes / (np.repeat(cell, p) * MBIT)).reshape(m, p)
        w = plan.edge_s.reshape(m, p)
        latency = plan.latency_s.reshape(m, p)
        energy = plan.energy_j.reshape(m, p)
        slack = deadline[:, None] - (latency - x - w)
        for j in range(p):
            aj, bj = int(a_list[j]), int(b_list[j])
            uses_edge = bj > aj
            uses_radio = aj < n
            fr = list(RADIO_FRACTIONS) if uses_radio and uses_edge else [1.0]
            for f in fr:
                s = slack[:, j]
                ok = s > 0
                phi = np.where(uses_radio & ok, x[:, j] / np.maximum(f * s, 1e-300), 0.0)
                psi = (
                    np.where(ok, w[:, j] / np.maximum((1.0 - f) * s, 1e-300), 0.0)
                    if uses_edge
                    else np.zeros_like(s)
                )
                keep = ok & (phi <= 1.0) & (psi <= 1.0)
                if not keep.any():
                    continue
                k = int(keep.sum())
                cols["user"].append(idx[keep])
                cols["phi"].append(phi[keep])
                cols["psi"].append(psi[keep])
                cols["energy_j"].append(energy[keep, j])
                cols["latency_s"].append(np.minimum(latency[keep, j], deadline[keep]))
                cols["a"].append(np.full(k, aj))
                cols["b"].append(np.full(k, bj))
    flat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in cols.items()}
    opts = Options(
        user=flat["user"].astype(np.int64),
        phi=flat["phi"].astype(float),
        psi=flat["psi"].astype(float),
        energy_j=flat["energy_j"].astype(float),
        latency_s=flat["latency_s"].astype(float),
        a=flat["a"].astype(np.int64),
        b=flat["b"].astype(np.int64),
    )
    return _pareto(opts)


def _with_uplink(net: Network, uplink: FloatArray) -> Network:
    return replace(net, uplink_mbps=uplink)


def _pareto(opts: Options) -> Options:
    """Drop every option another option of the same user beats in phi, psi and energy."""
    order = np.lexsort((opts.energy_j, opts.psi, opts.phi, opts.user))
    keep = np.zeros(order.size, dtype=np.bool_)
    start = 0
    users = opts.user[order]
    while start < order.size:
        stop = start
        while stop < order.size and users[stop] == users[start]:
            stop += 1
        rows = order[start:stop]
        phi, psi, e = opts.phi[rows], opts.psi[rows], opts.energy_j[rows]
        dominated = (
            (phi[None, :] <= phi[:, None])
            & (psi[None, :] <= psi[:, None])
            & (e[None, :] <= e[:, None])
            & (
                (phi[None, :] < phi[:, None])
                | (psi[None, :] < psi[:, None])
                | (e[None, :] < e[:, None])
                | (np.arange(rows.size)[None, :] < np.arange(rows.size)[:, None])
            )
        ).any(axis=1)
        keep[rows[~dominated]] = True
        start = stop
    sel = np.flatnonzero(keep)
    return Options(*(getattr(opts, f)[sel] for f in Options.__dataclass_fields__))


def _outcome(
    method: str, inst: Instance, opts: Options, choice: IntArray, seconds: float, **detail: float
) -> Outcome:
    chosen = choice[choice >= 0]
    return Outcome(
        method=method,
        choice=choice,
        satisfied=int(chosen.size),
        users=len(inst.users),
        radio_used=float(opts.phi[chosen].sum()),
        gpu_used=float(opts.psi[chosen].sum()),
        energy_j=float(opts.energy_j[chosen].sum()),
        seconds=seconds,
        detail=dict(detail),
    )


def assignment_milp(
    inst: Instance,
    opts: Options,
    cost: FloatArray,
    time_limit: float,
    gaps: dict[str, float],
    served: float | None = None,
) -> tuple[Any, IntArray, bool]:
    """At most one option per user within the uplink and the GPUs, least ``cost`` (HiGHS).

    ``served``: also serve at least that many users. ``gaps``: HiGHS's MIP gap options. Returns
    the solver (its info holds the bound), each user's option (-1: none) and whether HiGHS
    proved the choice optimal.
    """
    users = len(inst.users)
    k = opts.user.size
    extra = 0 if served is None else 1
    lp = HighsLp()
    lp.num_col_ = k
    lp.num_row_ = users + 2 + extra
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(k)
    lp.col_upper_ = np.ones(k)
    least = [] if served is None else [float(served)]
    lp.row_lower_ = np.concatenate([np.full(users + 2, -np.inf), least])
    lp.row_upper_ = np.concatenate([np.ones(users), [1.0, inst.gpus], np.full(extra, np.inf)])
    # Column-wise: each option sits in its user's row and in the two capacity rows (and in the
    # served row).
    rows = [opts.user, np.full(k, users), np.full(k, users + 1)]
    vals = [np.ones(k), opts.phi, opts.psi]
    if served is not None:
        rows.append(np.full(k, users + 2))
        vals.append(np.ones(k))
    lp.a_matrix_.format_ = MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = k
    lp.a_matrix_.num_row_ = users + 2 + extra
    lp.a_matrix_.start_ = (len(rows) * np.arange(k + 1)).astype(np.int32)
    lp.a_matrix_.index_ = np.stack(rows, axis=1).ravel().astype(np.int32)
    lp.a_matrix_.value_ = np.stack(vals, axis=1).ravel()
    lp.integrality_ = [HighsVarType.kInteger] * k
    h = _HighsSolver()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    for name, value in gaps.items():
        h.setOptionValue(name, value)
    h.setOptionValue("random_seed", 0)
    h.passModel(lp)
    h.run()
    values = np.asarray(h.getSolution().col_value, dtype=float)
    choice = np.full(users, -1, dtype=np.int64)
    if values.size == k:
        picked = np.flatnonzero(values > 0.5)
        choice[opts.user[picked]] = picked
    return h, choice, h.getModelStatus() == HighsModelStatus.kOptimal


def solve_milp(inst: Instance, opts: Options, time_limit: float = 30.0) -> Outcome:
    """The joint optimum over the options (HiGHS)."""
    t0 = time.perf_counter()
    h, choice, optimal = assignment_milp(
        inst, opts, -opts.value, time_limit, {"mip_rel_gap": 0.0, "mip_abs_gap": MIP_ABS_GAP}
    )
    info = h.getInfo()
    bound = -float(info.mip_dual_bound)
    found = -float(info.objective_function_value)
    return _outcome(
        "milp",
        inst,
        opts,
        choice,
        time.perf_counter() - t0,
        bound=bound,
        value=found,
        optimal=float(optimal),
    )


def solve_prices(inst: Instance, opts: Options, rounds: int = 200, step: float = 0.5) -> Outcome:
    """Price-based decomposition with a feasible repair each round (see the module)."""
    t0 = time.perf_counter()
    users = len(inst.users)
    value = opts.value
    cap = np.array([1.0, inst.gpus])
    use = np.stack([opts.phi, opts.psi], axis=1)
    prices = np.zeros(2)
    best: IntArray = np.full(users, -1, dtype=np.int64)
    best_score = -np.inf
    for r in range(1, rounds + 1):
        net_value = value - use @ prices
        choice = _best_per_user(opts.user, net_value, users)
        used = use[choice[choice >= 0]].sum(axis=0)
        repaired = _repair(opts, choice, value, use, cap, prices)
        score = float(value[repaired[repaired >= 0]].sum())
        if score > best_score:
            best, best_score = repaired, score
        prices = np.maximum(0.0, prices + step / np.sqrt(r) * (used - cap) / cap)
    return _outcome(
        "prices",
        inst,
        opts,
        best,
        time.perf_counter() - t0,
        price_radio=float(prices[0]),
        price_gpu=float(prices[1]),
    )


def _best_per_user(user: IntArray, score: FloatArray, users: int) -> IntArray:
    """Each user's option of highest positive score (-1: none is positive)."""
    order = np.lexsort((-score, user))
    first = np.ones(order.size, dtype=np.bool_)
    first[1:] = user[order][1:] != user[order][:-1]
    top = order[first]
    choice = np.full(users, -1, dtype=np.int64)
    good = score[top] > 0
    choice[user[top[good]]] = top[good]
    return choice


def _repair(
    opts: Options,
    choice: IntArray,
    value: FloatArray,
    use: FloatArray,
    cap: FloatArray,
    prices: FloatArray,
) -> IntArray:
    """Make ``choice`` fit both capacities, then fill what is left greedily."""
    choice = choice.copy()
    weight = np.where(prices > 0, prices, 1.0) / cap
    picked = choice[choice >= 0]
    load = use[picked].sum(axis=0)
    if np.any(load > cap + 1e-12):
        density = value[picked] / np.maximum(use[picked] @ weight, 1e-12)
        for j in picked[np.argsort(density)]:
            if np.all(load <= cap + 1e-12):
                break
            if np.any((use[j] > 0) & (load > cap + 1e-12)):
                load -= use[j]
                choice[opts.user[j]] = -1
    # Greedy fill: options of users left out, cheapest priced share first.
    free = choice[opts.user] < 0
    cand = np.flatnonzero(free)
    cost = use[cand] @ weight
    for j in cand[np.argsort(cost / value[cand])]:
        u = opts.user[j]
        if choice[u] >= 0:
            continue
        if np.all(load + use[j] <= cap + 1e-12):
            load += use[j]
            choice[u] = j
    return choice


def solve_independent(inst: Instance, objective: Objective = "latency") -> Outcome:
    """Every user's own best split at an equal share, then the shares it really gets.

    ``latency``: each takes its least-latency split (Neurosurgeon's choice); ``energy``: its
    least terminal energy within its deadline (deadline-aware: a user whose own terminal meets
    the deadline stays there unless offloading saves energy). ``choice`` is 0 for a user whose
    plan meets its deadline (-1 otherwise) and ``energy_j`` the terminal energy of those plans.
    """
    t0 = time.perf_counter()
    users = len(inst.users)
    share_radio = 1.0 / users
    share_gpu = min(1.0, inst.gpus / users)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, u in enumerate(inst.users):
        groups.setdefault((u.model, u.terminal), []).append(i)
    a_of = np.zeros(users, dtype=np.int64)
    b_of = np.zeros(users, dtype=np.int64)
    n_of = np.zeros(users, dtype=np.int64)
    for (model, terminal), members in groups.items():
        profile = load_profile(model)
        idx = np.array(members)
        cell = np.array([inst.users[i].cell_mbps for i in members])
        net = _with_uplink(inst.net, cell * share_radio)
        speed = np.tile([1.0, share_gpu, 1.0], (len(members), 1))
        deadline = np.array([inst.users[i].deadline_s for i in members])
        plan = solve(profile, _tiers(inst, terminal), net, len(members), objective, deadline, speed)
        a_of[idx] = plan.local_blocks
        b_of[idx] = (plan.tiers <= EDGE).sum(axis=1)
        n_of[idx] = profile.n
    sends = a_of < n_of
    on_edge = b_of > a_of
    radio = 1.0 / max(int(sends.sum()), 1)
    gpu = min(1.0, inst.gpus / max(int(on_edge.sum()), 1))
    satisfied = np.zeros(users, dtype=np.bool_)
    latency = np.zeros(users)
    energy = np.zeros(users)
    for (model, terminal), members in groups.items():
        profile = load_profile(model)
        idx = np.array(members)
        cell = np.array([inst.users[i].cell_mbps for i in members])
        net = _with_uplink(inst.net, cell * radio)
        speed = np.tile([1.0, gpu, 1.0], (len(members), 1))
        deadline = np.array([inst.users[i].deadline_s for i in members])
        real = evaluate_cuts(
            profile, _tiers(inst, terminal), net, a_of[idx], b_of[idx], deadline, speed
        )
        satisfied[idx] = real.meets_deadline
        latency[idx] = real.latency_s
        energy[idx] = real.energy_j
    out = Outcome(
        method=f"independent-{objective}",
        choice=np.where(satisfied, 0, -1).astype(np.int64),
        satisfied=int(satisfied.sum()),
        users=users,
        radio_used=float(sends.sum() * radio),
        gpu_used=float(on_edge.sum() * gpu),
        energy_j=float(energy[satisfied].sum()),
        seconds=time.perf_counter() - t0,
        detail={
            "offloading": float(sends.mean()),
            "on_edge": float(on_edge.mean()),
            "local_only": float((~sends).mean()),
        },
    )
    return out


def make_instance(
    users: int,
    load: float,
    seed: int = 0,
    models: Sequence[str] = MODELS,
    terminals: Sequence[str] = TERMINALS,
    deadline_factor: tuple[float, float] = (0.4, 1.5),
    spectral_efficiency: tuple[float, float] = (0.5, 5.0),
    edge: str = "l4",
    cloud: str = "a100",
    net: Network | None = None,
) -> Instance:
    """A random slot of ``users`` requests at ``load`` (see the module).

    Each user draws a model and a terminal uniformly, a deadline uniformly between
    ``deadline_factor`` times the request's time on its own terminal (below 1: it must offload)
    and a spectral efficiency (bit/s/Hz) uniformly; the cell's bandwidth and the number of edge
    GPUs follow from ``load``. The default network has a 1 ms air interface.
    """
    if users < 1 or load <= 0:
        raise ValueError("users must be >= 1 and load > 0")
    rng = np.random.default_rng(seed)
    net = net or Network(radio_delay_s=0.001)
    model = rng.choice(np.array(models), users)
    term = rng.choice(np.array(terminals), users)
    local = np.array(
        [
            evaluate_cuts(
                load_profile(m),
                [PROCESSORS[t], PROCESSORS[edge], PROCESSORS[cloud]],
                net,
                np.full(1, load_profile(m).n),
                np.full(1, load_profile(m).n),
            ).latency_s[0]
            for m, t in zip(model.tolist(), term.tolist(), strict=True)
        ]
    )
    deadline = rng.uniform(*deadline_factor, users) * local
    se = rng.uniform(*spectral_efficiency, users)
    edge_p = PROCESSORS[edge]
    x_per_hz = np.zeros(users)  # air time of the raw input per Hz of bandwidth
    w = np.zeros(users)
    for name in set(model.tolist()):
        profile = load_profile(name)
        sel = model == name
        x_per_hz[sel] = 8.0 * profile.input_bytes / se[sel]
        cost = evaluate_cuts(
            profile,
            [edge_p, edge_p, PROCESSORS[cloud]],
            net,
            np.zeros(1, np.int64),
            np.full(1, profile.n),
        )
        w[sel] = cost.edge_s[0]
    bandwidth_hz = float((x_per_hz / deadline).sum() / load)
    gpus = float((w / deadline).sum() / load)
    cell_mbps = se * bandwidth_hz / MBIT
    return Instance(
        users=tuple(
            User(str(model[i]), str(term[i]), float(deadline[i]), float(cell_mbps[i]))
            for i in range(users)
        ),
        gpus=gpus,
        edge=edge,
        cloud=cloud,
        net=net,
    )


def plan_tiers(opts: Options, choice: IntArray, n: int, user: int) -> npt.NDArray[np.int8]:
    """The tiers per block of ``user``'s chosen option (all terminal if none)."""
    j = int(choice[user])
    if j < 0:
        return np.zeros(n, dtype=np.int8)
    row: npt.NDArray[np.int8] = tiers_of(opts.a[j : j + 1], opts.b[j : j + 1], n)[0]
    return row
