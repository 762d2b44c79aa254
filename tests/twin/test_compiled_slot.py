"""The slot's compiled passes and its cache of deployment terms give NumPy's figures, bit for bit.

:func:`cnc6g.twin.evaluate_slot` runs its passes over the flows as compiled kernels in double
precision and reuses what it computed from an unchanged deployment (:class:`SlotCache`). Both
are checked here against the plain NumPy evaluation (``compiled=False``, no cache) on random
systems and slots: every field of the outcome must be the same to the last bit.
"""

import dataclasses

import numpy as np
import pytest
from factories import random_slot

from cnc6g.scenarios import load_scenario
from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.twin import compile_scenario, evaluate_slot
from cnc6g.twin.dynamics import SlotCache, _add_by_demand
from cnc6g.twin.system import System


def _assert_same(got, want, where="outcome"):
    """Every field of two outcomes (nested dataclasses, dicts, arrays) equal, NaN with NaN."""
    if isinstance(want, System):
        assert got is want
    elif dataclasses.is_dataclass(want):
        assert type(got) is type(want), where
        for field in dataclasses.fields(want):
            name = field.name
            _assert_same(getattr(got, name), getattr(want, name), f"{where}.{name}")
    elif isinstance(want, dict):
        assert got.keys() == want.keys(), where
        for key in want:
            _assert_same(got[key], want[key], f"{where}[{key}]")
    elif isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray), where
        assert got.dtype == want.dtype, where
        np.testing.assert_array_equal(got, want, err_msg=where, strict=True)
    else:
        assert got == want, where


SYSTEMS = [
    # synthetic (cells, services, candidates per origin, seed) or a preset's name
    (2, 4, None, 0),
    (5, 9, 3, 1),
    (50, 8, 16, 2),  # past the dense incidence limit: the hop-by-hop path
    "xr-offload",  # services placed step by step
    "env-sensing",
    "paper-case-study-calibrated-bursty",  # the M/G/1 sojourn, wake-ups
    "paper-case-study-38901",  # the geometry-based radio
]


def _system(spec):
    if isinstance(spec, str):
        return compile_scenario(load_scenario(spec))
    cells, services, k, seed = spec
    scenario = synthetic_scenario(
        "random", n_cells=cells, n_services=services, candidates_per_origin=k, seed=seed
    )
    return compile_scenario(scenario)


@pytest.mark.parametrize("spec", SYSTEMS, ids=str)
def test_compiled_passes_equal_numpys(spec):
    system = _system(spec)
    rng = np.random.default_rng(7)
    B = 3
    served = 0.0
    for trial in range(6):
        args = list(random_slot(system, rng, batch=B, sparsity=(0.05, 0.5, 1.0)[trial % 3]))
        extra = {}
        if trial % 2 == 1:  # hard CPU quotas
            raw = rng.random(args[3].shape) * args[3]
            extra["cpu_share"] = raw / np.maximum(raw.sum(axis=1, keepdims=True), 1.0)
        if trial in (2, 5):  # air jitter
            extra["radio_delay_s"] = rng.normal(0.0, 1e-3, size=(B, system.n_origins))
        if trial in (2, 4):  # background load (processor sharing)
            extra["background_gcps"] = rng.random((B, system.n_nodes)) * system.capacity * 0.3
            extra["background_mbps"] = rng.random((B, system.n_origins, 2)) * 20.0
        if trial == 3:  # instances still starting from the slot before
            extra["starting"] = rng.random(args[3].shape) * 0.5 * args[3]
        got = evaluate_slot(system, *args, **extra)
        want = evaluate_slot(system, *args, **extra, compiled=False)
        _assert_same(got, want)
        served += want.served.sum()
    assert served > 0  # the cases exercise served flows


@pytest.mark.parametrize("spec", SYSTEMS[:4], ids=str)
def test_cached_deployment_terms_equal_fresh_ones(spec):
    """Slots that keep, change, restore and edit in place the deployment, with and without."""
    system = _system(spec)
    other = compile_scenario(system.scenario)  # the same scenario, another system object
    rng = np.random.default_rng(11)
    args = list(random_slot(system, rng, batch=2, sparsity=0.5))
    first = args[3].copy()
    second = system.can_host[None] & (rng.random(first.shape) < 0.3)
    cache = SlotCache()
    plan = [first, first, second, second, first, "edit", first, "other", first]
    sy = system
    for step in plan:
        if isinstance(step, np.ndarray):
            args[3] = step.copy()
            sy = system
        elif step == "edit":  # the same array, one instance dropped in place
            on = np.argwhere(args[3])
            args[3][tuple(on[len(on) // 2])] = False
        else:
            sy = other
        args[0] = rng.integers(0, 20, size=args[0].shape) * (rng.random(args[0].shape) < 0.5)
        got = evaluate_slot(sy, *args, cache=cache)
        want = evaluate_slot(sy, *args)
        _assert_same(got, want)
        args[4] = args[3].copy()  # what ran is the next slot's previous deployment


def test_sums_by_demand_equal_the_scatter_sum():
    """The per-demand sums of the flows' figures: NumPy's bincount over the demand rows."""
    rng = np.random.default_rng(3)
    B, O, S = 3, 7, 5
    for size in (0, 1, 40, 400):  # rows repeated: sums of several flows
        copy, origin, service = (rng.integers(0, n, size) for n in (B, O, S))
        values = rng.random(size) * 10.0 ** rng.integers(-6, 6, size)
        rows = (copy * O + origin) * S + service
        want = np.bincount(rows, values, B * O * S).astype(np.float64)  # int64 when empty
        got = np.zeros(B * O * S)
        _add_by_demand(copy, origin, service, values, O, S, got)
        np.testing.assert_array_equal(got, want, strict=True)
