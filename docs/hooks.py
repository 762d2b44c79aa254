"""MkDocs hooks: pages generated from the sources when the site is built.

- ``scenario-reference.md`` and ``scenario.schema.json``, from the scenario models
  (``cnc6g.scenarios.reference``), so that the reference cannot drift from them;
- ``cli-reference.md``, from the command tree (``cnc6g.cli.reference``): every command, its
  arguments and options as ``--help`` prints them;
- ``http-reference.md`` and ``openapi.json``, from the control plane's app
  (``cnc6g.api.reference``): the OpenAPI document ``cnc6g serve`` answers, and every operation
  with its scope and roles;
- the tables of ``benchmarks.md``, from ``benchmarks/results.json`` (what the last ``make bench``
  measured, rendered by ``benchmarks.report``), so that a figure on that page cannot go stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parent.parent


def _on_path() -> None:
    """Put this checkout's sources and benchmarks first on ``sys.path``.

    Called from each hook: mkdocs restores ``sys.path`` after loading this file. The docs then
    document this checkout, whichever copy of cnc6g the environment has installed.
    """
    for folder in (ROOT / "src", ROOT):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))


_on_path()

BENCH_MARKER = "<!-- benchmark tables: generated from benchmarks/results.json -->"
"""Where ``benchmarks.md`` gets the generated tables."""

BENCH_RESULTS = ROOT / "benchmarks" / "results.json"


def on_files(files: Files, config: MkDocsConfig) -> Files:
    _on_path()
    from cnc6g.api.reference import http_reference, openapi_document
    from cnc6g.cli.reference import cli_reference
    from cnc6g.scenarios.reference import scenario_json_schema, scenario_reference

    files.append(File.generated(config, "scenario-reference.md", content=scenario_reference()))
    files.append(File.generated(config, "cli-reference.md", content=cli_reference()))
    document = openapi_document()
    files.append(File.generated(config, "http-reference.md", content=http_reference(document)))
    api = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    files.append(File.generated(config, "openapi.json", content=api))
    schema = json.dumps(scenario_json_schema(), indent=2, ensure_ascii=False) + "\n"
    files.append(File.generated(config, "scenario.schema.json", content=schema))
    return files


def benchmark_tables(results_path: Path = BENCH_RESULTS) -> str:
    """The benchmark page's tables from ``results_path`` (a note when it is missing)."""
    _on_path()
    from benchmarks.report import render

    if not results_path.is_file():
        return "No benchmark results yet: run `make bench`.\n"
    return render(json.loads(results_path.read_text(encoding="utf-8")))


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    del page, config, files
    if BENCH_MARKER in markdown:
        markdown = markdown.replace(BENCH_MARKER, benchmark_tables())
    return markdown
