"""Service path scheduling: the exact solvers equal brute force, pins hold, greedy's gap."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnc6g.policies.paths import (
    Request,
    Step,
    brute_force,
    chain,
    evaluate,
    node_graph,
    schedule_chain,
    schedule_dag,
    schedule_greedy,
)


def _random_request(system, rng, n_steps, dag=False, tight=False):
    S = system.n_services
    steps = []
    for i in range(n_steps):
        after = ()
        if i:
            if dag:
                k = int(rng.integers(1, min(i, 2) + 1))
                after = tuple(sorted(rng.choice(i, size=k, replace=False).tolist()))
            else:
                after = (i - 1,)
        steps.append(Step(int(rng.integers(S)), bool(rng.random() < 0.15), after))
    left = system.capacity.copy()
    links = None
    if tight:
        left = left * rng.uniform(0.02, 1.0, size=left.size)
        links = np.array([wl.bandwidth_gbps * 1e3 for wl in system.scenario.wired_links])
        links = links * rng.uniform(0.0, 1.0, size=links.size)
    return Request(
        origin=int(rng.integers(system.n_origins)),
        steps=tuple(steps),
        rate=float(rng.uniform(1.0, 20.0)),
        compute_left=left,
        link_left=links,
        utilisation=rng.uniform(0.0, 0.8, size=system.n_nodes),
    )


def _same(a, b):
    assert a.feasible == b.feasible
    if a.feasible:
        assert a.latency_s == pytest.approx(b.latency_s, rel=1e-9, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n_steps=st.integers(1, 3))
def test_the_chain_dp_equals_brute_force(tiny_system, seed, n_steps):
    rng = np.random.default_rng(seed)
    req = _random_request(tiny_system, rng, n_steps, tight=False)
    _same(schedule_chain(tiny_system, req), brute_force(tiny_system, req))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_steps=st.integers(2, 3))
def test_the_milp_equals_brute_force_on_dags_with_joint_capacity(tiny_system, seed, n_steps):
    rng = np.random.default_rng(seed)
    req = _random_request(tiny_system, rng, n_steps, dag=True, tight=True)
    _same(schedule_dag(tiny_system, req), brute_force(tiny_system, req))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n_steps=st.integers(1, 4), dag=st.booleans())
def test_pinned_steps_stay_on_the_terminal(tiny_system, seed, n_steps, dag):
    rng = np.random.default_rng(seed)
    req = _random_request(tiny_system, rng, n_steps, dag=dag)
    terminal = int(node_graph(tiny_system).terminal_of[req.origin])
    solvers = (
        [schedule_greedy]
        + ([] if dag else [schedule_chain])
        + ([schedule_dag] if n_steps <= 3 else [])
    )
    for solve in solvers:
        got = solve(tiny_system, req)
        if got.feasible:
            for step, n in zip(req.steps, got.nodes, strict=True):
                if step.pinned:
                    assert n == terminal


def test_a_heavy_result_is_pulled_toward_its_consumer(tiny_system):
    sy = tiny_system
    # A step whose output is heavy runs where sending it back is cheapest, all else equal.
    heavy = int(np.argmax(sy.output_mbit))
    req = Request(origin=0, steps=chain([heavy]), rate=1.0)
    got = schedule_chain(sy, req)
    assert got.feasible
    g = node_graph(sy)
    back = (
        g.delay_s[got.nodes[0], g.terminal_of[0]]
        + sy.output_mbit[heavy] * g.s_per_mbit[got.nodes[0], g.terminal_of[0]]
    )
    assert back <= got.latency_s


def test_no_node_with_room_means_no_placement(tiny_system):
    req = Request(
        origin=0, steps=chain([0, 1]), rate=1.0, compute_left=np.zeros(tiny_system.n_nodes)
    )
    assert not schedule_chain(tiny_system, req).feasible
    assert not schedule_dag(tiny_system, req).feasible
    assert not schedule_greedy(tiny_system, req).feasible


def test_greedys_gap_to_the_optimum_is_measured(tiny_system):
    """Greedy is never better than the MILP; its gap over 40 random small DAGs is bounded."""
    rng = np.random.default_rng(7)
    gaps = []
    for _ in range(40):
        req = _random_request(tiny_system, rng, 4, dag=True, tight=True)
        best, quick = schedule_dag(tiny_system, req), schedule_greedy(tiny_system, req)
        if best.feasible and quick.feasible:
            assert quick.latency_s >= best.latency_s - 1e-9
            gaps.append(quick.latency_s / best.latency_s - 1)
    assert len(gaps) >= 20
    assert np.median(gaps) < 0.05


def test_evaluate_adds_the_chain_up(tiny_system):
    sy = tiny_system
    g = node_graph(sy)
    req = Request(origin=0, steps=chain([0, 1]), rate=1.0)
    got = schedule_chain(sy, req)
    a, b = got.nodes
    t = int(g.terminal_of[0])
    head = g.delay_s[t, a] + sy.input_mbit[0] * g.s_per_mbit[t, a] + sy.work[0] / sy.capacity[a]
    mid = g.delay_s[a, b] + sy.output_mbit[0] * g.s_per_mbit[a, b] + sy.work[1] / sy.capacity[b]
    tail = g.delay_s[b, t] + sy.output_mbit[1] * g.s_per_mbit[b, t]
    assert evaluate(sy, req, (a, b)).latency_s == pytest.approx(head + mid + tail)
