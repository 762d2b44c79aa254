"""Workload parameters fitted to published traces: a daily profile and a bursty arrival process.

Two published sources, both Azure's (Azure/AzurePublicDataset on GitHub):

- the daily cycle of Azure Functions 2019 (Shahrad et al., "Serverless in the Wild", USENIX ATC
  2020, Fig. 4: invocations per hour of the whole platform over two weeks, relative to the
  mean). The hourly values are digitised from the dataset's analysis notebook's copy of that
  figure (the paper's curve, marked "ATC"), then averaged per hour of day (UTC):
  :data:`AZURE_FUNCTIONS_2019_HOURLY`;
- the arrivals of the Azure LLM inference trace 2023 (Patel et al., "Splitwise", ISCA 2024), one
  hour of request timestamps of a conversation and of a coding service: their per-second counts
  are summarised by :func:`count_statistics` (:data:`LLM_CONVERSATION_2023`,
  :data:`LLM_CODE_2023`); the same trace's context and generated token counts per request are
  summarised by :func:`token_statistics` (:data:`LLM_CONVERSATION_TOKENS_2023`,
  :data:`LLM_CODE_TOKENS_2023`), from which :func:`work_cv` gives the coefficient of variation
  of a request's work.

:func:`fit_mmpp` turns such statistics into a two-state Markov-modulated Poisson process
(:class:`cnc6g.model.workload.Burstiness`) by moments: the mean, variance and third cumulant of
the count fix the two rates and the share of time in each; the decay of the autocorrelation fixes
how long the chain stays. :func:`fit_diurnal` turns an hourly profile (and optionally a weekly
one, :data:`AZURE_FUNCTIONS_2019_WEEKLY`) into :class:`cnc6g.model.workload.Diurnal`.
:func:`synthetic_counts` draws counts per slot, origin and service with those statistics (the
trace files shipped with the package).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cnc6g.model.workload import Burstiness, Diurnal

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

AZURE_FUNCTIONS_2019_HOURLY = (
    0.920,
    0.909,
    0.899,
    0.876,
    0.882,
    0.909,
    0.963,
    1.014,
    1.059,
    1.036,
    1.031,
    1.069,
    1.081,
    1.102,
    1.104,
    1.097,
    1.082,
    1.071,
    1.064,
    1.028,
    0.998,
    0.965,
    0.932,
    0.908,
)
"""Azure Functions 2019, invocations per hour of day 0-23 (UTC) relative to the daily mean.

Digitised from Fig. 4 of Shahrad et al. (USENIX ATC 2020) as redrawn in the dataset's analysis
notebook (curve "ATC", 15-28 July 2019, 322 hourly points; their digitised mean is 1.003),
averaged per hour of day over the two weeks. Trough 0.876 at 03:00, peak 1.104 at 14:00 (a
ratio of 1.26); weekdays average 1.06 and weekends 0.87 of the mean, which this daily profile
does not separate (:data:`AZURE_FUNCTIONS_2019_WEEKLY` does).
"""

AZURE_FUNCTIONS_2019_WEEKLY = (1.06, 1.06, 1.06, 1.06, 1.06, 0.87, 0.87)
"""Azure Functions 2019, invocations per day of the week Monday-Sunday relative to the mean.

