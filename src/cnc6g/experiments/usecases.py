"""Seed 000's use cases (section 4): each deployment option's latency and energy, step by step.

A :class:`UseCase` names a preset, the steps of one request (a chain or a small DAG of the
preset's service types, with privacy pins), the targets the seed gives, and the seed's
deployment options, each a fixed node per step. :func:`evaluate_usecase` prices every option
for one request from the use case's terminal on an idle system and adds the placement the
service path scheduler (:mod:`cnc6g.policies.paths`) picks when left free: the chain's dynamic
programme or, for a DAG, its MILP. Each result is broken down into the steps' compute and each
transfer's radio, wired and access parts, the same terms :func:`cnc6g.policies.paths.evaluate`
sums, so the parts on the critical path add up to the end-to-end latency and all parts to the
energy. Pure: the caller loads the scenario.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from cnc6g.ai.processors import processor, ttft_s
from cnc6g.ai.profiles import load_profile
from cnc6g.model import DomainKind, Scenario
from cnc6g.policies.paths import (
    Placement,
    Request,
    Step,
    fits_jointly,
    is_chain,
    node_graph,
    schedule_chain,
    schedule_dag,
)
from cnc6g.twin import compile_scenario
from cnc6g.twin.dynamics import shannon_rate_mbps
from cnc6g.twin.system import System

FREE = "free"
"""Key of the scheduler's own choice among the options."""


@dataclass(frozen=True)
class StepSpec:
    """One step of a use case: the preset's service type it runs, its pin and its parents."""

    service: str
    pinned: bool = False
    after: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    """A latency limit the seed gives (or, where it gives none, the stated assumption)."""

    label: str
    limit_ms: float


@dataclass(frozen=True)
class Option:
    """A deployment option: where each step runs.

    ``where`` maps a step's service to ``terminal``, ``mec`` (the terminal's cell's edge
    server), ``dc`` (the regional data centre), ``cloud`` or a node's name.
    """

    key: str
    label: str
    where: Mapping[str, str]


@dataclass(frozen=True)
class UseCase:
    """One of seed 000's use cases on its preset."""

    key: str
    title: str
    preset: str
    seed: str
    steps: tuple[StepSpec, ...]
    targets: tuple[Target, ...]
    options: tuple[Option, ...]
    origin: str = "T0"
    ttft: tuple[tuple[str, str, str], ...] = ()
    """Time-to-first-token references: (label, model profile, processor) of :mod:`cnc6g.ai`."""

    @property
    def target(self) -> Target:
        """The target that decides whether an option meets the use case (the first)."""
        return self.targets[0]


@dataclass(frozen=True)
class Part:
    """One term of an option's latency and energy.

    ``kind``: ``compute`` (a step), ``radio``, ``wired`` (propagation and serialisation over
    the wired links) or ``access`` (a node's access delay and energy). ``time_ms`` is its own
    duration, ``latency_ms`` what it adds to the end-to-end latency (its duration on the
    critical path, else 0).
    """

    kind: str
    name: str
    time_ms: float
    latency_ms: float
    energy_j: float
    critical: bool


@dataclass(frozen=True)
class OptionResult:
    """An option priced: nodes, end-to-end latency and energy, their parts, targets met."""

    key: str
    label: str
    nodes: dict[str, str]
    feasible: bool
    reason: str
    latency_ms: float
    energy_j: float
    parts: tuple[Part, ...] = ()
    meets: dict[str, bool] = field(default_factory=dict)

    def latency_of(self, kind: str) -> float:
        """Latency added by the parts of one kind, ms."""
        return sum(p.latency_ms for p in self.parts if p.kind == kind)

    def energy_of(self, kind: str) -> float:
        """Energy of the parts of one kind, J."""
        return sum(p.energy_j for p in self.parts if p.kind == kind)

    def step_ms(self, service: str) -> float:
        """Compute time of one step, ms (0 when infeasible)."""
        return sum(p.time_ms for p in self.parts if p.kind == "compute" and p.name == service)


@dataclass(frozen=True)
class UseCaseResult:
    """Every option of a use case and the scheduler's free choice (last)."""

    usecase: UseCase
    options: tuple[OptionResult, ...]
    ttft_ms: tuple[tuple[str, float], ...] = ()
    """The use case's TTFT references priced by the model profiles' roofline, ms."""

    @property
    def free(self) -> OptionResult:
        """The scheduler's choice."""
        return self.options[-1]

    def same_as_free(self) -> list[str]:
        """The fixed options that place every step where the scheduler does."""
        return [o.key for o in self.options[:-1] if o.feasible and o.nodes == self.free.nodes]


