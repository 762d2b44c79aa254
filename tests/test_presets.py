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


def test_the_calibrated_models_apply_to_any_scenario_of_the_model():
    from cnc6g.model import DomainKind
    from cnc6g.model.infra import PowerModel
    from cnc6g.model.scenario import Sojourn
    from cnc6g.scenarios.presets import calibrated_models, paper_case_study
    from cnc6g.scenarios.synthetic import synthetic_scenario

    # The calibrated case study is the case study with them, under its own description.
    preset = load_scenario("paper-case-study-calibrated")
    made = calibrated_models(paper_case_study())
    assert made.model_dump() == {**preset.model_dump(), "description": made.description}
    # A larger system of the case study's shape gets every one of them.
    base = synthetic_scenario("twelve", n_cells=12, candidates_per_origin=8)
    calibrated = calibrated_models(base)
    assert calibrated.name == "twelve-calibrated"
    assert calibrated.radio == preset.radio
    assert calibrated.twin.sojourn is Sojourn.MG1
    assert calibrated.twin.carry_over_start_up
    assert all(s.work_cv == 0.0 for s in calibrated.services)
    nodes = [(d.kind, n) for d in calibrated.domains for n in d.nodes]
    assert all(n.devices == 5 for kind, n in nodes if kind is DomainKind.TERMINAL)
    powered = [n for kind, n in nodes if kind is not DomainKind.TERMINAL and n.idle_power_w > 0]
    assert powered
    assert all(n.power_model is PowerModel.FAN2007 for n in powered)
    sleepers = [n for _, n in nodes if n.sleep_power_w is not None]
    assert sleepers
    assert all(n.wake_ms == 4000.0 for n in sleepers)
    assert calibrated.notes[: len(base.notes)] == base.notes
    assert base.radio is None  # the base is left as it was
    system = compile_scenario(calibrated)
    check_twin_determinism(
        system,
        Decision(
            deployment=system.can_host.copy(),
            routing=system.admissible
            / np.maximum(system.admissible.sum(axis=-1, keepdims=True), 1),
        ),
        slots=2,
        seed=1,
    )
