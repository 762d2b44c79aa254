"""Docs examples run, and the README shows them as they are."""

import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def test_nearest_policy_example_runs(capsys):
    runpy.run_path(str(ROOT / "docs" / "examples" / "nearest_policy.py"), run_name="__main__")
    assert 0.0 < float(capsys.readouterr().out.strip()) <= 1.0


def test_domains_env_example_runs():
    namespace = runpy.run_path(str(ROOT / "docs" / "examples" / "domains_env.py"))
    assert set(namespace["rewards"]) == set(namespace["env"].possible_agents)


@pytest.mark.parametrize("name", ["nearest_policy.py", "domains_env.py"])
def test_readme_shows_the_example_verbatim(name):
    example = (ROOT / "docs" / "examples" / name).read_text().strip()
    assert example in (ROOT / "README.md").read_text()


def test_knobs_env_example_runs(capsys):
    runpy.run_path(str(ROOT / "docs" / "examples" / "knobs_env.py"), run_name="__main__")
    assert "levels the bandit prefers" in capsys.readouterr().out
