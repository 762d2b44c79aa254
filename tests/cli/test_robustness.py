"""The CLI as users meet it: finished work is kept, bad input is an error, outputs say how made."""

import csv
import json
import math
import os
import re
import stat

import pytest
from typer.testing import CliRunner

from cnc6g.cli.main import app

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})

POLICIES = """
import numpy as np
from cnc6g.policies import GreedyPolicy, Policy
from cnc6g.model.decision import Decision


class Broken(GreedyPolicy):
    name = "broken"

    def decide(self, obs):
        raise RuntimeError("broken on purpose")


class Interrupting(GreedyPolicy):
    name = "interrupting"

    def decide(self, obs):
        raise KeyboardInterrupt


class NeedsArgs(GreedyPolicy):
    def __init__(self, speed):
        super().__init__()


class FailsReset(GreedyPolicy):
    def reset(self, system, seed=None):
        raise RuntimeError("cannot reset")


class NanRouting(GreedyPolicy):
    def decide(self, obs):
        d = super().decide(obs)
        y = np.array(d.routing)
        y[0, 0, 0] = np.nan
        return Decision(deployment=d.deployment, routing=y)
"""


def text(result):
    return " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())


@pytest.fixture
def policies(tmp_path, monkeypatch):
    (tmp_path / "mypolicies.py").write_text(POLICIES)
    monkeypatch.chdir(tmp_path)
    return tmp_path


SWEEP = ["compare", "-s", "tiny", "--loads", "0.3,0.9", "--slots", "6", "--window", "3"]


def rows(folder):
    with (folder / "results.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


# -- Never lose finished work --------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        [*SWEEP, "--policies", "grd"],
        ["adapt", "-s", "tiny", "--slots", "6", "--at", "3", "--policies", "grd"],
        ["train", "hmarl", "-s", "tiny", "--steps", "3"],
    ],
    ids=["compare", "adapt", "train"],
)
def test_an_unusable_out_fails_before_any_work(tmp_path, command):
    taken = tmp_path / "a-file.txt"
    taken.write_text("keep me")
    result = runner.invoke(app, [*command, "--out", str(taken)])
    assert result.exit_code == 2, result.output
    assert "--out" in text(result)
    assert "is a file" in text(result)
    assert taken.read_text() == "keep me"
    under = runner.invoke(app, [*command, "--out", str(taken / "sub")])
    assert under.exit_code == 2, under.output


def test_a_failing_policy_keeps_the_other_rows_and_exits_non_zero(policies):
    out = policies / "o"
    result = runner.invoke(
        app, [*SWEEP, "--seeds", "0", "--policies", "grd,rand,mypolicies:Broken", "--out", str(out)]
    )
    assert result.exit_code == 1, result.output
    got = rows(out)
    assert {r["policy"] for r in got if not r["error"]} == {"grd", "rand"}
    broken = [r for r in got if r["error"]]
    assert len(broken) == 2
    assert all("broken on purpose" in r["error"] for r in broken)
    assert "failed" in text(result)


def test_an_interrupted_sweep_keeps_its_rows_and_resumes_without_running_them_again(policies):
    out = policies / "o"
    first = runner.invoke(
        app,
        [*SWEEP, "--seeds", "0", "--policies", "grd,mypolicies:Interrupting", "--out", str(out)],
    )
    assert first.exit_code != 0
    kept = rows(out)
    assert [(r["policy"], r["load"]) for r in kept] == [("grd", "0.3")]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    again = runner.invoke(
        app, [*SWEEP, "--seeds", "0", "--policies", "grd,rand", "--out", str(out)]
    )
    assert again.exit_code == 2
    assert "--resume" in text(again)
    resumed = runner.invoke(
        app, [*SWEEP, "--seeds", "0", "--policies", "grd,rand", "--out", str(out), "--resume"]
    )
    assert resumed.exit_code == 0, resumed.output
    done = rows(out)
    assert [(r["policy"], r["load"]) for r in done] == [
        ("grd", "0.3"),
        ("rand", "0.3"),
        ("grd", "0.9"),
        ("rand", "0.9"),
    ]
    # The finished run was not run again: its wall-clock timing is the one written before.
    assert done[0]["decide_ms_p50"] == kept[0]["decide_ms_p50"]
    assert json.loads((out / "manifest.json").read_text())["status"] == "finished"


