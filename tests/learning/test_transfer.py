"""The shipped family checkpoint on held-out variants: the transfer evaluation in small form.

The family checkpoint must run on variants of sizes it was not trained on (fewer cells and
services than any training variant, more cells than any) and do better than random decisions
and GRD (by at least 10 %) on a short run. The full evaluation is
``python -m benchmarks.hmarl_transfer`` (see the HMARL page).
"""

import pytest

from benchmarks.hmarl_recovery import POLICIES, run_case
from benchmarks.hmarl_recovery import markdown as recovery_markdown
from benchmarks.hmarl_transfer import markdown, run_one, table
from cnc6g.experiments.runner import run_policy
from cnc6g.learning.checkpoint import FAMILY, read_checkpoint, shipped_path
from cnc6g.orchestration import make_policy
from cnc6g.scenarios.family import FAMILIES, HELD_OUT
from cnc6g.twin import compile_scenario

GRD_FACTOR = 0.9
"""The family HMARL's objective on a short run is at most this times GRD's."""


def test_the_family_checkpoint_ships_small_and_pooled():
    path = shipped_path(FAMILY, "hmarl")
    assert path.stat().st_size < 2_000_000
    data = read_checkpoint(path)
    assert data["config"]["arch"] == "pooled"
    assert data["config"]["family"] in FAMILIES


@pytest.mark.parametrize(
    "name", ["held-3-cells-20-services", "held-16-cells-mec-half", "held-20-cells-hotspots"]
)
def test_the_family_checkpoint_beats_rand_and_stays_near_grd_on_held_out_sizes(name):
    largest = max(n for fam in FAMILIES.values() for n in fam.cells)
    system = compile_scenario(HELD_OUT[name].scenario(0.8))
    objective = {}
    for policy in ("hmarl", "grd", "rand"):
        run = run_policy(make_policy(policy), system, 12, seed=1, sample=False)
        objective[policy] = run.summary(8).objective_j_per_slot
    assert objective["hmarl"] < objective["rand"]
    assert objective["hmarl"] < GRD_FACTOR * objective["grd"], objective
    if name == "held-20-cells-hotspots":
        assert HELD_OUT[name].n_cells > largest


def test_the_transfer_benchmark_runs_and_tabulates():
    path = shipped_path(FAMILY, "hmarl")
    rows = [
        run_one("held-3-cells-20-services", 0.8, 0, policy, 3, 2, path)
        for policy in ("hmarl-family", "hmarl-case", "grd", "opt", "bound")
    ]
    assert rows[1]["objective_j"] is None  # the case study's checkpoint does not fit
    family, _, grd, opt, bound = (r["objective_j"] for r in rows)
    assert 0 < bound <= min(family, grd, opt)  # the window's LP bound is below every policy
    (entry,) = table(rows)
    assert entry["family/grd"] == pytest.approx(family / grd)
    assert entry["family/bound"] == pytest.approx(family / bound)
    assert entry["opt/bound"] == pytest.approx(opt / bound)
    assert "held-3-cells-20-services | 0.8 |" in markdown([entry])


def test_the_recovery_benchmark_measures_catching_up_with_opt():
    rows = run_case(
        "held-3-cells-20-services", "hotspot", 0.8, 0, 4, 9, 2, 0.02, shipped_path(FAMILY, "hmarl")
    )
    assert [r["policy"] for r in rows] == list(POLICIES)
    by = {r["policy"]: r for r in rows}
    assert by["opt"]["catch_up_slots"] == 0  # OPT is its own reference
    for r in rows:
        assert 0 <= r["satisfaction_after"] <= 1
        assert r["catch_up_slots"] is None or 0 <= r["catch_up_slots"] <= 9 - 4
    assert "| held-3-cells-20-services | hotspot | 0 | grd |" in recovery_markdown(rows)
