"""Per-request data sizes that vary: a task's deadline probability over its transfer time.

A service's ``input_cv`` and ``output_cv`` give the coefficient of variation of a request's input
and output data size; the sizes' means stay ``input_mbit`` and ``output_mbit``, so the loads and
the energy (fluid, by mean bits) do not change. What changes is the probability of meeting the
deadline: a task's transfer time varies with its own sizes. Each size is its mean times a gamma
factor of mean 1 and the given CV (independent of each other and of the sojourn), so a task whose
transfers take ``a`` and ``b`` seconds at the mean sizes (the slot's time per Mbit of its path
times the sizes) spends ``T = a X_in + b X_out`` in transfers, of mean ``m = a + b`` and variance
``v = (a c_in)^2 + (b c_out)^2``.

With ``f(t)`` the existing conditional probability of meeting the deadline when the transfers
take ``t`` (the task's sojourn, M/G/1 wait, cold start or chain of steps within what is left), the
probability is ``E[f(a X_in + b X_out)]``. No moment matching: the two gamma terms are integrated
one inside the other by Gauss quadrature with :data:`NODES` nodes each (``NODES^2`` values of
``f`` per task; one integral where one of the two has no spread), the outer over the term of the
smaller variance. A single gamma matched to the sum's mean and variance (Welch-Satterthwaite) was
tried and dropped: where a small, nearly constant term joins a very skewed one (the code service's
CVs 0.96 and 2.15 with the output's time 3 to 10 times the input's) its distribution function is
0.2 off the sum's. Each rule is chosen per task and vectorised over tasks (Golub-Welsch: the nodes
are the eigenvalues of the rule's Jacobi matrix, batched):

- ``f`` is 0 once ``T`` passes ``u``, the time left for the transfers less the shortest sojourn
  (the deadline less the delays; less the work for deterministic work). A rule over
  ``[0, inf)`` loses its accuracy to the kink of ``f`` at ``u`` unless ``u`` is in the gamma's
  tail, so one of three rules is taken per task, ``k`` and ``theta`` the gamma's shape and scale:
- ``u / theta <= `` :data:`SWITCH` (the gamma's density varies slowly over ``[0, u]``):
  Gauss-Jacobi over ``[0, u]`` with the weight ``t^(k - 1)``, the density's other factor
  ``exp(-t / theta)`` joining ``f`` in the integrand;
- else, ``u`` at least :data:`TAIL` standard deviations above the mean: generalised
  Gauss-Laguerre over ``[0, inf)``, the gamma's own rule (weight ``t^(k - 1) exp(-t / theta)``);
- else (a narrow gamma, shape above 6, whose bulk reaches ``u``): Gauss-Legendre over its bulk
  below ``u``, from :data:`BULK` standard deviations below the mean, times the density.

Against the closed form for an exponential sojourn (the tests' grid of CVs 0.1-3, transfers
from a tenth to twice the sojourn's mean) the error is below 2e-4; against a million draws of
two transfers and the sojourn, below 3e-3 (the draws' own noise is about 5e-4). For the inner
integral ``u`` is the time left less the outer node. A service with both CVs 0 keeps the fixed
sizes, bit for bit: the twin does not call this module for it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from scipy.special import gammaln

from cnc6g.twin.system import FloatArray

NODES = 8
"""Nodes of the quadrature rule per task."""

SWITCH = 16.0
"""Largest ``u / theta`` integrated over ``[0, u]`` by Gauss-Jacobi."""

TAIL = 4.0
"""Standard deviations above the mean beyond which ``u`` is in the tail (Gauss-Laguerre)."""

BULK = 4.0
"""Standard deviations below the mean from which a narrow gamma's bulk is integrated."""


@functools.lru_cache(maxsize=16)
def _legendre(n: int) -> tuple[FloatArray, FloatArray]:
    x, w = np.polynomial.legendre.leggauss(n)
    return x, w


