"""Pooled agents fitted to a sized teacher's greedy actions act like it on the teacher's layout."""

import numpy as np
from factories import greedy_step

from cnc6g.learning.checkpoint import load_agents, shipped_path
from cnc6g.learning.distill import imitate, teacher_variants
from cnc6g.policies.hmarl.agents import LearnerConfig
from cnc6g.policies.hmarl.pooled import PooledAgents
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
