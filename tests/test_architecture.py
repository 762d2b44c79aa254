"""The tree is the architecture: pure layers import no shell library, and __all__ is pinned."""

import ast
from pathlib import Path

import pytest

import cnc6g

SRC = Path(cnc6g.__file__).parent
PURE = ("model", "twin", "policies")
SHELL_LIBS = {
    "typer",
    "rich",
    "matplotlib",
    "fastapi",
    "sqlalchemy",
    "tomllib",
    "tomli_w",
    "pathlib",
}
IO_CALLS = {"open", "print", "input"}


def _modules(layer):
    return sorted((SRC / layer).rglob("*.py"))


@pytest.mark.parametrize("path", [p for layer in PURE for p in _modules(layer)], ids=str)
def test_pure_layers_do_no_io(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names = {(node.module or "").split(".")[0]}
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in IO_CALLS, f"{path.name}:{node.lineno} calls {node.func.id}"
            continue
        else:
            continue
        assert not names & SHELL_LIBS, f"{path.name}:{node.lineno} imports {names & SHELL_LIBS}"


@pytest.mark.parametrize("layer", PURE)
def test_pure_layers_do_not_import_shells(layer):
    for path in _modules(layer):
        text = path.read_text()
        for shell in ("cnc6g.cli", "cnc6g.report", "cnc6g.experiments", "cnc6g.scenarios"):
            assert f"from {shell}" not in text, (path, shell)
            assert f"import {shell}" not in text, (path, shell)


def test_public_api_is_pinned():
    assert cnc6g.__all__ == sorted(cnc6g.__all__)
    assert set(cnc6g.__all__) == {
        "Decision",
        "GreedyPolicy",
        "Observation",
        "Policy",
        "RandomPolicy",
        "RunResult",
        "Scenario",
        "ScenarioError",
        "SlotOutcome",
        "System",
        "Twin",
        "compare",
        "compile_scenario",
        "list_presets",
        "load_scenario",
        "make_policy",
        "run_policy",
    }
    for name in cnc6g.__all__:
        assert hasattr(cnc6g, name)
