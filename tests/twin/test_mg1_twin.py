"""The twin with ``twin.sojourn = "mg1"``: a node is an M/G/1 queue with each service's work_cv."""

import numpy as np
import pytest
from factories import node, one_cell
from test_sojourn import CV, MIX, X, simulate

from cnc6g.model import ServiceType, TwinSettings
from cnc6g.twin import compile_scenario, evaluate_slot, sample_requests

C = 10.0  # Gc/s


def system(sojourn, cvs, works, deadlines):
    services = [
        ServiceType(
            name=f"s{i}",
            compute_gcycles=w,
            input_mbit=0.0,
            memory_gb=1.0,
            deadline_ms=d * 1e3,
            work_cv=cv,
        )
        for i, (w, cv, d) in enumerate(zip(works, cvs, deadlines, strict=True))
    ]
    scenario = one_cell(
        services,
        terminal=node("T-node", C, 8.0),
        ran=node("R-mec", 1.0, 8.0),
        twin=TwinSettings(slot_ms=1000.0, sojourn=sojourn),
    )
    return compile_scenario(scenario)


def evaluate(sy, demand):
    S, N, K = sy.n_services, sy.n_nodes, sy.n_candidates
    deployment = np.zeros((1, S, N), dtype=bool)
    deployment[0, :, 0] = True
    routing = np.zeros((1, 1, S, K))
    routing[0, 0, :, 0] = 1.0
    return evaluate_slot(
        sy,
        np.array([[demand]], dtype=float),
        np.array([[100.0]]),
        np.array([[100.0]]),
        deployment,
        deployment,
        routing,
    )


def test_one_exponential_service_is_the_same_under_both_models():
    args = ([1.0], [0.4], [0.3])
    plain = evaluate(system("exponential", *args), [15.0])  # rho 0.6
    mg1 = evaluate(system("mg1", *args), [15.0])
    assert mg1.satisfied == pytest.approx(plain.satisfied, rel=1e-9)
    assert mg1.flow_latency_mean_s[0, 0, 0, 0] == pytest.approx(
        plain.flow_latency_mean_s[0, 0, 0, 0], rel=1e-9
    )


@pytest.mark.parametrize(("rho", "seed"), [(0.3, 1), (0.6, 2), (0.9, 3)])
def test_the_twin_matches_a_simulated_fcfs_node(rho, seed):
    lam, sims = simulate(rho, seed, horizon=4000.0 if rho < 0.85 else 8000.0)
    works = X * C  # Gc per task so that the service time at the node is X
    deadlines = [1.5 * sims[c].mean() for c in (0, 1)]
    sy = system("mg1", list(CV), list(works), deadlines)
    out = evaluate(sy, list(lam * MIX))
    served = out.flow_served[0, 0, :, 0]
    share = out.flow_satisfied[0, 0, :, 0] / served
    for c in (0, 1):
        assert share[c] == pytest.approx((sims[c] <= deadlines[c]).mean(), abs=0.04)
        assert out.flow_latency_mean_s[0, 0, c, 0] == pytest.approx(
            sims[c].mean(), rel=0.05 if rho < 0.85 else 0.1
        )
    # The M/G/1 model is closer to the simulated node than the exponential one.
    plain = evaluate(system("exponential", list(CV), list(works), deadlines), list(lam * MIX))
    simulated = np.array([(sims[c] <= deadlines[c]).mean() for c in (0, 1)])
    old = plain.flow_satisfied[0, 0, :, 0] / plain.flow_served[0, 0, :, 0]
    assert np.abs(share - simulated).sum() < np.abs(old - simulated).sum()


def test_sampled_requests_agree_with_the_fluid_mg1_model():
    sy = system("mg1", [0.0, 0.5], [0.2, 0.5], [0.08, 0.2])
    demand = [20.0, 8.0]  # rho 0.8
    out = evaluate(sy, demand)
    rng = np.random.default_rng(0)
    counts = np.array([[[20, 8]]])
    lat, svc = [], []
    for _ in range(400):
        sample = sample_requests(out, counts, sy.deadline_s, rng)
        lat.append(sample.latency_s)
        svc.append(sample.service)
    lat, svc = np.concatenate(lat), np.concatenate(svc)
    for s in (0, 1):
        mine = lat[svc == s]
        assert mine.mean() == pytest.approx(out.flow_latency_mean_s[0, 0, s, 0], rel=0.03)
        fluid = out.flow_satisfied[0, 0, s, 0] / out.flow_served[0, 0, s, 0]
        assert (mine <= sy.deadline_s[s]).mean() == pytest.approx(fluid, abs=0.02)
    assert lat[svc == 0].min() >= 0.02 - 1e-12  # deterministic work: never below its 20 ms
