"""Per-request data sizes that vary (services' ``input_cv``, ``output_cv``): the twin's deadline
probability against sampled sizes.

The quadrature rules are checked against SciPy's; the integral over a gamma transfer time against
its closed form for an exponential sojourn, and over two (input and output) against draws of their
sum; and the twin's slot against Monte Carlo draws of the same task (sizes
drawn per request, each size its mean times an exact gamma factor, not the matched gamma): a
single-step service with an exponential (processor-sharing) sojourn, with cold starts, with an
M/G/1 node (a SimPy M/D/1 queue), and a three-step chain (SimPy, M/M/1 steps in tandem).
"""

import numpy as np
import pytest
import simpy
from factories import node, one_cell, tandem_sojourns, workflow_crosscheck
from scipy.special import gamma as gamma_fn
from scipy.special import gammainc, roots_genlaguerre, roots_jacobi

from cnc6g.experiments.runner import run_policy
from cnc6g.model import ServiceType, Stage, TwinSettings
from cnc6g.policies import GreedyPolicy, RandomPolicy
from cnc6g.scenarios import load_scenario
from cnc6g.twin import compile_scenario, evaluate_slot
from cnc6g.twin.dynamics import _constants
from cnc6g.twin.sampler import sample_requests
from cnc6g.twin.sizes import expected, jacobi_rule, laguerre_rule, transfer_moments


def test_rules_match_scipy():
    alphas = np.array([-0.78, -0.3, 0.0, 0.7, 5.0, 80.0])
    x, w = laguerre_rule(alphas)
    u, v = jacobi_rule(alphas)
    for i, a in enumerate(alphas):
        xs, ws = roots_genlaguerre(8, a)
        assert x[i] == pytest.approx(xs, rel=1e-9)
        assert w[i] == pytest.approx(ws / gamma_fn(a + 1.0), rel=1e-8, abs=1e-300)
        ys, vs = roots_jacobi(8, 0.0, a)
        assert u[i] == pytest.approx((ys + 1.0) / 2.0, rel=1e-9, abs=1e-12)
        assert v[i] == pytest.approx(vs / vs.sum(), rel=1e-8, abs=1e-14)


def _exact(rate, base, mean, cv):
    """P(T + E <= base), T gamma (mean, cv), E ~ Exp(rate): closed form (rate theta < 1)."""
    k, theta = 1.0 / cv**2, mean * cv**2
    q = 1.0 - rate * theta
    return gammainc(k, base / theta) - np.exp(-rate * base - k * np.log(q)) * gammainc(
        k, base * q / theta
    )


def test_integral_over_the_transfer_time_matches_the_closed_form():
    worst = 0.0
    for cv in (0.1, 0.3, 0.77, 0.96, 2.15, 3.0):
        for mean in (0.005, 0.02, 0.05, 0.1, 0.2):
            for rate in (5.0, 20.0, 50.0):
                if not rate * mean * cv**2 < 0.9:
                    continue
                base = np.array([0.02, 0.05, 0.1, 0.3, 0.5, 1.0])
                got = expected(
                    lambda left, r=rate: -np.expm1(-r * np.maximum(left, 0.0)),
                    base - mean,
                    (np.full(6, mean), np.full(6, (mean * cv) ** 2)),
                    (np.zeros(6), np.zeros(6)),
                )
                worst = max(worst, float(np.abs(got - _exact(rate, base, mean, cv)).max()))
    assert worst < 2e-4


def test_two_transfers_match_their_sampled_sum():
    """Input and output times of CVs 0.96 and 2.15 (the code service), an Exp(20/s) sojourn."""
    rng = np.random.default_rng(5)
    n = 1_000_000
    cv_in, cv_out, rate = 0.96, 2.15, 20.0
    base = np.array([0.05, 0.1, 0.2, 0.4])
    x_in, x_out, e = _sizes(rng, n, cv_in), _sizes(rng, n, cv_out), rng.exponential(1 / rate, n)
    worst = 0.0
    for a, b in ((0.05, 0.0), (0.05, 0.005), (0.05, 0.05), (0.015, 0.05), (0.002, 0.05)):
        first, second = transfer_moments(np.full(4, a), np.full(4, b), cv_in, cv_out)
        got = expected(
            lambda left: -np.expm1(-rate * np.maximum(left, 0.0)), base - a - b, first, second
        )
        latency = a * x_in + b * x_out + e
        sampled = (latency[:, None] <= base).mean(axis=0)
        worst = max(worst, float(np.abs(got - sampled).max()))
    assert worst < 0.003


