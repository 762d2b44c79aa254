"""``cnc6g train`` and ``cnc6g curves``: train HMARL or an ablation, draw learning curves."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from cnc6g.cli.common import (
    ScenarioOpt,
    SeedOpt,
    check_folder,
    err_console,
    floats,
    load,
    out_console,
)
from cnc6g.model import DEFAULT_LOADS, MAX_LOAD
from cnc6g.report import learning_curves_figure, read_csv, write_csv
from cnc6g.twin import REMOVAL_WEIGHT, compile_scenario

LEARNERS = {"hmarl": "hmarl", "hmarl-central": "central", "hmarl-independent": "independent"}
"""``cnc6g train`` names of the learning orchestrator and its ablations -> training modes."""


def train_cmd(
    learner: Annotated[
        str, typer.Argument(help="hmarl, or an ablation: hmarl-central, hmarl-independent")
    ],
    scenario: ScenarioOpt = "paper-case-study",
    seed: SeedOpt = 0,
    steps: Annotated[
        int,
        typer.Option(
            "--steps",
            help="training steps (one slot of every copy each); 0 with --teacher: imitation only",
            min=0,
        ),
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
    family: Annotated[
        str | None,
        typer.Option(
            "--family",
            help="train pooled agents that fit any scenario on a family of case-study variants "
            "(hmarl only; --scenario is then not used): case-study",
        ),
    ] = None,
    horizon: Annotated[
        int,
        typer.Option("--horizon", help="slots per episode (a family draws a variant each)", min=2),
    ] = 200,
    teacher: Annotated[
        list[Path] | None,
        typer.Option(
            "--teacher",
            help="with --family: first fit the pooled agents to this sized checkpoint's "
            "greedy actions on family variants of its layout (its cell and service counts); "
            "repeat it to fit several teachers' actions at once",
        ),
    ] = None,
    teacher_variants: Annotated[
        int,
        typer.Option("--teacher-variants", help="variants each teacher is run on", min=1),
    ] = 3,
    teacher_slots: Annotated[
        int, typer.Option("--teacher-slots", help="slots of a teacher per variant", min=1)
    ] = 30,
) -> None:
    """Train the learning orchestrator (or an ablation); write a checkpoint and its curve.

    The checkpoint (the agents validated best so far) and the curves are written at every
    validation, so an interrupted training keeps what it validated.
    """
    from cnc6g.orchestration.registry import needs_learning

    try:
        needs_learning()
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="LEARNER") from None
    from cnc6g.learning.checkpoint import load_agents, save_checkpoint
    from cnc6g.learning.trainer import Checkpoint, TrainConfig, train

    if learner not in LEARNERS:
        raise typer.BadParameter(
            f"unknown learner {learner!r}: use one of {', '.join(LEARNERS)}", param_hint="LEARNER"
        )
    load_list = floats(loads, "--loads", high=MAX_LOAD)
    teachers = list(teacher or [])
    if teachers and family is None:
        raise typer.BadParameter("a teacher needs --family", param_hint="--teacher")
    if steps == 0 and not teachers:
        raise typer.BadParameter("must be >= 1 (0 only with --teacher)", param_hint="--steps")
    check_folder(out, "--out")
    if family is not None:
        from cnc6g.scenarios.family import FAMILIES

        if family not in FAMILIES:
            raise typer.BadParameter(
                f"unknown family {family!r}: use one of {', '.join(FAMILIES)}",
                param_hint="--family",
            )
        if LEARNERS[learner] != "hmarl":
            raise typer.BadParameter(
                f"a family trains hmarl only, not {learner}", param_hint="--family"
            )
        sc = FAMILIES[family].draw((seed, 0)).scenario(load_list[0])
    else:
        sc = load(scenario)
    agents, start = None, 0
    cfg = TrainConfig(
        mode=LEARNERS[learner],
        loads=tuple(load_list),
        copies=copies,
        steps=max(steps, 1),
        seed=seed,
        removal_weight=removal_weight,
        horizon=horizon,
        arch="pooled" if family else "sized",
        family=family or "",
    )
    name = f"family-{family}" if family else sc.name
    if resume is not None:
        try:
            agents, saved, meta = load_agents(compile_scenario(sc), resume)
            if saved.arch != cfg.arch:
                raise ValueError(f"checkpoint has {saved.arch} agents, not {cfg.arch}")
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
        task = bar.add_task(f"train {learner} on {name}", total=steps, completed=start, reward=0.0)

        def tick(_step: int, info: dict[str, float]) -> None:
            bar.update(task, advance=1, reward=info["reward"])

        where = f"--family {family}" if family else f"--scenario {scenario}"
        command = (
            f"cnc6g train {learner} {where} --seed {seed} --steps {steps} "
            f"--copies {copies} --loads {loads}"
            + (f" --removal-weight {removal_weight:g}" if removal_weight != REMOVAL_WEIGHT else "")
            + (f" --horizon {horizon}" if horizon != 200 else "")
        )
        stem = "family" if family else sc.name
        path = out / f"{stem}-{cfg.mode}.pt"
        curve_path = out / f"{stem}-{cfg.mode}-curve.csv"
        started = time.perf_counter()
        kept: list[Checkpoint] = []

        def keep(point: Checkpoint) -> None:
            meta = {
                "scenario": name,
                "seed": seed,
                "steps": point.steps_done,
                "best_step": point.best_step,
                "wall_s": round(time.perf_counter() - started, 1),
                "command": command,
                "imitation": imitation,
            }
            assert agents_now is not None
            save_checkpoint(path, agents_now, cfg, meta, state=point.state)
            write_csv(curve_path, point.curve)
            write_csv(out / f"{stem}-{cfg.mode}-validation.csv", point.validation)
            kept[:] = [point]

        agents_now = agents
        if agents_now is None:
            from cnc6g.policies.hmarl.pooled import make_agents

            agents_now = make_agents(
                compile_scenario(sc.at_load(cfg.loads[0])),
                cfg.mode,
                cfg.learner,
                cfg.seed,
                cfg.arch,
            )
        imitation: dict[str, float] = {}
        if teachers:
            imitation = _imitate(
                agents_now, teachers, family or "", cfg, teacher_variants, teacher_slots
            )
            command += "".join(f" --teacher {t.name}" for t in teachers) + (
                f" --teacher-variants {teacher_variants} --teacher-slots {teacher_slots}"
            )
        if steps == 0:
            meta = {
                "scenario": name,
                "seed": seed,
                "steps": 0,
                "best_step": 0,
                "wall_s": round(time.perf_counter() - started, 1),
                "command": command,
                "imitation": imitation,
            }
            save_checkpoint(path, agents_now, cfg, meta)
            out_console.print(f"imitation only: checkpoint {path}")
            return
        try:
            result = train(
                sc, cfg, agents=agents_now, start_step=start, on_step=tick, on_validate=keep
            )
        except KeyboardInterrupt:
            if kept:
                err_console.print(
                    f"interrupted: the checkpoint of the agents validated best by step "
                    f"{kept[0].steps_done} is in {path}; --resume {path} goes on"
                )
            raise typer.Exit(130) from None
    meta = {
        "scenario": name,
        "seed": seed,
        "steps": result.steps_done,
        "best_step": result.best_step,
        "wall_s": round(result.wall_s, 1),
        "command": command,
        "imitation": imitation,
    }
    save_checkpoint(path, result.agents, cfg, meta)
    write_csv(curve_path, result.curve)
    if result.validation:
        write_csv(out / f"{stem}-{cfg.mode}-validation.csv", result.validation)
    if writer is not None:
        for row in result.curve:
            for key, value in row.items():
                if key != "step":
                    writer.add_scalar(key, value, int(row["step"]))
        writer.close()
    last = result.curve[-1] if result.curve else {}
    table = Table(title=f"{learner} trained on {name} (seed {seed})")
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


def _imitate(
    agents: Any, teachers: list[Path], family: str, cfg: Any, variants: int, slots: int
) -> dict[str, float]:
    """Fit the pooled ``agents`` to the ``teachers``' greedy actions (cnc6g.learning.distill).

    Each teacher is run on ``variants`` family variants of its own layout; teacher ``t`` takes
    the family's draws from ``t * variants`` on, so that no two teachers share their other
    parameters (the first teacher's are those a single teacher gets).
    """
    from cnc6g.learning.checkpoint import load_agents, read_checkpoint
    from cnc6g.learning.distill import imitate_many, teacher_layout, teacher_variants
    from cnc6g.policies.hmarl.pooled import PooledAgents
    from cnc6g.scenarios.family import FAMILIES

    assert isinstance(agents, PooledAgents)
    fam = FAMILIES[family]
    lessons = []
    for t, path in enumerate(teachers):
        try:
            saved = read_checkpoint(path)
            if (
                saved["config"].get("arch", "sized") != "sized"
                or saved["config"]["mode"] != "hmarl"
            ):
                raise ValueError(f"teacher {path} must be sized hmarl agents")
            cells, services = teacher_layout(saved["signature"])
            chosen = teacher_variants(fam, cells, services, variants, cfg.seed, first=t * variants)
            system = compile_scenario(chosen[0].scenario(cfg.loads[0]))
            tutor, _, _ = load_agents(system, path)
        except ValueError as err:
            raise typer.BadParameter(str(err), param_hint="--teacher") from None
        lessons.append((tutor, chosen))
    return imitate_many(agents, lessons, cfg.loads, copies=cfg.copies, slots=slots, seed=cfg.seed)


def curves_cmd(
    folder: Annotated[Path, typer.Argument(help="folder where cnc6g train wrote its CSVs")],
    scenario: ScenarioOpt = "paper-case-study",
) -> None:
    """Draw the learning curves of HMARL and its ablations trained into one folder."""
    curves: dict[str, list[dict[str, Any]]] = {}
    for name, mode in LEARNERS.items():
        for suffix, label in (("curve", name), ("validation", f"{name} (validation)")):
            path = folder / f"{scenario}-{mode}-{suffix}.csv"
            if path.is_file():
                curves[label] = read_csv(path)
    if not curves:
        raise typer.BadParameter(
            f"no {scenario}-*-curve.csv or -validation.csv in {folder}", param_hint="FOLDER"
        )
    path = learning_curves_figure(curves, folder / f"{scenario}-learning-curves.png")
    out_console.print(f"learning curves: {path}")
