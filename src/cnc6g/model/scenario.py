"""A scenario: infrastructure + services + workload + twin settings, checked as a whole."""

from __future__ import annotations

from collections import Counter
from enum import StrEnum

from pydantic import Field, model_validator

from cnc6g.model.infra import Domain, DomainKind, Name, RadioLink, WiredLink, _Strict
from cnc6g.model.radio import RadioModel
from cnc6g.model.services import ServiceType
from cnc6g.model.workload import Workload

PROBLEM_SEPARATOR = "; "
"""Joins the ``field: reason`` lines of a cross-field check into one validation message."""


class Sojourn(StrEnum):
    """How long a task stays at a node (queueing and execution)."""

    EXPONENTIAL = "exponential"  # exponential with the processor-sharing mean (M/M/1)
    MG1 = "mg1"  # M/G/1 with each service's work_cv


class TwinSettings(_Strict):
    """Settings of the digital twin's slot model."""

    slot_ms: float = Field(default=1000.0, gt=0, description="length of one time slot")
    admission_utilisation: float = Field(
        default=0.95,
        gt=0,
        lt=1,
        description="a node or link admits load up to this utilisation and drops the rest",
    )
    candidates_per_origin: int | None = Field(
        default=None,
        ge=1,
        description="remote nodes an origin may use, nearest first; default: all",
    )
    carry_over_start_up: bool = Field(
        default=False,
        description="a start-up longer than a slot goes on into the next slots; off: every "
        "start-up ends within the slot it began in (the original model)",
    )
    sojourn: Sojourn = Field(
        default=Sojourn.EXPONENTIAL,
        description="a task's time at a node: exponential with the processor-sharing mean, "
        "or M/G/1 with each service's work_cv",
    )


class Objective(_Strict):
    """The scalarised objective every policy is scored on: energy + penalty per unmet task."""

    unsatisfied_penalty_j: float = Field(
        default=20.0, ge=0, description="joules charged per task not satisfied"
    )


