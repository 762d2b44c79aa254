"""An experiment as a file: the sweep ``cnc6g compare --config FILE`` runs, kept in git.

A TOML file with the scenario, the policies with their options, the loads, seeds, slots, window
and where the jobs run, validated like a scenario: unknown keys and bad values are errors that
name the key.

.. code-block:: toml

    scenario = "paper-case-study"   # a preset, or a scenario file (relative to this file)
    loads = [0.2, 0.6, 1.0]
    seeds = [0, 1, 2]
    slots = 200
    window = 50

    [[policies]]
    name = "grd"

    [[policies]]
    name = "opt"
    options = { time_limit = 2.0 }
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cnc6g.model import DEFAULT_LOADS, MAX_LOAD


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PolicyEntry(_Strict):
    """A policy of the sweep."""

    name: Annotated[str, Field(min_length=1, max_length=500)] = Field(
        description="a built-in name, package.module:Class or file.py:Class"
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="keyword options of a built-in policy"
    )


class Experiment(_Strict):
    """A sweep of policies over offered load."""

    scenario: Annotated[str, Field(min_length=1)] = Field(description="preset or scenario file")
    policies: list[PolicyEntry] = Field(min_length=1)
    loads: list[Annotated[float, Field(gt=0, le=MAX_LOAD)]] = Field(
        default_factory=lambda: list(DEFAULT_LOADS), min_length=1
    )
    seeds: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: [0, 1, 2], min_length=1
    )
    slots: Annotated[int, Field(ge=1)] = 200
    window: Annotated[int, Field(ge=1)] = 50
    bound: bool = True
    backend: Literal["local", "ray"] = "local"
    address: str | None = None
    workers: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        problems = []
        if self.window > self.slots:
            problems.append(f"window: must not exceed slots ({self.slots})")
        for key in ("loads", "seeds"):
            values = getattr(self, key)
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                problems.append(f"{key}: repeats {repeated}")
        names = [p.name for p in self.policies]
        repeated_names = sorted({n for n in names if names.count(n) > 1})
        if repeated_names:
            problems.append(f"policies: repeats {repeated_names}")
        if self.backend == "local" and (self.address is not None or self.workers is not None):
            problems.append("address, workers: apply to backend = 'ray' only")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class ExperimentError(ValueError):
    """An experiment file that cannot be used; ``problems`` names every bad key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"invalid experiment {source}: " + "; ".join(problems))


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment file; a scenario path in it is relative to the file.

    Raises:
        ExperimentError: the file is missing, not TOML, or a key is bad.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise ExperimentError(str(path), [f"cannot read it: {err}"]) from None
    except tomllib.TOMLDecodeError as err:
        raise ExperimentError(str(path), [f"TOML syntax: {err}"]) from None
    try:
        experiment = Experiment.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            where = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-"))
            message = str(e["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        raise ExperimentError(str(path), problems) from None
    scenario = Path(experiment.scenario)
    if not scenario.is_absolute() and (path.parent / scenario).is_file():
        experiment = experiment.model_copy(update={"scenario": str(path.parent / scenario)})
    return experiment