def _steps(uc: UseCase) -> tuple[Step, ...]:
    names = [s.service for s in uc.steps]
    return tuple(
        Step(function=i, pinned=s.pinned, after=tuple(names.index(a) for a in s.after))
        for i, s in enumerate(uc.steps)
    )


def _request(system: System, uc: UseCase) -> Request:
    """The request with step functions indexing the system's services."""
    index = {n: i for i, n in enumerate(system.service_names)}
    missing = [s.service for s in uc.steps if s.service not in index]
    if missing:
        raise ValueError(f"use case {uc.key!r}: preset {uc.preset!r} has no services {missing}")
    origin = system.origin_names.index(uc.origin)
    steps = tuple(
        Step(function=index[spec.service], pinned=st.pinned, after=st.after)
        for spec, st in zip(uc.steps, _steps(uc), strict=True)
    )
    return Request(origin=origin, steps=steps)


def _node(system: System, origin: int, where: str) -> int:
    """The node a place name means for the terminal of ``origin``."""
    names = system.node_names
    if where == "terminal":
        return int(node_graph(system).terminal_of[origin])
    if where == "mec":
        ran = int(system.origin_ran[origin])
        return int(np.flatnonzero(system.node_domain == ran)[0])
    if where in ("dc", "cloud"):
        hits = [
            n
            for n, name in enumerate(names)
            if system.node_domain_kind[n] is DomainKind.TRANSPORT and name.endswith(f"-{where}")
        ]
        if hits:
            return hits[0]
    if where in names:
        return names.index(where)
    raise ValueError(f"no node for {where!r}: use terminal, mec, dc, cloud or a node name")


class _Radio:
    """Radio rate and energy terms of the terminal nodes (as :func:`node_graph` has them)."""

    def __init__(self, system: System) -> None:
        sc = system.scenario
        radio = {r.terminal: r for r in sc.radio_links}
        self.up_mbps: dict[int, float] = {}
        self.down_mbps: dict[int, float] = {}
        self.tx_w: dict[int, float] = {}
        self.bs_j_per_mbit: dict[int, float] = {}
        for n in range(system.n_nodes):
            dom = sc.domains[int(system.node_domain[n])]
            if dom.kind is DomainKind.TERMINAL:
                r = radio[dom.name]
                snr = np.asarray(r.mean_snr_db)
                self.up_mbps[n] = float(shannon_rate_mbps(r.uplink_mhz, snr))
                self.down_mbps[n] = float(shannon_rate_mbps(r.downlink_mhz, snr))
                self.tx_w[n] = r.tx_power_w
                self.bs_j_per_mbit[n] = r.bs_energy_nj_per_bit * 1e-3


def _transfer(system: System, radio: _Radio, a: int, b: int, mbit: float, what: str) -> list[Part]:
    """The parts of moving ``mbit`` from node a to node b (none when a == b)."""
    if a == b:
        return []
    sc = system.scenario
    g = node_graph(system)
    names = system.node_names
    nodes = [n for d in sc.domains for n in d.nodes]
    parts: list[Part] = []
    if a in radio.up_mbps:
        t = mbit / radio.up_mbps[a]
        parts.append(
            Part(
                "radio",
                f"{what}: uplink {names[a]}",
                t,
                0.0,
                mbit * radio.tx_w[a] / radio.up_mbps[a],
                False,
            )
        )
    for li in g.links[a][b]:
        wl = sc.wired_links[li]
        t = wl.delay_ms / 1e3 + mbit / (wl.bandwidth_gbps * 1e3)
        parts.append(
            Part(
                "wired", f"{what}: {wl.a}-{wl.b}", t, 0.0, mbit * wl.energy_nj_per_bit * 1e-3, False
            )
        )
    for n in (a, b):
        node = nodes[n]
        if node.access_delay_ms > 0 or node.access_energy_nj_per_bit > 0:
            parts.append(
                Part(
                    "access",
                    f"{what}: access {names[n]}",
                    node.access_delay_ms / 1e3,
                    0.0,
                    mbit * node.access_energy_nj_per_bit * 1e-3,
                    False,
                )
            )
    if b in radio.down_mbps:
        t = mbit / radio.down_mbps[b]
        parts.append(
            Part(
                "radio",
                f"{what}: downlink {names[b]}",
                t,
                0.0,
                mbit * radio.bs_j_per_mbit[b],
                False,
            )
        )
    return parts