def _service(input_cv, output_cv, work_cv=1.0, cold_start_ms=0.0):
    return ServiceType(
        name="llm",
        compute_gcycles=0.3,
        input_mbit=1.0,
        output_mbit=2.0,
        memory_gb=1.0,
        deadline_ms=150.0,
        work_cv=work_cv,
        cold_start_ms=cold_start_ms,
        input_cv=input_cv,
        output_cv=output_cv,
        tiers=["ran"],
    )


def _one_step(
    input_cv, output_cv, sojourn="exponential", work_cv=1.0, cold_start_ms=0.0, tasks=40.0
):
    """One slot of ``tasks`` tasks of a single-step service on the MEC node (20 Gc/s), the twin's
    share within the deadline, and what a task's latency is made of there."""
    scenario = one_cell(
        [_service(input_cv, output_cv, work_cv, cold_start_ms)],
        terminal=node("T-node", 5.0, 8.0),
        ran=node("R-mec", 20.0, 8.0, access_delay_ms=1.0),
        twin=TwinSettings(slot_ms=1000.0, sojourn=sojourn),
    )
    system = compile_scenario(scenario)
    S, N, K = system.n_services, system.n_nodes, system.n_candidates
    mec = system.node_names.index("R-mec")
    k = int(np.flatnonzero(system.candidates[0] == mec)[0])
    deployment = np.zeros((1, S, N), dtype=bool)
    deployment[0, 0, mec] = True
    routing = np.zeros((1, 1, S, K))
    routing[0, 0, 0, k] = 1.0
    previous = deployment if cold_start_ms == 0 else np.zeros_like(deployment)
    outs = []
    for compiled in (True, False):
        out = evaluate_slot(
            system,
            np.array([[[tasks]]]),
            np.array([[60.0]]),
            np.array([[150.0]]),
            deployment,
            previous,
            routing,
            compiled=compiled,
        )
        outs.append(out)
    a, b = outs
    assert a.flows.satisfied.tolist() == b.flows.satisfied.tolist()  # compiled = reference
    f = a.flows
    share = float(f.satisfied.sum() / f.served.sum())
    in_s = float(system.input_mbit[0] * a.per_mbit_s[0, 0, k, 0])
    out_s = float(system.output_mbit[0] * a.per_mbit_s[0, 0, k, 1])
    budget = float(system.deadline_s[0] - 2.0 * system.candidate_delay_s[0, k])
    return system, a, share, in_s, out_s, budget


def _sizes(rng, n, cv):
    return rng.gamma(1.0 / cv**2, cv**2, n) if cv > 0 else np.ones(n)


@pytest.mark.parametrize(("cv_in", "cv_out"), [(0.96, 0.77), (0.96, 2.15), (0.0, 2.15)])
def test_single_step_matches_sampled_sizes(cv_in, cv_out):
    _, out, share, in_s, out_s, budget = _one_step(cv_in, cv_out)
    _, fixed, fixed_share, _, _, _ = _one_step(0.0, 0.0)
    rate = float(out.rate_sn[0, 0][out.rate_sn[0, 0] > 0][0])
    rng = np.random.default_rng(7)
    n = 1_000_000
    latency = (
        in_s * _sizes(rng, n, cv_in) + out_s * _sizes(rng, n, cv_out) + rng.exponential(1 / rate, n)
    )
    sampled = float((latency <= budget).mean())
    assert share == pytest.approx(sampled, abs=0.004)
    assert abs(share - fixed_share) > 0.01  # the sizes' spread matters here
    assert out.energy_total == pytest.approx(fixed.energy_total, rel=1e-12)  # mean bits


def test_cold_start_matches_sampled_sizes():
    _, out, share, in_s, out_s, budget = _one_step(0.96, 2.15, cold_start_ms=300.0)
    rate = float(out.rate_sn[0, 0][out.rate_sn[0, 0] > 0][0])
    rng = np.random.default_rng(8)
    n = 1_000_000
    arrival = rng.uniform(0.0, 1.0, n)  # the slot's tasks before 0.3 s wait for the start
    latency = (
        in_s * _sizes(rng, n, 0.96)
        + out_s * _sizes(rng, n, 2.15)
        + rng.exponential(1 / rate, n)
        + np.maximum(0.3 - arrival, 0.0)
    )
    assert share == pytest.approx(float((latency <= budget).mean()), abs=0.004)


