"""Services placed step by step (``place_steps``): the twin's chain model.

A one-step chain is the one-unit service (same figures to rounding), whatever carries it
(routing or an explicit path, shared or hard CPU quotas); a pinned step off the terminal serves
nothing; the hypoexponential distribution function agrees with closed forms; a DAG's
satisfaction is at most its critical route's; scenarios without chains have no chain outcome.
"""

import numpy as np
import pytest
from factories import node, one_cell
from scipy import stats

from cnc6g.model import ServiceType, Stage, TwinSettings, Workflow
from cnc6g.twin import compile_scenario, evaluate_slot, sample_requests
from cnc6g.twin.chains import batched_expm, hypoexp_cdf

COMMON = {"input_mbit": 1.0, "output_mbit": 0.5, "memory_gb": 1.0, "deadline_ms": 200.0}


def _scenario(service, twin=None):
    return one_cell(
        [service],
        terminal=node("t", 5.0, 4.0),
        ran=node("r", 20.0, 16.0, idle=10.0, peak=50.0),
        transport=node("x", 100.0, 64.0, idle=20.0, peak=100.0, access_delay_ms=2.0),
        link={"bandwidth_gbps": 0.2, "delay_ms": 3.0, "energy_nj_per_bit": 5.0},
        twin=twin,
    )


def _plain(**extra):
    return ServiceType(name="a", compute_gcycles=0.5, cold_start_ms=100.0, **COMMON, **extra)


def _one_step(**extra):
    return ServiceType(
        name="a",
        cold_start_ms=100.0,
        workflow=Workflow(stages=[Stage(name="x", compute_gcycles=0.5)]),
        place_steps=True,
        **COMMON,
        **extra,
    )


def _slot(system, routing, previous, cpu_share=None, paths=None, shares=None):
    S, N = system.n_services, system.n_nodes
    deployment = np.ones((1, S, N), dtype=bool)
    return evaluate_slot(
        system,
        np.array([[[40]]]),
        np.array([[50.0]]),
        np.array([[60.0]]),
        deployment,
        deployment & previous,
        routing,
        cpu_share,
        paths=paths,
        path_shares=shares,
    )


def _same(a, b):
    for name in ("offered", "served", "satisfied", "utilisation", "link_utilisation"):
        assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-9, abs=1e-12), name
    assert b.radio_utilisation == pytest.approx(a.radio_utilisation, rel=1e-9)
    for part, value in a.energy.items():
        assert b.energy[part] == pytest.approx(value, rel=1e-9, abs=1e-12), part


@pytest.mark.parametrize("warm", [False, True])
@pytest.mark.parametrize("quota", [False, True])
def test_one_step_chain_is_the_one_unit_service(warm, quota):
    plain = compile_scenario(_scenario(_plain()))
    chain = compile_scenario(_scenario(_one_step()))
    assert plain.chains is None
    assert chain.chains is not None
    K = plain.n_candidates
    routing = np.zeros((1, 1, 1, K))
    routing[0, 0, 0, :3] = (0.2, 0.5, 0.3)
    share = np.full((1, 1, plain.n_nodes), 0.6) if quota else None
    a = _slot(plain, routing, warm, share)
    _same(a, _slot(chain, routing, warm, share))
    # The same split as three explicit paths of one step each.
    paths = np.array([[[[[0], [1], [2]]]]])
    shares = np.array([[[[0.2, 0.5, 0.3]]]])
    via_paths = _slot(chain, np.zeros_like(routing), warm, share, paths, shares)
    _same(a, via_paths)
    assert via_paths.chains is not None
    assert via_paths.chains.served.sum() == pytest.approx(a.served[0])


def _three_steps(pin=True):
    stages = [
        Stage(name="sense", compute_gcycles=0.1, pin_to_terminal=pin, output_mbit=2.0),
        Stage(name="infer", compute_gcycles=0.5, after=["sense"], output_mbit=1.0),
        Stage(name="render", compute_gcycles=1.0, after=["infer"]),
    ]
    return ServiceType(
        name="a", workflow=Workflow(stages=stages), place_steps=True, cold_start_ms=0.0, **COMMON
    )


