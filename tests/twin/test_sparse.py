"""The twin's sparse slot arithmetic agrees with the dense reference on random systems.

:func:`cnc6g.twin.dynamics.evaluate_slot` computes the active flows only; the frozen dense
implementation in ``reference_dynamics.py`` computes every (copy, origin, candidate, service).
Both must give the same figures to rounding, for every part of the outcome.
"""

import numpy as np
import pytest
from factories import random_slot
from reference_dynamics import evaluate_slot as dense_slot

from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.twin import compile_scenario, evaluate_slot
from cnc6g.twin.dynamics import (
    _active_flows,
    _add_radio,
    _gather_hops,
    _hops,
    _instance_rates,
    _remote_sum,
    _scatter_hops,
    _served_bits,
    clean_routing,
)

CASES = [
    # cells, services, candidates per origin, precision, seed
    (2, 4, None, "double", 0),
    (3, 6, None, "double", 1),
    (5, 9, 3, "double", 2),
    (7, 12, None, "single", 3),
    (50, 8, 16, "double", 4),  # past the dense incidence limit: the scatter/gather path
]


@pytest.mark.parametrize(("cells", "services", "k", "precision", "seed"), CASES)
@pytest.mark.parametrize("quota", [False, True])
def test_sparse_slot_agrees_with_the_dense_reference(cells, services, k, precision, seed, quota):
    scenario = synthetic_scenario(
        "random", n_cells=cells, n_services=services, candidates_per_origin=k, seed=seed
    )
    system = compile_scenario(scenario, precision=precision)
    rng = np.random.default_rng(seed)
    rtol = 1e-9 if precision == "double" else 2e-5
    for sparsity in (0.05, 0.5, 1.0):
        args = random_slot(system, rng, batch=3, sparsity=sparsity)
        cpu = None
        if quota:
            raw = rng.random(args[3].shape) * args[3]
            cpu = raw / np.maximum(raw.sum(axis=1, keepdims=True), 1.0)
        got = evaluate_slot(system, *args, cpu)
        want = dense_slot(system, *args, cpu)
        for name in ("offered", "served", "satisfied", "dropped", "cold_starts", "instances"):
            np.testing.assert_allclose(getattr(got, name), want[name], rtol=rtol, atol=1e-9)
        for part, value in want["energy"].items():
            np.testing.assert_allclose(got.energy[part], value, rtol=rtol, atol=1e-9)
        for name in (
            "utilisation",
            "awake",
            "link_utilisation",
            "radio_utilisation",
            "rate_sn",
            "per_mbit_s",
        ):
            np.testing.assert_allclose(getattr(got, name), want[name], rtol=rtol, atol=1e-12)
        if want["cold_sn"] is None:
            assert got.cold_sn is None
        else:
            np.testing.assert_allclose(got.cold_sn, want["cold_sn"], rtol=rtol)
        for mine, theirs in (
            (got.flow_requests, want["_flow"]),
            (got.flow_served, want["_served"]),
            (got.flow_satisfied, want["_satisfied"]),
        ):
            np.testing.assert_allclose(mine, theirs.transpose(0, 1, 3, 2), rtol=rtol, atol=1e-9)
        np.testing.assert_allclose(
            got.satisfied_by_demand, want["_satisfied"].sum(axis=2), rtol=rtol, atol=1e-9
        )
        assert want["served"].sum() > 0  # the case exercises served flows


@pytest.mark.parametrize(("cells", "k", "seed"), [(4, None, 0), (50, 16, 1)])
def test_compiled_network_sums_equal_the_numpy_ones(cells, k, seed):
    """The hop-by-hop link sums and the radio sums, compiled, equal NumPy's to the last bit."""
    system = compile_scenario(
        synthetic_scenario(
            "random", n_cells=cells, n_services=5, candidates_per_origin=k, seed=seed
        )
    )
    rng = np.random.default_rng(seed)
    B, O, K, L = 3, system.n_origins, system.n_candidates, system.n_links
    hops = _hops(system)
    remote = rng.integers(0, 2, size=(O, K)).astype(float)
    for _ in range(5):
        bits = rng.random((B, O, K, 2)) * 10.0 ** rng.integers(-3, 4, size=(B, O, K, 2))
        bits *= rng.random((B, O, K, 1)) < 0.3  # most paths carry nothing
        want = (bits * remote[None, :, :, None]).sum(axis=2)
        np.testing.assert_array_equal(_remote_sum(bits, remote), want)
        # Scatter onto the links: NumPy's scatter-sum over the loaded hops, (hop, path) order.
        flat = bits.reshape(B * O * K, 2)
        loaded = (flat[:, 0] != 0) | (flat[:, 1] != 0)
        copy, entry = np.nonzero(loaded.reshape(B, O * K)[:, hops.path])
        src = copy * (O * K) + hops.path[entry]
        bin0 = copy * (2 * (L + 1)) + hops.link[entry]
        want = np.bincount(
            np.concatenate([bin0, bin0 + (L + 1)]),
            weights=np.concatenate([flat[src, 0], flat[src, 1]]),
            minlength=B * 2 * (L + 1),
        ).reshape(B, 2, L + 1)[:, :, :L]
        got = np.zeros((B, 2, L))
        _scatter_hops(bits.reshape(B, O * K, 2), hops.path, hops.link, got)
        np.testing.assert_array_equal(got, want)
        # Gather along the paths, one hop at a time.
        per_link = rng.random((B, 4, L)) * 10.0 ** rng.integers(-3, 4, size=(B, 4, L))
        want = np.zeros((B, 4, O * K))
        for h in range(system.path_links.shape[1]):
            paths = np.flatnonzero(system.path_links[:, h] < L)
            want[:, :, paths] += per_link[:, :, system.path_links[paths, h]]
        got = np.empty((B, 4, O * K))
        _gather_hops(per_link, system.path_links, got)
        np.testing.assert_array_equal(got, want)


