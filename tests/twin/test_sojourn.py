"""The M/G/1 sojourn model against a discrete-event simulation of the same FCFS node (SimPy).

One node serves two classes first come, first served, with Poisson arrivals; class a is
deterministic (cv 0), class b gamma with cv 0.5 and a mean 2.5 times a's. At utilisation 0.3,
0.6 and 0.9 the model's P(sojourn <= t) is compared with the simulated share at 1.2, 2 and 4
times each class's simulated mean sojourn. Measured with these seeds (35,000, 71,000 and 220,000
tasks): largest difference 0.015, mean sojourn within 0.4-4.3 %; the test allows 0.04.
"""

import numpy as np
import pytest
import simpy

from cnc6g.twin.sojourn import mean_wait, p_within

X = np.array([0.02, 0.05])  # mean service times, s
CV = np.array([0.0, 0.5])
MIX = np.array([0.6, 0.4])  # share of arrivals


def simulate(rho, seed, horizon=4000.0, warm=200.0):
    lam = rho / float((MIX * X).sum())
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=1)
    done = {0: [], 1: []}

    def service(c):
        if CV[c] == 0:
            return X[c]
        k = 1.0 / CV[c] ** 2
        return rng.gamma(k, X[c] / k)

    def task(c):
        start = env.now
        with server.request() as req:
            yield req
            yield env.timeout(service(c))
        if start > warm:
            done[c].append(env.now - start)

    def arrivals():
        while True:
            yield env.timeout(rng.exponential(1.0 / lam))
            env.process(task(int(rng.random() < MIX[1])))

    env.process(arrivals())
    env.run(until=horizon)
    return lam, {c: np.array(v) for c, v in done.items()}


@pytest.mark.parametrize(("rho", "seed"), [(0.3, 1), (0.6, 2), (0.9, 3)])
def test_the_mg1_sojourn_matches_a_simulated_fcfs_node(rho, seed):
    lam, sims = simulate(rho, seed, horizon=4000.0 if rho < 0.85 else 8000.0)
    got_rho, wait = mean_wait(lam * MIX, X, CV)
    assert got_rho == pytest.approx(rho)
    for c in (0, 1):
        times = sims[c]
        mean = times.mean()
        # Pollaczek-Khinchine mean sojourn within 5 % of the simulated one.
        assert wait + X[c] == pytest.approx(mean, rel=0.05 if rho < 0.85 else 0.1)
        for factor in (1.2, 2.0, 4.0):
            t = factor * mean
            model = float(p_within(t, X[c], CV[c], got_rho, wait))
            assert model == pytest.approx((times <= t).mean(), abs=0.04), (c, factor)


def test_one_exponential_class_is_the_mm1_sojourn():
    x, rho = 0.1, 0.7
    _, wait = mean_wait(np.array([rho / x]), np.array([x]), np.array([1.0]))
    t = np.linspace(0.0, 2.0, 9)
    np.testing.assert_allclose(
        p_within(t, x, 1.0, rho, wait), -np.expm1(-(1.0 - rho) * t / x), atol=1e-9
    )


def test_an_idle_node_is_the_service_time_and_a_deterministic_task_takes_at_least_it():
    assert float(p_within(0.05, 0.1, 0.0, 0.0, 0.0)) == 0.0
    assert float(p_within(0.1, 0.1, 0.0, 0.0, 0.0)) == 1.0
    assert float(p_within(0.099, 0.1, 0.0, 0.5, 0.05)) == 0.0
    assert 0.0 < float(p_within(0.2, 0.1, 0.5, 0.0, 0.0)) < 1.0
    with pytest.raises(ValueError, match="coefficient of variation"):
        p_within(0.1, 0.1, 1.5, 0.5, 0.05)


def test_a_rare_long_class_beside_short_ones_is_integrated_numerically():
    # The closed form needs 1 - lambda theta > 0; a long rare class breaks it.
    rate, x, cv = np.array([30.0, 0.1]), np.array([0.02, 1.0]), np.array([0.2, 0.8])
    rho, wait = mean_wait(rate, x, cv)
    t = np.array([0.5, 1.0, 2.0, 4.0])
    p = p_within(t, x[1], cv[1], rho, wait)
    assert np.all(np.diff(p) > 0)
    assert np.all((p >= 0) & (p <= 1))
    # Against brute-force Monte Carlo of (1 - rho) F_S + rho P(S + E <= t).
    rng = np.random.default_rng(0)
    k = 1.0 / cv[1] ** 2
    s = rng.gamma(k, x[1] / k, 400_000)
    e = rng.exponential(wait / rho, 400_000)
    mc = (1 - rho) * (s[:, None] <= t).mean(0) + rho * ((s + e)[:, None] <= t).mean(0)
    np.testing.assert_allclose(p, mc, atol=0.005)
