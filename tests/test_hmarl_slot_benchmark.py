"""The HMARL slot breakdown times its parts and leaves the timed functions as they were."""

import pytest

from cnc6g.policies.hmarl import executor
from cnc6g.policies.hmarl.hierarchy import Agents


def test_hmarl_slot_breakdown_times_each_part_and_restores_them():
    pytest.importorskip("torch")
    from benchmarks.hmarl_slot import measure

    before = (executor._rounds, executor._assign, executor._Routes.__dict__["build"], Agents.act)
    per_slot, parts = measure(slots=1, cells=None)
    assert per_slot > 0
    assert {"decide: agents act", "execute: assignments", "rounds: compiled, whole"} <= set(parts)
    assert {"twin step", "sampling"} <= set(parts)
    assert "assignment: routes (dense)" not in parts  # the reference is not run any more
    assert all(v >= 0 for v in parts.values())
    after = (executor._rounds, executor._assign, executor._Routes.__dict__["build"], Agents.act)
    assert all(a is b for a, b in zip(after, before, strict=True))


def test_hmarl_slot_counts_the_terms_its_rounds_compute_again_and_restores_the_round():
    pytest.importorskip("torch")
    from benchmarks.hmarl_slot import recomputed_terms

    before = (executor._round, executor.numpy_exp_loop)
    shares = recomputed_terms(slots=2, cells=None)
    assert shares is not None
    assert set(shares) == {"first", "ahead", "all"}
    # Some terms are kept from the round before, never more computed than priced.
    assert all(0.0 < share <= 1.0 for share in shares.values())
    assert shares["all"] < 1.0
    assert (executor._round, executor.numpy_exp_loop) == before
