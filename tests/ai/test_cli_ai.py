"""``cnc6g splitinfer`` and ``cnc6g profile``: outputs, files, and errors naming the flag."""

import csv

import pytest
from typer.testing import CliRunner

from cnc6g.cli.main import app

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


def test_splitinfer_prints_every_split_point_and_writes_a_table_and_a_figure(tmp_path):
    result = runner.invoke(
        app, ["splitinfer", "--model", "mobilenetv2", "--bandwidth", "50", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "<- chosen" in result.output
    assert "Neurosurgeon" in result.output
    rows = list(csv.DictReader((tmp_path / "splitinfer-mobilenetv2.csv").read_text().splitlines()))
    assert len(rows) == 21
    assert sum(r["chosen"] == "True" for r in rows) == 1
    assert (tmp_path / "splitinfer-mobilenetv2.png").stat().st_size > 0


def test_splitinfer_sweeps_bandwidth_for_energy(tmp_path):
    result = runner.invoke(
        app,
        [
            "splitinfer",
            "--model",
            "vit-b16",
            "--bandwidth-sweep",
            "--objective",
            "energy",
            "--deadline-ms",
            "150",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "splitinfer-vit-b16.csv").read_text().splitlines()))
    assert float(rows[0]["uplink_mbps"]) == pytest.approx(0.1)
    assert float(rows[-1]["uplink_mbps"]) == pytest.approx(1000)
    assert "Neurosurgeon" in result.output
    assert "3.1x" in result.output


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["splitinfer", "--model", "resnet-51"], "--model"),
        (["splitinfer", "--model", "resnet50", "--objective", "speed"], "--objective"),
        (["splitinfer", "--model", "resnet50", "--terminal", "pixel"], "--terminal"),
        (["splitinfer", "--model", "resnet50", "--deadline-ms", "20"], "--deadline-ms"),
        (["profile", "--model", "alexnet"], "--model"),
    ],
)
def test_bad_input_names_the_flag(args, flag, tmp_path):
    result = runner.invoke(app, [*args, "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert flag in result.output
