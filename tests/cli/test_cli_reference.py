"""The generated CLI reference lists what ``--help`` shows: every command and every option."""

import re

import typer
from typer.testing import CliRunner

from cnc6g.cli.main import app
from cnc6g.cli.reference import cli_reference

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})


def _commands(args: list[str]) -> list[str]:
    """The commands ``cnc6g ARGS --help`` lists in its Commands panel."""
    out = runner.invoke(app, [*args, "--help"]).output
    if "Commands" not in out:
        return []
    panel = out[out.index("Commands") :]
    return re.findall(r"^[│ ]\s+([a-z][a-z-]*)\s{2,}", panel, flags=re.MULTILINE)


def test_every_command_and_subcommand_has_a_section():
    page = cli_reference()
    top = _commands([])
    assert {"run", "compare", "serve", "scenario", "db", "admin"} <= set(top)
    for name in top:
        assert f"## `cnc6g {name}`" in page
        for sub in _commands([name]):
            assert f"## `cnc6g {name} {sub}`" in page


def test_every_option_of_a_command_is_listed_with_its_help_and_default():
    page = cli_reference()
    serve = page[page.index("## `cnc6g serve`") :]
    serve = serve[: serve.index("\n## ", 1)]
    command = typer.main.get_command(app)
    ctx = command.context_class(command, info_name="cnc6g")
    sub = command.get_command(ctx, "serve")
    names = {o for p in sub.params for o in p.opts if o.startswith("--")}
    assert {"--http", "--event-loop", "--database-url", "--clock"} <= names
    for name in names:
        assert name in serve
    assert "| `--http <str>` | HTTP/1.1 parser" in serve
    assert "default: auto" in serve
    assert "env var: CNC6G_DATABASE_URL" in serve


def test_arguments_are_listed_as_required():
    page = cli_reference()
    validate = page[page.index("## `cnc6g scenario validate`") :]
    assert "| `source <str>` | preset name or TOML file | required |" in validate
