"""The twin's sparse slot arithmetic agrees with the dense reference on random systems.

:func:`cnc6g.twin.dynamics.evaluate_slot` computes the active flows only; the frozen dense
implementation in ``reference_dynamics.py`` computes every (copy, origin, candidate, service).
Both must give the same figures to rounding, for every part of the outcome.
"""

import numpy as np
import pytest
from reference_dynamics import evaluate_slot as dense_slot

from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.twin import compile_scenario, evaluate_slot
from cnc6g.twin.dynamics import clean_routing

CASES = [
    # cells, services, candidates per origin, precision, seed
    (2, 4, None, "double", 0),
    (3, 6, None, "double", 1),
    (5, 9, 3, "double", 2),
    (7, 12, None, "single", 3),
    (50, 8, 16, "double", 4),  # past the dense incidence limit: the scatter/gather path
]


def _random_slot(system, rng, batch, sparsity):
    B, O, S, N, K = batch, system.n_origins, system.n_services, system.n_nodes, system.n_candidates
    demand = rng.integers(0, 20, size=(B, O, S)) * (rng.random((B, O, S)) < sparsity)
    previous = system.can_host[None] & (rng.random((B, S, N)) < 0.5)
    deployment = system.can_host[None] & (rng.random((B, S, N)) < 0.6)
    routing = rng.random((B, O, S, K)) * (rng.random((B, O, S, K)) < 0.4)
    routing *= system.admissible[None] | (rng.random((B, O, S, K)) < 0.1)  # a few unusable
    routing = clean_routing(routing * rng.uniform(0.5, 1.5, size=(B, O, S, 1)))
    up = rng.uniform(20.0, 600.0, size=(B, O))
    down = rng.uniform(40.0, 1200.0, size=(B, O))
    return demand, up, down, deployment, previous, routing


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
        args = _random_slot(system, rng, batch=3, sparsity=sparsity)
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
