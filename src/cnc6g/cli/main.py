"""The ``cnc6g`` command: one module per command, assembled here."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from cnc6g import __version__
from cnc6g.cli import (
    adapt,
    ai,
    aisessions,
    check,
    compare,
    knowledge,
    qoais,
    run,
    scenario,
    serve,
    train,
    usecase,
)

app = typer.Typer(
    help="cnc6g: computing-network convergence orchestrator for 6G Mobile AI and its twin.",
    no_args_is_help=True,
    add_completion=False,
    # Plain help text: Rich's option tables cut long flag names on an 80-column terminal.
    rich_markup_mode=None,
)
app.command("run")(run.run)
app.command("compare")(compare.compare_cmd)
app.command("train")(train.train_cmd)
app.command("curves")(train.curves_cmd)
app.command("adapt")(adapt.adapt_cmd)
app.command("check-policy")(check.check_policy_cmd)
app.command("profile")(ai.profile_cmd)
app.command("splitinfer")(ai.splitinfer_cmd)
app.command("splitslot")(ai.splitslot_cmd)
app.command("aisessions")(aisessions.aisessions_cmd)
app.command("qoais")(qoais.qoais_cmd)
app.command("usecase")(usecase.usecase_cmd)
app.add_typer(knowledge.app, name="knowledge")
app.add_typer(scenario.app, name="scenario")
app.command("serve")(serve.serve)
app.add_typer(serve.db_app, name="db")
app.add_typer(serve.admin_app, name="admin")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cnc6g {__version__}")
        raise typer.Exit()


@app.callback()
def options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version"),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log what happens")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="log errors only")] = False,
) -> None:
    """cnc6g: computing-network convergence orchestrator for 6G Mobile AI and its twin."""
    del version
    if verbose and quiet:
        raise typer.BadParameter("give --verbose or --quiet, not both", param_hint="--quiet")
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)


def main() -> None:
    """Entry point of the console script."""
    app()
