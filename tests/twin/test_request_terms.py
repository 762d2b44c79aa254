"""The sampler's compiled gathers (served tasks by row, per-request terms) equal NumPy's bitwise."""

import numpy as np
import pytest

from cnc6g.policies import GreedyPolicy
from cnc6g.twin import Twin
from cnc6g.twin.sampler import (
    draw_probabilities,
    request_terms,
    request_terms_numpy,
    served_by_row,
    served_by_row_numpy,
)


def _stepped_twin(sy, batch):
    twin = Twin(sy, batch=batch, seed=3)
    policy = GreedyPolicy()
    policy.reset(sy, 0)
    for _ in range(3):
        outcome = twin.step(policy.decide(twin.observe(0)))
    return outcome


@pytest.mark.parametrize("name", ["tiny_system", "case_system"])
def test_served_by_row_equals_the_numpy_one(name, request):
    sy = request.getfixturevalue(name)
    outcome = _stepped_twin(sy, 2)
    rng = np.random.default_rng(6)
    for copy in range(2):
        for share in (0.3, 1.0):
            size = max(1, int(share * sy.n_origins * sy.n_services))
            rows = np.sort(rng.choice(sy.n_origins * sy.n_services, size, replace=False))
            got = served_by_row(outcome, copy, rows)
            want = served_by_row_numpy(outcome, copy, rows)
            assert got.tobytes() == want.tobytes()
            assert got.any()


@pytest.mark.parametrize("name", ["tiny_system", "case_system"])
def test_request_terms_equal_the_numpy_ones(name, request):
    sy = request.getfixturevalue(name)
    B = 2
    outcome = _stepped_twin(sy, B)
    rng = np.random.default_rng(4)
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