From the same digitised curve as :data:`AZURE_FUNCTIONS_2019_HOURLY` (15 July 2019 was a
Monday): the weekdays average 1.06 of the two weeks' mean and the weekends 0.87; the week's
days weighted 5 : 2 average 1.006, the curve's digitised mean being 1.003.
"""


@dataclass(frozen=True)
class CountStatistics:
    """Statistics of a series of request counts per slot."""

    mean: float
    """Mean count per slot."""
    variance: float
    """Variance of the count per slot."""
    third_cumulant: float
    """Third central moment of the count per slot."""
    autocorrelation: tuple[float, ...]
    """Autocorrelation of the counts at lags 1, 2, ... slots."""

    @property
    def cv(self) -> float:
        """Coefficient of variation of the count per slot."""
        return math.sqrt(self.variance) / self.mean

    @property
    def dispersion(self) -> float:
        """Index of dispersion, variance over mean (1 for Poisson counts)."""
        return self.variance / self.mean


LLM_CONVERSATION_2023 = CountStatistics(
    mean=5.5310,
    variance=7.6612,
    third_cumulant=11.805,
    autocorrelation=(0.219, 0.178, 0.226, 0.206, 0.186, 0.206, 0.210, 0.198, 0.191, 0.203),
)
"""Per-second request counts of the conversation service in the Azure LLM inference trace 2023
(``AzureLLMInferenceTrace_conv.csv``: 19,364 of its 19,366 requests in 3,501 whole seconds from
the first; inter-arrival times with a CV of 1.09)."""

LLM_CODE_2023 = CountStatistics(
    mean=2.5665,
    variance=33.843,
    third_cumulant=707.94,
    autocorrelation=(0.757, 0.627, 0.522, 0.438, 0.391, 0.333, 0.296, 0.279, 0.268, 0.258),
)
"""Per-second request counts of the coding service in the Azure LLM inference trace 2023
(``AzureLLMInferenceTrace_code.csv``: 8,816 of its 8,819 requests in 3,435 whole seconds from the
first; inter-arrival times with a CV of 13.2)."""


@dataclass(frozen=True)
class TokenStatistics:
    """Statistics of the token counts of an LLM service's requests."""

    context_mean: float
    """Mean context (prompt) tokens per request."""
    context_cv: float
    """Coefficient of variation of the context tokens (of the data sent with a request)."""
    generated_mean: float
    """Mean generated tokens per request."""
    generated_cv: float
    """Coefficient of variation of the generated tokens (of the data returned)."""
    correlation: float
    """Correlation of a request's context and generated tokens."""


LLM_CONVERSATION_TOKENS_2023 = TokenStatistics(
    context_mean=1154.70,
    context_cv=0.9602,
    generated_mean=211.13,
    generated_cv=0.7714,
    correlation=-0.1124,
)
"""Token counts of the 19,366 requests of ``AzureLLMInferenceTrace_conv.csv`` (median context
1,020, generated 129)."""

LLM_CODE_TOKENS_2023 = TokenStatistics(
    context_mean=2047.85,
    context_cv=0.9638,
    generated_mean=27.88,
    generated_cv=2.1468,
    correlation=0.0012,
)
"""Token counts of the 8,819 requests of ``AzureLLMInferenceTrace_code.csv`` (median context
1,469, generated 13)."""

DECODE_TOKEN_RATIO = 10.0
"""Work of generating one token over that of reading one context token (see :func:`work_cv`)."""


def token_statistics(
    context: Sequence[float] | FloatArray, generated: Sequence[float] | FloatArray
) -> TokenStatistics:
    """Mean, coefficient of variation and correlation of requests' context and generated tokens.

    Raises:
        ValueError: fewer than two requests, arrays of different lengths, or a count that is
            negative, has a zero mean or does not vary.
    """
    c = np.asarray(context, dtype=float)
    g = np.asarray(generated, dtype=float)
    if c.shape != g.shape or c.ndim != 1 or c.size < 2:
        raise ValueError("context and generated must be 1-d, of one length, at least 2")
    for name, x in (("context", c), ("generated", g)):
        if (x < 0).any() or not x.mean() > 0 or not x.std() > 0:
            raise ValueError(f"{name} tokens must be >= 0 with a positive mean and spread")
    return TokenStatistics(
        context_mean=float(c.mean()),
        context_cv=float(c.std() / c.mean()),
        generated_mean=float(g.mean()),
        generated_cv=float(g.std() / g.mean()),
        correlation=float(np.corrcoef(c, g)[0, 1]),
    )