def transfer_moments(
    a: FloatArray, b: FloatArray, cv_in: FloatArray, cv_out: FloatArray
) -> tuple[tuple[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]:
    """Means and variances of ``a X_in`` and ``b X_out``, each ``X`` of mean 1 and its CV."""
    return (a, (a * cv_in) ** 2), (b, (b * cv_out) ** 2)


def _rule(diag: FloatArray, off: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Nodes and normalised weights of Jacobi matrices ``[M, n]`` (Golub-Welsch)."""
    M, n = diag.shape
    jac = np.zeros((M, n, n))
    idx = np.arange(n)
    jac[:, idx, idx] = diag
    jac[:, idx[1:], idx[:-1]] = off
    jac[:, idx[:-1], idx[1:]] = off
    x, vec = np.linalg.eigh(jac)
    return x, vec[:, 0, :] ** 2


def laguerre_rule(alpha: FloatArray, n: int = NODES) -> tuple[FloatArray, FloatArray]:
    """Generalised Gauss-Laguerre rules ``[M, n]``, weight ``x^alpha e^-x``, weights sum to 1."""
    alpha = np.asarray(alpha, dtype=float)
    j = np.arange(n, dtype=float)
    diag = 2.0 * j[None, :] + alpha[:, None] + 1.0
    jj = j[None, 1:]
    off = np.sqrt(jj * (jj + alpha[:, None]))
    return _rule(diag, off)


def jacobi_rule(beta: FloatArray, n: int = NODES) -> tuple[FloatArray, FloatArray]:
    """Gauss-Jacobi rules ``[M, n]`` on ``[0, 1]``, weight ``u^beta``, weights summing to 1."""
    b = np.asarray(beta, dtype=float)[:, None]
    j = np.arange(n, dtype=float)[None, :]
    s = 2.0 * j + b  # 2j + alpha + beta with alpha = 0
    diag = np.where(j == 0, b / (b + 2.0), b**2 / np.where(j == 0, 1.0, s * (s + 2.0)))
    jj, ss = j[:, 1:], s[:, 1:]
    off = np.sqrt(4.0 * jj * jj * (jj + b) * (jj + b) / (ss**2 * (ss + 1.0) * (ss - 1.0)))
    x, w = _rule(diag, off)
    return (x + 1.0) / 2.0, w


@functools.lru_cache(maxsize=4096)
def _one_rule(kind: str, alpha: float, n: int) -> tuple[FloatArray, FloatArray]:
    rule = laguerre_rule if kind == "laguerre" else jacobi_rule
    x, w = rule(np.array([alpha]), n)
    return x[0], w[0]


def _rules(kind: str, alpha: FloatArray, n: int) -> tuple[FloatArray, FloatArray]:
    """The rules of ``alpha`` ``[M]``, computed once per value (a service's CV fixes it).

    ``alpha`` is rounded to 1e-9 first: a row's shape ``mean^2 / var`` is ``1 / cv^2`` but for
    rounding, and a rule moves by far less than that.
    """
    alpha = np.round(alpha, 9)
    if (alpha == alpha[0]).all():  # one shape (one CV): the rule itself, broadcast
        x1, w1 = _one_rule(kind, float(alpha[0]), n)
        shape = (alpha.shape[0], n)
        return np.broadcast_to(x1, shape), np.broadcast_to(w1, shape)
    uniq, inv = np.unique(alpha, return_inverse=True)
    rules = [_one_rule(kind, float(a), n) for a in uniq]
    x = np.stack([r[0] for r in rules])
    w = np.stack([r[1] for r in rules])
    return x[inv.ravel()], w[inv.ravel()]


def transfer_rule(
    upper: FloatArray, mean: FloatArray, var: FloatArray, n: int = NODES
) -> tuple[FloatArray, FloatArray]:
    """Transfer times ``[M, n]`` and weights such that ``E[f(T)] ~ sum w f(t)``.

    ``T`` is gamma of ``mean`` and ``var`` ``[M]``; ``f`` must be 0 beyond ``upper`` ``[M]``.
    A row of variance 0 gets ``t = mean`` with weight 1 (its other weights 0).
    """
    mean, var, upper = (np.asarray(x, dtype=float) for x in (mean, var, upper))
    M = mean.shape[0]
    t = np.repeat(mean[:, None], n, axis=1)
    w = np.zeros((M, n))
    w[:, 0] = 1.0
    vary = (var > 0) & (mean > 0)
    if not vary.any():
        return t, w
    k = np.where(vary, mean**2 / np.where(vary, var, 1.0), 1.0)  # gamma shape
    theta = np.where(vary, var / np.where(vary, mean, 1.0), 1.0)  # gamma scale
    c = upper / theta
    short = vary & (c <= SWITCH)
    w[vary] = 0.0
    gone = short & (c <= 0)  # no time left for any transfer: f is 0 throughout
    short &= ~gone
    if short.any():
        u, wu = _rules("jacobi", k[short] - 1.0, n)
        ks, cs = k[short][:, None], c[short][:, None]
        # The gamma's density over [0, upper] with t = upper u: the rule's weight u^(k-1) times
        # exp(-c u), normalised by c^k / Gamma(k + 1) (the rule's weights sum to 1 = k int u^(k-1)).
        w[short] = wu * np.exp(ks * np.log(cs) - gammaln(ks + 1.0) - cs * u)
        t[short] = upper[short][:, None] * u
    sd = np.sqrt(np.where(vary, var, 0.0))
    far = vary & ~short & ~gone & (upper >= mean + TAIL * sd)
    if far.any():
        x, wx = _rules("laguerre", k[far] - 1.0, n)
        w[far] = wx
        t[far] = theta[far][:, None] * x
    middle = vary & ~short & ~gone & ~far
    if middle.any():  # a narrow gamma (shape above 3) reaching upper: its bulk below upper
        lo = np.maximum(mean[middle] - BULK * sd[middle], 0.0)[:, None]
        hi = upper[middle][:, None]
        km, th = k[middle][:, None], theta[middle][:, None]
        half = (hi - lo) / 2.0
        lx, lw = _legendre(n)
        tm = lo + half * (lx[None, :] + 1.0)
        log_pdf = (km - 1.0) * np.log(tm) - tm / th - gammaln(km) - km * np.log(th)
        w[middle] = half * lw[None, :] * np.exp(log_pdf)
        t[middle] = tm
    return t, w


def expected(
    p_given_slack: Callable[[FloatArray], FloatArray],
    slack: FloatArray,
    first: tuple[FloatArray, FloatArray],
    second: tuple[FloatArray, FloatArray],
    floor: FloatArray | float = 0.0,
    n: int = NODES,
) -> FloatArray:
    """``E[f(T1 + T2)]`` ``[M]`` for independent gamma transfer times ``T1`` and ``T2``.

    ``first`` and ``second`` are their means and variances (each ``([M], [M])``); ``slack``
    ``[M]`` is the time left at the mean transfer times and ``p_given_slack`` maps the time left
    ``[M, w]`` to the probability of meeting the deadline (0 where the time left is below
    ``floor``, the shortest sojourn). The outer integral is over the part of the smaller
    variance, the inner one (whose rule sees the kink of ``f``) over the other, given the outer
    node; where one part has no variance in any row, one integral over the other.
    """
    (m1, v1), (m2, v2) = (
        tuple(np.asarray(x, dtype=float) for x in part) for part in (first, second)
    )
    base = slack + m1 + m2  # time for the transfers and the sojourn
    upper = base - floor
    if not (v1 > 0).any() or not (v2 > 0).any():  # one integral: the fixed part is its mean
        m, v = (m2, v2) if (v2 > 0).any() else (m1, v1)
        t, w = transfer_rule(upper - (m1 + m2 - m), m, v, n)
        p = p_given_slack(base[:, None] - (m1 + m2 - m)[:, None] - t)
        return np.asarray(np.clip((w * p).sum(axis=1), 0.0, 1.0), dtype=float)
    swap = v1 > v2  # the outer part has the smaller variance
    mo, vo = np.where(swap, m2, m1), np.where(swap, v2, v1)
    mi, vi = np.where(swap, m1, m2), np.where(swap, v1, v2)
    M = base.shape[0]
    to, wo = transfer_rule(upper, mo, vo, n)  # [M, n]
    ti, wi = transfer_rule(
        (upper[:, None] - to).reshape(-1), np.repeat(mi, n), np.repeat(vi, n), n
    )  # [M * n, n]
    left = (base[:, None] - to)[:, :, None] - ti.reshape(M, n, n)
    p = p_given_slack(left.reshape(M, n * n)).reshape(M, n, n)
    out = (wo[:, :, None] * wi.reshape(M, n, n) * p).sum(axis=(1, 2))
    return np.asarray(np.clip(out, 0.0, 1.0), dtype=float)
