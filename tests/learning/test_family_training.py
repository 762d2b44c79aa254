"""Training HMARL's pooled agents on a scenario family; their checkpoint fits any system."""

import numpy as np
import pytest
from factories import greedy_step

from cnc6g.learning.checkpoint import load_agents, save_checkpoint, shipped_path
from cnc6g.learning.trainer import TrainConfig, train
from cnc6g.policies.hmarl.agents import LearnerConfig
from cnc6g.scenarios.family import HELD_OUT, family
from cnc6g.twin import compile_scenario

SMALL = LearnerConfig(hidden=16, batch=16, replay=1_000, min_replay=8)


def family_config(**kw):
    base = {
        "mode": "hmarl",
        "loads": (0.5, 1.0),
        "copies": 1,
        "steps": 6,
        "horizon": 3,
        "warmup": 1,
        "validate_every": 6,
        "validate_slots": 3,
        "learner": SMALL,
        "arch": "pooled",
        "family": "case-study",
        "validate_variants": 1,
    }
    return TrainConfig(**(base | kw))


def test_family_training_moves_between_variants_and_its_checkpoint_fits_any_system(
    tmp_path, tiny_scenario
):
    cfg = family_config()
    result = train(tiny_scenario, cfg)
    assert result.steps_done == 6
    # two episodes of three steps: the agents end on the second variant drawn
    second = family("case-study").draw((0, 1))
    assert result.agents.system.n_origins == second.n_cells
    assert [int(r["step"]) for r in result.validation] == [0, 6]
    assert any(k.endswith("#0") for k in result.validation[0])
    path = save_checkpoint(tmp_path / "f.pt", result.agents, cfg, {"steps": 6})
    for name in ("held-3-cells-20-services", "held-20-cells-hotspots"):
        system = compile_scenario(HELD_OUT[name].scenario(0.8))
        agents, saved, _ = load_agents(system, path)
        assert saved.arch == "pooled"
        assert saved.family == "case-study"
        step = greedy_step(agents, system)
        assert step.knobs.price.shape == (2, system.n_nodes)
        again = greedy_step(load_agents(system, path)[0], system)
        np.testing.assert_array_equal(step.knobs.price, again.knobs.price)


def test_the_shipped_sized_checkpoints_still_load_as_sized(case_system):
    agents, config, _ = load_agents(case_system, shipped_path("paper-case-study", "hmarl"))
    assert config.arch == "sized"
    assert config.family == ""
    assert agents.arch == "sized"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"arch": "sized"}, "pooled architecture"),
        ({"family": "nope"}, "unknown family"),
        ({"mode": "central"}, "mode hmarl only"),
        ({"arch": "wide", "family": ""}, "arch must be"),
    ],
)
def test_family_settings_are_checked(kwargs, words):
    with pytest.raises(ValueError, match=words):
        family_config(**kwargs)