def work_cv(tokens: TokenStatistics, decode_ratio: float = DECODE_TOKEN_RATIO) -> float:
    """Coefficient of variation of an LLM request's work ``context + decode_ratio x generated``.

    The work model: the prompt phase processes the context tokens together, at a cost per
    token; the generation phase produces the tokens one by one, each costing ``decode_ratio``
    context tokens' work (Patel et al., Splitwise, ISCA 2024: a compute-bound prompt phase and
    a memory-bound token phase). Its variance is ``var(c) + r^2 var(g) + 2 r cov(c, g)``.

    Raises:
        ValueError: ``decode_ratio`` is negative.
    """
    if not decode_ratio >= 0:
        raise ValueError(f"decode_ratio must be >= 0, got {decode_ratio}")
    r = decode_ratio
    sc = tokens.context_cv * tokens.context_mean
    sg = tokens.generated_cv * tokens.generated_mean
    variance = sc**2 + r**2 * sg**2 + 2.0 * r * tokens.correlation * sc * sg
    return math.sqrt(max(variance, 0.0)) / (tokens.context_mean + r * tokens.generated_mean)


def data_size_cvs(
    tokens: TokenStatistics, input_fixed_share: float = 0.0, output_fixed_share: float = 0.0
) -> tuple[float, float]:
    """A service's ``(input_cv, output_cv)``: its requests' data sizes from their token counts.

    A request sends its context (the prompt) and receives the generated tokens, so its input
    size grows with its context tokens and its output size with its generated tokens. A size
    ``d0 + d1 x tokens`` whose fixed part ``d0`` (headers, a system prompt, media of a fixed
    size) is the share ``phi`` of its mean has the CV ``(1 - phi)`` times the tokens'; with no
    fixed part the size's CV is the tokens' (0.96 and 0.77 in the conversation service of the
    Azure LLM inference trace 2023, 0.96 and 2.15 in the code service).

    Raises:
        ValueError: a fixed share outside ``[0, 1)``, naming it.
    """
    for name, share in (
        ("input_fixed_share", input_fixed_share),
        ("output_fixed_share", output_fixed_share),
    ):
        if not 0.0 <= share < 1.0:
            raise ValueError(f"{name} must lie in [0, 1), got {share}")
    return (
        (1.0 - input_fixed_share) * tokens.context_cv,
        (1.0 - output_fixed_share) * tokens.generated_cv,
    )


