"""The scenario reference, generated from the models so that it cannot drift from them.

:func:`scenario_fields` walks :class:`cnc6g.model.Scenario` and every model nested in it and
describes each field: its path in a scenario file, type, unit, default, valid range and
description. :func:`scenario_reference` renders that as Markdown (the documentation's scenario
reference page) and :func:`scenario_json_schema` gives pydantic's JSON Schema of a scenario.

Units follow the field-name suffixes of :data:`UNIT_SUFFIXES`; a numeric field without such a
suffix must have its unit in :data:`DECLARED_UNITS`, or :class:`UnitError` is raised.
"""

from __future__ import annotations

import enum
import inspect
import json
import re
import types
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from cnc6g.model import Scenario

__all__ = [
    "DECLARED_UNITS",
    "UNIT_SUFFIXES",
    "FieldDoc",
    "UnitError",
    "markdown_text",
    "scenario_fields",
    "scenario_json_schema",
    "scenario_reference",
    "table_cell",
]

UNIT_SUFFIXES: dict[str, str] = {
    "_ms": "ms",
    "_gcps": "Gcycles/s",
    "_gcycles": "Gcycles",
    "_gb": "GB",
    "_w": "W",
    "_j": "J",
    "_mbit": "Mbit",
    "_mhz": "MHz",
    "_db": "dB",
    "_gbps": "Gbit/s",
    "_nj_per_bit": "nJ/bit",
    "_ghz": "GHz",
    "_m": "m",
    "_kmh": "km/h",
    "_dbm": "dBm",
    "_dbi": "dBi",
}
"""Unit of a numeric field by the suffix of its name (the longest matching suffix wins)."""

DECLARED_UNITS: dict[str, str] = {
    "workload.requests_per_slot": "requests/slot",
    "workload.offered_load": "utilisation",
    "workload.load_spread": "share of the mean",
    "workload.zipf_exponent": "dimensionless",
    "workload.origin_weights": "relative weight",
    "workload.hotspots[].slot": "slot index",
    "workload.hotspots[].origin_weights": "relative weight",
    "twin.admission_utilisation": "utilisation",
    "twin.candidates_per_origin": "nodes",
    "domains[].nodes[].devices": "devices",
    "domains[].nodes[].power_exponent": "dimensionless",
    "radio.terminal_power.uplink_w_per_mbps": "W per Mbit/s",
    "radio.terminal_power.downlink_w_per_mbps": "W per Mbit/s",
    "services[].work_cv": "dimensionless",
    "services[].input_cv": "dimensionless",
    "services[].output_cv": "dimensionless",
    "workload.burstiness.rates": "relative rate",
    "workload.burstiness.dwell_slots": "slots",
    "workload.diurnal.profile": "relative rate",
    "workload.diurnal.slots_per_hour": "slots",
    "workload.diurnal.start_hour": "hour of day",
    "workload.diurnal.weekly": "relative rate",
    "workload.diurnal.start_day": "day of week",
    "workload.trace.rows[].slot": "slot index",
    "workload.trace.rows[].count": "requests",
    "radio.users_per_cell": "users",
    "radio.downtilt_deg": "degrees below the horizon",
    "radio.indoor_share": "share of the users",
    "radio.link_efficiency": "share of Shannon's bound",
    "radio.max_spectral_efficiency": "bit/s/Hz",
    "radio.base_station.n_trx": "transceivers",
    "radio.downlink_layers": "layers",
    "radio.uplink_layers": "layers",
    "radio.base_station.delta_p": "W/W",
}
"""Unit of each numeric field whose name has no unit suffix, by its path."""


class UnitError(ValueError):
    """Numeric fields whose unit is neither derivable from their name nor declared."""


