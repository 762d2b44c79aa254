"""The ``cnc6g`` command: run a policy, compare policies over load, inspect scenarios."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from cnc6g.experiments import PolicySpec, compare, run_policy
from cnc6g.experiments.backends import BackendError, make_backend
from cnc6g.experiments.runner import InfeasibleDecisionError
from cnc6g.model import DEFAULT_LOADS, Scenario
from cnc6g.policies import BUILTIN, Policy, make_policy
from cnc6g.report import sweep_figure
from cnc6g.scenarios import ScenarioError, dump_scenario, list_presets, load_scenario
from cnc6g.twin import REMOVAL_WEIGHT, compile_scenario, requests_for_load

app = typer.Typer(
    help="cnc6g: computing-network convergence orchestrator for 6G Mobile AI and its twin.",
    no_args_is_help=True,
    add_completion=False,
)
scenario_app = typer.Typer(help="List, show, validate and export scenarios.", no_args_is_help=True)
app.add_typer(scenario_app, name="scenario")

out_console = Console()
err_console = Console(stderr=True)

SUMMARY_KEYS = (
    "energy_j_per_slot",
    "satisfaction_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "dropped_rate",
    "slots",
    "policy",
    "scenario",
)

ScenarioOpt = Annotated[
    str, typer.Option("--scenario", "-s", help="preset name or path of a scenario TOML file")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="seed of the twin and the policy", min=0)]


def _scenario(source: str) -> Scenario:
    try:
        return load_scenario(source)
    except ScenarioError as err:
        raise typer.BadParameter(str(err), param_hint="--scenario") from None


def _options(spec: str, opt: dict[str, Any] | None, learn: dict[str, Any] | None) -> dict[str, Any]:
    """The constructor options the command's flags give policy ``spec``."""
    if spec == "opt":
        return dict(opt or {})
    if spec.startswith("hmarl") and spec in BUILTIN:
        return {k: v for k, v in (learn or {}).items() if v not in (None, False)}
    return {}


def _policy(
    spec: str,
    flag: str = "--policy",
    opt: dict[str, Any] | None = None,
    learn: dict[str, Any] | None = None,
    scenario: Scenario | None = None,
) -> Policy:
    """The policy ``spec`` names, built with the flags' options; errors name ``flag``.

    With ``scenario``, a learning policy that would load the checkpoint shipped for it is
    checked to have one, so that a run does not fail after it has started.
    """
    options = _options(spec, opt, learn)
    try:
        pol = BUILTIN[spec](**options) if options else make_policy(spec)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint=flag) from None
    if scenario is not None and spec.startswith("hmarl") and spec in BUILTIN:
        from cnc6g.learning.checkpoint import shipped_path

        mode = getattr(pol, "mode", "hmarl")
        path = options.get("checkpoint")
        if path is not None and not Path(path).is_file():
            raise typer.BadParameter(f"no file {path}", param_hint="--checkpoint")
        shipped = shipped_path(scenario.name, mode).is_file()
        if path is None and not options.get("retrain") and not shipped:
            raise typer.BadParameter(
                f"no {spec} checkpoint ships for scenario {scenario.name!r}: train one with "
                f"`cnc6g train {spec} --scenario ...` and pass --checkpoint, or --retrain",
                param_hint=flag,
            )
    return pol


CheckpointOpt = Annotated[
    Path | None,
    typer.Option("--checkpoint", help="HMARL: trained agents to use (default: the shipped ones)"),
]
RetrainOpt = Annotated[
    bool, typer.Option("--retrain", help="HMARL: train afresh (with the run's seed) first")
]
TrainStepsOpt = Annotated[
    int | None, typer.Option("--train-steps", help="HMARL: training steps with --retrain", min=1)
]


OptTimeOpt = Annotated[
    float, typer.Option("--opt-time-limit", help="OPT: seconds per slot", min=0.01)
]
OptGapOpt = Annotated[
    float, typer.Option("--opt-gap", help="OPT: relative MIP gap to stop at", min=0.0, max=0.5)
]
OptRemovalOpt = Annotated[
    float,
    typer.Option(
        "--opt-removal-weight",
        help="OPT: share of its restart cost charged for removing a running instance",
        min=0.0,
    ),
]


def _floats(text: str, flag: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"expected numbers separated by commas, got {text!r}", param_hint=flag
        ) from None
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise typer.BadParameter(f"expected positive numbers, got {text!r}", param_hint=flag)
    return values


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"expected integers separated by commas, got {text!r}", param_hint=flag
        ) from None
    if not values or any(v < 0 for v in values):
        raise typer.BadParameter(f"expected integers >= 0, got {text!r}", param_hint=flag)
    return values