def test_a_folder_of_another_scenario_is_refused_unless_forced(tmp_path):
    out = tmp_path / "o"
    assert (
        runner.invoke(
            app, [*SWEEP, "--seeds", "0", "--policies", "grd", "--out", str(out)]
        ).exit_code
        == 0
    )
    other = ["compare", "-s", "speech-translation", *SWEEP[3:], "--seeds", "0", "--policies", "grd"]
    refused = runner.invoke(app, [*other, "--out", str(out)])
    assert refused.exit_code == 2
    assert "another experiment" in text(refused)
    assert rows(out)[0]["scenario"] == "tiny"
    forced = runner.invoke(app, [*other, "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    assert rows(out)[0]["scenario"] == "speech-translation"


def test_the_manifest_and_results_say_how_they_were_made(tmp_path):
    out = tmp_path / "o"
    result = runner.invoke(
        app,
        [
            *SWEEP,
            "--seeds",
            "0",
            "--policies",
            "grd,opt",
            "--opt-time-limit",
            "2",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["identity"]["scenario"] == "tiny"
    assert len(manifest["identity"]["scenario_sha256"]) == 64
    assert manifest["loads"] == [0.3, 0.9]
    assert manifest["seeds"] == [0]
    assert {"policy": "opt", "options": {"time_limit": 2.0}} in manifest["policies"]
    assert manifest["machine"]["cpus"] >= 1
    assert manifest["machine"]["numpy"]
    assert manifest["started"] <= manifest["ended"]
    row = rows(out)[0]
    assert row["scenario"] == "tiny"
    assert row["slots_run"] == "6"
    assert row["window_slots"] == "3"
    assert float(row["energy_idle_j"]) > 0
    for name in ("results.csv", "manifest.json", "energy.png"):
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o644


# -- No tracebacks for bad input -------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["run", "-s", "tiny", "--load", "1e9"], "--load"),
        (["run", "-s", "tiny", "--load", "inf"], "--load"),
        (["compare", "-s", "tiny", "--loads", "0.2,11"], "--loads"),
        (["adapt", "-s", "tiny", "--load", "50"], "--load"),
        (["run", "-s", "tiny", "--window", "500", "--slots", "10"], "--window"),
        (["compare", "-s", "tiny", "--loads", "0.2,0.2"], "--loads"),
        (["compare", "-s", "tiny", "--seeds", "1,1"], "--seeds"),
        (["compare", "-s", "tiny", "--policies", "grd,grd"], "--policies"),
        (["run", "-s", "tiny", "--policy", "grd", "--online"], "--online"),
    ],
)
def test_bad_flags_are_errors_that_name_the_flag(tmp_path, args, flag):
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "o")] if args[0] != "run" else args)
    assert result.exit_code == 2, result.output
    assert flag in text(result)
    assert "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_a_corrupt_checkpoint_is_one_line_on_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    result = runner.invoke(app, ["run", "-s", "tiny", "-p", "hmarl", "--checkpoint", str(bad)])
    assert result.exit_code == 2, result.output
    assert "--checkpoint" in text(result)
    assert "cannot be read" in text(result)
    assert "weights_only" not in result.output
    other = runner.invoke(
        app,
        ["run", "-s", "paper-case-study", "-p", "hmarl", "--checkpoint", _shipped("tiny")],
    )
    assert other.exit_code == 2
    assert "another system" in text(other)


def _shipped(scenario):
    from cnc6g.learning import shipped_path

    return str(shipped_path(scenario, "hmarl"))


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("capacity_gcps = 40.0", "capacity_gcps = inf", "finite"),
        ("capacity_gcps = 40.0", "capacity_gcps = true", "number"),
        ("capacity_gcps = 40.0", 'capacity_gcps = "40"', "number"),
    ],
)
def test_scenario_numbers_are_strict(tmp_path, old, new, reason):
    from cnc6g.scenarios import preset_text

    path = tmp_path / "s.toml"
    path.write_text(preset_text("tiny").replace(old, new, 1))
    result = runner.invoke(app, ["scenario", "validate", str(path)])
    assert result.exit_code == 1
    assert "domains[R0].nodes[R0-mec].capacity_gcps" in text(result)
    assert reason in text(result)


def test_a_file_that_is_not_utf8_is_an_error(tmp_path):
    path = tmp_path / "s.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    result = runner.invoke(app, ["scenario", "validate", str(path)])
    assert result.exit_code == 1
    assert "not UTF-8" in text(result)
    assert "Traceback" not in result.output


