"""The executor turns any knobs into a feasible decision, and the knobs do what they say."""

import numpy as np
import pytest

from cnc6g.learning.executor import LEVELS, THRESHOLDS, Knobs, execute, node_caps
from cnc6g.learning.features import decompose_cost
from cnc6g.model.decision import Decision
from cnc6g.policies import feasibility_problems
from cnc6g.twin import Twin


def random_knobs(system, batch, rng):
    D = int(system.node_domain.max()) + 1
    return Knobs(
        level=rng.integers(0, len(LEVELS), (batch, D)),
        threshold=rng.integers(0, len(THRESHOLDS), (batch, D)),
        price=rng.uniform(-1, 1, (batch, system.n_nodes)),
        trim=rng.uniform(-1, 1, (batch, system.n_nodes)),
    )


def run_slots(system, knobs_of, slots=6, batch=3, seed=0):
    twin = Twin(system, batch=batch, seed=seed)
    idle = None
    for t in range(slots):
        knobs = knobs_of(t)
        prev = twin.deployment.copy()
        x, y, idle = execute(
            system,
            twin.demand.astype(float),
            twin.uplink_mbps,
            twin.downlink_mbps,
            prev,
            knobs,
            idle,
        )
        yield twin, prev, knobs, x, y
        twin.step_arrays(x, y)


@pytest.mark.parametrize("name", ["tiny_system", "case_system"])
def test_any_knobs_give_feasible_decisions(name, request):
    system = request.getfixturevalue(name)
    rng = np.random.default_rng(3)
    for _, _, _, x, y in run_slots(system, lambda t: random_knobs(system, 3, rng)):
        for b in range(3):
            assert feasibility_problems(system, Decision(deployment=x[b], routing=y[b])) == []


def test_a_domain_switched_off_gets_nothing_and_its_servers_sleep(case_system):
    sy = case_system
    mec = sy.node_names.index("R3-mec")
    dom = sy.node_domain[mec]

    def knobs(t):
        k = Knobs.neutral(sy, 3)
        k.level[:, dom] = 0
        return k

    for _, _, _, x, y in run_slots(sy, knobs):
        assert not x[:, :, mec].any()
        to_mec = (sy.candidates == mec)[None, :, None, :] & (y > 0)
        assert not to_mec.any()


def test_node_load_stays_within_its_cap(case_system):
    sy = case_system
    rng = np.random.default_rng(1)
    for twin, _, knobs, _x, y in run_slots(sy, lambda t: random_knobs(sy, 3, rng)):
        work = np.zeros((3, sy.n_nodes))
        flows = twin.demand[..., None] * y  # [B, O, S, K]
        for o in range(sy.n_origins):
            for k in range(sy.n_candidates):
                work[:, sy.candidates[o, k]] += flows[:, o, :, k] @ sy.work
        assert (work <= node_caps(sy, knobs) * sy.capacity * sy.slot_s + 1e-6).all()


def test_higher_start_threshold_never_starts_more_instances(case_system):
    sy = case_system
    twin = Twin(sy, batch=1, seed=4)
    started = []
    for thr in range(len(THRESHOLDS)):
        k = Knobs.neutral(sy, 1)
        k.threshold[:] = thr
        x, _, _ = execute(
            sy, twin.demand.astype(float), twin.uplink_mbps, twin.downlink_mbps, twin.deployment, k
        )
        started.append(int(x.sum()))
    assert started == sorted(started, reverse=True)
    assert started[0] > started[-1]


def test_idle_instances_are_kept_for_a_while_then_removed(case_system):
    sy = case_system
    twin = Twin(sy, batch=1, seed=2)
    k = Knobs.neutral(sy, 1)
    x, _, idle = execute(
        sy, twin.demand.astype(float), twin.uplink_mbps, twin.downlink_mbps, twin.deployment, k
    )
    assert x.any()
    no_demand = np.zeros_like(twin.demand, dtype=float)
    kept = []
    prev = x
    for _ in range(8):
        prev, _, idle = execute(sy, no_demand, twin.uplink_mbps, twin.downlink_mbps, prev, k, idle)
        kept.append(int(prev.sum()))
    assert kept[0] == int(x.sum())  # a dip does not remove instances at once
    assert kept[-1] == 0  # but idle ones go after the patience runs out


def test_cost_decomposition_adds_up_exactly(case_system):
    sy = case_system
    rng = np.random.default_rng(5)
    twin = Twin(sy, batch=4, seed=9)
    idle = None
    for _ in range(4):
        prev = twin.deployment.copy()
        k = random_knobs(sy, 4, rng)
        x, y, idle = execute(
            sy, twin.demand.astype(float), twin.uplink_mbps, twin.downlink_mbps, prev, k, idle
        )
        out = twin.step_arrays(x, y)
        for credit in (0.0, 1.0):
            total, per_domain, rest = decompose_cost(sy, out, x, prev, credit=credit)
            np.testing.assert_allclose(per_domain.sum(axis=1) + rest, total, rtol=1e-12)
            np.testing.assert_allclose(total, out.objective(sy.unsatisfied_penalty_j))
        _, with_credit, _ = decompose_cost(sy, out, x, prev, credit=1.0)
        _, without, _ = decompose_cost(sy, out, x, prev, credit=0.0)
        assert (with_credit <= without + 1e-9).all()
