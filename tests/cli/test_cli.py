"""The command line: outputs, files written, and errors that name the bad flag."""

import csv
import json
import re

import pytest
from typer.testing import CliRunner

from cnc6g.cli.main import app
from cnc6g.learning.checkpoint import read_checkpoint

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
REQUIRED = {
    "energy_j_per_slot",
    "satisfaction_rate",
    "latency_p95_ms",
    "latency_p99_ms",
    "dropped_rate",
    "window_slots",
    "slots_run",
    "policy",
    "scenario",
    "schema",
    "options",
    "policy_figures",
}


def test_run_json_has_the_documented_keys():
    result = runner.invoke(
        app, ["run", "--scenario", "tiny", "--policy", "grd", "--slots", "20", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary.keys() >= REQUIRED
    assert summary["policy"] == "grd"
    assert summary["scenario"] == "tiny"
    assert summary["window_slots"] == summary["slots_run"] == 20
    assert 0 <= summary["satisfaction_rate"] <= 1
    assert summary["energy_j_per_slot"] > 0


def test_run_prints_a_table():
    result = runner.invoke(app, ["run", "--scenario", "tiny", "--slots", "5"])
    assert result.exit_code == 0, result.output
    assert "satisfaction_rate" in result.stdout
    assert "latency_p99_ms" in result.stdout


def test_run_is_deterministic_per_seed():
    args = [
        "run",
        "--scenario",
        "tiny",
        "--policy",
        "rand",
        "--slots",
        "10",
        "--json",
        "--seed",
        "3",
    ]
    a = json.loads(runner.invoke(app, args).stdout)
    b = json.loads(runner.invoke(app, args).stdout)
    a.pop("decide_ms_p50")
    b.pop("decide_ms_p50")
    assert a == b


def test_compare_writes_results_and_figures(tmp_path):
    out = tmp_path / "sweep"
    result = runner.invoke(
        app,
        [
            "compare",
            "--scenario",
            "tiny",
            "--policies",
            "rand,grd",
            "--loads",
            "0.3,0.9",
            "--slots",
            "12",
            "--window",
            "5",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    with (out / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["load"], r["policy"]) for r in rows} == {
        ("0.3", "rand"),
        ("0.3", "grd"),
        ("0.9", "rand"),
        ("0.9", "grd"),
    }
    for name in ("energy.png", "satisfaction.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_prints_each_policys_objective_over_the_bound_and_opt(tmp_path):
    out = tmp_path / "sweep"
    args = ["compare", "--scenario", "tiny", "--policies", "grd,opt", "--loads", "0.5"]
    args += ["--slots", "4", "--window", "2", "--out", str(out)]
    result = runner.invoke(app, args, env={"COLUMNS": "240"})
    assert result.exit_code == 0, result.output
    assert "/ LP bound" in result.output
    assert "/ OPT" in result.output
    with (out / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))

    def mean(policy):
        values = [float(r["objective_j_per_slot"]) for r in rows if r["policy"] == policy]
        return sum(values) / len(values)

    grd, opt = mean("grd"), mean("opt")
    lines = {line.split("│")[3].strip(): line for line in result.output.splitlines() if "│" in line}
    cells = [c.strip() for c in lines["grd"].split("│")]
    assert cells[-2] == f"{grd / opt:.3f}"
    assert [c.strip() for c in lines["opt"].split("│")][-2] == "1.000"
    for row in rows:  # the bound is below every policy
        assert float(row["objective_over_bound"]) >= 1.0


@pytest.mark.parametrize(
    ("args", "flag", "reason"),
    [
        (["run", "--slots", "0"], "--slots", "greater than or equal to 1"),
        (["run", "--policy", "best"], "--policy", "unknown policy"),
        (["run", "--scenario", "no-such-thing"], "--scenario", "not a file and not a preset"),
        (["compare", "--loads", "0.2,abc"], "--loads", "expected numbers"),
        (["compare", "--loads", "-1"], "--loads", "positive"),
        (["compare", "--policies", "grd,zzz"], "--policies", "unknown policy"),
        (["compare", "--slots", "10", "--window", "50"], "--window", "must not exceed"),
        (["run", "--opt-removal-weight", "-1"], "--opt-removal-weight", "greater than or equal"),
        (["compare", "--opt-removal-weight", "-0.5"], "--opt-removal-weight", "greater than or"),
        (["run", "--opt-node-limit", "0"], "--opt-node-limit", "greater than or equal"),
    ],
)
def test_bad_flags_name_the_flag_and_write_nothing(args, flag, reason, tmp_path):
    result = runner.invoke(
        app, [*args, "--out", str(tmp_path / "o")] if args[0] == "compare" else args
    )
    assert result.exit_code != 0
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())
    assert flag in text
    assert reason in text
    assert not (tmp_path / "o").exists()


def test_bad_scenario_file_names_the_field(tmp_path):
    from cnc6g.scenarios import dump_scenario, load_scenario

    text = dump_scenario(load_scenario("tiny")).replace("deadline_ms = ", "deadline_ms = -", 1)
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = runner.invoke(app, ["scenario", "validate", str(path)])
    assert result.exit_code == 1
    assert "services[svc00].deadline_ms" in result.output
    assert "greater than 0" in result.output


def test_scenario_list_and_show():
    listed = runner.invoke(app, ["scenario", "list"])
    assert listed.exit_code == 0
    assert "paper-case-study" in listed.stdout
    shown = runner.invoke(app, ["scenario", "show", "tiny"])
    assert shown.exit_code == 0
    assert 'name = "tiny"' in shown.stdout


def test_check_policy_command():
    result = runner.invoke(app, ["check-policy", "rand", "--slots", "5"])
    assert result.exit_code == 0, result.output
    assert "passes" in result.stdout


TRAIN_TINY = ["train", "hmarl", "--scenario", "tiny", "--copies", "1", "--loads", "0.5,1"]


def test_train_writes_a_checkpoint_that_run_uses(tmp_path):
    result = runner.invoke(
        app,
        [*TRAIN_TINY, "--steps", "8", "--removal-weight", "0.5", "--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    checkpoint = tmp_path / "tiny-hmarl.pt"
    saved = read_checkpoint(checkpoint)
    assert saved["config"]["removal_weight"] == 0.5
    assert saved["meta"]["command"].endswith("--removal-weight 0.5")
    with (tmp_path / "tiny-hmarl-curve.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows[-1]["step"] == "8"
    assert "objective_j@0.5" in rows[-1]
    assert (tmp_path / "tiny-hmarl-validation.csv").is_file()
    run = runner.invoke(
        app,
        [
            "run",
            "--scenario",
            "tiny",
            "--policy",
            "hmarl",
            "--slots",
            "5",
            "--json",
            "--checkpoint",
            str(checkpoint),
        ],
    )
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout)["policy"] == "hmarl"
    resumed = runner.invoke(
        app,
        [*TRAIN_TINY, "--steps", "12", "--out", str(tmp_path), "--resume", str(checkpoint)],
    )
    assert resumed.exit_code == 0, resumed.output


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["train", "dqn", "--scenario", "tiny"], "LEARNER"),
        (["train", "hmarl", "--scenario", "tiny", "--steps", "0"], "--steps"),
        (["train", "hmarl", "--scenario", "tiny", "--loads", "x"], "--loads"),
        (["train", "hmarl", "--scenario", "tiny", "--removal-weight", "-1"], "--removal-weight"),
        (["train", "hmarl", "--scenario", "tiny", "--resume", "missing.pt"], "--resume"),
        (["train", "hmarl", "--family", "nope"], "--family"),
        (["train", "hmarl-central", "--family", "case-study"], "--family"),
        (["train", "hmarl", "--family", "case-study", "--horizon", "1"], "--horizon"),
        (["train", "hmarl", "--scenario", "tiny", "--teacher", "x.pt"], "--teacher"),
        (["train", "hmarl", "--family", "case-study", "--teacher", "nope.pt"], "--teacher"),
        (
            ["run", "--scenario", "tiny", "--policy", "hmarl", "--checkpoint", "nope.pt"],
            "--checkpoint",
        ),
    ],
)
def test_learning_flags_are_checked_before_anything_runs(args, flag, tmp_path):
    result = runner.invoke(app, [*args, "--out", str(tmp_path)] if args[0] == "train" else args)
    assert result.exit_code == 2, result.output
    assert flag in result.output
    assert not list(tmp_path.iterdir())


def test_hmarl_on_a_scenario_without_a_checkpoint_names_the_way_out(tmp_path):
    scenario = tmp_path / "mine.toml"
    shown = runner.invoke(app, ["scenario", "show", "tiny"]).stdout
    scenario.write_text(shown.replace('name = "tiny"', 'name = "mine"', 1))
    args = ["run", "--scenario", str(scenario), "--policy", "hmarl-central"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "cnc6g train hmarl-central" in result.output


def test_opt_flags_reach_the_policy():
    from cnc6g.cli.common import build_policy, policy_options

    params = {
        "opt_time_limit": 2.0,
        "opt_gap": 0.01,
        "opt_removal_weight": 0.7,
        "opt_node_limit": 50,
    }
    options = policy_options(["opt", "grd", "opt-regions"], params)
    assert options["grd"] == {}
    pol = build_policy("opt", options["opt"])()
    assert (pol.time_limit, pol.mip_rel_gap, pol.removal_weight) == (2.0, 0.01, 0.7)
    assert pol.node_limit == 50
    assert build_policy("opt-regions", options["opt-regions"])().node_limit == 50


def test_opt_node_limit_is_recorded_with_the_run():
    args = ["run", "-s", "tiny", "-p", "opt", "--slots", "2", "--opt-node-limit", "5"]
    result = runner.invoke(app, [*args, "--opt-time-limit", "600", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["options"] == {"node_limit": 5, "time_limit": 600.0}


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--policy", "grd", "--opt-time-limit", "3"], "--opt-time-limit"),
        (["--policy", "grd", "--online"], "--online"),
        (["--policy", "opt", "--checkpoint", "x.pt"], "--checkpoint"),
    ],
)
def test_a_policy_flag_for_another_policy_is_an_error(args, flag):
    result = runner.invoke(app, ["run", "--scenario", "tiny", "--slots", "2", *args])
    assert result.exit_code == 2, result.output
    assert flag in result.output
    assert "applies to" in result.output


def test_validate_warns_of_a_service_no_node_can_host(tmp_path):
    shown = runner.invoke(app, ["scenario", "show", "tiny"]).stdout
    lines = shown.splitlines()
    # The first service's memory: more than any node has.
    first = next(i for i, line in enumerate(lines) if line.strip() == "[[services]]")
    at = next(i for i in range(first, len(lines)) if lines[i].startswith("memory_gb"))
    lines[at] = "memory_gb = 100000.0"
    path = tmp_path / "big.toml"
    path.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["scenario", "validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning" in result.output
    assert "fits on no node" in result.output
