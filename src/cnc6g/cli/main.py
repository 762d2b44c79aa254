"""The ``cnc6g`` command: one module per command, assembled here."""

from __future__ import annotations

import typer

from cnc6g.cli import adapt, check, compare, run, scenario, serve, train

app = typer.Typer(
    help="cnc6g: computing-network convergence orchestrator for 6G Mobile AI and its twin.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("run")(run.run)
app.command("compare")(compare.compare_cmd)
app.command("train")(train.train_cmd)
app.command("curves")(train.curves_cmd)
app.command("adapt")(adapt.adapt_cmd)
app.command("check-policy")(check.check_policy_cmd)
app.add_typer(scenario.app, name="scenario")
app.command("serve")(serve.serve)
app.add_typer(serve.db_app, name="db")
app.add_typer(serve.admin_app, name="admin")


def main() -> None:
    """Entry point of the console script."""
    app()