@dataclass(frozen=True)
class FieldDoc:
    """One field of a scenario file, as the reference shows it.

    Attributes:
        path: where the field sits, e.g. ``domains[].nodes[].capacity_gcps`` (``[]``: an array).
        model: name of the model the field belongs to.
        type: the field's type in scenario-file terms (``float``, ``string``, ``table``, ...).
        unit: its unit; empty for a field that is not numeric.
        default: its default as written in a file, ``required`` or ``unset``.
        range: the values it accepts (bounds, lengths, pattern, enumeration); empty for any.
        description: what it is.
        nested: the model of a table or array of tables, else ``None``.
    """

    path: str
    model: str
    type: str
    unit: str
    default: str
    range: str
    description: str
    nested: type[BaseModel] | None = None


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file (pydantic's, for validation of the file's data)."""
    return Scenario.model_json_schema()


def scenario_fields(
    root: type[BaseModel] = Scenario, declared: dict[str, str] | None = None
) -> list[FieldDoc]:
    """Every field of ``root`` and of the models nested in it, depth first, in source order.

    Args:
        root: the top-level model.
        declared: units of numeric fields without a unit suffix, by path (default:
            :data:`DECLARED_UNITS` for :class:`~cnc6g.model.Scenario`, none otherwise).

    Raises:
        UnitError: a numeric field has neither a unit suffix nor a declared unit, has both, or a
            declared path is not a numeric field of ``root``.
    """
    if declared is None:
        declared = DECLARED_UNITS if root is Scenario else {}
    walked: list[tuple[FieldDoc, bool]] = []
    _walk(root, "", walked)
    problems: list[str] = []
    numeric_paths = set()
    out = []
    for doc, numeric in walked:
        if not numeric:
            out.append(doc)
            continue
        numeric_paths.add(doc.path)
        derived = _suffix_unit(doc.path.rpartition(".")[2])
        if derived and doc.path in declared:
            problems.append(f"{doc.path}: unit declared but also given by its name ({derived})")
        unit = derived or declared.get(doc.path, "")
        if not unit:
            problems.append(f"{doc.path}: numeric field without a unit suffix or a declared unit")
        out.append(replace(doc, unit=unit))
    problems += [
        f"{path}: declared unit for a path that is not a numeric field"
        for path in sorted(set(declared) - numeric_paths)
    ]
    if problems:
        raise UnitError("; ".join(problems))
    return out


def scenario_reference(root: type[BaseModel] = Scenario) -> str:
    """The scenario reference as Markdown: one table per model, every field of each."""
    fields = scenario_fields(root)
    sections: dict[str, tuple[type[BaseModel], list[FieldDoc]]] = {"": (root, [])}
    for doc in fields:
        parent = doc.path.rpartition(".")[0]
        sections[parent][1].append(doc)
        if doc.nested is not None:
            sections[_child_prefix(doc)] = (doc.nested, [])
    lines = [
        "# Scenario reference",
        "",
        "Every field of a scenario file, generated from the pydantic models of `cnc6g.model` "
        "when the documentation is built (`cnc6g.scenarios.reference`). A path such as "
        "`domains[].nodes[].capacity_gcps` names the key `capacity_gcps` of each "
        "`[[domains.nodes]]` table of each `[[domains]]` table; `[]` marks an array of tables. "
        "The JSON Schema of the same models is [scenario.schema.json](scenario.schema.json).",
        "",
        "Units follow the suffix of a field's name:",
        "",
        "| suffix | unit |",
        "|---|---|",
        *(f"| `{suffix}` | {unit} |" for suffix, unit in UNIT_SUFFIXES.items()),
        "",
        "Numeric fields without a suffix have their unit in the table. Defaults are written as "
        "in a scenario file; `unset` means the key may be left out.",
    ]
    for prefix, (model, docs) in sections.items():
        title = f"`{prefix}`: {model.__name__}" if prefix else model.__name__
        anchor = _anchor(prefix, model)
        lines += ["", f"## {title} {{#{anchor}}}", "", _docstring(model), ""]
        lines += [
            "| field | type | unit | default | range | description |",
            "|---|---|---|---|---|---|",
        ]
        for doc in docs:
            path = f"`{doc.path}`"
            if doc.nested is not None:
                path = f"[{path}](#{_anchor(_child_prefix(doc), doc.nested)})"
            cells = (path, doc.type, doc.unit, doc.default, doc.range, doc.description)
            lines.append("| " + " | ".join(table_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _walk(model: type[BaseModel], prefix: str, out: list[tuple[FieldDoc, bool]]) -> None:
    """Append each field of ``model`` (unit left empty) and whether it is numeric, depth first."""
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        shape = _Shape.of(info.annotation, info.metadata)
        nested = shape.model
        doc = FieldDoc(
            path=path,
            model=model.__name__,
            type=shape.describe(),
            unit="",
            default=_default(info),
            range=shape.range(),
            description=markdown_text(info.description or ""),
            nested=nested,
        )
        out.append((doc, shape.numeric))
        if nested is not None:
            _walk(nested, path + ("[]" if shape.container == "list" else ""), out)


@dataclass(frozen=True)
class _Shape:
    """A field's annotation taken apart: container, item type and constraints."""

    base: Any
    container: str | None = None  # "list", "dict" or "tuple"
    arity: int = 0  # items of a fixed-length tuple
    meta: tuple[Any, ...] = ()  # constraints of the field itself
    item_meta: tuple[Any, ...] = ()  # constraints of each item (or each key of a table)

    @classmethod
    def of(cls, annotation: Any, metadata: list[Any]) -> _Shape:
        tp = _without_none(annotation)
        origin = get_origin(tp)
        if origin is list:
            item, item_meta = _split_annotated(get_args(tp)[0])
            return cls(item, "list", meta=tuple(metadata), item_meta=item_meta)
        if origin is dict:
            key, value = get_args(tp)
            _, key_meta = _split_annotated(key)
            base, _ = _split_annotated(value)
            return cls(base, "dict", meta=tuple(metadata), item_meta=key_meta)
        if origin is tuple:
            items = get_args(tp)
            if len({_split_annotated(i)[0] for i in items}) != 1 or Ellipsis in items:
                raise TypeError(f"unsupported tuple type {tp}")
            return cls(_split_annotated(items[0])[0], "tuple", len(items), tuple(metadata))
        base, meta = _split_annotated(tp)
        return cls(base, None, meta=tuple(metadata) + meta)

    @property
    def model(self) -> type[BaseModel] | None:
        return self.base if _is_model(self.base) else None

    @property
    def numeric(self) -> bool:
        return self.base in (int, float)

    def describe(self) -> str:
        item = _type_name(self.base)
        if self.container == "list":
            return "array of tables" if self.model else f"array of {item}s"
        if self.container == "dict":
            return f"table of names to {item}s"
        if self.container == "tuple":
            return f"array of {self.arity} {item}s"
        return item

    def range(self) -> str:
        parts = _bounds(self.meta)
        if self.container == "list":
            parts += _lengths(self.meta, "items")
            item = _bounds(self.item_meta) + _lengths(self.item_meta, "characters")
            item += _values(self.base)
            if item:
                parts.append("each " + ", ".join(item))
        elif self.container == "dict":
            keys = _lengths(self.item_meta, "characters")
            if keys:
                parts.append("names of " + ", ".join(keys))
        else:
            parts += _lengths(self.meta, "characters") + _values(self.base)
        return "; ".join(parts)


