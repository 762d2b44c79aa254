"""The tree is the architecture: layers import downward only, pure layers do no I/O, and the
public API is pinned."""

import ast
from pathlib import Path

import pytest

import cnc6g

SRC = Path(cnc6g.__file__).parent

LAYERS = {
    "model": 0,
    "twin": 1,
    "scenarios": 1,
    "policies": 2,
    "ai": 2,
    "envs": 3,
    "learning": 3,
    "orchestration": 4,
    "experiments": 5,
    "testing": 5,
    "storage": 5,
    "control": 6,
    "report": 6,
    "api": 7,
    "cli": 8,
}
"""Rank of each layer (a top-level subpackage or module of ``cnc6g``). A module may import its
own layer and layers of a lower rank; two layers of one rank do not import each other. The
package's ``__init__`` and ``__main__`` (the public surface and the entry point) stand above all.
"""

PURE = ("model", "twin", "policies", "ai")
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


def _layer_of(module: str) -> str | None:
    """The layer of an absolute module name inside ``cnc6g`` (None: outside, or the root)."""
    parts = module.split(".")
    if parts[0] != "cnc6g" or len(parts) < 2:
        return None
    return parts[1]


def _imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports (line, absolute name), at any depth (lazy ones too)."""
    package = ".".join(("cnc6g", *path.relative_to(root).with_suffix("").parts))
    if path.name == "__init__.py":
        package = package.rsplit(".", 1)[0] + ".__init__"
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: -node.level]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            out.append((node.lineno, name))
    return out


def layer_violations(root: Path, layers: dict[str, int] = LAYERS) -> list[str]:
    """Imports under package folder ``root`` that run up a layer or across one of equal rank."""
    found = []
    for path in sorted(root.rglob("*.py")):
        own = path.relative_to(root).parts[0].removesuffix(".py")
        if own in ("__init__", "__main__"):
            continue
        if own not in layers:
            found.append(f"{path.relative_to(root)}: module outside every layer")
            continue
        for line, name in _imports(path, root):
            target = _layer_of(name)
            if target is None or target == own:
                continue
            if target not in layers:
                found.append(f"{path.relative_to(root)}:{line} imports {name} (no layer)")
            elif layers[target] >= layers[own]:
                found.append(
                    f"{path.relative_to(root)}:{line} ({own}, rank {layers[own]}) imports "
                    f"{name} ({target}, rank {layers[target]})"
                )
    return found


def test_layers_import_downward_only():
    assert layer_violations(SRC) == []


def test_every_top_level_folder_is_a_layer():
    tops = {p.name.removesuffix(".py") for p in SRC.iterdir() if p.suffix == ".py" or p.is_dir()}
    tops -= {"__init__", "__main__", "__pycache__"}
    tops = {t for t in tops if (SRC / t).suffix == "" and not t.endswith(".egg-info")}
    assert tops <= set(LAYERS), tops - set(LAYERS)


def test_the_layer_check_catches_an_upward_import(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "twin").mkdir(parents=True)
    (pkg / "policies").mkdir()
    (pkg / "twin" / "__init__.py").write_text("")
    (pkg / "twin" / "dynamics.py").write_text(
        "import numpy as np\n"
        "from cnc6g.model import Scenario\n"
        "from . import helpers\n"
        "def f():\n"
        "    from cnc6g.policies.base import Policy  # a lazy import hides nothing\n"
    )
    (pkg / "policies" / "greedy.py").write_text("from ..twin import dynamics\n")
    (pkg / "policies" / "base.py").write_text("from cnc6g.experiments import run_policy\n")
    found = layer_violations(pkg)
    assert len(found) == 2, found
    assert "twin/dynamics.py:5" in found[1] or "twin/dynamics.py:5" in found[0]
    assert any("policies/base.py:1" in f and "experiments" in f for f in found)


def test_layers_of_one_rank_do_not_import_each_other(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "envs").mkdir(parents=True)
    (pkg / "envs" / "x.py").write_text("from cnc6g.learning import train\n")
    assert len(layer_violations(pkg)) == 1


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


@pytest.mark.parametrize("path", [p for layer in PURE for p in _modules(layer)], ids=str)
def test_pure_layers_save_and_load_nothing(path):
    text = path.read_text()
    for call in ("torch.save", "torch.load", "np.save", "np.load", "pickle."):
        assert call not in text, (path, call)


def test_public_api_is_pinned():
    assert cnc6g.__all__ == sorted(cnc6g.__all__)
    assert set(cnc6g.__all__) == {
        "Decision",
        "GreedyPolicy",
        "Observation",
        "Policy",
        "RandomPolicy",
        "RunResult",
        "RunSummary",
        "Scenario",
        "ScenarioError",
        "SlotLoop",
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
