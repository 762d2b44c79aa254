"""Knowledge-base provisioning in the twin: it learns the drift, beats the templates' frontier,
and its base persists across runs of ``cnc6g knowledge demo``."""

import csv
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnc6g.cli.main import app
from cnc6g.experiments.knowledge import KB_NAME, demo_scenario, knowledge_demo
from cnc6g.scenarios import load_scenario

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


@pytest.fixture(scope="module")
def demo():
    return knowledge_demo(demo_scenario(load_scenario("tiny")), slots=150)


def test_the_base_tracks_the_drifting_service(demo):
    kb = demo.run(KB_NAME)
    # an upper quantile: above the true mean at the end, and it has followed it up
    assert kb.belief_series[-1] > demo.true_series[-1]
    assert kb.belief_series[-1] > kb.belief_series[5]
    fixed = demo.run("template x1.25")
    assert set(fixed.belief_series) == {1.25}


def test_the_knowledge_base_beats_the_fixed_templates(demo):
    kb = demo.run(KB_NAME)
    cheaper = demo.cheapest_template_missing_at_most(kb)
    assert cheaper is not None
    assert kb.reserved < cheaper.reserved
    same = demo.best_template_reserving_at_most(kb)
    assert same is not None
    assert kb.miss_rate < same.miss_rate


def test_every_run_serves_the_same_demand(demo):
    offered = {round(r.offered, 6) for r in demo.runs}
    assert len(offered) == 1
    for r in demo.runs:
        assert 0.0 <= r.miss_rate <= 1.0
        assert r.used <= r.reserved + 1e-6


def test_the_demo_command_writes_its_table_figure_and_base_and_reuses_the_base(tmp_path):
    base = tmp_path / "kb.json"
    args = ["knowledge", "demo", "--out", str(tmp_path / "a"), "--slots", "40", "--base", str(base)]
    got = runner.invoke(app, args)
    assert got.exit_code == 0, got.output
    with open(tmp_path / "a" / "knowledge.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["provisioner"] for r in rows} >= {KB_NAME, "template x1.5"}
    assert (tmp_path / "a" / "knowledge.png").stat().st_size > 0
    first = json.loads(base.read_text())
    seen = first["services"]["svc00"]["compute_gcycles"]["count"]
    assert seen > 0
    got = runner.invoke(app, [*args[:3], str(tmp_path / "b"), *args[4:]])
    assert got.exit_code == 0, got.output
    second = json.loads(base.read_text())
    assert second["services"]["svc00"]["compute_gcycles"]["count"] == seen + 40
    shown = runner.invoke(app, ["knowledge", "show", str(base)])
    assert shown.exit_code == 0
    assert "compute_gcycles" in shown.output


def test_a_bad_base_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "kb.json"
    bad.write_text("[]", encoding="utf-8")
    got = runner.invoke(app, ["knowledge", "demo", "--out", str(tmp_path), "--base", str(bad)])
    assert got.exit_code == 1
    assert "not a knowledge base" in got.output


def test_the_docs_page_shows_the_demo_as_it_runs(tmp_path):
    got = runner.invoke(app, ["knowledge", "demo", "--out", str(tmp_path)])
    assert got.exit_code == 0, got.output
    page = (Path(__file__).parent.parent.parent / "docs" / "knowledge.md").read_text()
    rows = [line.rstrip() for line in got.output.splitlines() if line.startswith("│")]
    assert len(rows) >= 10
    for row in rows:
        assert row in page, "docs/knowledge.md is out of date: run cnc6g knowledge demo"


def test_the_summary_says_more_where_the_knowledge_base_reserves_more(tmp_path):
    got = runner.invoke(
        app,
        ["knowledge", "demo", "-s", "xr-offload", "--slots", "20", "--out", str(tmp_path)],
        env={"COLUMNS": "200"},
    )
    assert got.exit_code == 0, got.output
    said = re.search(r"reserves (\S+) % (more|less) than template", got.output)
    assert said is not None, got.output
    assert (said[2], float(said[1]) >= 0) == ("more", True)  # it reserves more than x0.8 here
