"""``cnc6g compare``: a sweep of policies over offered load, as a CSV, figures and a table."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cnc6g.cli.common import (
    CheckpointOpt,
    OptGapOpt,
    OptRemovalOpt,
    OptTimeOpt,
    RetrainOpt,
    ScenarioOpt,
    TrainStepsOpt,
    build_policy,
    floats,
    ints,
    load,
    out_console,
    policy_options,
    progress,
)
from cnc6g.experiments import PolicySpec, RunSummary, compare
from cnc6g.experiments.backends import BackendError, make_backend
from cnc6g.model import DEFAULT_LOADS
from cnc6g.report import COMPARE_COLUMNS, sweep_figure, write_csv


class BackendName(StrEnum):
    """Where ``compare`` runs its jobs."""

    local = "local"
    ray = "ray"


def compare_cmd(
    scenario: ScenarioOpt = "paper-case-study",
    policies: Annotated[
        str, typer.Option("--policies", help="comma-separated policies")
    ] = "rand,grd",
    loads: Annotated[
        str, typer.Option("--loads", help="comma-separated offered loads L")
    ] = ",".join(f"{v:g}" for v in DEFAULT_LOADS),
    slots: Annotated[int, typer.Option("--slots", help="slots per run", min=1)] = 200,
    window: Annotated[
        int, typer.Option("--window", help="evaluation window: the last N slots", min=1)
    ] = 50,
    seeds: Annotated[str, typer.Option("--seeds", help="comma-separated seeds")] = "0,1,2",
    out: Annotated[Path, typer.Option("--out", help="folder for results.csv and figures")] = Path(
        "results"
    ),
    bound: Annotated[
        bool, typer.Option("--bound/--no-bound", help="add the LP lower bound column")
    ] = True,
    opt_time_limit: OptTimeOpt = None,
    opt_gap: OptGapOpt = None,
    opt_removal_weight: OptRemovalOpt = None,
    backend: Annotated[
        BackendName,
        typer.Option("--backend", help="run the jobs in this process (local) or as Ray tasks"),
    ] = BackendName.local,
    address: Annotated[
        str | None,
        typer.Option(
            "--address", help="Ray: HOST:PORT of a running cluster; default: a local instance"
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Ray: CPUs of the local instance, or the most jobs in flight on a cluster",
            min=1,
        ),
    ] = None,
    checkpoint: CheckpointOpt = None,
    retrain: RetrainOpt = False,
    train_steps: TrainStepsOpt = None,
) -> None:
    """Sweep policies over offered load; write results.csv and the Figs. 4-5 style figures."""
    sc = load(scenario)
    load_list = floats(loads, "--loads")
    seed_list = ints(seeds, "--seeds")
    specs = [p.strip() for p in policies.split(",") if p.strip()]
    if not specs:
        raise typer.BadParameter("name at least one policy", param_hint="--policies")
    flags = {
        "--opt-time-limit": opt_time_limit,
        "--opt-gap": opt_gap,
        "--opt-removal-weight": opt_removal_weight,
        "--checkpoint": checkpoint,
        "--retrain": retrain,
        "--train-steps": train_steps,
    }
    options = policy_options(specs, flags)
    for spec in specs:
        build_policy(spec, options[spec], "--policies", scenario=sc)
    policy_specs = [PolicySpec.of(s, **options[s]) for s in specs]
    if window > slots:
        raise typer.BadParameter(f"must not exceed --slots ({slots})", param_hint="--window")
    for flag, value in (("--address", address), ("--workers", workers)):
        if value is not None and backend is not BackendName.ray:
            raise typer.BadParameter("applies to --backend ray only", param_hint=flag)
    runner = make_backend(backend.value, address=address, workers=workers)
    try:
        runner.start()
    except BackendError as err:
        flag = "--address" if address is not None else "--backend"
        raise typer.BadParameter(str(err), param_hint=flag) from None
    total = len(load_list) * len(specs) * len(seed_list) * slots
    with runner, progress(total, f"compare on {sc.name} ({backend.value})") as tick:
        summaries = compare(
            sc,
            policy_specs,
            load_list,
            slots,
            window,
            seed_list,
            on_slot=tick,
            bound=bound,
            backend=runner,
        )
    rows = [s.as_row() for s in summaries]
    write_csv(out / "results.csv", rows, COMPARE_COLUMNS)
    figures = [sweep_figure(rows, name, out / f"{name}.png") for name in ("energy", "satisfaction")]
    table = Table(title=f"{sc.name}: last {window} of {slots} slots, mean over seeds {seeds}")
    for col in ("load", "requests", "policy", "energy kJ/slot", "satisfied", "dropped", "p95 ms"):
        table.add_column(col, justify="right")
    groups: dict[tuple[float, str], list[RunSummary]] = {}
    for s in summaries:
        groups.setdefault((s.load, s.policy), []).append(s)
    for (load_value, pol), group in groups.items():
        n = len(group)
        table.add_row(
            f"{load_value:g}",
            f"{sum(s.requests_mean or 0.0 for s in group) / n:.0f}",
            pol,
            f"{sum(s.energy_j_per_slot for s in group) / n / 1e3:.3f}",
            f"{sum(s.satisfaction_rate for s in group) / n * 100:.1f} %",
            f"{sum(s.dropped_rate for s in group) / n * 100:.1f} %",
            f"{sum(s.latency_p95_ms for s in group) / n:.1f}",
        )
    out_console.print(table)
    out_console.print(f"results: {out / 'results.csv'}; figures: {', '.join(map(str, figures))}")
