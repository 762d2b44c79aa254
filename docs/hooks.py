"""MkDocs hooks: pages generated from the sources when the site is built.

- ``scenario-reference.md`` and ``scenario.schema.json``, from the scenario models
  (``cnc6g.scenarios.reference``), so that the reference cannot drift from them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

# Document this checkout's sources, whichever copy of cnc6g the environment has installed.
SRC = Path(__file__).resolve().parent.parent / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))


def on_files(files: Files, config: MkDocsConfig) -> Files:
    from cnc6g.scenarios.reference import scenario_json_schema, scenario_reference

    files.append(File.generated(config, "scenario-reference.md", content=scenario_reference()))
    schema = json.dumps(scenario_json_schema(), indent=2, ensure_ascii=False) + "\n"
    files.append(File.generated(config, "scenario.schema.json", content=schema))
    return files
