import csv

import numpy as np
import pytest
from typer.testing import CliRunner

from cnc6g.cli.main import app
from cnc6g.experiments import adapt, recovery_slots
from cnc6g.experiments.adaptation import catch_up_slots, hot_origins, moving_average, with_event
from cnc6g.orchestration import make_policy
from cnc6g.policies import GreedyPolicy, feasibility_problems
from cnc6g.twin import Twin, compile_scenario
from cnc6g.twin.events import NodeFailure
from cnc6g.twin.system import without_node


def _hmarl():
    return make_policy("hmarl")


runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_moving_average_covers_consecutive_windows():
    np.testing.assert_allclose(moving_average(np.arange(5.0), 2), [0.5, 1.5, 2.5, 3.5])
    assert moving_average(np.ones(2), 3).size == 0


def test_recovery_is_the_first_window_back_near_the_level_for_good():
    level = 0.9
    series = np.full(60, level)
    series[20:25] = 0.5  # the dip: slots 20..24
    # Windows of 5 post-event slots: the one starting 5 slots after the event is the first
    # clean one, and all later ones stay clean.
    assert recovery_slots(series, 20, level, window=5) == 5
    # Within the 2 % relative tolerance counts as recovered: 0.885 >= 0.98 * 0.9.
    series[25:] = 0.885
    assert recovery_slots(series, 20, level, window=5) == 5
    # Just outside it does not.
    series[25:] = 0.87
    assert recovery_slots(series, 20, level, window=5) is None


def test_recovery_must_hold_for_a_window():
    level = 1.0
    series = np.full(40, level)
    series[10:13] = 0.0  # first dip
    series[16:18] = 0.0  # relapse: windows back near the level in between do not count
    assert recovery_slots(series, 10, level, window=3) == 8
    assert recovery_slots(np.full(30, level), 10, level, window=3) == 0
    assert recovery_slots(np.full(12, level), 10, level, window=3) is None  # run too short


def test_catching_up_is_judged_against_the_reference_in_absolute_points():
    reference = np.full(40, 0.9)
    reference[10:15] = 0.7  # the reference dips too: only the distance to it counts
    series = np.full(40, 0.9)
    series[10:20] = 0.5  # ten slots far below the reference
    # Windows of 3 post-event slots: the first one all of whose slots are back is 10 slots on.
    assert catch_up_slots(series, reference, 10, window=3) == 10
    # Within 2 points of the reference counts, 3 points below does not.
    series[20:] = 0.885
    assert catch_up_slots(series, reference, 10, window=3) == 10
    series[20:] = 0.87
    assert catch_up_slots(series, reference, 10, window=3) is None
    # Above the reference is caught up from the start.
    assert catch_up_slots(reference + 0.05, reference, 10, window=3) == 0
    with pytest.raises(ValueError, match="differ in length"):
        catch_up_slots(series[:-1], reference, 10)


def test_hotspot_moves_the_origins_of_demand_after_the_event(tiny_scenario):
    system = compile_scenario(tiny_scenario)
    hot = hot_origins(system, 1, seed=0)
    shifted = compile_scenario(with_event(tiny_scenario, "hotspot", 20, hot, 0.8))
    twin = Twin(shifted, batch=8, seed=3)
    before, after = np.zeros(system.n_origins), np.zeros(system.n_origins)
    for t in range(40):
        (before if t < 20 else after)[:] += twin.demand.sum(axis=(0, 2))
        twin.step_arrays(
            np.zeros((8, system.n_services, system.n_nodes), dtype=bool),
            np.zeros((8, system.n_origins, system.n_services, system.n_candidates)),
        )
    o = system.origin_names.index(hot[0])
    assert before[o] / before.sum() == pytest.approx(1 / system.n_origins, abs=0.03)
    assert after[o] / after.sum() == pytest.approx(0.8, abs=0.03)
    # The scenario passed in is not changed.
    assert tiny_scenario.workload.hotspots == []


def test_failure_takes_the_node_away_and_decisions_stay_feasible(tiny_scenario):
    result = adapt(tiny_scenario, _hmarl, "failure", at_slot=10, slots=25, seed=1, node="R0-mec")
    assert result.detail == "node R0-mec"
    assert result.repaired == 0  # HMARL's executor leaves the failed node by itself
    assert result.offered.size == 25
    assert 0 <= result.dip <= 1
    assert 0 <= result.pre_level <= 1


