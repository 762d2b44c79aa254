"""Scenario files and the presets shipped with the package.

A scenario is a TOML file whose tables mirror :class:`cnc6g.model.Scenario`. :func:`load_scenario`
takes a preset name or a path and returns a validated scenario, or raises
:class:`ScenarioError` naming every bad field and why (and the line, for a TOML syntax error).
"""

from __future__ import annotations

import csv
import io
import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from cnc6g.model import Scenario
from cnc6g.model.scenario import PROBLEM_SEPARATOR

__all__ = [
    "ScenarioError",
    "dump_scenario",
    "list_presets",
    "load_scenario",
    "parse_scenario",
    "preset_text",
]


class ScenarioError(ValueError):
    """A scenario could not be read; ``problems`` lists ``field: reason`` lines."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def __str__(self) -> str:
        lines = "\n".join(f"  - {p}" for p in self.problems)
        return f"invalid scenario {self.source}:\n{lines}"


def _label(item: Any, index: int) -> str:
    """How an element of a list is named in an error path: its name where it has one."""
    if isinstance(item, dict):
        if isinstance(item.get("name"), str):
            return item["name"]
        if isinstance(item.get("terminal"), str):  # a radio link
            return item["terminal"]
        if isinstance(item.get("a"), str) and isinstance(item.get("b"), str):  # a wired link
            return f"{item['a']}-{item['b']}"
    return str(index)


def _where(loc: tuple[int | str, ...], data: Any = None) -> str:
    """A field's path, elements of lists named by their names: ``domains[R3].nodes[R3-mec]``."""
    out = ""
    at = data
    for part in loc:
        if isinstance(part, int):
            item = at[part] if isinstance(at, list) and 0 <= part < len(at) else None
            out += f"[{_label(item, part)}]"
            at = item
        elif "[" in part:  # pydantic's validator frames, e.g. function-after[...]
            continue
        else:
            out += f".{part}" if out else part
            at = at.get(part) if isinstance(at, dict) else None
    return out or "scenario"


def validation_problems(err: ValidationError, data: Any = None) -> list[str]:
    """``field: reason`` lines of a pydantic validation error (``data``: what was validated)."""
    problems = []
    for e in err.errors():
        msg = str(e["msg"]).removeprefix("Value error, ")
        where = _where(tuple(e["loc"]), data)
        # Cross-field checks of a model report several "field: reason" lines joined by "; ".
        for part in msg.split(PROBLEM_SEPARATOR):
            head, sep, _ = part.partition(": ")
            if sep and where == "scenario" and (head[:1].isalpha() and " " not in head):
                problems.append(part)
            else:
                problems.append(f"{where}: {part}")
    return problems


def parse_scenario(data: dict[str, Any], source: str = "<data>") -> Scenario:
    """Validate a scenario given as plain data (as read from TOML or JSON).

    Types are strict: a number must be written as a number (``true`` or ``"40"`` is not one),
    and numbers must be finite.
    """
    try:
        text = json.dumps(data, allow_nan=True)
    except (TypeError, ValueError) as err:
        raise ScenarioError(source, [f"not plain data: {err}"]) from None
    try:
        return Scenario.model_validate_json(text, strict=True)
    except ValidationError as err:
        raise ScenarioError(source, validation_problems(err, data)) from None


def list_presets() -> list[str]:
    """Names of the presets shipped with the package."""
    folder = resources.files("cnc6g.scenarios") / "presets"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def preset_text(name: str) -> str:
    """The TOML text of a shipped preset."""
    path = resources.files("cnc6g.scenarios") / "presets" / f"{name}.toml"
    if not path.is_file():
        raise ScenarioError(
            name, [f"no preset called {name!r}; presets: {', '.join(list_presets())}"]
        )
    return path.read_text(encoding="utf-8")


def load_scenario(source: str | Path) -> Scenario:
    """Load a preset (by name) or a scenario file (by path)."""
    text: str
    label = str(source)
    if isinstance(source, str) and source in list_presets():
        text = preset_text(source)
        label = f"preset {source}"
    else:
        path = Path(source)
        if not path.is_file():
            raise ScenarioError(
                label,
                [f"not a file and not a preset (presets: {', '.join(list_presets())})"],
            )
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise ScenarioError(
                label, [f"not UTF-8 text (byte {err.start}): {err.reason}"]
            ) from None
        except OSError as err:
            raise ScenarioError(label, [f"cannot read the file: {err.strerror or err}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(label, [f"TOML syntax: {err}"]) from None
    workload = data.get("workload")
    if isinstance(workload, dict) and isinstance(workload.get("trace"), str):
        base = (
            resources.files("cnc6g.scenarios") / "presets"
            if label.startswith("preset ")
            else Path(source).parent
        )
        workload["trace"] = read_trace(base / workload["trace"], workload["trace"], label)
    return parse_scenario(data, label)


TRACE_COLUMNS = ("slot", "origin", "service", "count")
"""Header of a workload trace file."""


def read_trace(path: Any, name: str, label: str = "<trace>") -> dict[str, Any]:
    """Read a workload trace CSV (``slot,origin,service,count``) into scenario data.

    Raises:
        ScenarioError: the file cannot be read or a row is not four fields with integer slot
            and count; names ``workload.trace`` and the line.
    """
    where = f"workload.trace ({name})"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ScenarioError(label, [f"{where}: not UTF-8 text (byte {err.start})"]) from None
    except OSError as err:
        raise ScenarioError(label, [f"{where}: cannot read: {err.strerror or err}"]) from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != TRACE_COLUMNS:
        raise ScenarioError(label, [f"{where}: the header must be {','.join(TRACE_COLUMNS)}"])
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for line, fields in enumerate(reader, start=2):
        if not fields:
            continue
        if len(fields) != 4:
            problems.append(f"{where} line {line}: expected 4 fields, got {len(fields)}")
        else:
            slot, origin, service, count = (f.strip() for f in fields)
            try:
                rows.append(
                    {"slot": int(slot), "origin": origin, "service": service, "count": int(count)}
                )
            except ValueError:
                problems.append(f"{where} line {line}: slot and count must be integers")
        if len(problems) >= 10:
            break
    if problems:
        raise ScenarioError(label, problems)
    return {"file": name, "rows": rows}


def dump_scenario(scenario: Scenario) -> str:
    """The scenario as TOML text that :func:`load_scenario` reads back to an equal scenario."""
    data = scenario.model_dump(mode="json", exclude_none=True)
    return tomli_w.dumps(data)
