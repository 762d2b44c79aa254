"""The walk-through page runs as it is: every bash block, in order, in an empty folder."""

import os
import re
import subprocess
import sys
from pathlib import Path

from cnc6g.scenarios import load_scenario
from cnc6g.testing import check_scenario

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"


def test_the_commented_example_scenario_is_valid_and_uses_what_it_says():
    scenario = load_scenario(DOCS / "examples" / "two-cells.toml")
    assert check_scenario(scenario) == []
    workload = scenario.workload
    assert workload.popularity is not None
    assert workload.origin_weights is not None
    assert len(workload.hotspots) == 2
    assert any(s.workflow is not None for s in scenario.services)


def test_the_walkthrough_runs(tmp_path):
    text = (DOCS / "walkthrough.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    assert blocks
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "EXAMPLES": str(DOCS / "examples"),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
    }
    for block in blocks:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, (block, result.stdout[-2000:], result.stderr[-2000:])
    rows = (tmp_path / "sweep" / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 6
    assert "finished two-cells [0.4, 0.8, 1.2]" in result.stdout