def test_hmarl_after_a_failure_never_uses_the_node(tiny_system):
    failed = without_node(tiny_system, "R0-mec")
    n = tiny_system.node_names.index("R0-mec")
    twin = Twin(tiny_system, seed=2)
    policy = make_policy("hmarl", online=True)
    policy.reset(tiny_system, 2)
    for t in range(12):
        if t == 6:
            policy.system_changed(twin.apply(NodeFailure("R0-mec")))
            np.testing.assert_array_equal(twin.system.can_host, failed.can_host)
            assert policy.agents.system is twin.system
        obs = twin.observe()
        decision = policy.decide(obs)
        system = failed if t >= 6 else tiny_system
        assert feasibility_problems(system, decision) == []
        if t >= 6:
            assert not decision.deployment[:, n].any()
        policy.feedback(obs, decision, twin.step(decision))


def test_same_seed_gives_every_policy_the_same_demand(tiny_scenario):
    a = adapt(tiny_scenario, GreedyPolicy, "hotspot-popularity", 5, 15, seed=4, load=0.6)
    b = adapt(tiny_scenario, _hmarl, "hotspot-popularity", 5, 15, seed=4, load=0.6)
    np.testing.assert_array_equal(a.offered, b.offered)
    assert a.summary()["event"] == "hotspot-popularity"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"event": "flood"}, "event"),
        ({"at_slot": 20}, "at_slot"),
        ({"event": "failure", "node": "nope"}, "node"),
    ],
)
def test_adapt_rejects_bad_arguments(tiny_scenario, kwargs, match):
    args = {"event": "hotspot", "at_slot": 5, "slots": 20, **kwargs}
    with pytest.raises(ValueError, match=match):
        adapt(tiny_scenario, GreedyPolicy, **args)


def test_cli_writes_the_series_and_the_figure(tmp_path):
    result = runner.invoke(
        app,
        [
            "adapt", "--scenario", "tiny", "--event", "failure", "--at", "8", "--slots", "20",
            "--policies", "hmarl-online,grd", "--out", str(tmp_path),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "adapt-failure.csv").read_text().splitlines()))
    assert len(rows) == 40
    assert {r["policy"] for r in rows} == {"hmarl-online", "grd"}
    assert (tmp_path / "adapt-failure.png").stat().st_size > 0
    assert "recovery" in result.stdout


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--event", "flood"], "--event"),
        (["--at", "30", "--slots", "30"], "--at"),
        (["--event", "failure", "--node", "nope"], "--node"),
        (["--event", "hotspot", "--node", "R0-mec"], "--node"),
        (["--policies", "magic"], "--policies"),
    ],
)
def test_cli_rejects_bad_flags_before_running(tmp_path, args, flag):
    result = runner.invoke(app, ["adapt", "--scenario", "tiny", "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert flag in result.output
    assert not list(tmp_path.iterdir())


def test_an_uplink_drop_cuts_the_hit_cells_rates_and_satisfaction(tiny_scenario):
    from cnc6g.twin.events import RadioDrop

    system = compile_scenario(tiny_scenario.at_load(1.0))
    hit = system.origin_names[0]
    dropped = RadioDrop((hit,), 0.1).apply(system)
    assert dropped.uplink_mhz[0] == pytest.approx(system.uplink_mhz[0] / 10)
    np.testing.assert_array_equal(dropped.uplink_mhz[1:], system.uplink_mhz[1:])
    np.testing.assert_array_equal(dropped.downlink_mhz, system.downlink_mhz)
    with pytest.raises(ValueError, match="unknown terminal"):
        RadioDrop(("nowhere",)).apply(system)
    with pytest.raises(ValueError, match="factor"):
        RadioDrop((), 0.0).apply(system)
    run = adapt(tiny_scenario, GreedyPolicy, "uplink-drop", 40, 80, seed=2, load=1.0, hot_count=3)
    assert run.detail.startswith("uplink of ")
    before = run.satisfied[:40].sum() / run.offered[:40].sum()
    after = run.satisfied[40:].sum() / run.offered[40:].sum()
    assert after < before - 0.05


def test_an_uplink_drop_reaches_the_geometric_radio_channel(tiny_scenario):
    from cnc6g.model.radio import RadioModel
    from cnc6g.twin.events import RadioDrop

    data = tiny_scenario.model_dump()
    data["radio"] = RadioModel().model_dump()
    twin = Twin(compile_scenario(type(tiny_scenario).model_validate(data)), seed=0)
    before = twin._radio.layout.uplink_hz.copy()
    twin.apply(RadioDrop((), 0.1))
    np.testing.assert_allclose(twin._radio.layout.uplink_hz, before / 10)
