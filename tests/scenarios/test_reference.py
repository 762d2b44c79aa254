"""The scenario reference is generated from the models: every field, unit, default and range."""

import enum
import json
import tomllib
import typing

import pytest
from annotated_types import Ge, Gt, Le, Lt, MinLen
from pydantic import BaseModel, Field

from cnc6g.model import Scenario
from cnc6g.scenarios import list_presets, preset_text
from cnc6g.scenarios.reference import (
    DECLARED_UNITS,
    UNIT_SUFFIXES,
    UnitError,
    scenario_fields,
    scenario_json_schema,
    scenario_reference,
)


def _models_in(annotation):
    """BaseModel classes anywhere in an annotation (list[Node], Workflow | None, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _enums_in(annotation):
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [annotation]
    return [e for arg in typing.get_args(annotation) for e in _enums_in(arg)]


def _fields(model=Scenario, prefix=""):
    """(path, FieldInfo, is_leaf) of every field, walked independently of the module."""
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        nested = _models_in(info.annotation)
        yield path, info, not nested
        for sub in nested:
            is_list = typing.get_origin(info.annotation) is list
            yield from _fields(sub, path + ("[]" if is_list else ""))


ALL_FIELDS = list(_fields())
LEAVES = [(path, info) for path, info, leaf in ALL_FIELDS if leaf]


@pytest.fixture(scope="module")
def rows():
    """The table row of each path in the generated Markdown."""
    found = {}
    for line in scenario_reference().splitlines():
        if line.startswith("| `") or line.startswith("| [`"):
            path = line.split("`")[1]
            assert path not in found, f"{path} has two rows"
            found[path] = line
    return found


def _expected_default(info):
    if info.is_required():
        return "required"
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, BaseModel):
        return "the defaults of its fields"
    if isinstance(value, list):
        value = [v.value if isinstance(v, enum.Enum) else v for v in value]
    elif isinstance(value, enum.Enum):
        value = value.value
    return f"`{json.dumps(value)}`"


def test_the_walk_sees_the_whole_model():
    assert len(LEAVES) > 40
    assert "domains[].nodes[].capacity_gcps" in dict(LEAVES)
    assert "services[].workflow.stages[].after" in dict(LEAVES)
    assert "workload.hotspots[].origin_weights" in dict(LEAVES)


@pytest.mark.parametrize(("path", "info"), LEAVES, ids=[p for p, _ in LEAVES])
def test_every_leaf_field_has_a_row_with_its_default_and_range(rows, path, info):
    assert path in rows, f"{path} is missing from the reference"
    cells = [c.strip() for c in rows[path].strip("|").split(" | ")]
    assert len(cells) == 6, rows[path]
    _, _, _, default, valid, description = cells
    assert default == _expected_default(info)
    signs = ((Gt, "gt", ">"), (Ge, "ge", "≥"), (Lt, "lt", "<"), (Le, "le", "≤"))
    for m in info.metadata:
        for kind, attr, sign in signs:
            if type(m) is kind:
                assert f"{sign} {getattr(m, attr)}" in valid, (path, valid)
        if isinstance(m, MinLen):
            assert str(m.min_length) in valid, (path, valid)
    for kind in _enums_in(info.annotation):
        for member in kind:
            assert f"`{member.value}`" in valid, (path, valid)
    if typing.get_origin(info.annotation) is typing.Literal:
        for value in typing.get_args(info.annotation):
            assert f"`{json.dumps(value)}`" in valid, (path, valid)
    assert info.description, f"{path} has no description in the model"
    assert description == info.description.replace("|", "\\|")


def test_every_field_including_tables_has_a_row_and_a_description(rows):
    for path, info, _ in ALL_FIELDS:
        assert path in rows
        assert info.description, f"{path} has no description in the model"


def test_units_follow_the_name_suffixes_and_the_declarations():
    docs = {d.path: d for d in scenario_fields()}
    assert docs["domains[].nodes[].capacity_gcps"].unit == "Gcycles/s"
    assert docs["domains[].nodes[].access_energy_nj_per_bit"].unit == "nJ/bit"
    assert docs["wired_links[].bandwidth_gbps"].unit == "Gbit/s"
    assert docs["services[].memory_gb"].unit == "GB"
    assert docs["radio_links[].tx_power_w"].unit == "W"
    assert docs["objective.unsatisfied_penalty_j"].unit == "J"
    assert docs["domains[].name"].unit == ""
    for path, unit in DECLARED_UNITS.items():
        assert docs[path].unit == unit
    for path, doc in docs.items():
        name = path.rpartition(".")[2]
        suffixes = [s for s in UNIT_SUFFIXES if name.endswith(s)]
        if suffixes and doc.type in ("float", "integer"):
            assert doc.unit == UNIT_SUFFIXES[max(suffixes, key=len)], path


def test_a_numeric_field_without_a_unit_fails_loudly():
    class Toy(BaseModel):
        delay_ms: float = Field(ge=0, description="has a unit by its name")
        speed: float = Field(gt=0, description="no unit")
        label: str = Field(description="not numeric")

    with pytest.raises(UnitError, match="speed"):
        scenario_fields(Toy)
    docs = {d.path: d for d in scenario_fields(Toy, declared={"speed": "m/s"})}
    assert docs["speed"].unit == "m/s"
    assert docs["delay_ms"].unit == "ms"
    with pytest.raises(UnitError, match="delay_ms"):
        scenario_fields(Toy, declared={"speed": "m/s", "delay_ms": "s"})
    with pytest.raises(UnitError, match="gone"):
        scenario_fields(Toy, declared={"speed": "m/s", "gone": "s"})


def test_nested_tables_link_to_their_sections():
    text = scenario_reference()
    for anchor in ("domains-nodes-node", "services-workflow-stages-stage", "twin-twinsettings"):
        assert f"](#{anchor})" in text
        assert f"{{#{anchor}}}" in text


@pytest.mark.parametrize("preset", list_presets())
def test_the_json_schema_validates_the_shipped_presets(preset):
    jsonschema = pytest.importorskip("jsonschema")
    schema = scenario_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    data = tomllib.loads(preset_text(preset))
    jsonschema.validate(data, schema)
    data["domains"][0]["nodes"][0]["capacity_gcps"] = 0.0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_the_json_schema_names_the_models_fields_and_required_keys():
    schema = scenario_json_schema()
    defs = schema.get("$defs", {})

    def check(model, node):
        assert set(node["properties"]) == set(model.model_fields)
        required = {n for n, f in model.model_fields.items() if f.is_required()}
        assert set(node.get("required", [])) == required
        assert node.get("additionalProperties") is False
        for info in model.model_fields.values():
            for sub in _models_in(info.annotation):
                check(sub, defs[sub.__name__])

    check(Scenario, schema)
    data = tomllib.loads(preset_text("tiny"))
    assert set(data) <= set(schema["properties"])
    assert set(schema["required"]) <= set(data)
