"""``cnc6g check-policy``: the policy conformance checks, for users' own policies."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from cnc6g.cli.common import ScenarioOpt, build_policy, err_console, load, out_console
from cnc6g.testing import PolicyCheckError, check_policy


def check_policy_cmd(
    policy: Annotated[str, typer.Argument(help="policy name or package.module:Class")],
    scenario: ScenarioOpt = "tiny",
    slots: Annotated[int, typer.Option("--slots", min=1)] = 20,
) -> None:
    """Run the policy conformance checks (feasible, deterministic, inputs untouched)."""
    factory = build_policy(policy, {}, "POLICY")
    name = factory().name
    try:
        check_policy(factory, load(scenario), slots=slots)
    except PolicyCheckError as err:
        err_console.print(f"[red]{escape(str(err))}[/red]")
        raise typer.Exit(1) from None
    out_console.print(
        f"[green]{escape(name)} passes the policy checks on {escape(scenario)}[/green]"
    )