def _clean_numpy(routing):
    """clean_routing as NumPy computes it: the reference of the compiled check."""
    y = routing if routing.min() >= 0.0 else np.maximum(routing, 0.0)
    row = y.sum(axis=-1, keepdims=True)
    return y / np.maximum(row, 1.0) if row.max(initial=0.0) > 1.0 else y


@pytest.mark.parametrize("k", [3, 13, 17])
def test_clean_routing_and_active_flows_equal_numpys(k):
    rng = np.random.default_rng(k)
    for trial in range(40):
        shape = (2, 6, 5, k)
        routing = rng.random(shape) * (rng.random(shape) < 0.4)
        routing /= np.maximum(routing.sum(axis=-1, keepdims=True), 1.0)
        if trial % 4 == 1:  # whole shares in eighths: rows summing to exactly 1
            routing = np.zeros(shape)
            picks = rng.integers(0, k, size=(*shape[:3], 8))
            for piece in range(8):
                np.put_along_axis(
                    routing,
                    picks[..., piece : piece + 1],
                    np.take_along_axis(routing, picks[..., piece : piece + 1], axis=-1) + 0.125,
                    axis=-1,
                )
        if trial % 4 == 2:  # a row just past 1
            routing[0, 1, 2] = routing[0, 1, 2] / max(routing[0, 1, 2].sum(), 1e-3) * (1 + 1e-15)
        if trial % 4 == 3:
            routing[tuple(rng.integers(s) for s in shape)] = rng.choice([-0.2, np.nan])
        got, want = clean_routing(routing), _clean_numpy(routing)
        np.testing.assert_array_equal(got, want)
        assert (got is routing) == (want is routing)
        demand = rng.integers(0, 3, size=shape[:3]) * (rng.random(shape[:3]) < 0.5)
        rows = np.flatnonzero(demand)
        row, cand = np.nonzero(routing.reshape(-1, k)[rows])
        got_rows, got_cand = _active_flows(demand.reshape(-1), routing.reshape(-1, k))
        np.testing.assert_array_equal(got_rows, rows[row])
        np.testing.assert_array_equal(got_cand, cand)


def test_compiled_elementwise_terms_equal_the_numpy_ones():
    """The per-path and per-instance products, compiled, equal NumPy's to the last bit."""
    rng = np.random.default_rng(7)
    B, O, K, S, N = 3, 6, 5, 4, 9

    def spread(*shape):
        return rng.random(shape) * 10.0 ** rng.integers(-4, 4, size=shape)

    wired = spread(B, 4, O, K)[:, :2].transpose(0, 2, 3, 1)  # a strided view, as in the slot
    radio_s, remote = spread(B, O, 2), rng.integers(0, 2, size=(O, K)).astype(float)
    want = wired + radio_s[:, :, None, :] * remote[None, :, :, None]
    np.testing.assert_array_equal(_add_radio(wired, radio_s, remote), want)
    headroom, devices, inv_work = spread(B, N), rng.integers(1, 4, N).astype(float), spread(S)
    deployment = rng.random((B, S, N)) < 0.5
    want = headroom[:, None, :] / devices * inv_work[None, :, None] * deployment
    np.testing.assert_array_equal(_instance_rates(headroom, devices, inv_work, deployment), want)
    bits, net_admit, node_admit = spread(B, O, K, 2), rng.random((B, O, K)), rng.random((B, N))
    cand = rng.integers(0, N, size=(O, K))
    want = bits * (net_admit * node_admit[:, cand])[..., None]
    np.testing.assert_array_equal(_served_bits(bits, net_admit, node_admit, cand), want)
