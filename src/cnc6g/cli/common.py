"""What the commands share: consoles, options, parsing of flags, policies from flags, progress."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
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

from cnc6g.model import Scenario
from cnc6g.orchestration import BUILTIN, check_policy_options, make_policy
from cnc6g.policies import Policy
from cnc6g.scenarios import ScenarioError, load_scenario
from cnc6g.twin import compile_scenario

out_console = Console()
err_console = Console(stderr=True)

ScenarioOpt = Annotated[
    str, typer.Option("--scenario", "-s", help="preset name or path of a scenario TOML file")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="seed of the twin and the policy", min=0)]

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
    float | None,
    typer.Option("--opt-time-limit", help="OPT: seconds per slot (default 5)", min=0.01),
]
OptGapOpt = Annotated[
    float | None,
    typer.Option(
        "--opt-gap", help="OPT: relative MIP gap to stop at (default 0.001)", min=0.0, max=0.5
    ),
]
OptRemovalOpt = Annotated[
    float | None,
    typer.Option(
        "--opt-removal-weight",
        help="OPT: share of its restart cost charged for removing a running instance (default 0.3)",
        min=0.0,
    ),
]

OptNodeOpt = Annotated[
    int | None,
    typer.Option(
        "--opt-node-limit",
        help="OPT: branch-and-bound nodes each MILP of a slot may take (default: none); with a "
        "time limit the slots never reach, a seed gives the same decisions on any machine",
        min=1,
    ),
]

OptRefineOpt = Annotated[
    int | None,
    typer.Option(
        "--opt-refine-evaluations",
        help="OPT: twin evaluations refining a slot's decision may take; 0: no refinement "
        "(default 20000, fewer on large systems)",
        min=0,
    ),
]

POLICY_FLAGS = {
    "--opt-time-limit": "time_limit",
    "--opt-gap": "mip_rel_gap",
    "--opt-removal-weight": "removal_weight",
    "--opt-refine-evaluations": "refine_evaluations",
    "--opt-node-limit": "node_limit",
    "--checkpoint": "checkpoint",
    "--retrain": "retrain",
    "--train-steps": "train_steps",
    "--online": "online",
}
"""Flags that set a policy's option, and the option (see :attr:`PolicyEntry.options`)."""


def load(source: str) -> Scenario:
    """The scenario ``--scenario`` names; a bad one is an error on that flag."""
    try:
        return load_scenario(source)
    except ScenarioError as err:
        raise typer.BadParameter(str(err), param_hint="--scenario") from None


def policy_options(specs: Sequence[str], params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The options the policy flags among a command's ``params`` set, per spec.

    ``params`` maps a command's parameter names to their values (its ``locals()``); those of
    :data:`POLICY_FLAGS` (``--opt-time-limit`` is ``opt_time_limit``) that were given (not None
    or False) apply to every built-in policy in ``specs`` that declares the option.

    Raises:
        typer.BadParameter: a flag was given that none of the policies takes.
    """
    values = {flag: params.get(flag[2:].replace("-", "_")) for flag in POLICY_FLAGS}
    given = {flag: v for flag, v in values.items() if v is not None and v is not False}
    out: dict[str, dict[str, Any]] = {spec: {} for spec in specs}
    used: set[str] = set()
    for spec in specs:
        entry = BUILTIN.get(spec)
        if entry is None:
            continue
        for flag, value in given.items():
            option = POLICY_FLAGS[flag]
            if option in entry.options:
                out[spec][option] = str(value) if isinstance(value, Path) else value
                used.add(flag)
    for flag in given:
        if flag not in used:
            takers = [e.name for e in BUILTIN.values() if POLICY_FLAGS[flag] in e.options]
            raise typer.BadParameter(
                f"applies to {', '.join(takers)} only, not to {', '.join(specs)}", param_hint=flag
            )
    return out


def build_policy(
    spec: str,
    options: Mapping[str, Any],
    flag: str = "--policy",
    scenario: Scenario | None = None,
) -> Callable[[], Policy]:
    """A factory of policy ``spec`` with ``options``, checked before any work starts.

    The policy is built once here, so a bad name or option is an error on ``flag``; with
    ``scenario``, what the policy needs from outside (HMARL's checkpoint) is loaded and checked
    against it.
    """
    try:
        make_policy(spec, **options)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint=flag) from None
    if scenario is not None:
        try:
            check_policy_options(spec, options, compile_scenario(scenario))
        except ValueError as err:
            hint = "--checkpoint" if options.get("checkpoint") else flag
            raise typer.BadParameter(str(err), param_hint=hint) from None
    return lambda: make_policy(spec, **options)


def check_file(path: Path, flag: str) -> None:
    """Make sure a file can be written at ``path`` before any work starts.

    Its folder is created and written into once; a folder at ``path`` is an error on ``flag``.
    """
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a folder, not a file", param_hint=flag)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.parent / f".{path.name}.write-test"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as err:
        raise typer.BadParameter(
            f"cannot write {path}: {err.strerror or err}", param_hint=flag
        ) from None


def check_folder(path: Path, flag: str) -> None:
    """Make sure ``path`` is a folder files can be written into, before any work starts."""
    if path.exists() and not path.is_dir():
        raise typer.BadParameter(f"{path} is a file, not a folder", param_hint=flag)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as err:
        raise typer.BadParameter(
            f"cannot write into {path}: {err.strerror or err}", param_hint=flag
        ) from None


def unique(values: Sequence[object], flag: str) -> None:
    """Reject a list that names a value twice (it would be averaged in twice)."""
    repeated = sorted({str(v) for v in values if list(values).count(v) > 1})
    if repeated:
        raise typer.BadParameter(f"repeats {', '.join(repeated)}", param_hint=flag)


def floats(text: str, flag: str, high: float | None = None) -> list[float]:
    """Comma-separated positive numbers of ``flag``."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"expected numbers separated by commas, got {text!r}", param_hint=flag
        ) from None
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise typer.BadParameter(f"expected positive numbers, got {text!r}", param_hint=flag)
    if high is not None and any(v > high for v in values):
        raise typer.BadParameter(f"expected numbers up to {high:g}, got {text!r}", param_hint=flag)
    unique(values, flag)
    return values


def ints(text: str, flag: str) -> list[int]:
    """Comma-separated integers >= 0 of ``flag``."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"expected integers separated by commas, got {text!r}", param_hint=flag
        ) from None
    if not values or any(v < 0 for v in values):
        raise typer.BadParameter(f"expected integers >= 0, got {text!r}", param_hint=flag)
    unique(values, flag)
    return values


@contextmanager
def progress(total: int, label: str, enabled: bool = True) -> Iterator[Callable[[int], None]]:
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


def fmt(value: Any, key: str) -> str:
    """A summary value for a table: rates in per cent, other floats with one decimal."""
    if isinstance(value, float):
        if key.endswith("rate"):
            return f"{value * 100:.2f} %"
        return f"{value:,.1f}"
    return str(value)
