"""Pooled agents fitted to a sized teacher's greedy actions act like it on the teacher's layout."""

import numpy as np
import pytest
from factories import greedy_step
from typer.testing import CliRunner

from cnc6g.cli.main import app
from cnc6g.learning.checkpoint import FAMILY, load_agents, read_checkpoint, shipped_path
from cnc6g.learning.distill import (
    imitate,
    imitate_many,
    teacher_layout,
    teacher_scenario,
    teacher_variants,
)
from cnc6g.learning.distill import main as distill_main
from cnc6g.policies.hmarl.agents import LearnerConfig
from cnc6g.policies.hmarl.pooled import PooledAgents, make_agents
from cnc6g.scenarios import load_scenario
from cnc6g.scenarios.family import family
from cnc6g.twin import compile_scenario


def test_the_student_takes_the_teachers_levels_and_thresholds():
    (variant,) = teacher_variants(family("case-study"), 3, 6, 1, seed=0)
    assert (variant.n_cells, variant.n_services) == (3, 6)
    system = compile_scenario(variant.scenario(0.6))
    teacher, _, _ = load_agents(system, shipped_path("tiny", "hmarl"))
    student = PooledAgents(system, "hmarl", LearnerConfig(hidden=32), seed=0)
    before = greedy_step(student, system).knobs
    losses = imitate(student, teacher, [variant], (0.6,), copies=2, slots=6, updates=300)
    assert losses["rows_distributor"] == 12
    assert all(np.isfinite(v) for v in losses.values())
    student.bind(system)
    teacher.bind(system)
    want, got = greedy_step(teacher, system).knobs, greedy_step(student, system).knobs
    np.testing.assert_array_equal(got.level, want.level)
    assert (got.threshold == want.threshold).mean() >= 0.8
    assert np.abs(got.price - want.price).mean() < np.abs(before.price - want.price).mean()


def test_a_sized_checkpoints_layout_is_read_from_its_signature():
    for name, counts in (("paper-case-study", (10, 30)), ("tiny", (3, 6))):
        assert teacher_layout(read_checkpoint(shipped_path(name, "hmarl"))["signature"]) == counts
    with pytest.raises(ValueError, match="sized agents"):
        teacher_layout(read_checkpoint(shipped_path(FAMILY, "hmarl"))["signature"])
    with pytest.raises(ValueError, match="2 x cells"):
        teacher_layout({"n_domains": 4, "global_size": 40})


def test_teacher_variants_keep_only_the_hotspots_of_the_teachers_layout():
    fam = family("case-study")
    drawn = [fam.draw((0, 2_000_000 + i)) for i in range(6)]
    assert max(h for v in drawn for h in v.hotspots) >= 3  # a draw with a hotspot cell past 3
    small = teacher_variants(fam, 3, 6, 6, seed=0)
    assert all(set(v.hotspots) <= {0, 1, 2} for v in small)
    assert [v.zipf for v in small] == [v.zipf for v in drawn]
    later = teacher_variants(fam, 3, 6, 2, seed=0, first=4)
    assert [v.zipf for v in later] == [v.zipf for v in drawn[4:]]


def _agreement(student, teacher, system):
    """Share of the teacher's thresholds the student takes, and its mean price gap."""
    student.bind(system)
    teacher.bind(system)
    want, got = greedy_step(teacher, system).knobs, greedy_step(student, system).knobs
    return (got.threshold == want.threshold).mean(), np.abs(got.price - want.price).mean()


def test_one_student_imitates_two_teachers_of_different_sizes():
    fam = family("case-study")
    lessons, systems = [], []
    for first, (name, cells, services) in enumerate((("tiny", 3, 6), ("paper-case-study", 10, 30))):
        (variant,) = teacher_variants(fam, cells, services, 1, seed=0, first=first)
        system = compile_scenario(variant.scenario(0.9))
        teacher, _, _ = load_agents(system, shipped_path(name, "hmarl"))
        lessons.append((teacher, [variant]))
        systems.append(system)
    student = PooledAgents(systems[0], "hmarl", LearnerConfig(hidden=32), seed=0)
    before = [_agreement(student, t, s) for (t, _), s in zip(lessons, systems, strict=True)]
    losses = imitate_many(student, lessons, (0.9,), copies=2, slots=6, updates=300)
    assert losses["rows_distributor"] == 2 * 2 * 6  # both teachers' rows are pooled
    after = [_agreement(student, t, s) for (t, _), s in zip(lessons, systems, strict=True)]
    for (share0, gap0), (share1, gap1) in zip(before, after, strict=True):
        assert share1 > share0
        assert gap1 < gap0
    with pytest.raises(ValueError, match="at least one teacher"):
        imitate_many(student, [], (0.9,))


TEACH = ["train", "hmarl", "--family", "case-study", "--steps", "0", "--copies", "1"]
TEACH += ["--loads", "0.5", "--teacher-variants", "1", "--teacher-slots", "1"]


def _teach(teachers, out):
    args = [*TEACH, *(a for t in teachers for a in ("--teacher", str(t))), "--out", str(out)]
    return CliRunner().invoke(app, args)


def test_train_imitates_every_teacher_given(tmp_path):
    result = _teach(
        [shipped_path("tiny", "hmarl"), shipped_path("paper-case-study", "hmarl")], tmp_path
    )
    assert result.exit_code == 0, result.output
    meta = read_checkpoint(tmp_path / "family-hmarl.pt")["meta"]
    assert meta["imitation"]["rows_distributor"] == 2  # one slot of one copy per teacher
    assert "--teacher tiny-hmarl.pt --teacher paper-case-study-hmarl.pt" in meta["command"]


def test_a_teacher_that_does_not_load_names_the_flag(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    case, pooled = shipped_path("paper-case-study", "hmarl"), shipped_path(FAMILY, "hmarl")
    for teachers in ([bad, case], [case, bad], [case, pooled]):
        out = tmp_path / "out"
        result = _teach(teachers, out)
        assert result.exit_code == 2, result.output
        assert "--teacher" in result.output
        assert not out.exists() or not list(out.iterdir())


def test_a_teachers_scenario_has_the_layout_of_the_variants_it_is_imitated_on(tmp_path):
    fam = family("case-study")
    scenario = teacher_scenario(fam, 4, 24)
    assert scenario.name == "teacher-4-cells-24-services"
    sized = make_agents(compile_scenario(scenario), "hmarl", LearnerConfig(hidden=8), 0, "sized")
    assert teacher_layout(sized.signature()) == (4, 24)
    for variant in teacher_variants(fam, 4, 24, 3, seed=0, first=3):
        system = compile_scenario(variant.scenario(1.2))
        other = make_agents(system, "hmarl", LearnerConfig(hidden=8), 0, "sized")
        assert other.signature() == sized.signature()  # a teacher trained on it fits them
    written = tmp_path / "teacher.toml"
    distill_main(["case-study", "4", "24", str(written)])
    assert load_scenario(written) == scenario
