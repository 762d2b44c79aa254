"""The compiled helpers give NumPy's figures to the last bit."""

import numba
import numpy as np
import pytest

from cnc6g.twin.jit import exp_into, numpy_exp_loop, row_sum


@pytest.mark.parametrize("n", [0, 1, 5, 7, 8, 9, 16, 17, 18, 31, 128, 129, 200, 1000])
def test_row_sum_is_numpys_sum_to_the_last_bit(n):
    rng = np.random.default_rng(n)
    for _ in range(50):
        row = rng.random(n) * 10.0 ** rng.integers(-8, 9, size=n)
        row *= np.where(rng.random(n) < 0.3, -1.0, 1.0) * (rng.random(n) < 0.7)
        assert row_sum(row) == row.sum()
        assert np.float64(row_sum(row)).tobytes() == row.sum().tobytes()


@numba.njit
def _exp_first(loop, values, count):
    work = np.empty(5, dtype=np.int64)
    exp_into(loop, values, count, work)


def test_numpys_exp_loop_called_from_compiled_code_gives_np_exp_to_the_last_bit():
    loop = numpy_exp_loop()
    assert loop  # found on this NumPy (else compiled code falls back to calling np.exp)
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 8, 9, 63, 64, 65, 1000, 4099):
        for scale in (1e-6, 1e-2, 1.0, 30.0, 700.0):
            values = -rng.exponential(scale, n + 5)
            values[rng.random(n + 5) < 0.1] = 0.0
            for offset in (0, 1, 2):
                buffer = np.empty(n + 8)[offset : offset + n + 5]  # another alignment
                buffer[:] = values
                want = values.copy()
                with np.errstate(under="ignore"):
                    np.exp(want[:n], out=want[:n])
                _exp_first(loop, buffer, n)
                assert buffer.tobytes() == want.tobytes()  # the rest untouched too
