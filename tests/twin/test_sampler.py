import numpy as np
import pytest

from cnc6g.policies import GreedyPolicy
from cnc6g.twin import Twin, evaluate_slot, sample_requests
from cnc6g.twin.sampler import draw_probabilities, draw_probabilities_numpy


@pytest.fixture(scope="module")
def cold_overloaded_slot(tiny_system):
    """One slot: every service starts on X-dc this slot, 30 requests per flow overload it."""
    sy = tiny_system
    x_dc = sy.node_names.index("X-dc")
    deployment = np.zeros((1, sy.n_services, sy.n_nodes), dtype=bool)
    deployment[0, :, x_dc] = True
    routing = np.zeros((1, sy.n_origins, sy.n_services, sy.n_candidates))
    for o in range(sy.n_origins):
        routing[0, o, :, np.flatnonzero(sy.candidates[o] == x_dc)] = 1.0
    demand = np.full((1, sy.n_origins, sy.n_services), 30)
    outcome = evaluate_slot(
        sy,
        demand.astype(float),
        np.full((1, sy.n_origins), 200.0),
        np.full((1, sy.n_origins), 400.0),
        deployment,
        np.zeros_like(deployment),
        routing,
    )
    assert 0 < outcome.served[0] < outcome.offered[0]  # some are dropped
    assert outcome.flow_cold_fraction[0].max() > 0
    return demand, outcome


def test_served_plus_dropped_is_offered_every_slot(tiny_system):
    twin = Twin(tiny_system, seed=0)
    policy = GreedyPolicy()
    policy.reset(tiny_system, 0)
    rng = np.random.default_rng(0)
    for _ in range(10):
        demand = twin.demand.copy()
        outcome = twin.step(policy.decide(twin.observe()))
        sample = sample_requests(outcome, demand, tiny_system.deadline_s, rng)
        assert sample.offered == demand.sum()
        assert sample.latency_s.size + sample.dropped == sample.offered
        assert sample.dropped >= 0
        drawn = np.zeros(demand.shape[1:], dtype=int)
        np.add.at(drawn, (sample.origin, sample.service), 1)
        assert (drawn <= demand[0]).all()


def test_sample_follows_the_chosen_copy(tiny_system):
    twin = Twin(tiny_system, batch=3, seed=1)
    policy = GreedyPolicy()
    policy.reset(tiny_system, 0)
    demand = twin.demand.copy()
    outcome = twin.step(policy.decide(twin.observe()))
    sample = sample_requests(outcome, demand, tiny_system.deadline_s, np.random.default_rng(), 2)
    assert sample.offered == demand[2].sum()


def test_sampled_totals_agree_with_fluid_over_many_slots(tiny_system):
    twin = Twin(tiny_system, seed=3)
    policy = GreedyPolicy()
    policy.reset(tiny_system, 3)
    rng = np.random.default_rng(3)
    fluid_served = fluid_satisfied = 0.0
    served = satisfied = 0
    for _ in range(60):
        demand = twin.demand.copy()
        outcome = twin.step(policy.decide(twin.observe()))
        sample = sample_requests(outcome, demand, tiny_system.deadline_s, rng)
        fluid_served += outcome.served[0]
        fluid_satisfied += outcome.satisfied[0]
        served += sample.latency_s.size
        satisfied += int(sample.satisfied.sum())
    assert served > 10_000
    assert served == pytest.approx(fluid_served, rel=0.01)
    assert satisfied == pytest.approx(fluid_satisfied, rel=0.02)


def test_sampled_mean_latency_per_flow_agrees_with_fluid(tiny_system, cold_overloaded_slot):
    demand, outcome = cold_overloaded_slot
    rng = np.random.default_rng(5)
    samples = [sample_requests(outcome, demand, tiny_system.deadline_s, rng) for _ in range(400)]
    latency = np.concatenate([s.latency_s for s in samples])
    origin = np.concatenate([s.origin for s in samples])
    service = np.concatenate([s.service for s in samples])
    # every (origin, service) goes to a single candidate here, so it is one flow
    k = outcome.flow_served[0].argmax(axis=-1)
    for o in range(tiny_system.n_origins):
        for s in range(tiny_system.n_services):
            mine = latency[(origin == o) & (service == s)]
            expected_mean = outcome.flow_latency_mean_s[0, o, s, k[o, s]]
            assert mine.size > 4000
            # within 4 standard errors of the sample mean
            assert abs(mine.mean() - expected_mean) < 4 * mine.std() / np.sqrt(mine.size), (o, s)


def test_sampled_satisfaction_per_flow_agrees_with_fluid(tiny_system, cold_overloaded_slot):
    demand, outcome = cold_overloaded_slot
    rng = np.random.default_rng(6)
    samples = [sample_requests(outcome, demand, tiny_system.deadline_s, rng) for _ in range(400)]
    satisfied = np.concatenate([s.satisfied for s in samples])
    origin = np.concatenate([s.origin for s in samples])
    service = np.concatenate([s.service for s in samples])
    fluid_rate = outcome.flow_satisfied[0].sum(axis=-1) / outcome.flow_served[0].sum(axis=-1)
    for o in range(tiny_system.n_origins):
        for s in range(tiny_system.n_services):
            mine = satisfied[(origin == o) & (service == s)]
            p = fluid_rate[o, s]
            # within 4 binomial standard errors
            assert abs(mine.mean() - p) < 4 * np.sqrt(p * (1 - p) / mine.size) + 1e-3, (o, s)
    dropped = sum(s.dropped for s in samples) / (400 * demand.sum())
    assert dropped == pytest.approx(1 - outcome.served[0] / outcome.offered[0], abs=0.01)


@pytest.mark.parametrize("k", [3, 13, 17])
def test_compact_draw_probabilities_draw_as_the_full_ones(k):
    """The candidates with a share only: the same probabilities and the same multinomial draws."""
    rng = np.random.default_rng(k)
    for trial in range(20):
        rows = 50
        n = rng.integers(1, 40, size=rows)
        served = rng.random((rows, k)) * n[:, None] * (rng.random((rows, k)) < 0.3)
        if trial % 2:  # rows served in full, or above (scaled down), and a row served nothing
            served[:10] *= 3.0
            served[10] = 0.0
        full = draw_probabilities_numpy(served, n)
        compact, column = draw_probabilities(served, n)
        expanded = np.zeros_like(full)
        at = np.nonzero(column >= 0)
        expanded[at[0], column[at]] = compact[:, :-1][at]
        expanded[:, -1] = compact[:, -1]
        np.testing.assert_array_equal(expanded, full)
        assert ((compact[:, :-1] > 0) <= (column >= 0)).all()
        one, other = np.random.default_rng(trial), np.random.default_rng(trial)
        want = one.multinomial(n, full)[:, :-1]
        drawn = other.multinomial(n, compact)[:, :-1]
        got = np.zeros_like(want)
        got[at[0], column[at]] = drawn[at]
        np.testing.assert_array_equal(got, want)
        assert one.random() == other.random()  # the generators are in the same state after