class Scenario(_Strict):
    """Everything the twin needs to simulate a system."""

    name: Name = Field(description="name of the scenario")
    description: str = Field(default="", description="what the scenario models, in a sentence")
    notes: list[str] = Field(default_factory=list, description="parameter choices and sources")
    domains: list[Domain] = Field(
        min_length=2, description="domains; at least one terminal and one RAN domain"
    )
    radio_links: list[RadioLink] = Field(
        min_length=1, description="one per terminal domain, to its RAN domain"
    )
    radio: RadioModel | None = Field(
        default=None,
        description="geometry-based radio access (38.901 path loss, per-user SINR, EARTH "
        "base-station power, air latency); omitted: each radio link's own mean SNR",
    )
    wired_links: list[WiredLink] = Field(
        default_factory=list, description="links that connect every RAN and transport domain"
    )
    services: list[ServiceType] = Field(min_length=1, description="the service types")
    workload: Workload = Field(description="how requests arrive")
    twin: TwinSettings = Field(
        default_factory=TwinSettings, description="settings of the twin's slot model"
    )
    objective: Objective = Field(
        default_factory=Objective, description="the objective policies are scored on"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        problems: list[str] = []
        problems += _duplicates("domains", [d.name for d in self.domains])
        problems += _duplicates("domains[].nodes", [n.name for d in self.domains for n in d.nodes])
        problems += _duplicates("services", [s.name for s in self.services])
        kinds = {d.name: d.kind for d in self.domains}
        terminals = [d.name for d in self.domains if d.kind is DomainKind.TERMINAL]
        if not terminals:
            problems.append(
                "domains: at least one terminal domain is needed (requests start there)"
            )
        if not any(k is not DomainKind.TERMINAL for k in kinds.values()):
            problems.append("domains: at least one RAN domain is needed")

        for i, link in enumerate(self.radio_links):
            if kinds.get(link.terminal) is not DomainKind.TERMINAL:
                problems.append(
                    f"radio_links[{i}].terminal: {link.terminal!r} is not a terminal domain"
                )
            if kinds.get(link.ran) is not DomainKind.RAN:
                problems.append(f"radio_links[{i}].ran: {link.ran!r} is not a RAN domain")
        radio_count = Counter(link.terminal for link in self.radio_links)
        for t in terminals:
            if radio_count[t] != 1:
                problems.append(
                    f"radio_links: terminal domain {t!r} needs exactly one radio link, "
                    f"has {radio_count[t]}"
                )

        for i, wl in enumerate(self.wired_links):
            for end in ("a", "b"):
                name = getattr(wl, end)
                if name not in kinds:
                    problems.append(f"wired_links[{i}].{end}: unknown domain {name!r}")
                elif kinds[name] is DomainKind.TERMINAL:
                    problems.append(
                        f"wired_links[{i}].{end}: {name!r} is a terminal domain; terminals "
                        "attach by radio_links"
                    )
            if wl.a == wl.b:
                problems.append(f"wired_links[{i}]: a link must join two different domains")
        problems += self._check_reachability(kinds)

        services = {s.name for s in self.services}
        workload = self.workload
        if workload.popularity is not None and sorted(workload.popularity) != sorted(services):
            problems.append(
                "workload.popularity: must list every service exactly once "
                f"(missing {sorted(services - set(workload.popularity))}, "
                f"unknown {sorted(set(workload.popularity) - services)})"
            )
        weight_sets = [("workload.origin_weights", workload.origin_weights)] + [
            (f"workload.hotspots[{i}].origin_weights", h.origin_weights)
            for i, h in enumerate(workload.hotspots)
        ]
        for where, weights in weight_sets:
            if weights is not None:
                unknown = sorted(set(weights) - set(terminals))
                if unknown:
                    problems.append(f"{where}: not terminal domains: {unknown}")
        if workload.trace is not None:
            for i, row in enumerate(workload.trace.rows):
                if row.origin not in terminals:
                    problems.append(
                        f"workload.trace.rows[{i}].origin: {row.origin!r} is not a terminal domain"
                    )
                if row.service not in services:
                    problems.append(
                        f"workload.trace.rows[{i}].service: unknown service {row.service!r}"
                    )
                if len(problems) >= 10:
                    break
        if problems:
            raise ValueError(PROBLEM_SEPARATOR.join(problems))
        return self

    def _check_reachability(self, kinds: dict[str, DomainKind]) -> list[str]:
        """Every RAN and transport domain must be reachable from every RAN domain."""
        infra = [n for n, k in kinds.items() if k is not DomainKind.TERMINAL]
        if not infra:
            return []
        adjacency: dict[str, set[str]] = {n: set() for n in infra}
        for wl in self.wired_links:
            if wl.a in adjacency and wl.b in adjacency:
                adjacency[wl.a].add(wl.b)
                adjacency[wl.b].add(wl.a)
        seen = {infra[0]}
        stack = [infra[0]]
        while stack:
            for nxt in adjacency[stack.pop()] - seen:
                seen.add(nxt)
                stack.append(nxt)
        cut = sorted(set(infra) - seen)
        if cut:
            return [f"wired_links: domains {cut} are not connected to {infra[0]!r}"]
        return []

    def at_load(self, load: float) -> Scenario:
        """A copy whose workload offers utilisation ``load`` (validated like a scenario file).

        The request count per slot follows from the load (see
        :func:`cnc6g.twin.system.requests_for_load`); everything else is kept.
        """
        data = self.model_dump()
        data["workload"].update(requests_per_slot=None, offered_load=load)
        return Scenario.model_validate(data)

    def domain(self, name: str) -> Domain:
        """The domain called ``name``."""
        for d in self.domains:
            if d.name == name:
                return d
        raise KeyError(name)


def _duplicates(where: str, names: list[Name]) -> list[str]:
    dupes = sorted(n for n, c in Counter(names).items() if c > 1)
    return [f"{where}: names must be unique, repeated: {dupes}"] if dupes else []
