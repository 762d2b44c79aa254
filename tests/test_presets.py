"""Every shipped preset is valid, deterministic in the twin, and has no unintended gaps."""

from importlib.resources import files

import numpy as np
import pytest

from cnc6g.model.decision import Decision
from cnc6g.scenarios import dump_scenario, list_presets, load_scenario
from cnc6g.scenarios.presets import BUILDERS
from cnc6g.testing import check_scenario, check_twin_determinism
from cnc6g.twin import compile_scenario


@pytest.mark.parametrize("name", list_presets())
def test_preset_has_no_scenario_warnings(name):
    assert check_scenario(load_scenario(name)) == []


@pytest.mark.parametrize("name", list_presets())
def test_preset_twin_is_deterministic_per_seed(name):
    system = compile_scenario(load_scenario(name))
    everywhere = Decision(
        deployment=system.can_host.copy(),
        routing=system.admissible / np.maximum(system.admissible.sum(axis=-1, keepdims=True), 1),
    )
    check_twin_determinism(system, everywhere, slots=3, seed=5)


def test_every_preset_file_is_what_its_builder_writes():
    """`make presets` regenerates the files: a builder changed without them shows here."""
    folder = files("cnc6g.scenarios").joinpath("presets")
    assert sorted(BUILDERS) == sorted(list_presets())
    for name, build in BUILDERS.items():
        written = folder.joinpath(f"{name}.toml").read_text(encoding="utf-8")
        assert written == dump_scenario(build()), f"{name}.toml: run make presets"
