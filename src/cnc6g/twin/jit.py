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

F = TypeVar("F", bound=Callable[..., Any])


def kernel(function: F) -> F:
    """``function`` compiled in nopython mode, cached on disk, without the GIL."""
    return cast(F, numba.njit(cache=True, nogil=True)(function))
