"""Compiled kernels: Numba's ``njit`` with the project's settings, typed for mypy.

The twin's and the policies' hot loops (rounds of a few arithmetic steps over a few hundred to a
few thousand elements, where NumPy's per-call overhead outweighs the arithmetic) are compiled
with Numba. Kernels are compiled on their first call and cached on disk beside their module
(``__pycache__``, or ``NUMBA_CACHE_DIR`` when set), so only a process that finds no cache pays
the compile time. They do the same IEEE operations in the same order as the NumPy code they
replace (no ``fastmath``): decisions and results are the same bit for bit. Transcendental
functions stay in NumPy, whose vectorised ``exp`` may differ from the C library's in the last
bit: a kernel that needs ``exp`` between compiled steps calls NumPy's own loop
(:func:`numpy_exp_loop`, :func:`exp_into`) rather than return to Python for it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
from llvmlite import ir
from numba.extending import intrinsic

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


def _ufunc_loop_address(ufunc: np.ufunc, types: str) -> int:
    """The address of ``ufunc``'s inner loop for ``types`` (``"d->d"``), or 0 when not found.

    Read from the ufunc's ``PyUFuncObject`` (NumPy's C API: after the object header, four
    ints, then ``functions``, ``data``, ``ntypes``, a reserved int, ``name`` and ``types``),
    taken only where every field read agrees with what NumPy says of the ufunc (its arity,
    name and loops) and the loop needs no data of its own.
    """
    import ctypes

    def num(codes: str) -> list[int]:
        return [np.dtype(c).num for c in codes.replace("->", "")]

    at = id(ufunc)
    word = ctypes.sizeof(ctypes.c_void_p)
    head = 2 * word  # reference count and type
    nin, nout, nargs = (ctypes.c_int.from_address(at + head + 4 * i).value for i in range(3))
    ntypes = ctypes.c_int.from_address(at + head + 16 + 2 * word).value
    if (nin, nout, nargs, ntypes) != (ufunc.nin, ufunc.nout, ufunc.nargs, ufunc.ntypes):
        return 0  # not the layout assumed: no pointer of it is followed
    name = ctypes.c_char_p.from_address(at + head + 24 + 2 * word).value
    if name != ufunc.__name__.encode():
        return 0
    codes = ctypes.c_void_p.from_address(at + head + 24 + 3 * word).value
    loops = [num(loop) for loop in ufunc.types]
    if not codes or list(ctypes.string_at(codes, ntypes * nargs)) != [
        code for loop in loops for code in loop
    ]:
        return 0
    if num(types) not in loops:
        return 0
    i = loops.index(num(types))
    functions = ctypes.c_void_p.from_address(at + head + 16).value
    data = ctypes.c_void_p.from_address(at + head + 16 + word).value
    if not functions or (data and ctypes.c_void_p.from_address(data + word * i).value):
        return 0
    return ctypes.c_void_p.from_address(functions + word * i).value or 0


def _call_loop_typed(typingctx: Any, loop: Any, args: Any, shape: Any) -> Any:
    """Call the ufunc inner loop at address ``loop``, without loop data.

    ``args`` is the address of the arrays' pointers, ``shape`` that of the count followed by
    the strides (``npy_intp`` each), as NumPy calls its loops.
    """
    del typingctx
    signature = numba.types.void(loop, args, shape)

    def codegen(context: Any, builder: Any, sig: Any, values: Any) -> None:
        del context, sig
        address, arrays, sizes = values
        byte = ir.IntType(8).as_pointer()
        intp = ir.IntType(64).as_pointer()
        kind = ir.FunctionType(ir.VoidType(), [byte.as_pointer(), intp, intp, byte])
        function = builder.inttoptr(address, kind.as_pointer())
        count = builder.inttoptr(sizes, intp)
        strides = builder.gep(count, [ir.Constant(ir.IntType(64), 1)])
        pointers = builder.inttoptr(arrays, byte.as_pointer())
        builder.call(function, [pointers, count, strides, ir.Constant(byte, None)])

    return signature, codegen


_call_loop: Any = intrinsic(_call_loop_typed)


@inlined
def exp_into(loop: int, values: np.ndarray, count: int, work: np.ndarray) -> None:
    """``np.exp(values[:count], out=values[:count])`` through NumPy's own loop at ``loop``.

    ``loop`` is :func:`numpy_exp_loop`'s, ``values`` a contiguous float64 array, ``work`` 5
    int64 to hold the loop's arguments.
    """
    work[0] = values.ctypes.data
    work[1] = values.ctypes.data
    work[2] = count
    work[3] = 8
    work[4] = 8
    _call_loop(loop, work.ctypes.data, work.ctypes.data + 16)


@functools.cache
def numpy_exp_loop() -> int:
    """The address of NumPy's float64 ``exp`` loop, the one ``np.exp`` runs (0: none found).

    Compiled code calling it (:func:`exp_into`) gets NumPy's exponentials to the last bit,
    where the C library's ``exp`` that compiled code calls otherwise may differ in the last
    bit. Taken only where calling it gives ``np.exp``'s values, bit for bit, on values
    across its range (and at offsets that vary its alignment).
    """
    import ctypes

    try:
        address = _ufunc_loop_address(np.exp, "d->d")
    except (OSError, ValueError, TypeError):
        return 0
    if not address:
        return 0
    kind = ctypes.CFUNCTYPE(
        None,
        ctypes.POINTER(ctypes.c_void_p),
        ctypes.POINTER(ctypes.c_ssize_t),
        ctypes.POINTER(ctypes.c_ssize_t),
        ctypes.c_void_p,
    )
    loop = kind(address)
    rng = np.random.default_rng(0)
    sample = np.concatenate(
        [-rng.exponential(scale, 257) for scale in (1e-3, 0.1, 1.0, 10.0, 100.0, 1000.0)]
        + [rng.normal(0.0, 300.0, 257), np.array([0.0, -0.0, 709.0, 710.0, -745.0, -746.0])]
    )
    with np.errstate(all="ignore"):
        want = np.exp(sample)
    for offset in range(3):
        buffer = np.zeros(sample.size + offset)
        values = buffer[offset:]
        values[:] = sample
        pointers = (ctypes.c_void_p * 2)(values.ctypes.data, values.ctypes.data)
        shape = (ctypes.c_ssize_t * 1)(values.size)
        strides = (ctypes.c_ssize_t * 2)(8, 8)
        loop(pointers, shape, strides, None)
        if values.tobytes() != want.tobytes():
            return 0
    return address
