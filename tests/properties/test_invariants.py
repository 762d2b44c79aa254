import tomllib
from dataclasses import fields
from functools import cache

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cnc6g.model import HotspotShift, Scenario, TwinSettings, Workload
from cnc6g.policies import GreedyPolicy, RandomPolicy, feasibility_problems, usable_candidates
from cnc6g.scenarios import dump_scenario, parse_scenario
from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.twin import ENERGY_PARTS, Twin, compile_scenario, evaluate_slot

SETTINGS = settings(max_examples=30, deadline=None)
EPS = 1e-9


@cache
def synthetic(n_cells, n_services, seed, k, load=0.8):
    return synthetic_scenario(
        f"p{n_cells}-{n_services}-{seed}",
        n_cells=n_cells,
        n_services=n_services,
        offered_load=load,
        seed=seed,
        candidates_per_origin=k,
    )


@cache
def uneven(n_services, seed):
    """Two cells; terminal domain T0 has two nodes, so T1's last candidate slot is padding."""
    data = synthetic(2, n_services, seed, None).model_dump()
    extra = dict(data["domains"][0]["nodes"][0], name="T0-extra", capacity_gcps=2.0)
    data["domains"][0]["nodes"].append(extra)
    return Scenario.model_validate(data)


_compiled = {}


def compiled(scenario):
    """Compile once per scenario object (the builders above are cached, so objects repeat)."""
    key = id(scenario)
    if key not in _compiled:
        _compiled[key] = (scenario, compile_scenario(scenario))
    return _compiled[key][1]


scenarios = st.one_of(
    st.builds(
        synthetic,
        n_cells=st.integers(1, 4),
        n_services=st.integers(1, 5),
        seed=st.integers(0, 50),
        k=st.one_of(st.none(), st.integers(1, 3)),
        load=st.sampled_from([0.2, 0.8, 1.5]),
    ),
    st.builds(uneven, n_services=st.integers(1, 4), seed=st.integers(0, 50)),
)


def random_inputs(system, rng, batch, with_share):
    """Demand, channel, deployment (only where allowed), routing rows <= 1, optional quotas."""
    B, O, S = batch, system.n_origins, system.n_services
    N, K = system.n_nodes, system.n_candidates
    demand = rng.integers(0, 60, size=(B, O, S)).astype(float)
    up = rng.uniform(1.0, 300.0, size=(B, O))
    down = rng.uniform(1.0, 600.0, size=(B, O))
    deployment = (rng.random((B, S, N)) < rng.uniform(0.1, 0.9)) & system.can_host
    previous = (rng.random((B, S, N)) < 0.5) & system.can_host
    raw = rng.random((B, O, S, K)) * (rng.random((B, O, S, K)) < 0.7)
    raw *= system.candidate_valid[None, :, None, :]
    row = raw.sum(axis=-1, keepdims=True)
    routing = np.divide(raw, row, out=np.zeros_like(raw), where=row > 0)
    routing *= rng.uniform(0.0, 1.0, size=(B, O, S, 1)) ** 0.3
    share = None
    if with_share:
        share = rng.random((B, S, N)) * deployment
        col = share.sum(axis=1, keepdims=True)
        share = np.divide(share, np.maximum(col, 1.0))
    return demand, up, down, deployment, previous, routing, share


inputs = st.tuples(scenarios, st.integers(0, 2**32 - 1), st.integers(1, 3), st.booleans())


def evaluate(system, args):
    return evaluate_slot(system, *args)


@SETTINGS
@given(inputs)
def test_slot_outcome_invariants(case):
    scenario, seed, batch, with_share = case
    system = compiled(scenario)
    args = random_inputs(system, np.random.default_rng(seed), batch, with_share)
    demand, _, _, deployment, _, _, _ = args
    out = evaluate(system, args)
    tol = EPS * (1 + demand.sum())

    np.testing.assert_array_equal(out.offered, demand.sum(axis=(1, 2)))
    np.testing.assert_allclose(out.served + out.dropped, out.offered, atol=tol)
    assert (out.satisfied <= out.served + tol).all()
    assert (out.served <= out.offered + tol).all()
    assert (out.dropped >= -tol).all()
    assert (out.flow_satisfied >= 0).all()
    assert (out.flow_satisfied <= out.flow_served + EPS).all()
    assert (out.flow_served <= out.flow_requests + EPS).all()
    assert (out.flow_requests.sum(axis=-1) <= demand + tol).all()

    usable = np.stack([usable_candidates(system, x) for x in deployment])
    assert (out.flow_served[~usable] == 0).all()

    rho_max = system.admission_utilisation
    work = np.zeros((batch, system.n_nodes))
    served_work = out.flow_served * system.work[None, None, :, None]
    for o in range(system.n_origins):
        for k in range(system.n_candidates):
            work[:, system.candidates[o, k]] += served_work[:, o, :, k].sum(axis=-1)
    assert (work <= system.capacity * system.slot_s * rho_max * (1 + EPS)).all()

    for part in ENERGY_PARTS:
        assert np.isfinite(out.energy[part]).all(), part
        assert (out.energy[part] >= 0).all(), part
    assert (out.utilisation >= 0).all()
    assert (out.utilisation <= rho_max + EPS).all()
    assert np.isfinite(out.objective(system.unsatisfied_penalty_j)).all()
    latency = out.flow_latency_mean_s[out.flow_served > 0]
    assert np.isfinite(latency).all()
    assert (latency > 0).all()


