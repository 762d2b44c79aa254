"""The walk-through page runs as it is: every bash block, in order, in an empty folder."""

import json
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


def test_the_control_plane_walkthrough_runs(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    text = (DOCS / "control-plane.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)[1:]  # the first shows the flags
    script = "\n".join(blocks).replace("8000", port)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = (tmp_path / "serve.log").read_text() if (tmp_path / "serve.log").exists() else ""
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:], log[-3000:])
    session = json.loads((tmp_path / "session.json").read_text())
    assert session["status"] == "AVAILABLE"
    assert session["usage"]["tasks"] > 0
    steps = {s["stepId"]: s["placement"] for s in session["plan"]["steps"]}
    assert steps == {"asr": "TERMINAL", "llm": "NETWORK", "tts": "NETWORK"}
    assert "session-status-changed" in result.stdout