def breakdown(
    system: System, req: Request, nodes: tuple[int, ...], labels: list[str]
) -> tuple[float, float, tuple[Part, ...]]:
    """End-to-end latency (s), energy (J) and parts of placing ``req``'s steps on ``nodes``.

    Latency follows the critical path: each step starts when its last input arrives; the parts
    of the path that ends last carry their duration as ``latency_ms`` (in ms), the others 0.
    """
    sy = system
    g = node_graph(sy)
    radio = _Radio(sy)
    term = int(g.terminal_of[req.origin])
    cap = sy.capacity
    dyn = g.dynamic_j_per_gcycle
    n_steps = len(req.steps)
    inputs: list[list[Part]] = []  # parts of the transfer that decides each step's start
    compute: list[Part] = []
    finish: list[float] = []
    crit_parent: list[int] = []
    other: list[Part] = []  # transfers off every critical path candidate (energy only)
    for i, st in enumerate(req.steps):
        f = st.function
        n = nodes[i]
        if st.after:
            arrivals = []
            for p in st.after:
                tr = _transfer(
                    sy,
                    radio,
                    nodes[p],
                    n,
                    float(sy.output_mbit[req.steps[p].function]),
                    f"{labels[p]} -> {labels[i]}",
                )
                arrivals.append((finish[p] + sum(x.time_ms for x in tr), p, tr))
            ready, parent, tr = max(arrivals, key=lambda a: a[0])
            for _, p, t in arrivals:
                if p != parent:
                    other.extend(t)
        else:
            tr = _transfer(sy, radio, term, n, float(sy.input_mbit[f]), f"input -> {labels[i]}")
            ready, parent = sum(x.time_ms for x in tr), -1
        inputs.append(tr)
        crit_parent.append(parent)
        work = float(sy.work[f])
        t = work / float(cap[n])
        compute.append(Part("compute", labels[i], t, 0.0, work * float(dyn[n]), False))
        finish.append(ready + t)
    ends = [i for i in range(n_steps) if not any(i in s.after for s in req.steps)]
    returns = {
        i: _transfer(
            sy,
            radio,
            nodes[i],
            term,
            float(sy.output_mbit[req.steps[i].function]),
            f"{labels[i]} -> terminal",
        )
        for i in ends
    }
    last = max(ends, key=lambda i: finish[i] + sum(x.time_ms for x in returns[i]))
    latency = finish[last] + sum(x.time_ms for x in returns[last])
    on_path: set[int] = set()
    i = last
    while i >= 0:
        on_path.add(i)
        i = crit_parent[i]

    def crit(p: Part) -> Part:
        return Part(p.kind, p.name, p.time_ms * 1e3, p.time_ms * 1e3, p.energy_j, True)

    def off(p: Part) -> Part:
        return Part(p.kind, p.name, p.time_ms * 1e3, 0.0, p.energy_j, False)

    parts: list[Part] = []
    for i in range(n_steps):
        wrap = crit if i in on_path else off
        parts.extend(wrap(p) for p in inputs[i])
        parts.append(wrap(compute[i]))
    for i in ends:
        wrap = crit if i == last else off
        parts.extend(wrap(p) for p in returns[i])
    parts.extend(off(p) for p in other)
    energy = sum(p.energy_j for p in parts)
    return latency, energy, tuple(parts)


def _allowed(system: System, req: Request, nodes: tuple[int, ...], labels: list[str]) -> str:
    """Why the steps may not run on ``nodes`` ('' when they may)."""
    g = node_graph(system)
    term = int(g.terminal_of[req.origin])
    for i, (st, n) in enumerate(zip(req.steps, nodes, strict=True)):
        name = system.node_names[n]
        if st.pinned and n != term:
            return f"{labels[i]} is pinned to the terminal"
        if not system.can_host[st.function, n]:
            return f"{name} cannot host {labels[i]} (tier, processor or memory)"
        if not g.reach[req.origin, n]:
            return f"{name} is not a candidate of {system.origin_names[req.origin]}"
    if not fits_jointly(system, req, nodes):
        return "the steps do not fit together on the nodes' capacity"
    return ""


def _result(
    system: System,
    uc: UseCase,
    req: Request,
    key: str,
    label: str,
    nodes: tuple[int, ...] | None,
    reason: str,
) -> OptionResult:
    labels = [s.service for s in uc.steps]
    if nodes is None or reason:
        named = (
            {} if nodes is None else {labels[i]: system.node_names[n] for i, n in enumerate(nodes)}
        )
        return OptionResult(key, label, named, False, reason, float("inf"), float("inf"))
    latency, energy, parts = breakdown(system, req, nodes, labels)
    ms = latency * 1e3
    return OptionResult(
        key=key,
        label=label,
        nodes={labels[i]: system.node_names[n] for i, n in enumerate(nodes)},
        feasible=True,
        reason="",
        latency_ms=ms,
        energy_j=energy,
        parts=parts,
        meets={t.label: ms <= t.limit_ms + 1e-9 for t in uc.targets},
    )


