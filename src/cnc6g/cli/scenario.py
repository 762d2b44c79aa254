"""``cnc6g scenario``: list, show and validate scenarios."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cnc6g.cli.common import err_console, load, out_console
from cnc6g.scenarios import ScenarioError, dump_scenario, list_presets, load_scenario
from cnc6g.testing import check_scenario
from cnc6g.twin import compile_scenario, requests_for_load

app = typer.Typer(
    help="List, show and validate scenarios; print their JSON Schema.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("list")
def scenario_list() -> None:
    """List the shipped presets."""
    table = Table(title="presets")
    table.add_column("name", no_wrap=True, min_width=max(map(len, list_presets())))
    for col in ("domains", "nodes", "services", "requests/slot at L=1"):
        table.add_column(col, justify="right")
    table.add_column("description", overflow="fold")
    for name in list_presets():
        sc = load_scenario(name)
        sy = compile_scenario(sc)
        table.add_row(
            name,
            str(len(sc.domains)),
            str(sy.n_nodes),
            str(sy.n_services),
            f"{requests_for_load(sy, 1.0):.0f}",
            sc.description,
        )
    out_console.print(table)


@app.command("validate")
def scenario_validate(
    source: Annotated[str, typer.Argument(help="preset name or TOML file")],
) -> None:
    """Check a scenario file; exit 1 and name every bad field if it is invalid.

    A valid scenario may still not be what its author meant (a service no node can host, an
    origin that reaches no host of a service): those are printed as warnings.
    """
    try:
        sc = load_scenario(source)
    except ScenarioError as err:
        err_console.print(f"[red]{escape(str(err))}[/red]")
        raise typer.Exit(1) from None
    sy = compile_scenario(sc)
    out_console.print(
        f"[green]valid[/green]: {sc.name}: {sy.n_origins} origins, {sy.n_nodes} nodes, "
        f"{sy.n_services} services, {sy.n_links} wired links"
    )
    for warning in check_scenario(sc):
        err_console.print(f"[yellow]warning:[/yellow] {escape(warning)}")


@app.command("schema")
def scenario_schema() -> None:
    """Print the JSON Schema of scenario files (every field, its type, range and meaning)."""
    from cnc6g.scenarios.reference import scenario_json_schema

    typer.echo(json.dumps(scenario_json_schema(), indent=2))


@app.command("show")
def scenario_show(
    source: Annotated[str, typer.Argument(help="preset name or TOML file")],
) -> None:
    """Print a scenario as TOML (a preset's text is a starting point for your own file)."""
    typer.echo(dump_scenario(load(source)), nl=False)