@SETTINGS
@given(inputs)
def test_slot_is_deterministic_and_leaves_inputs_alone(case):
    scenario, seed, batch, with_share = case
    system = compiled(scenario)
    args = random_inputs(system, np.random.default_rng(seed), batch, with_share)
    kept = [None if a is None else a.copy() for a in args]
    first = evaluate(system, args)
    second = evaluate(system, kept)
    for a, b in zip(args, kept, strict=True):
        if a is not None:
            np.testing.assert_array_equal(a, b)
    for f in fields(first):
        x, y = getattr(first, f.name), getattr(second, f.name)
        if isinstance(x, dict):
            for part in ENERGY_PARTS:
                np.testing.assert_array_equal(x[part], y[part])
        elif x is None or y is None:
            assert x is None, f.name
            assert y is None, f.name
        else:
            np.testing.assert_array_equal(x, y)


@SETTINGS
@given(inputs)
def test_each_copy_of_a_batch_is_evaluated_independently(case):
    scenario, seed, batch, with_share = case
    system = compiled(scenario)
    args = random_inputs(system, np.random.default_rng(seed), batch, with_share)
    together = evaluate(system, args)
    for b in range(batch):
        alone = evaluate(system, [None if a is None else a[b : b + 1] for a in args])
        np.testing.assert_allclose(together.flow_satisfied[b], alone.flow_satisfied[0], rtol=1e-9)
        np.testing.assert_allclose(together.utilisation[b], alone.utilisation[0], rtol=1e-9)
        for part in ENERGY_PARTS:
            np.testing.assert_allclose(together.energy[part][b], alone.energy[part][0], rtol=1e-9)


@SETTINGS
@given(scenarios, st.integers(0, 2**32 - 1))
def test_compress_undoes_dense_routing(scenario, seed):
    system = compiled(scenario)
    rng = np.random.default_rng(seed)
    r = rng.random((2, system.n_origins, system.n_services, system.n_candidates))
    r *= system.candidate_valid[None, :, None, :]
    dense = system.dense_routing(r)
    assert dense.shape == (2, system.n_origins, system.n_services, system.n_nodes)
    np.testing.assert_array_equal(system.compress_routing(dense), r)
    np.testing.assert_allclose(dense.sum(axis=-1), r.sum(axis=-1), rtol=1e-12)


def test_uneven_scenario_has_padding_candidates():
    system = compiled(uneven(2, 0))
    assert not system.candidate_valid.all()
    assert not (system.admissible & ~system.candidate_valid[:, None, :]).any()


workloads = st.one_of(
    st.builds(
        lambda lo, extra, zipf: Workload(requests_per_slot=(lo, lo + extra), zipf_exponent=zipf),
        st.integers(0, 500),
        st.integers(0, 100),
        st.floats(0.0, 5.0),
    ),
    st.builds(
        lambda load, spread, weight, shift: Workload(
            offered_load=load,
            load_spread=spread,
            origin_weights={"T0": weight},
            hotspots=[HotspotShift(slot=shift, reshuffle_popularity=True)],
        ),
        st.floats(0.01, 10.0),
        st.floats(0.0, 0.99),
        st.floats(0.1, 100.0),
        st.integers(0, 1000),
    ),
)
twin_settings = st.builds(
    TwinSettings,
    slot_ms=st.floats(1.0, 10_000.0),
    admission_utilisation=st.floats(0.05, 0.99),
    candidates_per_origin=st.one_of(st.none(), st.integers(1, 5)),
)


@SETTINGS
@given(scenarios, workloads, twin_settings, st.text(max_size=40))
def test_scenario_dump_then_load_gives_an_equal_scenario(scenario, workload, twin, text):
    data = scenario.model_dump()
    data.update(
        workload=workload.model_dump(), twin=twin.model_dump(), description=text, notes=[text]
    )
    original = parse_scenario(data)
    again = parse_scenario(tomllib.loads(dump_scenario(original)))
    assert again == original


@settings(max_examples=25, deadline=None)
@given(scenarios, st.sampled_from([RandomPolicy, GreedyPolicy]), st.integers(0, 1000))
def test_builtin_policies_route_only_to_usable_candidates(scenario, policy_cls, seed):
    system = compiled(scenario)
    policy = policy_cls()
    policy.reset(system, seed)
    twin = Twin(system, seed=seed)
    for _ in range(3):
        decision = policy.decide(twin.observe())
        assert feasibility_problems(system, decision) == []
        assert (decision.routing >= 0).all()
        assert (decision.routing.sum(axis=-1) <= 1 + 1e-9).all()
        stray = (decision.routing > 0) & ~usable_candidates(system, decision.deployment)
        assert not stray.any()
        twin.step(decision)
