"""The compiled helpers give NumPy's figures to the last bit."""

import numpy as np
import pytest

from cnc6g.twin.jit import row_sum


@pytest.mark.parametrize("n", [0, 1, 5, 7, 8, 9, 16, 17, 18, 31, 128, 129, 200, 1000])
def test_row_sum_is_numpys_sum_to_the_last_bit(n):
    rng = np.random.default_rng(n)
    for _ in range(50):
        row = rng.random(n) * 10.0 ** rng.integers(-8, 9, size=n)
        row *= np.where(rng.random(n) < 0.3, -1.0, 1.0) * (rng.random(n) < 0.7)
        assert row_sum(row) == row.sum()
        assert np.float64(row_sum(row)).tobytes() == row.sum().tobytes()