def schedule_free(system: System, req: Request) -> Placement:
    """The scheduler's placement: the chain's DP, or the DAG's MILP."""
    return schedule_chain(system, req) if is_chain(req) else schedule_dag(system, req)


def evaluate_usecase(uc: UseCase, scenario: Scenario) -> UseCaseResult:
    """Price every option of ``uc`` on ``scenario`` and add the scheduler's free choice."""
    system = compile_scenario(scenario)
    req = _request(system, uc)
    out = []
    for opt in uc.options:
        unknown = sorted(set(opt.where) - {s.service for s in uc.steps})
        if unknown:
            raise ValueError(f"option {opt.key!r} places unknown steps {unknown}")
        nodes = tuple(
            _node(system, req.origin, opt.where.get(s.service, "terminal")) for s in uc.steps
        )
        reason = _allowed(system, req, nodes, [s.service for s in uc.steps])
        out.append(_result(system, uc, req, opt.key, opt.label, nodes, reason))
    best = schedule_free(system, req)
    label = "path scheduler, free choice"
    if best.feasible:
        out.append(_result(system, uc, req, FREE, label, best.nodes, ""))
    else:
        out.append(
            _result(system, uc, req, FREE, label, None, "no placement meets the constraints")
        )
    refs = tuple(
        (label, 1e3 * ttft_s(load_profile(model), processor(proc)))
        for label, model, proc in uc.ttft
    )
    return UseCaseResult(uc, tuple(out), refs)


def request_of(uc: UseCase, scenario: Scenario) -> tuple[System, Request]:
    """The compiled system and the request of ``uc`` on ``scenario``."""
    system = compile_scenario(scenario)
    return system, _request(system, uc)


def node_indices(system: System, result: OptionResult, uc: UseCase) -> tuple[int, ...]:
    """The node indices of a feasible option's placement, in step order."""
    return tuple(system.node_names.index(result.nodes[s.service]) for s in uc.steps)


# The use cases ------------------------------------------------------------------------------

TRANSLATION = UseCase(
    key="translation",
    title="Speech translation: ASR on the phone, LLM translation and TTS",
    preset="speech-translation",
    seed="seed 000, section 4.1 (options 1-3 in 4.1.2, TTFT and transmission in 4.1.3)",
    steps=(
        StepSpec("asr", pinned=True),
        StepSpec("llm-translate", after=("asr",)),
        StepSpec("tts", after=("llm-translate",)),
    ),
    targets=(Target("under the phone's own TTFT, 700 ms (4.1.3)", 700.0),),
    ttft=(
        ("Llama-3.2-3B on the phone's CPU (seed: >= 700 ms)", "llama-3.2-3b", "sd8g3-cpu"),
        ("Llama-2-70B on 4 x A100 (seed: 154 ms)", "llama-2-70b", "a100x4"),
    ),
    options=(
        Option(
            "1-mec",
            "1 operator network: LLM and TTS on the edge (MEC)",
            {"llm-translate": "mec", "tts": "mec"},
        ),
        Option(
            "1-dc",
            "1 operator network: LLM and TTS in the core DC",
            {"llm-translate": "dc", "tts": "dc"},
        ),
        Option(
            "2-cloud",
            "2 third-party cloud: LLM and TTS",
            {"llm-translate": "cloud", "tts": "cloud"},
        ),
        Option(
            "3-split",
            "3 split: LLM at the operator (MEC), TTS in the cloud",
            {"llm-translate": "mec", "tts": "cloud"},
        ),
    ),
)

XR = UseCase(
    key="xr",
    title="XR offload: encoding on the glasses, SLAM, gesture recognition, rendering",
    preset="xr-offload",
    seed="seed 000, section 4.2 (solution in 4.2.2, MTP and 8K bandwidth in 4.2.3)",
    steps=(
        StepSpec("xr-encode", pinned=True),
        StepSpec("xr-slam", after=("xr-encode",)),
        StepSpec("xr-gesture", after=("xr-encode",)),
        StepSpec("xr-render", after=("xr-slam", "xr-gesture")),
    ),
    targets=(
        Target("MTP 20 ms", 20.0),
        Target("comfort 15 ms", 15.0),
        Target("ideal 8 ms", 8.0),
        Target("timewarp 70 ms", 70.0),
    ),
    options=(
        Option("device", "all on the glasses", {}),
        Option(
            "edge",
            "SLAM, gesture, rendering on the edge (MEC)",
            {"xr-slam": "mec", "xr-gesture": "mec", "xr-render": "mec"},
        ),
        Option(
            "core",
            "SLAM, gesture, rendering in the core DC (4.2.2)",
            {"xr-slam": "dc", "xr-gesture": "dc", "xr-render": "dc"},
        ),
        Option(
            "cloud",
            "SLAM, gesture, rendering in the cloud",
            {"xr-slam": "cloud", "xr-gesture": "cloud", "xr-render": "cloud"},
        ),
        Option(
            "split",
            "SLAM, gesture on the edge, rendering on the glasses (5.4)",
            {"xr-slam": "mec", "xr-gesture": "mec"},
        ),
    ),
)

