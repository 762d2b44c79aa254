"""Compiled kernels: Numba's ``njit`` with the project's settings, typed for mypy.

The twin's and the policies' hot loops (rounds of a few arithmetic steps over a few hundred to a
few thousand elements, where NumPy's per-call overhead outweighs the arithmetic) are compiled
with Numba. Kernels are compiled on their first call and cached on disk beside their module
(``__pycache__``, or ``NUMBA_CACHE_DIR`` when set), so only a process that finds no cache pays
the compile time. They do the same IEEE operations in the same order as the NumPy code they
replace (no ``fastmath``): decisions and results are the same bit for bit. Transcendental
functions stay in NumPy, whose vectorised ``exp`` may differ from the C library's in the last
bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np

F = TypeVar("F", bound=Callable[..., Any])


def kernel(function: F) -> F:
    """``function`` compiled in nopython mode, cached on disk, without the GIL."""
    return cast(F, numba.njit(cache=True, nogil=True)(function))


def inlined(function: F) -> F:
    """A :func:`kernel` that the kernels calling it compile into their own code.

    For small helpers called in loops: a call to a kernel compiled on its own costs more than
    a short loop's arithmetic. Numba's cache of a kernel is checked against its own source
    file only: after changing a helper, remove the cached kernels (``*.nbi`` and ``*.nbc``
    under ``__pycache__`` or ``NUMBA_CACHE_DIR``) of the modules that call it.
    """
    return cast(F, numba.njit(cache=True, nogil=True, inline="always")(function))


@inlined
def _block(a: np.ndarray, start: int, n: int) -> float:
    """NumPy's sum of ``n <= 128`` values from ``a[start]`` (8 partial sums from 8 values on)."""
    if n < 8:
        total: float = 0.0
        for i in range(n):
            total += a[start + i]
        return total
    r0, r1, r2, r3 = a[start], a[start + 1], a[start + 2], a[start + 3]
    r4, r5, r6, r7 = a[start + 4], a[start + 5], a[start + 6], a[start + 7]
    i = 8
    while i < n - n % 8:
        r0 += a[start + i]
        r1 += a[start + i + 1]
        r2 += a[start + i + 2]
        r3 += a[start + i + 3]
        r4 += a[start + i + 4]
        r5 += a[start + i + 5]
        r6 += a[start + i + 6]
        r7 += a[start + i + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        total += a[start + i]
        i += 1
    return total


@inlined
def row_sum(a: np.ndarray) -> float:
    """``a.sum()`` of a contiguous float64 row, to the last bit as NumPy sums it.

    NumPy adds a row reduced along its contiguous axis onto 0 pairwise: blocks of up to 128
    values (:func:`_block`), longer runs split in halves (a multiple of 8 first) whose sums are
    added. A compiled loop that needs the same sums as NumPy code (the same decisions
    downstream) uses this instead of a running total. The halves are walked with an explicit
    stack: Numba's on-disk cache does not take recursive kernels.
    """
    n = a.size
    if n <= 128:
        return 0.0 + _block(a, 0, n)
    return 0.0 + _halves(a)


@kernel
def _halves(a: np.ndarray) -> float:
    """NumPy's pairwise sum of more than 128 values: halves down to blocks, then added."""
    n = a.size
    first = np.empty(64, dtype=np.int64)  # each open range's start, size, and left half's sum
    size = np.empty(64, dtype=np.int64)
    left = np.empty(64)
    first[0], size[0] = 0, n
    top = 0
    value = 0.0
    going_down = True
    while True:
        if going_down:
            if size[top] <= 128:  # a block: its sum goes up to the range above
                value = _block(a, first[top], size[top])
                top -= 1
                going_down = False
            else:  # open the left half
                half = size[top] // 2
                half -= half % 8
                first[top + 1], size[top + 1] = first[top], half
                top += 1
            continue
        if top < 0:
            return value
        if first[top + 1] == first[top]:  # the left half came up: open the right half
            half = size[top + 1]
            left[top] = value
            first[top + 1], size[top + 1] = first[top] + half, size[top] - half
            top += 1
            going_down = True
        else:  # the right half came up: the range's sum goes up
            value = left[top] + value
            top -= 1
