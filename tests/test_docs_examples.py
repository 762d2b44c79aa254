"""Docs examples run, and the README and the docs pages show them as they are."""

import re
import runpy
import tomllib
from pathlib import Path

import pytest

from cnc6g.scenarios import parse_scenario
from cnc6g.testing import check_scenario

ROOT = Path(__file__).parent.parent


def test_nearest_policy_example_runs(capsys):
    runpy.run_path(str(ROOT / "docs" / "examples" / "nearest_policy.py"), run_name="__main__")
    assert 0.0 < float(capsys.readouterr().out.strip()) <= 1.0


def test_domains_env_example_runs():
    namespace = runpy.run_path(str(ROOT / "docs" / "examples" / "domains_env.py"))
    assert set(namespace["rewards"]) == set(namespace["env"].possible_agents)


@pytest.mark.parametrize(
    ("name", "page"),
    [
        ("nearest_policy.py", "README.md"),
        ("nearest_policy.py", "docs/policies.md"),
        ("domains_env.py", "docs/hmarl.md"),
    ],
)
def test_the_page_shows_the_example_verbatim(name, page):
    example = (ROOT / "docs" / "examples" / name).read_text().strip()
    assert example in (ROOT / page).read_text()


def test_the_scenario_files_of_the_docs_are_valid():
    text = (ROOT / "docs" / "scenarios.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        scenario = parse_scenario(tomllib.loads(block), "docs/scenarios.md")
        assert check_scenario(scenario) == []


def test_knobs_env_example_runs(capsys):
    runpy.run_path(str(ROOT / "docs" / "examples" / "knobs_env.py"), run_name="__main__")
    assert "levels the bandit prefers" in capsys.readouterr().out
