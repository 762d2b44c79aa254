"""The sampler's per-request terms, gathered in one pass, equal their NumPy reference bitwise."""

import numpy as np
import pytest

from cnc6g.policies import GreedyPolicy
from cnc6g.twin import Twin
from cnc6g.twin.sampler import draw_probabilities, request_terms, request_terms_numpy


@pytest.mark.parametrize("name", ["tiny_system", "case_system"])
def test_request_terms_equal_the_numpy_ones(name, request):
    sy = request.getfixturevalue(name)
    B = 2
    twin = Twin(sy, batch=B, seed=3)
    policy = GreedyPolicy()
    policy.reset(sy, 0)
    rng = np.random.default_rng(4)
    for _ in range(3):
        decision = policy.decide(twin.observe(0))
        outcome = twin.step(decision)
    S = sy.n_services
    for copy in range(B):
        P = 7
        rows = np.sort(rng.choice(sy.n_origins * S, P, replace=False))
        served = rng.random((P, sy.n_candidates)) * (rng.random((P, sy.n_candidates)) < 0.4)
        pvals, column = draw_probabilities(served, np.full(P, 5))
        drawn = rng.multinomial(5, pvals)[:, :-1]
        got = request_terms(outcome, copy, drawn, column, rows)
        want = request_terms_numpy(outcome, copy, drawn, column, rows)
        assert got[0].size == drawn.sum()
        for g, w in zip(got, want, strict=True):
            assert g.dtype == w.dtype
            assert g.tobytes() == w.tobytes()
