"""``cnc6g adapt``: an event in the twin, and how each policy's satisfaction recovers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cnc6g.cli.common import (
    CheckpointOpt,
    ScenarioOpt,
    SeedOpt,
    build_policy,
    check_folder,
    out_console,
    policy_options,
    progress,
)
from cnc6g.cli.common import load as load_scenario_flag
from cnc6g.experiments.adaptation import EVENTS, adapt, busiest_ran_node
from cnc6g.model import MAX_LOAD
from cnc6g.report import write_csv
from cnc6g.report.figures import adaptation_figure
from cnc6g.twin import compile_scenario

ONLINE = {"hmarl-online": "hmarl"}
"""Names ``adapt`` adds: a built-in policy learning online while it acts."""


def adapt_cmd(
    scenario: ScenarioOpt = "paper-case-study",
    event: Annotated[
        str, typer.Option("--event", help="hotspot, hotspot-popularity, failure or uplink-drop")
    ] = "hotspot",
    node: Annotated[
        str | None,
        typer.Option(
            "--node", help="failure: the node that fails (default: the busiest RAN node under GRD)"
        ),
    ] = None,
    at: Annotated[int, typer.Option("--at", help="slot of the event", min=1)] = 100,
    slots: Annotated[int, typer.Option("--slots", help="slots per run", min=2)] = 300,
    load: Annotated[
        float, typer.Option("--load", help="offered load L", min=0.01, max=MAX_LOAD)
    ] = 1.0,
    seed: SeedOpt = 0,
    policies: Annotated[
        str,
        typer.Option(
            "--policies", help="comma-separated; hmarl-online is HMARL learning while it acts"
        ),
    ] = "hmarl-online,hmarl,grd",
    window: Annotated[
        int, typer.Option("--window", help="slots of the moving average of satisfaction", min=1)
    ] = 10,
    checkpoint: CheckpointOpt = None,
    out: Annotated[Path, typer.Option("--out", help="folder for the CSV and the figure")] = Path(
        "results"
    ),
) -> None:
    """Put an event into the twin and measure how each policy's satisfaction recovers."""
    if event not in EVENTS:
        raise typer.BadParameter(
            f"unknown event {event!r}: use one of {', '.join(EVENTS)}", param_hint="--event"
        )
    if at >= slots:
        raise typer.BadParameter(f"must be below --slots ({slots})", param_hint="--at")
    sc = load_scenario_flag(scenario)
    system = compile_scenario(sc.at_load(load))
    if node is not None:
        if event != "failure":
            raise typer.BadParameter("applies to --event failure only", param_hint="--node")
        if node not in system.node_names:
            raise typer.BadParameter(
                f"unknown node {node!r}: use one of {', '.join(system.node_names)}",
                param_hint="--node",
            )
    specs = list(dict.fromkeys(p.strip() for p in policies.split(",") if p.strip()))
    if not specs:
        raise typer.BadParameter("name at least one policy", param_hint="--policies")
    names = [ONLINE.get(s, s) for s in specs]
    options = policy_options(names, {"checkpoint": checkpoint})
    factories = {
        spec: build_policy(
            name,
            {**options[name], **({"online": True} if spec in ONLINE else {})},
            "--policies",
            sc,
        )
        for spec, name in zip(specs, names, strict=True)
    }
    check_folder(out, "--out")
    if event == "failure" and node is None:
        node = busiest_ran_node(system, at, seed)
    results = []
    with progress(len(specs) * slots, f"{event} at slot {at} on {sc.name}") as tick:
        for spec in specs:
            results.append(
                adapt(
                    sc,
                    factories[spec],
                    event,
                    at,
                    slots,
                    seed,
                    load,
                    label=spec,
                    node=node,
                    window=window,
                    on_slot=tick,
                )
            )
    csv_path = write_csv(out / f"adapt-{event}.csv", [row for r in results for row in r.rows()])
    detail = results[0].detail
    figure = adaptation_figure(
        {r.policy: r.satisfaction for r in results},
        at,
        out / f"adapt-{event}.png",
        title=f"{sc.name}, L={load:g}, seed {seed}: {event} at slot {at} ({detail})",
        window=window,
    )
    table = Table(
        title=f"{event} at slot {at} on {sc.name} ({detail}; L={load:g}, seed {seed})",
        caption=(
            f"satisfaction: pre-event over the {min(at, 50)} slots before it; dip: lowest slot "
            f"after (and lowest {window}-slot average); recovery: slots until the {window}-slot "
            "average is within 2 % (relative) of the pre-event level and stays there"
        ),
    )
    for col in ("policy", "pre-event", "dip", "dip avg", "recovery", "J/slot after", "sat. after"):
        table.add_column(col, justify="right")
    for r in results:
        s = r.summary()
        rec = s["recovery_slots"]
        table.add_row(
            r.policy,
            f"{s['pre_satisfaction'] * 100:.1f} %",
            f"{s['dip'] * 100:.1f} %",
            f"{s['dip_average'] * 100:.1f} %",
            "none" if rec is None else str(rec),
            f"{s['objective_j_after']:,.0f}",
            f"{s['satisfaction_after'] * 100:.1f} %",
        )
    out_console.print(table)
    out_console.print(f"series: {csv_path}; figure: {figure}")