def test_mg1_node_matches_a_simulation_with_sampled_sizes():
    """Deterministic work (M/D/1, utilisation 0.6 with 40 tasks/s of 0.3 Gc at 20 Gc/s)."""
    system, out, share, in_s, out_s, budget = _one_step(0.96, 0.77, "mg1", work_cv=0.0)
    rng = np.random.default_rng(9)
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=1)
    service_s, rate = 0.3 / 20.0, 40.0
    sojourns = []

    def task():
        start = env.now
        with server.request() as turn:
            yield turn
            yield env.timeout(service_s)
        if start > 50.0:
            sojourns.append(env.now - start)

    def arrivals():
        while True:
            yield env.timeout(rng.exponential(1.0 / rate))
            env.process(task())

    env.process(arrivals())
    env.run(until=8050.0)
    soj = np.array(sojourns)
    n = soj.size
    latency = in_s * _sizes(rng, n, 0.96) + out_s * _sizes(rng, n, 0.77) + soj
    assert float(out.utilisation[0, system.node_names.index("R-mec")]) == pytest.approx(0.6)
    assert share == pytest.approx(float((latency <= budget).mean()), abs=0.02)


@pytest.mark.parametrize(("cv_in", "cv_out"), [(0.3, 0.3), (0.96, 2.15)])
def test_mg1_deterministic_work_matches_draws_of_the_twin_model(cv_in, cv_out):
    """The twin's M/G/1 sojourn itself drawn (an atom 1 - rho at no wait, an exponential tail
    of mean E[W] / rho, then the work x): what is left is the integral over the sizes, which
    must stop where the time left falls below x."""
    system, out, share, in_s, out_s, budget = _one_step(cv_in, cv_out, "mg1", work_cv=0.0)
    mec = system.node_names.index("R-mec")
    rho, wait = float(out.utilisation[0, mec]), float(out.wait_n[0, mec])
    rng = np.random.default_rng(10)
    n = 2_000_000
    queued = np.where(rng.random(n) < rho, rng.exponential(wait / rho, n), 0.0)
    latency = in_s * _sizes(rng, n, cv_in) + out_s * _sizes(rng, n, cv_out) + queued + 0.015
    assert share == pytest.approx(float((latency <= budget).mean()), abs=0.002)


def test_mg1_cold_start_matches_draws_of_the_twin_model():
    """Deterministic work, the instance starting (0.3 s): the tasks that meet the start get the
    cold-start model's exponential sojourn, which may take less than the work."""
    system, out, share, in_s, out_s, budget = _one_step(
        0.96, 2.15, "mg1", work_cv=0.0, cold_start_ms=300.0
    )
    mec = system.node_names.index("R-mec")
    rho, wait = float(out.utilisation[0, mec]), float(out.wait_n[0, mec])
    rate, cold = float(out.rate_sn[0, 0, mec]), float(out.cold_sn[0, 0, mec])
    rng = np.random.default_rng(13)
    n = 2_000_000
    queued = np.where(rng.random(n) < rho, rng.exponential(wait / rho, n), 0.0) + 0.015
    started = rng.uniform(0.0, 0.3, n) + rng.exponential(1.0 / rate, n)
    latency = in_s * _sizes(rng, n, 0.96) + out_s * _sizes(rng, n, 2.15)
    latency += np.where(rng.random(n) < cold, started, queued)
    assert share == pytest.approx(float((latency <= budget).mean()), abs=0.002)


def test_tiny_spread_is_the_fixed_size():
    for sojourn, cv in (("exponential", 1.0), ("mg1", 0.0), ("mg1", 0.5)):
        fixed = _one_step(0.0, 0.0, sojourn, cv)[2]
        tiny = _one_step(1e-4, 1e-4, sojourn, cv)[2]
        assert tiny == pytest.approx(fixed, abs=1e-4)


RECORDED = {
    "rand": {
        "satisfied": [
            30.666527690803438,
            192.57682025108875,
            233.87327107088342,
            183.16748730631687,
        ],
        "served": [767.9843181158175, 879.5783508636554, 949.7026680015206, 836.5216145999198],
        "energy": [22101.498647125565, 11817.876743383635, 11962.61035047899, 11758.407943230415],
    },
    "grd": {
        "satisfied": [187.15019802698325, 468.8111397400839, 586.5132877707725, 421.62090013922085],
        "served": [997.0, 1180.0, 1329.0, 1141.0],
        "energy": [26000.90474953638, 12312.038376601877, 12537.356520970516, 12280.318547316487],
    },
}
"""RAND's and GRD's figures on the calibrated case study (seed 3, four slots), recorded with the
twin before data sizes could vary."""


@pytest.mark.parametrize("policy", [RandomPolicy, GreedyPolicy])
def test_calibrated_figures_unchanged(policy):
    run = run_policy(policy(), load_scenario("paper-case-study-calibrated"), slots=4, seed=3)
    want = RECORDED[run.policy]
    assert run.satisfied.tolist() == pytest.approx(want["satisfied"], rel=1e-12)
    assert run.served.tolist() == pytest.approx(want["served"], rel=1e-12)
    assert run.energy_total.tolist() == pytest.approx(want["energy"], rel=1e-12)


