"""``cnc6g run``: one policy on the twin, summarised as a table or JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cnc6g.cli.common import (
    CheckpointOpt,
    OptGapOpt,
    OptNodeOpt,
    OptRefineOpt,
    OptRemovalOpt,
    OptTimeOpt,
    RetrainOpt,
    ScenarioOpt,
    SeedOpt,
    TrainStepsOpt,
    build_policy,
    check_file,
    err_console,
    fmt,
    load,
    out_console,
    policy_options,
    progress,
)
from cnc6g.experiments import run_policy
from cnc6g.model import MAX_LOAD
from cnc6g.orchestration import BUILTIN, InfeasibleDecisionError
from cnc6g.policies.base import UnsupportedSystemError
from cnc6g.report import write_csv

SHOWN = (
    "energy_j_per_slot",
    "satisfaction_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "dropped_rate",
    "objective_j_per_slot",
    "energy_j_per_satisfied_task",
    "offered_per_slot",
    "cold_starts_per_slot",
    "decide_ms_p50",
)
"""Summary figures ``run`` shows in its table (after the policy's own, e.g. OPT's)."""


def run(
    scenario: ScenarioOpt = "paper-case-study",
    policy: Annotated[
        str, typer.Option("--policy", "-p", help=f"{', '.join(BUILTIN)} or package.module:Class")
    ] = "grd",
    slots: Annotated[int, typer.Option("--slots", help="slots to simulate", min=1)] = 500,
    seed: SeedOpt = 0,
    load_value: Annotated[
        float | None,
        typer.Option(
            "--load", help="offered load L; default: the scenario's", min=0.01, max=MAX_LOAD
        ),
    ] = None,
    window: Annotated[
        int | None, typer.Option("--window", help="summarise the last N slots (default all)", min=1)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    opt_time_limit: OptTimeOpt = None,
    opt_gap: OptGapOpt = None,
    opt_removal_weight: OptRemovalOpt = None,
    opt_refine_evaluations: OptRefineOpt = None,
    opt_node_limit: OptNodeOpt = None,
    checkpoint: CheckpointOpt = None,
    retrain: RetrainOpt = False,
    train_steps: TrainStepsOpt = None,
    online: Annotated[
        bool, typer.Option("--online", help="HMARL: keep learning while it orchestrates")
    ] = False,
    series: Annotated[
        Path | None,
        typer.Option("--series", help="also write the per-slot series to this CSV file"),
    ] = None,
) -> None:
    """Run one policy on the twin and print a summary."""
    if window is not None and window > slots:
        raise typer.BadParameter(f"must not exceed --slots ({slots})", param_hint="--window")
    if series is not None:
        check_file(series, "--series")
    sc = load(scenario)
    if load_value is not None:
        sc = sc.at_load(load_value)
    options = policy_options([policy], locals())[policy]
    pol = build_policy(policy, options, scenario=sc)()
    with progress(slots, f"{pol.name} on {sc.name}", enabled=not as_json) as tick:
        try:
            result = run_policy(pol, sc, slots, seed=seed, on_slot=tick)
        except (InfeasibleDecisionError, UnsupportedSystemError) as err:
            err_console.print(f"[red]error:[/red] {escape(str(err))}")
            raise typer.Exit(1) from None
    summary = result.summary(window)
    row = summary.as_row()
    if series is not None:
        write_csv(series, result.series())
    if as_json:
        typer.echo(json.dumps(summary.as_json(options), sort_keys=True, allow_nan=False))
        return
    table = Table(title=f"{pol.name.upper()} on {sc.name} (seed {seed}, load {summary.load:g})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    extra = tuple(k for k in ("opt_solve_ms_p50", "opt_gap_max") if k in row)
    for key in (*extra, *SHOWN):
        table.add_row(key, fmt(row[key], key))
    out_console.print(table)
    if series is not None:
        out_console.print(f"per-slot series: {series}")