def test_run_json_is_strict_json():
    from cnc6g.experiments.runner import RunSummary

    summary = RunSummary(
        policy="p",
        scenario="s",
        seed=0,
        load=0.5,
        window_slots=1,
        slots_run=1,
        offered_per_slot=0.0,
        energy_j_per_slot=1.0,
        energy_j_min=1.0,
        energy_j_max=1.0,
        satisfaction_rate=1.0,
        satisfaction_min=1.0,
        satisfaction_max=1.0,
        dropped_rate=0.0,
        objective_j_per_slot=1.0,
        energy_j_per_satisfied_task=1.0,
        latency_p50_ms=math.nan,
        latency_p95_ms=math.inf,
        latency_p99_ms=math.nan,
        cold_starts_per_slot=0.0,
        instances_per_slot=0.0,
        decide_ms_p50=0.1,
        policy_info={"opt_gap_max": math.inf},
    )
    data = summary.as_json()
    json.dumps(data, allow_nan=False)
    assert data["latency_p95_ms"] is None
    assert data["policy_figures"]["opt_gap_max"] is None


@pytest.mark.parametrize(
    ("policy", "exit_code", "message"),
    [
        ("mypolicies:FailsReset", 1, "cannot reset"),
        ("mypolicies:Broken", 1, "broken on purpose"),
        ("mypolicies:NanRouting", 1, "non-finite"),
        ("mypolicies:NeedsArgs", 2, "without arguments"),
        ("mypolicies:Nothing", 2, "cannot import"),
    ],
)
def test_check_policy_reports_a_broken_policy_without_a_traceback(
    policies, policy, exit_code, message
):
    result = runner.invoke(app, ["check-policy", policy, "--slots", "3"])
    assert result.exit_code == exit_code, result.output
    assert message in text(result)
    assert "Traceback" not in result.output
    assert text(result).count("non-finite") <= 1


# -- Outputs that carry their provenance -----------------------------------------------------


def test_run_series_writes_the_slots(tmp_path):
    path = tmp_path / "s" / "series.csv"
    result = runner.invoke(
        app, ["run", "-s", "tiny", "--slots", "7", "--series", str(path), "--json"]
    )
    assert result.exit_code == 0, result.output
    with path.open(newline="") as fh:
        series = list(csv.DictReader(fh))
    assert [int(r["slot"]) for r in series] == list(range(7))
    assert {"offered", "satisfied", "dropped", "energy_idle_j", "latency_p95_ms"} <= series[
        0
    ].keys()
    data = json.loads(result.stdout)
    assert data["schema"] == 2
    assert data["options"] == {}


# -- Meeting a newcomer's habits -------------------------------------------------------------


def test_a_policy_from_a_file_path_and_from_the_current_folder(policies):
    (policies / "mine.py").write_text(
        "from cnc6g.policies import GreedyPolicy\n\nclass Mine(GreedyPolicy):\n    name = 'mine'\n"
    )
    for spec in ("./mine.py:Mine", "mine:Mine", str(policies / "mine.py") + ":Mine"):
        result = runner.invoke(app, ["run", "-s", "tiny", "--slots", "3", "-p", spec, "--json"])
        assert result.exit_code == 0, (spec, result.output)
        assert json.loads(result.stdout)["policy"] == "mine"


def test_version_schema_and_narrow_help():
    assert re.fullmatch(r"cnc6g \d+\.\d+\.\d+\n", runner.invoke(app, ["--version"]).output)
    schema = json.loads(runner.invoke(app, ["scenario", "schema"]).output)
    assert "domains" in schema["properties"]
    narrow = CliRunner(env={"COLUMNS": "80", "NO_COLOR": "1"})
    listed = narrow.invoke(app, ["scenario", "list"]).output
    for name in ("paper-case-study", "speech-translation", "scale-100", "tiny"):
        assert name in listed
    for command in (["run", "--help"], ["compare", "--help"], ["train", "--help"]):
        help_text = narrow.invoke(app, command).output
        flags = {
            "run": ["--opt-removal-weight", "--checkpoint", "--series"],
            "compare": ["--opt-removal-weight", "--resume", "--workers"],
            "train": ["--removal-weight", "--tensorboard"],
        }[command[0]]
        for flag in flags:
            assert flag in help_text, (command, flag)


