"""Inference sessions inside the twin: a radio drop, handovers, the twin's rates, the CLI."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cnc6g.cli.main import app
from cnc6g.experiments.ai_sessions import (
    SessionConfig,
    coupling_summary,
    drop_report,
    run_sessions,
    stream_rows,
    window_rows,
)
from cnc6g.policies import GreedyPolicy
from cnc6g.scenarios import load_scenario

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
FEW = SessionConfig(sessions=40, streams=())


@pytest.fixture(scope="module")
def calibrated():
    return load_scenario("paper-case-study-calibrated")


@pytest.fixture(scope="module")
def tiny():
    return load_scenario("tiny")


@pytest.mark.parametrize(("name", "cell"), [("paper-case-study-calibrated", "T1"), ("tiny", "T0")])
def test_after_a_tenfold_drop_every_affected_session_re_splits_or_falls_back_in_one_slot(
    name, cell
):
    scenario = load_scenario(name)
    dropped = run_sessions(scenario, GreedyPolicy(), FEW, 6, seed=0, drop_at=3, drop_cell=cell)
    report = drop_report(dropped)
    assert report is not None
    t1, c = report["first_slot"], dropped.drop_cell
    assert t1 == 4
    # The twin's own rate of the cell carries the drop, and so does every session's.
    assert report["cell_uplink_after_mbps"] < 0.2 * report["cell_uplink_before_mbps"]
    affected = (dropped.cell[t1] == c) & (dropped.cell[t1 - 1] == c) & ~dropped.local[t1 - 1]
    assert affected.sum() == report["affected"] > 0
    assert np.all(dropped.uplink_mbps[t1, affected] < 0.2 * dropped.uplink_mbps[t1 - 1, affected])
    assert report["resplit"] + report["fell_back"] == report["affected"]
    assert np.all(dropped.changed[t1, affected])
    # Sessions elsewhere decide in that slot exactly as without the drop.
    same = run_sessions(scenario, GreedyPolicy(), FEW, 6, seed=0)
    np.testing.assert_array_equal(dropped.cell, same.cell)
    other = dropped.cell[t1] != c
    np.testing.assert_array_equal(dropped.cut_a[t1, other], same.cut_a[t1, other])
    np.testing.assert_array_equal(dropped.cut_b[t1, other], same.cut_b[t1, other])
    np.testing.assert_array_equal(
        dropped.latency_s[: t1 + 1, ~affected & other], same.latency_s[: t1 + 1, ~affected & other]
    )


def test_a_session_that_moves_migrates_its_state_when_that_pays(tiny):
    # Handovers every other slot; the operator's edge serves (no third-party cloud).
    moving = {"sessions": 30, "streams": (), "privacy": "operator", "speed_kmh": 900.0}
    light = run_sessions(tiny, GreedyPolicy(), SessionConfig(state_bytes=0.0, **moving), 8, 1)
    heavy = run_sessions(tiny, GreedyPolicy(), SessionConfig(state_bytes=1e12, **moving), 8, 1)
    for run in (light, heavy):
        on_edge = run.cut_b > run.cut_a
        away = np.zeros_like(on_edge)
        away[1:] = run.handover[1:] & (run.anchor[:-1] != run.cell[1:]) & on_edge[1:]
        assert away.sum() > 0
        if run is light:  # nothing to move: the state follows the terminal
            assert np.all(run.migrated[away])
            assert np.all(run.anchor[away] == run.cell[away])
        else:  # a terabyte never pays for itself: the requests take the detour
            assert not run.migrated.any()
            assert np.all(run.anchor[away] != run.cell[away])
    assert window_rows(light, 4)[0]["migrations"] + window_rows(light, 4)[1]["migrations"] == int(
        light.migrated.sum()
    )


def test_the_sessions_rates_and_decisions_come_from_the_twins_radio(tiny):
    narrow = tiny.model_copy(
        update={
            "radio_links": [
                r.model_copy(update={"uplink_mhz": r.uplink_mhz / 20}) for r in tiny.radio_links
            ]
        }
    )
    wide = run_sessions(tiny, GreedyPolicy(), FEW, 3, seed=2)
    slow = run_sessions(narrow, GreedyPolicy(), FEW, 3, seed=2)
    assert slow.cell_uplink_mbps.mean() < 0.2 * wide.cell_uplink_mbps.mean()
    assert slow.uplink_mbps.mean() < 0.2 * wide.uplink_mbps.mean()
    assert slow.local.mean() > wide.local.mean()


def test_with_radio_geometry_each_session_has_its_own_link(calibrated):
    run = run_sessions(calibrated, GreedyPolicy(), FEW, 2, seed=0)
    t = 0
    for c in np.unique(run.cell[t]):
        members = run.cell[t] == c
        if members.sum() > 3:
            assert np.unique(run.uplink_mbps[t, members]).size > 1
            return
    pytest.fail("no cell with several sessions")


def test_same_seed_same_run_and_modal_shares_reported(tiny):
    config = SessionConfig(sessions=20)
    a = run_sessions(tiny, GreedyPolicy(), config, 4, seed=5, drop_at=2, drop_cell="T1")
    b = run_sessions(tiny, GreedyPolicy(), config, 4, seed=5, drop_at=2, drop_cell="T1")
    c = run_sessions(tiny, GreedyPolicy(), config, 4, seed=6, drop_at=2, drop_cell="T1")
    for field in ("cell", "cut_a", "cut_b", "latency_s", "energy_j", "battery", "stream_met"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.cell, c.cell)
    rows = stream_rows(a)
    assert [r["stream"] for r in rows] == ["control", "audio", "video"]
    assert all(0 <= r["priority"] <= 1 and 0 <= r["best_effort"] <= 1 for r in rows)
    # Control goes first: never kept less often than under equal shares.
    assert rows[0]["priority"] >= rows[0]["best_effort"]
    # The slot's terminal energy drains the battery (15 Wh), the phone heats towards its load.
    drained = np.maximum(a.battery[0] - a.energy_j[1] / (config.battery_wh * 3600.0), 0.0)
    np.testing.assert_allclose(a.battery[1], drained)
    assert np.all(a.energy_j >= 0)
    for row in window_rows(a, 2):
        assert row["local"] + row["split"] + row["offloaded"] == pytest.approx(1.0)
        assert row["terminal_energy_j"] > 0


def test_bad_settings_are_named(tiny):
    with pytest.raises(ValueError, match="drop cell"):
        run_sessions(tiny, GreedyPolicy(), FEW, 3, drop_at=1, drop_cell="nowhere")
    with pytest.raises(ValueError, match="drop_at"):
        run_sessions(tiny, GreedyPolicy(), FEW, 3, drop_at=3)
    with pytest.raises(ValueError, match="sessions"):
        run_sessions(tiny, GreedyPolicy(), SessionConfig(sessions=0), 3)
    with pytest.raises(ValueError, match="privacy"):
        run_sessions(tiny, GreedyPolicy(), SessionConfig(privacy="nowhere"), 3)  # type: ignore[arg-type]


def test_cli_runs_and_prints_the_drop_as_json():
    args = ["aisessions", "--scenario", "tiny", "--sessions", "12", "--slots", "4"]
    result = runner.invoke(app, [*args, "--drop-at", "2", "--drop-cell", "T0", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["windows"]) == 1  # --window 10 over 4 slots: one row
    assert data["drop"]["first_slot"] == 3
    assert data["drop"]["cell"] == "T0"
    assert [m["stream"] for m in data["modal"]] == ["control", "audio", "video"]
    table = runner.invoke(app, [*args, "--window", "2", "--drop-at", "1"])
    assert table.exit_code == 0, table.output
    assert "fell back" in table.output
    assert "0-1" in table.output


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--model", "gpt-9"], "--model"),
        (["--privacy", "public"], "--privacy"),
        (["--streams", "holo"], "--streams"),
        (["--edge", "tpu9"], "--edge"),
        (["--drop-at", "4"], "--drop-at"),
        (["--drop-cell", "T0"], "--drop-cell"),
        (["--drop-at", "1", "--drop-cell", "T9"], "--drop-cell"),
        (["--window", "0"], "--window"),
        (["--smoothing", "0"], "--smoothing"),
        (["--sessions", "0"], "--sessions"),
        (["--policy", "oracle"], "--policy"),
        (["--scenario", "atlantis"], "--scenario"),
    ],
)
def test_cli_names_the_bad_flag(extra, flag):
    args = ["aisessions", "--scenario", "tiny", "--sessions", "5", "--slots", "4"]
    result = runner.invoke(app, [*args, *extra])
    assert result.exit_code != 0
    assert flag in result.output


def test_without_coupling_the_twin_runs_as_if_the_sessions_were_not_there(tiny):
    from cnc6g.orchestration.loop import SlotLoop
    from cnc6g.twin import Twin, compile_scenario

    one_way = run_sessions(tiny, GreedyPolicy(), FEW, 4, seed=1, coupling=False)
    twin = Twin(compile_scenario(tiny), seed=1)
    loop = SlotLoop(twin, GreedyPolicy(), 1)
    alone = [loop.advance(loop.observe()).outcome for _ in range(4)]
    np.testing.assert_array_equal(one_way.twin_satisfied, [o.satisfied[0] for o in alone])
    np.testing.assert_array_equal(one_way.twin_energy_j, [o.energy_total[0] for o in alone])
    assert not one_way.background_gcps.any()
    # Sessions that keep everything on the terminal and send no stream load nothing: the same.
    config = SessionConfig(sessions=40, streams=(), privacy="device")
    local = run_sessions(tiny, GreedyPolicy(), config, 4, seed=1)
    assert local.coupled
    assert local.local.all()
    np.testing.assert_array_equal(local.twin_satisfied, one_way.twin_satisfied)
    np.testing.assert_array_equal(local.twin_energy_j, one_way.twin_energy_j)


def test_coupled_sessions_load_the_twins_nodes_by_their_blocks_run_times(tiny):
    from cnc6g.ai.processors import block_costs, processor
    from cnc6g.ai.profiles import load_profile
    from cnc6g.experiments.ai_sessions import _cells
    from cnc6g.twin import compile_scenario

    system = compile_scenario(tiny)
    config = SessionConfig(sessions=60, streams=())
    run = run_sessions(tiny, GreedyPolicy(), config, 3, seed=0, smoothing=1.0)
    profile = load_profile(config.model)
    edge_s = np.concatenate([[0.0], np.cumsum(block_costs(profile, processor("l4")).total_s)])
    cloud_s = np.concatenate([[0.0], np.cumsum(block_costs(profile, processor("a100")).total_s)])
    cells = _cells(system)
    per_device = system.capacity / system.devices
    for t in range(3):  # requests/s x busy seconds per request x one device's gigacycles/s
        busy = np.zeros(system.n_nodes)
        a, b = run.cut_a[t], run.cut_b[t]
        np.add.at(busy, cells.edge[run.anchor[t]], edge_s[b] - edge_s[a])
        busy[cells.cloud] += (cloud_s[-1] - cloud_s[b]).sum()
        expected = config.requests_per_s * busy * per_device
        np.testing.assert_allclose(run.background_gcps[t], expected, rtol=1e-12)
    assert run.background_gcps.sum() > 0


def test_many_coupled_sessions_cost_the_twins_tasks_and_the_average_damps_their_swing(tiny):
    config = SessionConfig(sessions=150, streams=())
    one_way = coupling_summary(run_sessions(tiny, GreedyPolicy(), config, 12, 0, coupling=False))
    raw = coupling_summary(run_sessions(tiny, GreedyPolicy(), config, 12, 0, smoothing=1.0))
    damped = coupling_summary(run_sessions(tiny, GreedyPolicy(), config, 12, 0))
    for coupled in (raw, damped):
        assert coupled["twin_satisfied"] < one_way["twin_satisfied"] - 0.05
        assert coupled["twin_energy_j"] > one_way["twin_energy_j"]  # the sessions' compute
        assert coupled["local"] > one_way["local"]  # the sessions meet the queues they make
    # Undamped, the crowd swings between offloading and local from slot to slot.
    assert one_way["local_swing"] == 0.0
    assert raw["local_swing"] > 2.0 * damped["local_swing"]


def test_a_bad_smoothing_is_named(tiny):
    with pytest.raises(ValueError, match="smoothing"):
        run_sessions(tiny, GreedyPolicy(), FEW, 3, smoothing=0.0)


def test_cli_no_coupling_reproduces_the_one_way_run():
    args = ["aisessions", "--scenario", "tiny", "--sessions", "30", "--slots", "3", "--json"]
    coupled = json.loads(runner.invoke(app, args).stdout)["coupling"]
    result = runner.invoke(app, [*args, "--no-coupling"])
    assert result.exit_code == 0, result.output
    one_way = json.loads(result.stdout)["coupling"]
    assert coupled["coupled"]
    assert not one_way["coupled"]
    assert one_way["background_gcps"] == 0.0 < coupled["background_gcps"]
    table = runner.invoke(app, [*args[:-1], "--no-coupling"])
    assert "one way: the twin's tasks" in table.output