def _without_none(tp: Any) -> Any:
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported union type {tp}")
        return args[0]
    return tp


def _split_annotated(tp: Any) -> tuple[Any, tuple[Any, ...]]:
    """The type under ``Annotated`` and its constraints (those of ``Field(...)`` flattened)."""
    if get_origin(tp) is not Annotated:
        return tp, ()
    base, *extra = get_args(tp)
    meta: list[Any] = []
    for item in extra:
        meta += item.metadata if isinstance(item, FieldInfo) else [item]
    return base, tuple(meta)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _type_name(tp: Any) -> str:
    if _is_model(tp):
        return "table"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "string"
    names = {float: "float", int: "integer", str: "string", bool: "boolean"}
    if get_origin(tp) is Literal:  # named after its values' one type
        kinds = {type(v) for v in get_args(tp)}
        if len(kinds) != 1 or next(iter(kinds)) not in names:
            raise TypeError(f"unsupported literal type {tp}")
        return names[next(iter(kinds))]
    if tp not in names:
        raise TypeError(f"unsupported field type {tp}")
    return names[tp]


def _bounds(meta: tuple[Any, ...]) -> list[str]:
    signs = ((Gt, "gt", ">"), (Ge, "ge", "≥"), (Lt, "lt", "<"), (Le, "le", "≤"))
    return [
        f"{sign} {getattr(m, attr)}" for m in meta for kind, attr, sign in signs if type(m) is kind
    ]


def _lengths(meta: tuple[Any, ...], unit: str) -> list[str]:
    low = next((m.min_length for m in meta if isinstance(m, MinLen)), None)
    high = next((m.max_length for m in meta if isinstance(m, MaxLen)), None)
    pattern = next((p for m in meta if (p := getattr(m, "pattern", None))), None)
    parts = []
    if low is not None and high is not None:
        parts.append(f"{low} to {high} {unit}")
    elif low is not None:
        parts.append(f"at least {low} {unit if low != 1 else unit.removesuffix('s')}")
    elif high is not None:
        parts.append(f"at most {high} {unit}")
    if pattern:
        parts = [" ".join([*parts, f"matching `{pattern}`"])]
    return parts


def _values(tp: Any) -> list[str]:
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return ["one of " + ", ".join(f"`{m.value}`" for m in tp)]
    if get_origin(tp) is Literal:
        return ["one of " + ", ".join(f"`{json.dumps(v)}`" for v in get_args(tp))]
    return []


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, BaseModel):
        return "the defaults of its fields"
    return f"`{json.dumps(_plain(value), ensure_ascii=False)}`"


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _suffix_unit(name: str) -> str:
    for suffix in sorted(UNIT_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return UNIT_SUFFIXES[suffix]
    return ""


def _child_prefix(doc: FieldDoc) -> str:
    return doc.path + ("[]" if doc.type == "array of tables" else "")


def _anchor(prefix: str, model: type[BaseModel]) -> str:
    """The id the documentation's table of contents gives the section of ``prefix``."""
    return re.sub(r"[^a-z0-9]+", "-", f"{prefix} {model.__name__}".lower()).strip("-")


def _docstring(model: type[BaseModel]) -> str:
    return markdown_text(inspect.getdoc(model) or "")


def markdown_text(text: str) -> str:
    """Sphinx-style markup of the sources as Markdown: ``x`` and :role:`~a.b` become `x`, `b`.

    Also used by the generated CLI and HTTP references.
    """
    text = re.sub(r":\w+:`~(?:[\w.]+\.)?(\w+)`", r"`\1`", text)
    text = re.sub(r":\w+:`([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def table_cell(text: str) -> str:
    """``text`` as the cell of a Markdown table: its bars escaped, on one line."""
    return text.replace("|", "\\|").replace("\n", " ")
