"""``cnc6g compare``: a sweep of policies over offered load, as a CSV, figures and a table."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

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
    TrainStepsOpt,
    build_policy,
    err_console,
    floats,
    ints,
    load,
    out_console,
    policy_options,
    progress,
    unique,
)
from cnc6g.experiments import FailedRun, PolicySpec, RunSummary, SweepRow, compare
from cnc6g.experiments.backends import BackendError, make_backend
from cnc6g.experiments.config import ExperimentError, load_experiment
from cnc6g.experiments.runner import summary_from_row
from cnc6g.model import DEFAULT_LOADS, MAX_LOAD
from cnc6g.report import COMPARE_COLUMNS, read_csv, sweep_figure, write_csv
from cnc6g.report.manifest import (
    FolderError,
    manifest,
    now,
    policies_record,
    prepare_folder,
    text_hash,
    write_manifest,
)
from cnc6g.scenarios import dump_scenario

SWEEP_FLAGS = (
    "scenario",
    "policies",
    "loads",
    "slots",
    "window",
    "seeds",
    "bound",
    "backend",
    "address",
    "workers",
    "opt_time_limit",
    "opt_gap",
    "opt_removal_weight",
    "opt_refine_evaluations",
    "opt_node_limit",
    "checkpoint",
    "retrain",
    "train_steps",
)
"""Parameters an experiment file sets (the command line may not give them with --config)."""


class BackendName(StrEnum):
    """Where ``compare`` runs its jobs."""

    local = "local"
    ray = "ray"


def compare_cmd(
    ctx: typer.Context,
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
    opt_refine_evaluations: OptRefineOpt = None,
    opt_node_limit: OptNodeOpt = None,
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
    resume: Annotated[
        bool, typer.Option("--resume", help="go on with a sweep in --out: skip finished runs")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="replace results of another sweep in --out")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="an experiment file (TOML): scenario, policies with options, loads, seeds, "
            "slots, window, backend; not with those flags",
        ),
    ] = None,
) -> None:
    """Sweep policies over offered load; write results.csv and the Figs. 4-5 style figures.

    Each run's row is written to results.csv as soon as it is done, so an interrupted sweep
    keeps its finished runs; --resume goes on from them. A run that fails is recorded in its
    row and the sweep goes on; the command then exits with status 1.
    """
    if config is not None:
        given = [
            "--" + name.replace("_", "-")
            for name in SWEEP_FLAGS
            if getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"
        ]
        if given:
            raise typer.BadParameter(
                f"--config sets the sweep; drop {', '.join(given)}", param_hint="--config"
            )
        try:
            experiment = load_experiment(config)
        except ExperimentError as err:
            raise typer.BadParameter(str(err), param_hint="--config") from None
        scenario = experiment.scenario
        policies = ",".join(p.name for p in experiment.policies)
        loads = ",".join(repr(v) for v in experiment.loads)
        seeds = ",".join(str(v) for v in experiment.seeds)
        slots, window, bound = experiment.slots, experiment.window, experiment.bound
        backend = BackendName(experiment.backend)
        address, workers = experiment.address, experiment.workers
    sc = load(scenario)
    load_list = floats(loads, "--loads", high=MAX_LOAD)
    seed_list = ints(seeds, "--seeds")
    specs = [p.strip() for p in policies.split(",") if p.strip()]
    if not specs:
        raise typer.BadParameter("name at least one policy", param_hint="--policies")
    unique(specs, "--policies")
    options = policy_options(specs, locals())
    if config is not None:
        options = {p.name: dict(p.options) for p in experiment.policies}
    for spec in specs:
        build_policy(spec, options[spec], "--policies", scenario=sc)
    policy_specs = [PolicySpec.of(s, **options[s]) for s in specs]
    if window > slots:
        raise typer.BadParameter(f"must not exceed --slots ({slots})", param_hint="--window")
    for flag, value in (("--address", address), ("--workers", workers)):
        if value is not None and backend is not BackendName.ray:
            raise typer.BadParameter("applies to --backend ray only", param_hint=flag)
    identity = {
        "scenario": sc.name,
        "scenario_sha256": text_hash(dump_scenario(sc)),
        "slots": slots,
        "window": window,
        "bound": bound,
    }
    runner = make_backend(backend.value, address=address, workers=workers)
    try:
        if backend is BackendName.ray:
            err_console.print("starting Ray...")
        runner.start()
    except BackendError as err:
        flag = "--address" if address is not None else "--backend"
        raise typer.BadParameter(str(err), param_hint=flag) from None
    try:
        prepare_folder(out, identity, resume=resume, force=force)
    except FolderError as err:
        runner.close()
        raise typer.BadParameter(str(err), param_hint="--out") from None
    done = _finished(out, specs, load_list, seed_list) if resume else {}
    details = {
        "scenario": {"name": sc.name, "source": scenario},
        "policies": policies_record(specs, options),
        "loads": load_list,
        "seeds": seed_list,
        "backend": backend.value,
        "files": ["results.csv", "energy.png", "satisfaction.png"],
    }
    started = now()
    write_manifest(out, manifest("compare", identity, details, started))
    kept: list[dict[str, Any]] = [r.as_row() for r in done.values()]

    def keep(row: SweepRow) -> None:
        kept.append(row.as_row())
        write_csv(out / "results.csv", kept, COMPARE_COLUMNS)

    todo = len(load_list) * len(specs) * len(seed_list) - len(done)

    def stopped() -> None:
        write_manifest(out, manifest("compare", identity, details, started, now(), "interrupted"))
        err_console.print(
            f"interrupted: {len(kept)} finished runs kept in {out / 'results.csv'}; "
            "run again with --resume to go on"
        )

    with runner, progress(todo * slots, f"compare on {sc.name} ({backend.value})") as tick:
        try:
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
                done=done,
                on_row=keep,
                keep_going=True,
            )
        except BaseException:
            # Said before the backend shuts down: a Ray interrupted mid-task may not return.
            stopped()
            raise
    write_manifest(out, manifest("compare", identity, details, started, now(), "finished"))
    rows = [s.as_row() for s in summaries]
    write_csv(out / "results.csv", rows, COMPARE_COLUMNS)
    good = [s.as_row() for s in summaries if isinstance(s, RunSummary)]
    failed = [s for s in summaries if isinstance(s, FailedRun)]
    figures = [sweep_figure(good, name, out / f"{name}.png") for name in ("energy", "satisfaction")]
    table = Table(title=f"{sc.name}: last {window} of {slots} slots, mean over seeds {seeds}")
    groups: dict[tuple[float, str], list[RunSummary]] = {}
    for s in summaries:
        if isinstance(s, RunSummary):
            groups.setdefault((s.load, s.policy), []).append(s)
    objective = {
        key: sum(s.objective_j_per_slot for s in group) / len(group)
        for key, group in groups.items()
    }
    with_opt = any(pol == "opt" for _, pol in groups)
    columns = ["load", "requests", "policy", "energy kJ/slot", "satisfied", "dropped", "p95 ms"]
    columns += ["objective kJ/slot", "/ LP bound"] + (["/ OPT"] if with_opt else [])
    for col in columns:
        table.add_column(col, justify="right")
    for (load_value, pol), group in groups.items():
        n = len(group)
        ratios = [s.objective_over_bound for s in group if s.objective_over_bound is not None]
        opt = objective.get((load_value, "opt"))
        table.add_row(
            f"{load_value:g}",
            f"{sum(s.requests_mean or 0.0 for s in group) / n:.0f}",
            pol,
            f"{sum(s.energy_j_per_slot for s in group) / n / 1e3:.3f}",
            f"{sum(s.satisfaction_rate for s in group) / n * 100:.1f} %",
            f"{sum(s.dropped_rate for s in group) / n * 100:.1f} %",
            f"{sum(s.latency_p95_ms for s in group) / n:.1f}",
            f"{objective[load_value, pol] / 1e3:.3f}",
            f"{sum(ratios) / len(ratios):.3f}" if len(ratios) == n else "",
            *([f"{objective[load_value, pol] / opt:.3f}" if opt else ""] if with_opt else []),
        )
    out_console.print(table)
    out_console.print(f"results: {out / 'results.csv'}; figures: {', '.join(map(str, figures))}")
    if failed:
        for f in failed:
            where = f"{f.policy} at L={f.load:g} seed {f.seed}: {f.error}"
            err_console.print(f"[red]failed:[/red] {escape(where)}")
        raise typer.Exit(1)


def _finished(
    out: Path, specs: list[str], loads: list[float], seeds: list[int]
) -> dict[tuple[str, float, int], RunSummary]:
    """The runs a resumed sweep finished before, from its results.csv (failures run again)."""
    path = out / "results.csv"
    if not path.is_file():
        return {}
    wanted = {(s, ld, sd) for s in specs for ld in loads for sd in seeds}
    done: dict[tuple[str, float, int], RunSummary] = {}
    names = {spec: build_policy(spec, {})().name if ":" in spec else spec for spec in specs}
    by_name = {v: k for k, v in names.items()}
    for row in read_csv(path):
        if row.get("error"):
            continue
        try:
            summary = summary_from_row(row)
        except (KeyError, ValueError):
            continue
        key = (by_name.get(summary.policy, summary.policy), summary.load, summary.seed)
        if key in wanted:
            done[key] = summary
    return done