@contextmanager
def _progress(total: int, label: str, enabled: bool = True) -> Iterator[Any]:
    """A Rich progress bar on stderr; yields a function to call once per slot."""
    if not enabled:
        yield lambda _t: None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda _t: bar.advance(task)


def _fmt(value: Any, key: str) -> str:
    if isinstance(value, float):
        if key.endswith("rate"):
            return f"{value * 100:.2f} %"
        return f"{value:,.1f}"
    return str(value)


@app.command()
def run(
    scenario: ScenarioOpt = "paper-case-study",
    policy: Annotated[
        str, typer.Option("--policy", "-p", help=f"{', '.join(BUILTIN)} or package.module:Class")
    ] = "grd",
    slots: Annotated[int, typer.Option("--slots", help="slots to simulate", min=1)] = 500,
    seed: SeedOpt = 0,
    load: Annotated[
        float | None,
        typer.Option("--load", help="offered load L; default: the scenario's", min=0.01),
    ] = None,
    window: Annotated[
        int | None, typer.Option("--window", help="summarise the last N slots (default all)", min=1)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    opt_time_limit: OptTimeOpt = 5.0,
    opt_gap: OptGapOpt = 1e-3,
    opt_removal_weight: OptRemovalOpt = REMOVAL_WEIGHT,
    checkpoint: CheckpointOpt = None,
    retrain: RetrainOpt = False,
    train_steps: TrainStepsOpt = None,
    online: Annotated[
        bool, typer.Option("--online", help="HMARL: keep learning while it orchestrates")
    ] = False,
) -> None:
    """Run one policy on the twin and print a summary."""
    sc = _scenario(scenario)
    if load is not None:
        sc = sc.at_load(load)
    learn = {
        "checkpoint": checkpoint,
        "retrain": retrain,
        "train_steps": train_steps,
        "online": online,
    }
    opt = {
        "time_limit": opt_time_limit,
        "mip_rel_gap": opt_gap,
        "removal_weight": opt_removal_weight,
    }
    pol = _policy(policy, opt=opt, learn=learn, scenario=sc)
    with _progress(slots, f"{pol.name} on {sc.name}", enabled=not as_json) as tick:
        try:
            result = run_policy(pol, sc, slots, seed=seed, on_slot=tick)
        except InfeasibleDecisionError as err:
            err_console.print(f"[red]error:[/red] {err}")
            raise typer.Exit(1) from None
    summary = result.summary(window)
    if as_json:
        typer.echo(json.dumps(summary, sort_keys=True))
        return
    table = Table(title=f"{pol.name.upper()} on {sc.name} (seed {seed}, load {summary['load']:g})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    extra = tuple(k for k in ("opt_solve_ms_p50", "opt_gap_max") if k in summary)
    shown = (
        *extra,
        *SUMMARY_KEYS[:6],
        "objective_j_per_slot",
        "energy_j_per_satisfied_task",
        "offered_per_slot",
        "cold_starts_per_slot",
        "decide_ms_p50",
    )
    for key in shown:
        table.add_row(key, _fmt(summary[key], key))
    out_console.print(table)


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


COMPARE_COLUMNS = (
    "load",
    "requests_mean",
    "policy",
    "seed",
    "slots",
    "energy_j_per_slot",
    "energy_j_min",
    "energy_j_max",
    "satisfaction_rate",
    "satisfaction_min",
    "satisfaction_max",
    "dropped_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "objective_j_per_slot",
    "energy_j_per_satisfied_task",
    "cold_starts_per_slot",
    "instances_per_slot",
    "decide_ms_p50",
    "lp_bound_j_per_slot",
    "objective_over_bound",
    "opt_solve_ms_p50",
    "opt_solve_ms_max",
    "opt_gap_max",
)


class BackendName(StrEnum):
    """Where ``compare`` runs its jobs."""

    local = "local"
    ray = "ray"


@app.command("compare")
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
    opt_time_limit: OptTimeOpt = 5.0,
    opt_gap: OptGapOpt = 1e-3,
    opt_removal_weight: OptRemovalOpt = REMOVAL_WEIGHT,
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
    sc = _scenario(scenario)
    load_list = _floats(loads, "--loads")
    seed_list = _ints(seeds, "--seeds")
    specs = [p.strip() for p in policies.split(",") if p.strip()]
    if not specs:
        raise typer.BadParameter("name at least one policy", param_hint="--policies")
    opt = {
        "time_limit": opt_time_limit,
        "mip_rel_gap": opt_gap,
        "removal_weight": opt_removal_weight,
    }
    learn = {
        "checkpoint": str(checkpoint) if checkpoint else None,
        "retrain": retrain,
        "train_steps": train_steps,
    }
    for spec in specs:
        _policy(spec, "--policies", opt, learn, scenario=sc)
    policy_specs = [PolicySpec.of(s, **_options(s, opt, learn)) for s in specs]
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
    with runner, _progress(total, f"compare on {sc.name} ({backend.value})") as tick:
        rows = compare(
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
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COMPARE_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    _atomic_write(out / "results.csv", buf.getvalue())
    figures = [sweep_figure(rows, name, out / f"{name}.png") for name in ("energy", "satisfaction")]
    table = Table(title=f"{sc.name}: last {window} of {slots} slots, mean over seeds {seeds}")
    for col in ("load", "requests", "policy", "energy kJ/slot", "satisfied", "dropped", "p95 ms"):
        table.add_column(col, justify="right")
    groups: dict[tuple[float, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["load"], str(r["policy"])), []).append(r)
    for (load_value, pol), group in groups.items():

        def mean(key: str, group: list[dict[str, Any]] = group) -> float:
            return sum(float(r[key]) for r in group) / len(group)

        table.add_row(
            f"{load_value:g}",
            f"{mean('requests_mean'):.0f}",
            pol,
            f"{mean('energy_j_per_slot') / 1e3:.3f}",
            f"{mean('satisfaction_rate') * 100:.1f} %",
            f"{mean('dropped_rate') * 100:.1f} %",
            f"{mean('latency_p95_ms'):.1f}",
        )
    out_console.print(table)
    out_console.print(f"results: {out / 'results.csv'}; figures: {', '.join(map(str, figures))}")


LEARNERS = {"hmarl": "hmarl", "hmarl-central": "central", "hmarl-independent": "independent"}
"""``cnc6g train`` names of the learning orchestrator and its ablations -> training modes."""


@app.command("train")
def train_cmd(
    learner: Annotated[
        str, typer.Argument(help="hmarl, or an ablation: hmarl-central, hmarl-independent")
    ],
    scenario: ScenarioOpt = "paper-case-study",
    seed: SeedOpt = 0,
    steps: Annotated[
        int, typer.Option("--steps", help="training steps (one slot of every copy each)", min=1)
    ] = 2000,
    copies: Annotated[
        int, typer.Option("--copies", help="copies of the system per training load", min=1)
    ] = 4,
    loads: Annotated[
        str, typer.Option("--loads", help="comma-separated offered loads trained on")
    ] = ",".join(f"{v:g}" for v in DEFAULT_LOADS),
    out: Annotated[
        Path, typer.Option("--out", help="folder for the checkpoint and the learning curve")
    ] = Path("results/train"),
    resume: Annotated[
        Path | None, typer.Option("--resume", help="checkpoint to continue training from")
    ] = None,
    tensorboard: Annotated[
        bool, typer.Option("--tensorboard", help="also write TensorBoard scalars under --out")
    ] = False,
    removal_weight: Annotated[
        float,
        typer.Option(
            "--removal-weight",
            help="share of an instance's restart cost the difference rewards charge for "
            "removing it (hmarl)",
            min=0.0,
        ),
    ] = REMOVAL_WEIGHT,
) -> None:
    """Train the learning orchestrator (or an ablation); write a checkpoint and its curve."""
    from cnc6g.learning.checkpoint import load_agents, save_checkpoint
    from cnc6g.learning.trainer import TrainConfig, train

    if learner not in LEARNERS:
        raise typer.BadParameter(
            f"unknown learner {learner!r}: use one of {', '.join(LEARNERS)}", param_hint="LEARNER"
        )
    sc = _scenario(scenario)
    load_list = _floats(loads, "--loads")
    agents, start = None, 0
    cfg = TrainConfig(
        mode=LEARNERS[learner],
        loads=tuple(load_list),
        copies=copies,
        steps=steps,
        seed=seed,
        removal_weight=removal_weight,
    )
    if resume is not None:
        try:
            agents, saved, meta = load_agents(compile_scenario(sc), resume)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--resume") from None
        if saved.mode != cfg.mode:
            raise typer.BadParameter(
                f"checkpoint is of {saved.mode}, not {cfg.mode}", param_hint="--resume"
            )
        start = int(meta.get("steps", 0))
        if start >= steps:
            raise typer.BadParameter(
                f"checkpoint has {start} steps already; ask for more with --steps",
                param_hint="--resume",
            )
    writer = None
    if tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise typer.BadParameter(
                "TensorBoard is not installed (pip install tensorboard)", param_hint="--tensorboard"
            ) from None
        writer = SummaryWriter(str(out / f"{learner}-tb"))
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("reward {task.fields[reward]:+.4f}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
    ) as bar:
        task = bar.add_task(
            f"train {learner} on {sc.name}", total=steps, completed=start, reward=0.0
        )

        def tick(_step: int, info: dict[str, float]) -> None:
            bar.update(task, advance=1, reward=info["reward"])

        result = train(sc, cfg, agents=agents, start_step=start, on_step=tick)
    command = (
        f"cnc6g train {learner} --scenario {scenario} --seed {seed} --steps {steps} "
        f"--copies {copies} --loads {loads}"
        + (f" --removal-weight {removal_weight:g}" if removal_weight != REMOVAL_WEIGHT else "")
    )
    meta = {
        "scenario": sc.name,
        "seed": seed,
        "steps": result.steps_done,
        "best_step": result.best_step,
        "wall_s": round(result.wall_s, 1),
        "command": command,
    }
    path = save_checkpoint(out / f"{sc.name}-{cfg.mode}.pt", result.agents, cfg, meta)
    buf = io.StringIO()
    if result.curve:
        fields = list(dict.fromkeys(k for row in result.curve for k in row))
        writer_csv = csv.DictWriter(buf, fieldnames=fields)
        writer_csv.writeheader()
        writer_csv.writerows(result.curve)
    curve_path = out / f"{sc.name}-{cfg.mode}-curve.csv"
    _atomic_write(curve_path, buf.getvalue())
    if result.validation:
        vbuf = io.StringIO()
        vwriter = csv.DictWriter(vbuf, fieldnames=list(result.validation[0]))
        vwriter.writeheader()
        vwriter.writerows(result.validation)
        _atomic_write(out / f"{sc.name}-{cfg.mode}-validation.csv", vbuf.getvalue())
    if writer is not None:
        for row in result.curve:
            for key, value in row.items():
                if key != "step":
                    writer.add_scalar(key, value, int(row["step"]))
        writer.close()
    last = result.curve[-1] if result.curve else {}
    table = Table(title=f"{learner} trained on {sc.name} (seed {seed})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("steps", str(result.steps_done))
    table.add_row("slots simulated", f"{int(last.get('slots', 0)):,}")
    table.add_row("wall time s", f"{result.wall_s:.1f}")
    if result.wall_s > 0 and last:
        done = result.steps_done - start
        table.add_row("env steps/s (copies x slots)", f"{last['slots'] / result.wall_s:,.0f}")
        table.add_row("training steps/s", f"{done / result.wall_s:.1f}")
        table.add_row("share of time in updates", f"{last['update_s'] / result.wall_s * 100:.0f} %")
    best = next((r for r in result.validation if int(r["step"]) == result.best_step), None)
    table.add_row("kept: the agents validated best, at step", str(result.best_step))
    if best is not None:
        for key in sorted(k for k in best if k.startswith("val_objective_j@")):
            load_text = key.split("@")[1]
            sat = best[f"val_satisfaction@{load_text}"] * 100
            table.add_row(
                f"validated at L={load_text}: objective J/slot (satisfied)",
                f"{best[key]:,.0f} ({sat:.1f} %)",
            )
    out_console.print(table)
    out_console.print(f"checkpoint: {path}; learning curve: {curve_path}")


@app.command("curves")
def curves_cmd(
    folder: Annotated[Path, typer.Argument(help="folder where cnc6g train wrote its CSVs")],
    scenario: ScenarioOpt = "paper-case-study",
) -> None:
    """Draw the learning curves of HMARL and its ablations trained into one folder."""
    from cnc6g.report import learning_curves_figure

    curves: dict[str, list[dict[str, Any]]] = {}
    for name, mode in LEARNERS.items():
        for suffix, label in (("curve", name), ("validation", f"{name} (validation)")):
            path = folder / f"{scenario}-{mode}-{suffix}.csv"
            if path.is_file():
                with path.open(newline="") as fh:
                    curves[label] = list(csv.DictReader(fh))
    if not curves:
        raise typer.BadParameter(
            f"no {scenario}-*-curve.csv or -validation.csv in {folder}", param_hint="FOLDER"
        )
    path = learning_curves_figure(curves, folder / f"{scenario}-learning-curves.png")
    out_console.print(f"learning curves: {path}")


@app.command("adapt")
def adapt_cmd(
    scenario: ScenarioOpt = "paper-case-study",
    event: Annotated[
        str, typer.Option("--event", help="hotspot, hotspot-popularity or failure")
    ] = "hotspot",
    node: Annotated[
        str | None,
        typer.Option(
            "--node", help="failure: the node that fails (default: the busiest RAN node under GRD)"
        ),
    ] = None,
    at: Annotated[int, typer.Option("--at", help="slot of the event", min=1)] = 100,
    slots: Annotated[int, typer.Option("--slots", help="slots per run", min=2)] = 300,
    load: Annotated[float, typer.Option("--load", help="offered load L", min=0.01)] = 1.0,
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
    from cnc6g.experiments.adaptation import EVENTS, adapt, busiest_ran_node
    from cnc6g.report.figures import adaptation_figure

    if event not in EVENTS:
        raise typer.BadParameter(
            f"unknown event {event!r}: use one of {', '.join(EVENTS)}", param_hint="--event"
        )
    if at >= slots:
        raise typer.BadParameter(f"must be below --slots ({slots})", param_hint="--at")
    sc = _scenario(scenario)
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
    if checkpoint is not None and not checkpoint.is_file():
        raise typer.BadParameter(f"no file {checkpoint}", param_hint="--checkpoint")
    ckpt = str(checkpoint) if checkpoint else None

    def build(spec: str) -> Policy:
        if spec == "hmarl-online":
            return _policy(
                "hmarl", "--policies", learn={"checkpoint": ckpt, "online": True}, scenario=sc
            )
        return _policy(spec, "--policies", learn={"checkpoint": ckpt}, scenario=sc)

    for spec in specs:
        build(spec)
    if event == "failure" and node is None:
        node = busiest_ran_node(system, at, seed)
    results = []
    with _progress(len(specs) * slots, f"{event} at slot {at} on {sc.name}") as tick:
        for spec in specs:
            results.append(
                adapt(
                    sc,
                    lambda spec=spec: build(spec),
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
    buf = io.StringIO()
    rows = [row for r in results for row in r.rows()]
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    csv_path = out / f"adapt-{event}.csv"
    _atomic_write(csv_path, buf.getvalue())
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


@scenario_app.command("list")
def scenario_list() -> None:
    """List the shipped presets."""
    table = Table(title="presets")
    for col in ("name", "domains", "nodes", "services", "requests/slot at L=1", "description"):
        table.add_column(col)
    for name in list_presets():
        sc = load_scenario(name)
        sy = compile_scenario(sc)
        table.add_row(
            name,
            str(len(sc.domains)),
            str(sy.n_nodes),
            str(sy.n_services),
            f"{requests_for_load(sy, 1.0):.0f}",
            sc.description[:60],
        )
    out_console.print(table)


@scenario_app.command("validate")
def scenario_validate(
    source: Annotated[str, typer.Argument(help="preset name or TOML file")],
) -> None:
    """Check a scenario file; exit 1 and name every bad field if it is invalid."""
    try:
        sc = load_scenario(source)
    except ScenarioError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(1) from None
    sy = compile_scenario(sc)
    out_console.print(
        f"[green]valid[/green]: {sc.name}: {sy.n_origins} origins, {sy.n_nodes} nodes, "
        f"{sy.n_services} services, {sy.n_links} wired links"
    )


@scenario_app.command("show")
def scenario_show(
    source: Annotated[str, typer.Argument(help="preset name or TOML file")],
) -> None:
    """Print a scenario as TOML (a preset's text is a starting point for your own file)."""
    typer.echo(dump_scenario(_scenario(source)), nl=False)


@app.command("check-policy")
def check_policy_cmd(
    policy: Annotated[str, typer.Argument(help="policy name or package.module:Class")],
    scenario: ScenarioOpt = "tiny",
    slots: Annotated[int, typer.Option("--slots", min=1)] = 20,
) -> None:
    """Run the policy conformance checks (feasible, deterministic, inputs untouched)."""
    from cnc6g.testing import PolicyCheckError, check_policy

    pol = _policy(policy, "POLICY")
    try:
        check_policy(type(pol), _scenario(scenario), slots=slots)
    except PolicyCheckError as err:
        err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(1) from None
    out_console.print(f"[green]{pol.name} passes the policy checks on {scenario}[/green]")


def main() -> None:
    """Entry point of the console script."""
    app()