def per_slot_counts(times_s: Sequence[float] | FloatArray, slot_s: float) -> IntArray:
    """Requests per slot of arrival times in seconds, over the whole slots from the first arrival.

    Raises:
        ValueError: ``slot_s`` is not positive or there are fewer than two arrivals.
    """
    if not slot_s > 0:
        raise ValueError(f"slot_s must be > 0, got {slot_s}")
    t = np.sort(np.asarray(times_s, dtype=float))
    if t.size < 2:
        raise ValueError("need at least two arrivals")
    whole = int((t[-1] - t[0]) // slot_s)
    index = ((t - t[0]) // slot_s).astype(np.int64)
    counts: IntArray = np.bincount(index[index < whole], minlength=whole).astype(np.int64)
    return counts


def count_statistics(counts: Sequence[float] | FloatArray, lags: int = 10) -> CountStatistics:
    """Mean, variance, third cumulant and autocorrelation at lags 1..``lags`` of ``counts``.

    Raises:
        ValueError: fewer than ``lags + 2`` counts, or a zero mean or variance.
    """
    c = np.asarray(counts, dtype=float)
    if c.size < lags + 2:
        raise ValueError(f"need more than {lags + 1} counts, got {c.size}")
    mean, variance = float(c.mean()), float(c.var())
    if not (mean > 0 and variance > 0):
        raise ValueError("counts must have a positive mean and variance")
    third = float(((c - mean) ** 3).mean())
    acf = tuple(float(np.corrcoef(c[:-k], c[k:])[0, 1]) for k in range(1, lags + 1))
    return CountStatistics(mean, variance, third, acf)


def fit_mmpp(stats: CountStatistics) -> Burstiness:
    """A two-state MMPP whose counts have ``stats``' mean, variance and skew, and its memory.

    The count is Poisson with a rate that takes two values; its cumulants add a Poisson part to
    the rate's: ``var(N) = m + var(L)``, ``k3(N) = m + 3 var(L) + k3(L)``. A two-valued rate with
    variance ``v`` and third cumulant ``k`` is high with probability
    ``p = (1 - g / sqrt(g^2 + 4)) / 2``, ``g = k / v^1.5`` its skewness, at
    ``m + sqrt(v (1 - p) / p)``, and low at ``m - sqrt(v p / (1 - p))`` (raised to 5 % of the mean
    where that is lower). The count's autocorrelation at lag ``k`` is ``(var(L) / var(N)) theta^k``
    with ``theta = 1 - a - b``, ``a`` and ``b`` the per-slot probabilities of leaving the low and
    the high state; ``theta`` is fitted to the logarithm of the measured autocorrelations by least
    squares through the origin, and ``a = p (1 - theta)``, ``b = (1 - p)(1 - theta)`` keep ``p``
    the share of time in the high state.

    Args:
        stats: statistics of per-slot counts, with at least one autocorrelation.

    Returns:
        The relative rates (low, high) and mean dwell times in slots.

    Raises:
        ValueError: the counts are not overdispersed (variance at most the mean), or no
            autocorrelation is positive.
    """
    m = stats.mean
    v = stats.variance - m
    if not v > 0:
        raise ValueError(
            f"counts with variance {stats.variance:.4g} <= mean {m:.4g} are not overdispersed; "
            "a Poisson count fits them"
        )
    k = stats.third_cumulant - m - 3.0 * v
    g = k / v**1.5
    p = (1.0 - g / math.sqrt(g * g + 4.0)) / 2.0
    high = m + math.sqrt(v * (1.0 - p) / p)
    low = max(m - math.sqrt(v * p / (1.0 - p)), 0.05 * m)
    if not any(r > 0 for r in stats.autocorrelation):
        raise ValueError("no positive autocorrelation: the rate has no memory to fit")
    # the rate's share of the count's variance, which the autocorrelation decays from
    share = v / stats.variance
    lags = [
        (lag, math.log(r / share))
        for lag, r in enumerate(stats.autocorrelation, start=1)
        if 0 < r < share
    ]
    theta = (
        math.exp(sum(lag * y for lag, y in lags) / sum(lag * lag for lag, _ in lags))
        if lags
        else 0.999
    )
    theta = min(max(theta, 0.0), 0.999)
    leave_low, leave_high = p * (1.0 - theta), (1.0 - p) * (1.0 - theta)
    return Burstiness(
        rates=[round(low / m, 4), round(high / m, 4)],
        dwell_slots=[round(max(1.0, 1.0 / leave_low), 2), round(max(1.0, 1.0 / leave_high), 2)],
    )


def mmpp_statistics(burstiness: Burstiness, mean: float, lags: int = 10) -> CountStatistics:
    """The count statistics a two-state ``burstiness`` gives at ``mean`` requests per slot.

    The inverse of :func:`fit_mmpp`: what its parameters imply (the targets a sampler is checked
    against when the fit had to bend a measured statistic, such as a low rate raised to 5 %).

    Raises:
        ValueError: ``burstiness`` does not have two states.
    """
    if len(burstiness.rates) != 2:
        raise ValueError(f"need a two-state burstiness, got {len(burstiness.rates)} states")
    leave_low, leave_high = (1.0 / d for d in burstiness.dwell_slots)
    p = leave_low / (leave_low + leave_high)  # share of time in the high state
    low, high = burstiness.rates
    scale = mean / ((1.0 - p) * low + p * high)
    lo, hi = low * scale, high * scale
    v = p * (1.0 - p) * (hi - lo) ** 2
    k = p * (1.0 - p) * (1.0 - 2.0 * p) * (hi - lo) ** 3
    theta = 1.0 - leave_low - leave_high
    variance = mean + v
    acf = tuple(v / variance * theta**lag for lag in range(1, lags + 1))
    return CountStatistics(mean, variance, mean + 3.0 * v + k, acf)


def fit_diurnal(
    hourly: Sequence[float] = AZURE_FUNCTIONS_2019_HOURLY,
    slots_per_hour: int = 3600,
    start_hour: int = 0,
    weekly: Sequence[float] | None = None,
    start_day: int = 0,
) -> Diurnal:
    """A daily profile from 24 hourly rates, scaled to a mean of 1 and rounded to 4 places.

    With ``weekly`` (7 daily rates, Monday first), the same for the day of the week.

    Raises:
        ValueError: not 24 hourly or 7 daily rates, or a negative one.
    """
    if len(hourly) != 24:
        raise ValueError(f"need 24 hourly rates, got {len(hourly)}")
    if any(h < 0 for h in hourly) or sum(hourly) <= 0:
        raise ValueError("hourly rates must be >= 0 and not all zero")
    mean = sum(hourly) / 24.0
    days = None
    if weekly is not None:
        if len(weekly) != 7:
            raise ValueError(f"need 7 daily rates, got {len(weekly)}")
        if any(w < 0 for w in weekly) or sum(weekly) <= 0:
            raise ValueError("daily rates must be >= 0 and not all zero")
        days = [round(w * 7.0 / sum(weekly), 4) for w in weekly]
    return Diurnal(
        profile=[round(h / mean, 4) for h in hourly],
        slots_per_hour=slots_per_hour,
        start_hour=start_hour,
        weekly=days,
        start_day=start_day,
    )


def synthetic_counts(
    mean: float,
    probabilities: FloatArray,
    slots: int,
    rng: np.random.Generator,
    burstiness: Burstiness | None = None,
    diurnal: Diurnal | None = None,
) -> IntArray:
    """Requests per slot and category, ``[slots, K]``: Poisson counts of a modulated mean.

    The mean of slot ``t`` is ``mean x rate(state_t) / stationary mean rate x profile(hour_t)``
    (times the day's rate where the profile has a weekly one);
    the chain starts in a state drawn from its stationary distribution; each slot's requests
    are split over the ``K`` categories by one multinomial draw with ``probabilities``.

    Raises:
        ValueError: a negative mean, fewer than one slot, or probabilities that are not a
            distribution.
    """
    if not mean >= 0:
        raise ValueError(f"mean must be >= 0, got {mean}")
    if slots < 1:
        raise ValueError(f"slots must be >= 1, got {slots}")
    p = np.asarray(probabilities, dtype=float)
    if p.ndim != 1 or (p < 0).any() or not math.isclose(float(p.sum()), 1.0, rel_tol=1e-9):
        raise ValueError("probabilities must be a 1-d distribution summing to 1")
    rate = np.ones(slots)
    if burstiness is not None:
        switch = np.array(burstiness.switch(), dtype=float)
        rates = np.array(burstiness.rates, dtype=float)
        leave = 1.0 - np.diag(switch)
        stationary = (1.0 / np.maximum(leave, 1e-12)) if len(rates) > 1 else np.ones(1)
        stationary = stationary / stationary.sum()  # equal jump probabilities: time ~ dwell
        state = int(rng.choice(len(rates), p=stationary))
        cdf = np.cumsum(switch, axis=1)
        u = rng.random(slots)
        for t in range(slots):
            rate[t] = rates[state]
            state = min(int((cdf[state] < u[t]).sum()), len(rates) - 1)
        rate /= float(stationary @ rates)
    if diurnal is not None:
        profile = np.array(diurnal.profile, dtype=float)
        hours = diurnal.start_hour + np.arange(slots) // diurnal.slots_per_hour
        rate *= profile[hours % 24] / profile.mean()
        if diurnal.weekly is not None:
            week = np.array(diurnal.weekly, dtype=float)
            rate *= week[(diurnal.start_day + hours // 24) % 7] / week.mean()
    totals = rng.poisson(mean * rate)
    counts: IntArray = np.stack([rng.multinomial(n, p) for n in totals]).astype(np.int64)
    return counts
