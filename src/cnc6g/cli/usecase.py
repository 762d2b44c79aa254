"""``cnc6g usecase``: seed 000's use cases, option by option, beside the path scheduler's choice."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cnc6g.cli.common import err_console, out_console
from cnc6g.experiments.usecases import (
    FREE,
    USE_CASES,
    OptionResult,
    UseCaseResult,
    evaluate_usecase,
    usecase,
)
from cnc6g.scenarios import load_scenario

KINDS = ("radio", "wired", "access")


def _num(x: float) -> float | None:
    return round(x, 6) if math.isfinite(x) else None


def as_json(res: UseCaseResult) -> dict[str, Any]:
    """The result as plain JSON (infinite values of infeasible options as null)."""
    uc = res.usecase

    def option(o: OptionResult) -> dict[str, Any]:
        return {
            "key": o.key,
            "label": o.label,
            "feasible": o.feasible,
            "reason": o.reason,
            "nodes": o.nodes,
            "latency_ms": _num(o.latency_ms),
            "energy_j": _num(o.energy_j),
            "meets": o.meets,
            "latency_by_kind_ms": {k: _num(o.latency_of(k)) for k in ("compute", *KINDS)},
            "energy_by_kind_j": {k: _num(o.energy_of(k)) for k in ("compute", *KINDS)},
            "parts": [
                {
                    "kind": p.kind,
                    "name": p.name,
                    "time_ms": _num(p.time_ms),
                    "latency_ms": _num(p.latency_ms),
                    "energy_j": _num(p.energy_j),
                    "critical": p.critical,
                }
                for p in o.parts
            ],
        }

    return {
        "usecase": uc.key,
        "title": uc.title,
        "preset": uc.preset,
        "seed": uc.seed,
        "origin": uc.origin,
        "targets": {t.label: t.limit_ms for t in uc.targets},
        "steps": [
            {"service": s.service, "pinned": s.pinned, "after": list(s.after)} for s in uc.steps
        ],
        "options": [option(o) for o in res.options],
        "free_same_as": res.same_as_free(),
        "ttft_reference_ms": {label: round(ms, 3) for label, ms in res.ttft_ms},
    }


def _latency_table(res: UseCaseResult) -> Table:
    uc = res.usecase
    table = Table(title=f"{uc.key}: latency, ms (critical path; off-path steps in brackets)")
    table.add_column("option", no_wrap=True)
    for s in uc.steps:
        table.add_column(s.service + (" (pinned)" if s.pinned else ""), justify="right")
    for k in KINDS:
        table.add_column(k, justify="right")
    table.add_column("E2E", justify="right")
    table.add_column(f"<= {uc.target.limit_ms:g}", justify="center")
    for o in res.options:
        name = o.key + (" *" if o.key == FREE else "")
        if not o.feasible:
            table.add_row(name, *["-"] * (len(uc.steps) + 4), "no")
            continue
        cells = []
        for s in uc.steps:
            part = next(p for p in o.parts if p.kind == "compute" and p.name == s.service)
            t = f"{part.time_ms:.1f}" if part.critical else f"({part.time_ms:.1f})"
            cells.append(f"{o.nodes[s.service]} {t}")
        table.add_row(
            name,
            *cells,
            *[f"{o.latency_of(k):.1f}" for k in KINDS],
            f"{o.latency_ms:.1f}",
            "yes" if o.meets[uc.target.label] else "no",
        )
    return table


def _energy_table(res: UseCaseResult) -> Table:
    uc = res.usecase
    table = Table(title=f"{uc.key}: energy per request, J")
    table.add_column("option", no_wrap=True)
    for s in uc.steps:
        table.add_column(s.service, justify="right")
    for k in KINDS:
        table.add_column(k, justify="right")
    table.add_column("total", justify="right")
    for o in res.options:
        if not o.feasible:
            continue
        steps = [
            f"{sum(p.energy_j for p in o.parts if p.kind == 'compute' and p.name == s.service):.3f}"
            for s in uc.steps
        ]
        table.add_row(
            o.key + (" *" if o.key == FREE else ""),
            *steps,
            *[f"{o.energy_of(k):.3f}" for k in KINDS],
            f"{o.energy_j:.3f}",
        )
    return table


def _targets_table(res: UseCaseResult) -> Table:
    uc = res.usecase
    table = Table(title=f"{uc.key}: targets met")
    table.add_column("option", no_wrap=True)
    table.add_column("deployment")
    for t in uc.targets:
        table.add_column(t.label, justify="center")
    for o in res.options:
        marks = ["yes" if o.meets.get(t.label) else "no" for t in uc.targets]
        table.add_row(o.key + (" *" if o.key == FREE else ""), o.label, *marks)
    return table


def usecase_cmd(
    name: Annotated[str, typer.Argument(help=f"use case: {', '.join(USE_CASES)}")],
    as_json_flag: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Seed 000's use cases: each option's latency and energy, step by step and link by link.

    Shows which deployment option meets the use case's target and, marked *, the placement
    the path scheduler picks when left free. One request from the terminal of cell 0 on an idle
    system of the use case's preset (the preset `run` and `compare` take with -s). Latency is
    the end-to-end critical path: each step's compute on its node, and for every transfer the
    radio (up or down), the wired hops (propagation and serialisation) and the nodes' access
    delays; energy counts every step and transfer.
    """
    try:
        uc = usecase(name)
    except KeyError as err:
        err_console.print(f"[red]{escape(str(err.args[0]))}[/red]")
        raise typer.Exit(2) from None
    res = evaluate_usecase(uc, load_scenario(uc.preset))
    if as_json_flag:
        typer.echo(json.dumps(as_json(res), allow_nan=False))
        return
    out_console.print(f"[bold]{escape(uc.title)}[/bold]")
    out_console.print(f"preset {uc.preset}; numbers from {escape(uc.seed)}")
    out_console.print(_latency_table(res))
    out_console.print(_energy_table(res))
    out_console.print(_targets_table(res))
    for o in res.options:
        if not o.feasible:
            out_console.print(f"{o.key}: not allowed: {escape(o.reason)}")
    if res.ttft_ms:
        refs = Table(title="time to first token from the model profiles (cnc6g.ai roofline)")
        refs.add_column("model and processor")
        refs.add_column("TTFT ms", justify="right")
        for label, ms in res.ttft_ms:
            refs.add_row(label, f"{ms:.0f}")
        out_console.print(refs)
    same = res.same_as_free()
    free = res.free
    if free.feasible:
        also = f" (the same placement as option {', '.join(same)})" if same else ""
        out_console.print(
            f"* scheduler's choice: {free.latency_ms:.1f} ms, {free.energy_j:.3f} J{also}."
        )
    else:
        out_console.print(f"* scheduler: {escape(free.reason)}")
