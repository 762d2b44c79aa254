"""MkDocs hooks: pages generated from the sources when the site is built.

- ``scenario-reference.md`` and ``scenario.schema.json``, from the scenario models
  (``cnc6g.scenarios.reference``), so that the reference cannot drift from them;
- ``opt.md``, a stub, only while the checkout has no ``docs/opt.md``.
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

OPT_STUB = """# OPT: the per-slot optimum

`--policy opt` solves each slot's joint deployment and distribution as a mixed-integer linear
programme with HiGHS; `src/cnc6g/policies/optimal.py` states the model. This page is written in
`docs/opt.md`.
"""


def on_files(files: Files, config: MkDocsConfig) -> Files:
    from cnc6g.scenarios.reference import scenario_json_schema, scenario_reference

    files.append(File.generated(config, "scenario-reference.md", content=scenario_reference()))
    schema = json.dumps(scenario_json_schema(), indent=2, ensure_ascii=False) + "\n"
    files.append(File.generated(config, "scenario.schema.json", content=schema))
    if files.get_file_from_path("opt.md") is None:
        files.append(File.generated(config, "opt.md", content=OPT_STUB))
    return files
