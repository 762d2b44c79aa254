"""The CLI reference page, generated from the command tree (no I/O).

The documentation site builds ``cli-reference.md`` from :func:`cli_reference` (``docs/hooks.py``),
so that the page lists exactly the commands, arguments and options ``cnc6g --help`` shows, with
their help, types, choices and defaults.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import typer

from cnc6g.cli.main import app
from cnc6g.scenarios.reference import markdown_text, table_cell


def cli_reference(root: typer.Typer = app) -> str:
    """Markdown of every command of ``root``, depth first in the order ``--help`` lists them."""
    group = typer.main.get_command(root)
    top = group.context_class(group, info_name="cnc6g")
    lines = [
        "# CLI reference",
        "",
        "Generated from the command tree when the site is built: every command of `cnc6g`, its",
        "arguments and options, as `cnc6g COMMAND --help` prints them.",
        "",
        f"```\n{top.get_usage()}\n```",
        "",
        _text(group.help),
        "",
        *_params(group, top),
    ]
    for path, command, ctx in _walk(group, top):
        lines += [
            f"## `{' '.join(path)}`",
            "",
            f"```\n{ctx.get_usage()}\n```",
            "",
            _text(command.help) or _text(command.short_help),
            "",
            *_params(command, ctx),
        ]
    return "\n".join(lines).rstrip() + "\n"


def _walk(
    group: Any, ctx: Any, path: tuple[str, ...] = ("cnc6g",)
) -> Iterator[tuple[tuple[str, ...], Any, Any]]:
    """Every command below ``group`` (a click group; typer ships its own click), depth first."""
    if not hasattr(group, "list_commands"):
        return
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        sub = command.context_class(command, info_name=name, parent=ctx)
        yield (*path, name), command, sub
        yield from _walk(command, sub, (*path, name))


def _params(command: Any, ctx: Any) -> list[str]:
    rows = []
    for param in command.get_params(ctx):
        record = None if getattr(param, "hidden", False) else param.get_help_record(ctx)
        if record is None:
            continue
        help_text, extra = _split_extra(record[1])
        rows.append(f"| `{record[0]}` | {table_cell(help_text)} | {table_cell(extra)} |")
    if not rows:
        return []
    return ["| argument or option | what it does | type, default |", "|---|---|---|", *rows, ""]


def _split_extra(help_text: str) -> tuple[str, str]:
    """Click's help record as (help, bracketed extras such as the default and the range)."""
    text = _text(help_text)
    if text.endswith("]") and "[" in text:
        start = text.rfind("[")
        return text[:start].rstrip(), text[start + 1 : -1]
    return text, ""


def _text(value: str | None) -> str:
    return markdown_text(" ".join(inspect.cleandoc(value or "").split()))