def test_pinned_step_off_the_terminal_serves_nothing():
    system = compile_scenario(_scenario(_three_steps()))
    K = system.n_candidates
    paths = np.array([[[[[0, 1, 2], [1, 1, 2]]]]])
    shares = np.array([[[[0.5, 0.5]]]])
    out = _slot(system, np.zeros((1, 1, 1, K)), True, paths=paths, shares=shares)
    assert out.chains is not None
    assert out.chains.served[0] > 0
    assert out.chains.served[1] == 0.0
    assert out.served[0] == pytest.approx(out.chains.served[0])


def test_routing_places_the_unpinned_steps_as_one_unit():
    system = compile_scenario(_scenario(_three_steps()))
    K = system.n_candidates
    routing = np.zeros((1, 1, 1, K))
    routing[0, 0, 0, 2] = 1.0
    a = _slot(system, routing, True)
    b = _slot(
        system,
        np.zeros_like(routing),
        True,
        paths=np.array([[[[[0, 2, 2]]]]]),
        shares=np.array([[[[1.0]]]]),
    )
    _same(a, b)
    assert a.chains is not None
    assert a.chains.flows.steps[0].tolist() == [0, 2, 2]


def test_transfers_cross_the_links_and_cost_their_delay():
    system = compile_scenario(_scenario(_three_steps()))
    K = system.n_candidates
    paths = np.array([[[[[0, 1, 2]]]]])  # terminal, RAN, transport
    out = _slot(system, np.zeros((1, 1, 1, K)), True, paths=paths, shares=np.ones((1, 1, 1, 1)))
    assert out.chains is not None
    cf = out.chains.flows
    assert cf.kind[0].tolist() == [3, 1, 4, 2]  # local, up the radio, R to X, X back down
    # Delays: R's access 0 (default), X's 2 ms, the R-X link 3 ms; sizes over the loaded rates.
    transfer_s = out.chains.route_network_s[0, 0]
    assert transfer_s > 0.0 + 0.0 + 0.005 + 0.005
    # R to X carries the infer output (1 Mbit) away from the origin, the render output
    # (0.5 Mbit) back: the larger direction is the link's utilisation.
    assert out.link_utilisation[0, 0] == pytest.approx(40 * 1.0 / 200.0)
    assert out.energy["transport"][0] > 0.0


def test_batched_matrix_exponential_equals_scipys_on_chains_of_phases():
    from scipy.linalg import expm

    rng = np.random.default_rng(7)
    for m, q in ((1, 1), (40, 3), (200, 4)):
        rates = rng.uniform(0.5, 400.0, (m, q))
        t = rng.uniform(0.0, 2.0, m)  # norms from 0 to ~800: up to a dozen squarings
        gen = np.zeros((m, q, q))
        idx = np.arange(q)
        gen[:, idx, idx] = -rates * t[:, None]
        gen[:, idx[:-1], idx[1:]] = rates[:, :-1] * t[:, None]
        np.testing.assert_allclose(batched_expm(gen), expm(gen), rtol=0, atol=1e-12)
    # Not the identity's shortcut: a matrix exponential that is not its Taylor start.
    assert batched_expm(np.array([[[-1.0]]]))[0, 0, 0] == pytest.approx(np.exp(-1.0), abs=1e-15)


def test_hypoexponential_cdf():
    t = np.array([0.05, 0.2, 1.0])
    # Two distinct rates: the closed form.
    r1, r2 = 10.0, 25.0
    closed = 1 - (r2 * np.exp(-r1 * t) - r1 * np.exp(-r2 * t)) / (r2 - r1)
    got = hypoexp_cdf(np.tile([r1, r2, 0.0], (3, 1)), np.tile([True, True, False], (3, 1)), t)
    assert got == pytest.approx(closed, rel=1e-9)
    # Equal rates: Erlang.
    got = hypoexp_cdf(np.full((3, 3), 8.0), np.ones((3, 3), dtype=bool), t)
    assert got == pytest.approx(stats.gamma.cdf(t, 3, scale=1 / 8.0), rel=1e-9)
    # No headroom at a step: never within; no step: within at once.
    assert hypoexp_cdf(np.array([[5.0, 0.0]]), np.ones((1, 2), bool), np.ones(1))[0] == 0.0
    assert hypoexp_cdf(np.zeros((1, 2)), np.zeros((1, 2), bool), np.ones(1))[0] == 1.0


