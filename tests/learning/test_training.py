"""Training HMARL and its checkpoints: reproducible, validated, shipped, and checked on load."""

import numpy as np
import pytest
from factories import greedy_step

from cnc6g.learning.checkpoint import load_agents, read_checkpoint, save_checkpoint, shipped_path
from cnc6g.learning.trainer import TrainConfig, train
from cnc6g.orchestration import make_policy
from cnc6g.policies.hmarl.agents import LearnerConfig
from cnc6g.policies.hmarl.hierarchy import MODES
from cnc6g.testing import check_policy

SMALL = LearnerConfig(hidden=32, batch=32, replay=2_000, min_replay=16)


def quick(mode, steps=12, seed=0):
    return TrainConfig(
        mode=mode,
        loads=(0.4, 1.0),
        copies=2,
        steps=steps,
        horizon=8,
        warmup=2,
        validate_every=6,
        validate_slots=6,
        seed=seed,
        learner=SMALL,
    )


@pytest.mark.parametrize("mode", MODES)
def test_training_runs_logs_and_is_reproducible(mode, tiny_scenario, tiny_system):
    a = train(tiny_scenario, quick(mode))
    b = train(tiny_scenario, quick(mode))
    assert len(a.curve) >= 1
    assert a.curve[-1]["step"] == 12
    assert {"reward", "env_s", "update_s"} <= a.curve[-1].keys()
    assert any(k.startswith("loss_") and np.isfinite(v) for k, v in a.curve[-1].items())
    assert [r["score"] for r in a.validation] == [r["score"] for r in b.validation]
    sa, sb = greedy_step(a.agents, tiny_system), greedy_step(b.agents, tiny_system)
    for field in ("level", "threshold", "price", "trim"):
        np.testing.assert_array_equal(getattr(sa.knobs, field), getattr(sb.knobs, field))


def test_the_best_validated_agents_are_kept(tiny_scenario):
    result = train(tiny_scenario, quick("hmarl", steps=18))
    scores = {int(r["step"]): r["score"] for r in result.validation}
    assert set(scores) == {0, 6, 12, 18}
    assert scores[result.best_step] == max(scores.values())


def test_checkpoint_round_trip_and_mismatch(tmp_path, tiny_scenario, tiny_system, case_system):
    result = train(tiny_scenario, quick("hmarl"))
    path = save_checkpoint(tmp_path / "a.pt", result.agents, result.config, {"steps": 12})
    loaded, cfg, meta = load_agents(tiny_system, path)
    assert cfg == result.config
    assert meta == {"steps": 12}
    before, after = greedy_step(result.agents, tiny_system), greedy_step(loaded, tiny_system)
    np.testing.assert_array_equal(before.knobs.price, after.knobs.price)
    with pytest.raises(ValueError, match="another system"):
        load_agents(case_system, path)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot be read"):
        read_checkpoint(tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="does not exist"):
        read_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("name", ["hmarl", "hmarl-central", "hmarl-independent"])
def test_shipped_checkpoints_pass_the_policy_checks(name, tiny_scenario):
    mode = {"hmarl": "hmarl"}.get(name, name.removeprefix("hmarl-"))
    assert shipped_path("tiny", mode).is_file()
    assert shipped_path("paper-case-study", mode).is_file()
    check_policy(lambda: make_policy(name), tiny_scenario, slots=8)


@pytest.mark.parametrize("preset", ["xr-offload", "env-sensing", "windfarm-assistant"])
def test_the_chain_presets_have_their_own_checkpoints_and_they_pass_the_policy_checks(preset):
    from cnc6g.scenarios import load_scenario
    from cnc6g.twin import compile_scenario

    scenario = load_scenario(preset)
    meta = read_checkpoint(shipped_path(preset, "hmarl"))
    assert meta["signature"]["n_nodes"] == compile_scenario(scenario).n_nodes
    assert meta["config"]["steps"] == 1500
    check_policy(lambda: make_policy("hmarl"), scenario, slots=12)


def test_policy_without_a_checkpoint_for_the_scenario_says_how_to_get_one(tiny_system):
    other = tiny_system.scenario.model_copy(update={"name": "elsewhere"})
    from cnc6g.twin import compile_scenario

    policy = make_policy("hmarl-central")
    with pytest.raises(ValueError, match="cnc6g train hmarl-central"):
        policy.reset(compile_scenario(other), 0)


def test_hmarl_without_a_checkpoint_for_the_scenario_uses_the_family_one(tiny_system):
    other = tiny_system.scenario.model_copy(update={"name": "elsewhere"})
    from cnc6g.twin import compile_scenario

    policy = make_policy("hmarl")
    policy.reset(compile_scenario(other), 0)
    assert policy.agents.arch == "pooled"
    assert policy.meta["scenario"] == "family-case-study"
    same = make_policy("hmarl")
    same.reset(tiny_system, 0)
    assert same.agents.arch == "sized"  # a scenario's own checkpoint comes first


def test_retrain_in_reset_trains_with_the_seed(tiny_scenario, tiny_system):
    a = make_policy("hmarl", retrain=True, train_steps=6)
    a.reset(tiny_system, 5)
    assert a.meta["seed"] == 5
    assert a.meta["steps"] == 6