def test_verbose_and_quiet_are_exclusive():
    result = runner.invoke(app, ["--verbose", "--quiet", "scenario", "list"])
    assert result.exit_code == 2
    assert runner.invoke(app, ["--quiet", "scenario", "show", "tiny"]).exit_code == 0


# -- Experiment files and optional extras ----------------------------------------------------

EXPERIMENT = """
scenario = "tiny"
loads = [0.3, 0.9]
seeds = [0]
slots = 6
window = 3

[[policies]]
name = "grd"

[[policies]]
name = "opt"
options = { time_limit = 1.0 }
"""


def test_a_sweep_from_an_experiment_file(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT)
    out = tmp_path / "o"
    result = runner.invoke(app, ["compare", "--config", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert [(r["policy"], r["load"]) for r in rows(out)] == [
        ("grd", "0.3"),
        ("opt", "0.3"),
        ("grd", "0.9"),
        ("opt", "0.9"),
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"policy": "opt", "options": {"time_limit": 1.0}} in manifest["policies"]
    both = runner.invoke(app, ["compare", "--config", str(path), "--slots", "4"])
    assert both.exit_code == 2
    assert "drop --slots" in text(both)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("loads = [0.3, 0.9]", 'loads = [0.3, "x"]'), "loads.1"),
        (("window = 3", "window = 30"), "window: must not exceed slots"),
        (("slots = 6", "slots = 6\nspeed = 2"), "speed: Extra inputs"),
        (("seeds = [0]", "seeds = [0, 0]"), "seeds: repeats"),
    ],
)
def test_a_bad_experiment_file_names_the_key(tmp_path, change, message):
    path = tmp_path / "exp.toml"
    path.write_text(EXPERIMENT.replace(*change))
    result = runner.invoke(app, ["compare", "--config", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert message in text(result)
    assert not (tmp_path / "o").exists()


BLOCK = """
import importlib.abc, importlib.util, sys
OPTIONAL = ("torch", "ray", "gymnasium", "pettingzoo")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in OPTIONAL:
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, Block())
find = importlib.util.find_spec
def find_spec(name, *args, **kwargs):
    return None if name.split(".")[0] in OPTIONAL else find(name, *args, **kwargs)
importlib.util.find_spec = find_spec
from cnc6g.cli.main import app
app(sys.argv[1:])
"""


def test_the_twin_and_the_baselines_run_without_the_learning_and_ray_extras(tmp_path):
    import subprocess
    import sys

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-c", BLOCK, *args], capture_output=True, text=True, cwd=tmp_path
        )

    ok = cli("run", "-s", "tiny", "-p", "grd", "--slots", "3", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["policy"] == "grd"
    hmarl = cli("run", "-s", "tiny", "-p", "hmarl", "--slots", "3")
    assert hmarl.returncode == 2
    assert "cnc6g[learn]" in " ".join(hmarl.stderr.split())


def test_an_interrupted_training_keeps_its_validated_checkpoint_and_resumes(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from cnc6g.learning.checkpoint import read_checkpoint

    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "cnc6g", "train", "hmarl", "--scenario", "tiny"]
    cmd += ["--copies", "1", "--loads", "0.5", "--steps", "100000", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    checkpoint = out / "tiny-hmarl.pt"
    validation = out / "tiny-hmarl-validation.csv"

    def validations() -> int:
        return len(validation.read_text().splitlines()) - 1 if validation.is_file() else 0

    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None and validations() < 2:
            time.sleep(0.2)
        assert proc.poll() is None, "the training ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:  # a failure here must not leave the training running after the test
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0
    assert "Traceback" not in output
    text = " ".join(output.split())
    assert "interrupted" in text
    assert f"--resume {checkpoint}" in text
    saved = read_checkpoint(checkpoint)
    assert saved["meta"]["steps"] >= 100  # the validation after the first 100 steps was kept
    curve = (out / "tiny-hmarl-curve.csv").read_text().splitlines()
    assert len(curve) >= 2
    again = ["train", "hmarl", "--scenario", "tiny", "--copies", "1", "--loads", "0.5"]
    again += ["--steps", "150", "--resume", str(checkpoint), "--out", str(tmp_path / "r")]
    resumed = runner.invoke(app, again)
    assert resumed.exit_code == 0, resumed.output
    assert read_checkpoint(tmp_path / "r" / "tiny-hmarl.pt")["meta"]["steps"] == 150