SENSING = UseCase(
    key="sensing",
    title="Environmental sensing for delivery vehicles: multi-source fusion into a map",
    preset="env-sensing",
    seed="seed 000, section 4.3 (process in 4.3.2, latency and refresh in 4.3.3)",
    steps=(
        StepSpec("sense-vehicle", pinned=True),
        StepSpec("sense-bs"),
        StepSpec("sense-camera"),
        StepSpec("sense-fuse", after=("sense-bs", "sense-camera")),
        StepSpec("sense-map", after=("sense-fuse",)),
        StepSpec("sense-plan", pinned=True, after=("sense-map", "sense-vehicle")),
    ),
    targets=(
        Target("service latency 50 ms", 50.0),
        Target("map refresh 0.2 s (unpipelined)", 200.0),
    ),
    options=(
        Option(
            "edge",
            "fusion and mapping on the edge (MEC)",
            {"sense-bs": "mec", "sense-camera": "mec", "sense-fuse": "mec", "sense-map": "mec"},
        ),
        Option(
            "core",
            "fusion and mapping in the core DC (4.3.2)",
            {"sense-bs": "mec", "sense-camera": "mec", "sense-fuse": "dc", "sense-map": "dc"},
        ),
        Option(
            "cloud",
            "fusion and mapping in the cloud",
            {"sense-bs": "mec", "sense-camera": "mec", "sense-fuse": "cloud", "sense-map": "cloud"},
        ),
        Option(
            "vehicle",
            "fusion and mapping on the vehicle",
            {"sense-bs": "mec", "sense-camera": "mec"},
        ),
    ),
)

WINDFARM = UseCase(
    key="windfarm",
    title="Wind-farm operations assistant: monitoring and sensing feed an LLM assistant",
    preset="windfarm-assistant",
    seed="seed 000, section 4.4.2 (no latency figure: target assumed, see the preset's notes)",
    steps=(
        StepSpec("wf-query", pinned=True),
        StepSpec("wf-monitor", after=("wf-query",)),
        StepSpec("wf-sense"),
        StepSpec("wf-assistant", after=("wf-query", "wf-monitor", "wf-sense")),
    ),
    targets=(Target("answer 400 ms (assumed)", 400.0),),
    options=(
        Option(
            "edge",
            "monitoring, sensing, assistant on the edge (MEC, 4.4.2)",
            {"wf-monitor": "mec", "wf-sense": "mec", "wf-assistant": "mec"},
        ),
        Option(
            "core",
            "monitoring and assistant in the core DC",
            {"wf-monitor": "dc", "wf-sense": "mec", "wf-assistant": "dc"},
        ),
        Option(
            "cloud",
            "monitoring and assistant in the cloud",
            {"wf-monitor": "cloud", "wf-sense": "mec", "wf-assistant": "cloud"},
        ),
        Option(
            "split",
            "monitoring on the edge, assistant in the cloud",
            {"wf-monitor": "mec", "wf-sense": "mec", "wf-assistant": "cloud"},
        ),
    ),
)

USE_CASES: dict[str, UseCase] = {uc.key: uc for uc in (TRANSLATION, XR, SENSING, WINDFARM)}
"""The use cases by the name ``cnc6g usecase`` takes."""


def usecase(name: str) -> UseCase:
    """The use case ``name``.

    Raises:
        KeyError: unknown name (the message lists the known ones).
    """
    try:
        return USE_CASES[name]
    except KeyError:
        raise KeyError(f"unknown use case {name!r}: use one of {', '.join(USE_CASES)}") from None


__all__ = [
    "FREE",
    "USE_CASES",
    "Option",
    "OptionResult",
    "Part",
    "StepSpec",
    "Target",
    "UseCase",
    "UseCaseResult",
    "breakdown",
    "evaluate_usecase",
    "node_indices",
    "request_of",
    "schedule_free",
    "usecase",
]