def test_zero_spread_adds_nothing_to_the_slot():
    assert (
        _constants(compile_scenario(load_scenario("paper-case-study-calibrated"))).sizes_vary
        is None
    )


RATE = 30.0
WORK = (0.2, 0.4, 0.5)
CAPACITY = (10.0, 20.0, 40.0)


def _chain(output_cv, cold_start_ms=0.0):
    stages = [
        Stage(name="one", compute_gcycles=WORK[0], output_mbit=0.0, pin_to_terminal=True),
        Stage(name="two", compute_gcycles=WORK[1], after=["one"], output_mbit=0.0),
        Stage(name="three", compute_gcycles=WORK[2], after=["two"]),
    ]
    scenario = workflow_crosscheck("chain", stages, 0.15, CAPACITY, "chain-sizes")
    data = scenario.model_dump()
    data["services"][0].update(output_mbit=3.0, output_cv=output_cv, cold_start_ms=cold_start_ms)
    system = compile_scenario(scenario.model_validate(data))
    S, N, K = system.n_services, system.n_nodes, system.n_candidates
    deployment = np.ones((1, S, N), dtype=bool)
    out = evaluate_slot(
        system,
        np.array([[[RATE]]]),
        np.array([[100.0]]),
        np.array([[100.0]]),
        deployment,
        deployment if cold_start_ms == 0 else ~deployment,
        np.zeros((1, 1, S, K)),
        paths=np.array([[[[[0, 1, 2]]]]]),
        path_shares=np.ones((1, 1, 1, 1)),
    )
    c = out.chains
    assert c is not None
    return c.route_network_s[0, 0], c.satisfied[0] / c.served[0], out


def test_chain_matches_a_tandem_simulation_with_sampled_sizes():
    network, within, _ = _chain(2.15)
    fixed_network, fixed_within, _ = _chain(0.0)
    assert network == fixed_network
    delays = 0.001 + (0.001 + 0.005 + 0.002) + (0.005 + 0.002)
    transfer = network - delays  # the output's time back to the terminal at its mean size
    assert transfer > 0.01
    rng = np.random.default_rng(11)
    lat = tandem_sojourns(rng, RATE, WORK, CAPACITY, 3000.0, 100.0)
    lat = lat + delays + transfer * _sizes(rng, lat.size, 2.15)
    assert within == pytest.approx(float((lat <= 0.15).mean()), abs=0.02)
    assert abs(within - fixed_within) > 0.03


def _sampled_share(out, system, tasks, draws, seed):
    rng = np.random.default_rng(seed)
    demand = np.full((1, 1, 1), tasks, dtype=np.int64)
    met = [sample_requests(out, demand, system.deadline_s, rng).satisfied for _ in range(draws)]
    return float(np.concatenate(met).mean())


@pytest.mark.parametrize(("cv_in", "cv_out"), [(0.96, 2.15), (0.0, 0.0)])
def test_sampled_requests_draw_their_own_sizes(cv_in, cv_out):
    """The request-level sampler (p95, sampled satisfaction) agrees with the fluid share."""
    system, out, share, *_ = _one_step(cv_in, cv_out)
    assert _sampled_share(out, system, 40, 2500, 3) == pytest.approx(share, abs=0.006)


def test_sampled_chain_requests_draw_their_own_sizes():
    _, within, out = _chain(2.15)
    share = _sampled_share(out, out.system, 30, 3000, 4)
    assert share == pytest.approx(within, abs=0.008)


def test_chain_with_a_cold_start_matches_draws_of_the_twin_model():
    """Every instance starting (0.1 s): the wait of the tasks that meet it, integrated over,
    must reach past the slack at the mean size (a request's output may be small)."""
    network, within, out = _chain(2.15, cold_start_ms=100.0)
    c = out.chains
    assert c.cold[0] == pytest.approx(0.1)
    delays = 0.001 + (0.001 + 0.005 + 0.002) + (0.005 + 0.002)
    rng = np.random.default_rng(12)
    n = 2_000_000
    sojourn = sum(rng.exponential(1.0 / r, n) for r in c.rate[0])
    waits = (rng.random(n) < c.cold[0]) * rng.uniform(0.0, c.start_s[0], n)
    latency = delays + (network - delays) * _sizes(rng, n, 2.15) + sojourn + waits
    assert within == pytest.approx(float((latency <= 0.15).mean()), abs=0.003)