def test_dag_is_no_better_than_its_critical_route():
    stages = [
        Stage(name="s", compute_gcycles=0.1, output_mbit=0.5),
        Stage(name="a", compute_gcycles=0.5, after=["s"], output_mbit=0.1),
        Stage(name="b", compute_gcycles=0.4, after=["s"], output_mbit=0.1),
        Stage(name="j", compute_gcycles=0.3, after=["a", "b"]),
    ]
    dag = ServiceType(name="a", workflow=Workflow(stages=stages), place_steps=True, **COMMON)
    system = compile_scenario(_scenario(dag))
    assert system.chains is not None
    assert system.chains.route_valid.sum() == 2
    K = system.n_candidates
    paths = np.array([[[[[1, 1, 2, 1]]]]])
    out = _slot(system, np.zeros((1, 1, 1, K)), True, paths=paths, shares=np.ones((1, 1, 1, 1)))
    c = out.chains
    assert c is not None
    p = c.satisfied[0] / c.served[0]
    assert 0.0 < p < 1.0
    # Each route alone: the product over routes is at most either.
    slack = system.deadline_s[0] - c.route_network_s[0]
    for r in range(2):
        on = system.chains.route_steps[0, r]
        alone = hypoexp_cdf(c.rate[:1], on[None], slack[r : r + 1])[0]
        assert p <= alone + 1e-12


def test_no_chain_arithmetic_without_chains():
    system = compile_scenario(_scenario(_plain()))
    routing = np.zeros((1, 1, 1, system.n_candidates))
    routing[0, 0, 0, 1] = 1.0
    assert _slot(system, routing, True).chains is None


def test_chains_refuse_the_mg1_sojourn():
    with pytest.raises(ValueError, match="sojourn"):
        compile_scenario(_scenario(_one_step(), twin=TwinSettings(sojourn="mg1")))


def test_sampled_requests_agree_with_the_paths():
    """Requests drawn on chain paths: served share, satisfaction and mean latency as the fluid."""
    system = compile_scenario(_scenario(_three_steps()))
    K = system.n_candidates
    paths = np.array([[[[[0, 1, 2], [0, 2, 2]]]]])
    out = _slot(
        system, np.zeros((1, 1, 1, K)), True, paths=paths, shares=np.array([[[[0.6, 0.4]]]])
    )
    c = out.chains
    assert c is not None
    rng = np.random.default_rng(5)
    draws = [sample_requests(out, np.array([[[40]]]), system.deadline_s, rng) for _ in range(300)]
    latency = np.concatenate([d.latency_s for d in draws])
    within = np.concatenate([d.satisfied for d in draws])
    assert latency.size / (300 * 40) == pytest.approx(out.served[0] / 40, abs=0.01)
    assert within.mean() == pytest.approx(out.satisfied[0] / out.served[0], abs=0.02)
    mean = float((c.served * c.latency_mean_s).sum() / c.served.sum())
    assert latency.mean() == pytest.approx(mean, rel=0.03)


@pytest.mark.parametrize("warm", [False, True])
def test_per_demand_figures_count_chain_tasks_as_the_one_unit_service(warm):
    plain = compile_scenario(_scenario(_plain()))
    chain = compile_scenario(_scenario(_one_step()))
    routing = np.zeros((1, 1, 1, plain.n_candidates))
    routing[0, 0, 0, :3] = (0.2, 0.5, 0.3)
    a = _slot(plain, routing, warm)
    paths = np.array([[[[[0], [1], [2]]]]])
    shares = np.array([[[[0.2, 0.5, 0.3]]]])
    b = _slot(chain, np.zeros_like(routing), warm, paths=paths, shares=shares)
    assert b.flow_served.sum() == 0.0  # the chain's tasks are not one-unit flows
    assert a.served_by_demand.sum() == pytest.approx(a.served[0])
    for name in ("served_by_demand", "satisfied_by_demand", "latency_sum_by_demand"):
        assert getattr(a, name)[0, 0, 0] > 0.0, name
        assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-9), name
