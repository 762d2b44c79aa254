"""OPT, the slot MILP: exhaustive search, agreement with the twin, lower bound, degenerate inputs.

Where every served task is satisfied in the twin (deadlines far above the network delay and the
processor-sharing sojourn, no cold start) and the plan's failure charge is negligible, the plan's
cost of a decision is the twin's objective of it: OPT must then match an exhaustive search of
deployments and routing shares on tiny systems built by hand, and can never lose to GRD or RAND.
Elsewhere the plan is conservative: it serves exactly what the twin serves and charges a failure
bound per task, so its cost is at least the twin's.
"""

import itertools
import time
from dataclasses import replace
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnc6g.experiments import run_policy
from cnc6g.model import (
    Domain,
    DomainKind,
    Node,
    ProcessorKind,
    RadioLink,
    Scenario,
    ServiceType,
    TwinSettings,
    WiredLink,
    Workload,
)
from cnc6g.model.decision import Decision, Observation
from cnc6g.policies import GreedyPolicy, OptimalPolicy, RandomPolicy, feasibility_problems
from cnc6g.policies.base import usable_candidates
from cnc6g.policies.opt import (
    PHASES,
    SlotInputs,
    build_model,
    lower_bound,
    plan_deployment,
    solve_slot,
    twin_scores,
)
from cnc6g.policies.opt import phases as opt_phases
from cnc6g.policies.opt import relaxation as opt_relaxation
from cnc6g.policies.opt.highs import new_solver, primal
from cnc6g.policies.opt.phases import _complete, _reduced_cost_fixing
from cnc6g.policies.opt.relaxation import _rows_lp, solve_relaxation
from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.twin import Twin, compile_scenario, evaluate_slot
from cnc6g.twin.costs import REMOVAL_WEIGHT, removal_cost, restart_cost

TIME_LIMIT = 5.0
EXACT = 1e-6  # relative agreement where the plan is exact
# The plan's failure charge is negligible where the twin satisfies every served task: at the
# admission limit it is ``exp(-(1 - rho_max) C q / w)`` per served task, ``exp(-36)`` or less in
# the systems below.

# ---------------------------------------------------------------------------------------------
# Helpers


def evaluate(system, inputs, deployment, routing):
    """The twin's outcome of ``B`` decisions ``deployment [B, S, N]``, ``routing [B, O, S, K]``
    on the same slot inputs."""
    B = deployment.shape[0]

    def rep(a):
        return np.repeat(np.asarray(a)[None], B, axis=0)

    return evaluate_slot(
        system,
        rep(inputs.demand.astype(float)),
        rep(inputs.uplink_mbps),
        rep(inputs.downlink_mbps),
        deployment,
        rep(inputs.previous),
        routing,
    )


def scores(system, inputs, decisions):
    """Outcome and objective of each decision in the twin (one batch)."""
    out = evaluate(
        system,
        inputs,
        np.stack([np.asarray(d.deployment, dtype=bool) for d in decisions]),
        np.stack([np.asarray(d.routing, dtype=float) for d in decisions]),
    )
    return out, out.objective(system.unsatisfied_penalty_j)


def solve(system, inputs, **kwargs):
    kwargs = {"amortise_slots": 1.0, "time_limit": TIME_LIMIT} | kwargs
    solution = solve_slot(system, inputs, **kwargs)
    assert feasibility_problems(system, solution.decision) == []
    return solution


def warmed_up(system, seed, slots):
    """GRD after running the twin for ``slots`` slots, and the observation of the next slot."""
    twin = Twin(system, seed=seed)
    grd = GreedyPolicy()
    grd.reset(system, seed)
    for _ in range(slots):
        twin.step(grd.decide(twin.observe()))
    return twin.observe(), grd


def baseline_decisions(system, obs, grd, seed):
    """GRD's and RAND's decisions for the slot of ``obs``."""
    rand = RandomPolicy()
    rand.reset(system, seed)
    decisions = [grd.decide(obs), rand.decide(obs)]
    for d in decisions:
        assert feasibility_problems(system, d) == []
    return decisions


@cache
def synthetic_system(n_cells, n_services, seed, load, candidates=None):
    return compile_scenario(
        synthetic_scenario(
            f"opt-{n_cells}-{n_services}-{seed}",
            n_cells=n_cells,
            n_services=n_services,
            offered_load=load,
            seed=seed,
            candidates_per_origin=candidates,
        )
    )


@cache
def loose_system(n_cells, n_services, seed, load):
    """A synthetic system where the plan is exact: every served task is satisfied.

    Deadlines of 120 s leave the twin's sojourn rate times slack above 30 up to the admission
    limit even for a 1-gigacycle task on a 6 Gc/s terminal (``6 * 0.05 * 120 = 36``; with 5 s it
    would be 1.5, a 22 % failure rate); no cold starts.
    """
    data = synthetic_scenario(
        f"loose-{n_cells}-{n_services}-{seed}",
        n_cells=n_cells,
        n_services=n_services,
        offered_load=load,
        seed=seed,
    ).model_dump()
    for service in data["services"]:
        service["deadline_ms"] = 120_000.0
        service["cold_start_ms"] = 0.0
    return compile_scenario(Scenario.model_validate(data))


# ---------------------------------------------------------------------------------------------
# Tiny systems built by hand


def _node(name, capacity, memory, idle, peak, *, sleep=None, processor=ProcessorKind.CPU, **kw):
    return Node(
        name=name,
        processor=processor,
        capacity_gcps=capacity,
        memory_gb=memory,
        idle_power_w=idle,
        peak_power_w=peak,
        sleep_power_w=sleep,
        **kw,
    )


def _service(name, work, memory, instance_w, start_j, *, deadline_ms=10_000.0, **kw):
    kw = {"input_mbit": 0.5, "output_mbit": 0.1} | kw
    return ServiceType(
        name=name,
        compute_gcycles=work,
        memory_gb=memory,
        instance_power_w=instance_w,
        instantiation_energy_j=start_j,
        cold_start_ms=0.0,
        deadline_ms=deadline_ms,
        **kw,
    )


SERVICE_A = _service("a", 0.2, 1.0, 2.0, 20.0)
SERVICE_B = _service(
    "b", 1.0, 1.5, 3.0, 50.0, input_mbit=0.4, tiers=[DomainKind.RAN, DomainKind.TRANSPORT]
)


def tiny_system(n_origins, services, *, cloud=False):
    """``n_origins`` terminal domains (one 4 Gc/s device each), one RAN domain (a MEC server that
    sleeps and fits only one of a and b), one transport domain (a DC, optionally a cloud).

    Admission at 80 % leaves every node headroom enough that a task with a 10 s deadline is
    satisfied with probability ``1 - exp(-40)`` or more; radio and link loads stay small.
    """
    terminals = [
        Domain(
            name=f"T{i}",
            kind=DomainKind.TERMINAL,
            nodes=[
                _node(
                    f"T{i}-dev",
                    4.0,
                    2.0,
                    0.0,
                    6.0,
                    processor=ProcessorKind.NPU,
                    access_delay_ms=0.2,
                    access_energy_nj_per_bit=1.0,
                )
            ],
        )
        for i in range(n_origins)
    ]
    transport = [_node("X-dc", 100.0, 64.0, 300.0, 600.0, access_delay_ms=1.0)]
    if cloud:
        transport.append(_node("X-cloud", 400.0, 64.0, 0.0, 1000.0, access_delay_ms=20.0))
    scenario = Scenario(
        name="opt-tiny",
        domains=[
            *terminals,
            Domain(
                name="R",
                kind=DomainKind.RAN,
                nodes=[_node("R-mec", 40.0, 2.0, 60.0, 80.0, sleep=10.0, access_delay_ms=0.5)],
            ),
            Domain(name="X", kind=DomainKind.TRANSPORT, nodes=transport),
        ],
        radio_links=[
            RadioLink(
                terminal=f"T{i}",
                ran="R",
                uplink_mhz=10.0,
                downlink_mhz=20.0,
                mean_snr_db=20.0,
                tx_power_w=0.25,
                bs_energy_nj_per_bit=40.0,
            )
            for i in range(n_origins)
        ],
        wired_links=[
            WiredLink(a="R", b="X", bandwidth_gbps=1.0, delay_ms=2.0, energy_nj_per_bit=20.0)
        ],
        services=services,
        workload=Workload(requests_per_slot=(10, 10)),
        twin=TwinSettings(admission_utilisation=0.8),
    )
    return compile_scenario(scenario)


@cache
def one_service_system():
    """Origins T0, T1; service a on any node. Nodes: T0-dev, T1-dev, R-mec, X-dc."""
    return tiny_system(2, [SERVICE_A])


@cache
def two_service_system():
    """Origin T0; a anywhere, b on R-mec or X only. Nodes: T0-dev, R-mec, X-dc, X-cloud."""
    return tiny_system(1, [SERVICE_A, SERVICE_B], cloud=True)


SYSTEMS = {"one-service": one_service_system, "two-services": two_service_system}


def tiny_inputs(system, demand, previous):
    x = np.zeros((system.n_services, system.n_nodes), dtype=bool)
    for s, n in previous:
        x[s, n] = True
    O = system.n_origins
    return SlotInputs(np.array(demand, dtype=float), np.full(O, 100.0), np.full(O, 200.0), x)


def share_grid(m, steps):
    """Every share vector over ``m`` candidates in multiples of ``1 / steps`` summing to <= 1."""
    return [
        np.array(c, dtype=float) / steps
        for c in itertools.product(range(steps + 1), repeat=m)
        if sum(c) <= steps
    ]


def enumerate_decisions(system, inputs, steps):
    """Every deployment over ``can_host`` that fits memory, with every routing on the grid."""
    S, N, O, K = system.n_services, system.n_nodes, system.n_origins, system.n_candidates
    hosts = np.argwhere(system.can_host)
    deployments, routings = [], []
    for on in itertools.product([False, True], repeat=len(hosts)):
        x = np.zeros((S, N), dtype=bool)
        x[hosts[:, 0], hosts[:, 1]] = on
        if ((x * system.service_memory[:, None]).sum(axis=0) > system.memory).any():
            continue
        usable = usable_candidates(system, x)
        rows = []
        for o, s in np.argwhere(inputs.demand > 0):
            ks = np.flatnonzero(usable[o, s])
            rows.append([(o, s, ks, g) for g in share_grid(ks.size, steps)])
        for combo in itertools.product(*rows):
            y = np.zeros((O, S, K))
            for o, s, ks, g in combo:
                y[o, s, ks] = g
            deployments.append(x)
            routings.append(y)
    return np.array(deployments), np.array(routings)


# (system, demand [O][S], previous (s, n) pairs, grid steps per unit share). Node indices:
# one-service T0=0 T1=1 R=2 X=3; two-services T0=0 R=1 X-dc=2 X-cloud=3.
EXHAUSTIVE_CASES = {
    "cold-all-to-dc": ("one-service", [[32], [32]], [], 2),
    "warm-terminals-half-local": ("one-service", [[32], [32]], [(0, 0), (0, 1)], 2),
    "warm-mec-kept": ("one-service", [[32], [32]], [(0, 2)], 2),
    "quarter-local": ("one-service", [[64], [0]], [(0, 0), (0, 1)], 4),
    "two-thirds-local": ("one-service", [[24], [24]], [(0, 0), (0, 1)], 3),
    "small-demand-local": ("one-service", [[10], [0]], [], 2),
    "mec-woken-for-b": ("two-services", [[8, 30]], [], 2),
    "mec-capacity-split": ("two-services", [[32, 64]], [(1, 1)], 2),
    "warm-dc": ("two-services", [[32, 64]], [(0, 0), (1, 2)], 2),
    "mec-instance-stopped": ("two-services", [[64, 16]], [(0, 1)], 2),
}


# ---------------------------------------------------------------------------------------------
# 1. Exhaustive optimum on tiny instances


@pytest.mark.parametrize("case", list(EXHAUSTIVE_CASES), ids=list(EXHAUSTIVE_CASES))
def test_opt_matches_exhaustive_search_where_plan_is_exact(case):
    name, demand, previous, steps = EXHAUSTIVE_CASES[case]
    system = SYSTEMS[name]()
    inputs = tiny_inputs(system, demand, previous)
    deployments, routings = enumerate_decisions(system, inputs, steps)
    assert 0 < deployments.shape[0] <= 3_000
    grid = evaluate(system, inputs, deployments, routings).objective(system.unsatisfied_penalty_j)
    best = grid.min()

    solution = solve(system, inputs, mip_rel_gap=0.0)
    out, opt = scores(system, inputs, [solution.decision])
    # every served task is satisfied: the regime where the plan is exact
    assert out.satisfied == pytest.approx(out.served, rel=1e-9)
    # never worse than any grid point, and the optimum lies on the grid
    assert opt[0] <= best * (1 + EXACT)
    assert best == pytest.approx(opt[0], rel=EXACT)
    # the planned cost is the twin's score of the decision
    assert solution.objective == pytest.approx(opt[0], rel=EXACT)


def test_opt_beats_a_grid_that_misses_the_optimal_split():
    """With a grid that misses the optimal split (2/3), OPT is strictly better than all of it."""
    system = one_service_system()
    inputs = tiny_inputs(system, [[32], [24]], [(0, 0), (0, 1)])
    deployments, routings = enumerate_decisions(system, inputs, 2)
    grid = evaluate(system, inputs, deployments, routings).objective(system.unsatisfied_penalty_j)
    solution = solve(system, inputs, mip_rel_gap=0.0)
    _, opt = scores(system, inputs, [solution.decision])
    assert opt[0] < grid.min() * (1 - 1e-3)
    # origin T1 keeps 16 of its 24 tasks on its own device (3.2 Gc at 80 % of 4 Gc/s)
    assert solution.decision.routing[1, 0, 0] == pytest.approx(2 / 3, rel=1e-6)


# ---------------------------------------------------------------------------------------------
# 2. Agreement with the twin on generated scenarios

AGREEMENT_CASES = [
    (2, 3, 1, 0.3),
    (2, 5, 2, 0.8),
    (2, 4, 7, 1.5),
    (3, 4, 3, 1.5),
    (3, 6, 5, 0.8),
    (4, 3, 6, 0.3),
]


@pytest.mark.parametrize(("n_cells", "n_services", "seed", "load"), AGREEMENT_CASES)
def test_plan_serves_what_the_twin_serves_and_bounds_its_objective(n_cells, n_services, seed, load):
    system = synthetic_system(n_cells, n_services, seed, load)
    obs, _ = warmed_up(system, seed, 3)
    inputs = SlotInputs.from_observation(obs)
    solution = solve(system, inputs, time_limit=3.0)
    assert np.isfinite(solution.objective)
    out, twin = scores(system, inputs, [solution.decision])
    beta = system.unsatisfied_penalty_j

    # (a) every routed task is served: the plan keeps nodes and links below admission
    usable = usable_candidates(system, solution.decision.deployment)
    planned_served = (solution.decision.routing * usable * inputs.demand[:, :, None]).sum()
    assert out.served[0] == pytest.approx(planned_served, rel=EXACT, abs=1e-9)
    # (b) the plan is conservative
    assert twin[0] <= solution.objective * (1 + EXACT)
    # (c) energy and drops agree, so the plan differs only by its failure charge, which covers
    # the twin's late tasks and is at most the penalty of every served task
    charge = solution.objective - out.energy_total[0] - beta * out.dropped[0]
    late = beta * (out.served[0] - out.satisfied[0])
    tol = EXACT * solution.objective
    assert late - tol <= charge <= beta * out.served[0] + tol
    assert twin[0] >= solution.objective - beta * out.served[0] - tol


# ---------------------------------------------------------------------------------------------
# 3. Lower bound

BOUND_CASES = [
    (1, 3, 11, 0.8, None, 0),
    (2, 4, 12, 0.3, None, 2),
    (2, 5, 13, 1.5, 1, 1),
    (3, 3, 14, 0.8, 2, 3),
    (3, 5, 15, 3.0, None, 2),
    (4, 2, 16, 1.5, None, 1),
]


def random_feasible_decisions(system, previous, rng, count):
    """Random deployments that fit memory (some keeping previous instances), random routings."""
    decisions = []
    for _ in range(count):
        x = (rng.random(system.can_host.shape) < rng.uniform(0.1, 0.9)) & system.can_host
        x |= previous & (rng.random(x.shape) < 0.5)
        for n in range(system.n_nodes):
            while (x[:, n] * system.service_memory).sum() > system.memory[n]:
                x[np.flatnonzero(x[:, n])[0], n] = False
        usable = usable_candidates(system, x)
        raw = rng.random(usable.shape) * usable * (rng.random(usable.shape) < 0.7)
        row = raw.sum(axis=-1, keepdims=True)
        y = np.divide(raw, row, out=np.zeros_like(raw), where=row > 0)
        decisions.append(Decision(x, y * rng.uniform(0.3, 1.0, size=row.shape)))
    return decisions


@pytest.mark.parametrize(("n_cells", "n_services", "seed", "load", "k", "warmup"), BOUND_CASES)
def test_lower_bound_is_below_every_policy_in_the_twin(n_cells, n_services, seed, load, k, warmup):
    system = synthetic_system(n_cells, n_services, seed, load, k)
    obs, grd = warmed_up(system, seed, warmup)
    inputs = SlotInputs.from_observation(obs)
    bound = lower_bound(system, inputs)
    assert np.isfinite(bound)
    decisions = [solve(system, inputs, time_limit=3.0).decision]
    decisions += baseline_decisions(system, obs, grd, seed)
    decisions += random_feasible_decisions(system, inputs.previous, np.random.default_rng(seed), 10)
    _, objective = scores(system, inputs, decisions)
    assert (bound <= objective + 1e-9 * np.abs(objective)).all()


# ---------------------------------------------------------------------------------------------
# 4. Never worse than GRD or RAND where the plan is exact


@settings(max_examples=15, deadline=None)
@given(
    n_cells=st.integers(1, 3),
    n_services=st.integers(2, 4),
    seed=st.integers(0, 10_000),
    load=st.sampled_from([0.2, 0.5, 0.8, 1.2]),
    warmup=st.integers(0, 3),
)
def test_opt_is_never_worse_than_baselines_where_plan_is_exact(
    n_cells, n_services, seed, load, warmup
):
    system = loose_system(n_cells, n_services, seed, load)
    obs, grd = warmed_up(system, seed, warmup)
    inputs = SlotInputs.from_observation(obs)
    # links capped where the twin admits, as nodes are: the plan's feasible set covers every
    # load the twin serves
    solution = solve(
        system, inputs, mip_rel_gap=0.0, network_utilisation=system.admission_utilisation
    )
    _, objective = scores(
        system, inputs, [solution.decision, *baseline_decisions(system, obs, grd, seed)]
    )
    assert solution.objective == pytest.approx(objective[0], rel=EXACT)
    slack = (EXACT + solution.gap) * abs(solution.objective)
    assert objective[0] <= objective[1:].min() + slack


# ---------------------------------------------------------------------------------------------
# 5. Degenerate inputs


def test_service_no_node_can_host_is_dropped_and_noted():
    huge = _service("huge", 0.2, 500.0, 2.0, 20.0)  # more memory than any node
    system = tiny_system(2, [SERVICE_A, huge])
    assert not system.can_host[1].any()
    inputs = tiny_inputs(system, [[8, 5], [4, 3]], [])
    solution = solve(system, inputs)
    assert not solution.decision.deployment[1].any()
    assert not solution.decision.routing[:, 1].any()
    assert any("huge" in note for note in solution.notes)
    out, _ = scores(system, inputs, [solution.decision])
    assert out.served[0] == pytest.approx(12.0)  # all of a, none of huge
    assert out.dropped[0] == pytest.approx(8.0)
    assert lower_bound(system, inputs) <= solution.objective


@pytest.mark.parametrize("previous", [[], [(0, 0), (0, 2), (0, 3)]], ids=["cold", "warm"])
def test_zero_demand_gives_empty_routing(previous):
    system = one_service_system()
    inputs = tiny_inputs(system, [[0], [0]], previous)
    solution = solve(system, inputs)
    assert not solution.decision.routing.any()
    assert not solution.decision.deployment.any()  # keeping an idle instance only costs
    _, objective = scores(system, inputs, [solution.decision])
    assert solution.objective == pytest.approx(objective[0], rel=EXACT)
    # idle DC + sleeping MEC, terminals idle at 0 W
    assert objective[0] == pytest.approx(300.0 + 10.0)
    assert lower_bound(system, inputs) == pytest.approx(objective[0], rel=EXACT)


def test_only_unhostable_demand_does_not_crash():
    huge = _service("huge", 0.2, 500.0, 2.0, 20.0)
    system = tiny_system(1, [SERVICE_A, huge])
    inputs = tiny_inputs(system, [[0, 7]], [])
    solution = solve(system, inputs)
    assert not solution.decision.routing.any()
    assert any("huge" in note for note in solution.notes)
    _, objective = scores(system, inputs, [solution.decision])
    assert solution.objective == pytest.approx(objective[0], rel=EXACT)


def test_deadline_below_every_network_delay_is_dropped_and_noted():
    # round trips: 0.4 ms to the own device, more to anything behind the radio
    tight = _service("tight", 0.2, 1.0, 2.0, 20.0, deadline_ms=0.1)
    system = tiny_system(2, [SERVICE_A, tight])
    assert (2 * system.candidate_delay_s.min()) > 0.1e-3
    inputs = tiny_inputs(system, [[8, 5], [4, 0]], [])
    solution = solve(system, inputs)
    assert not solution.decision.routing[:, 1].any()
    assert any("T0" in note and "tight" in note for note in solution.notes)
    assert not any("T1" in note for note in solution.notes)  # T1 asks for none of it
    out, _ = scores(system, inputs, [solution.decision])
    assert out.served[0] == pytest.approx(12.0)


# ---------------------------------------------------------------------------------------------
# 6. Policy wiring


@pytest.mark.parametrize(
    "kwargs",
    [
        {"time_limit": 0.0},
        {"time_limit": -1.0},
        {"mip_rel_gap": 1.0},
        {"mip_rel_gap": 2.0},
        {"mip_rel_gap": -0.1},
        {"network_utilisation": 0.0},
        {"network_utilisation": 1.0},
        {"network_utilisation": 1.5},
        {"amortise_slots": 0.5},
        {"node_limit": 0},
        {"tiers": ()},
        {"tiers": (0.0, 0.5)},
        {"tiers": (0.5, 1.0)},
        {"tiers": (-0.2,)},
    ],
    ids=str,
)
def test_optimal_policy_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="must be"):
        OptimalPolicy(**kwargs)


def test_optimal_policy_reports_solver_figures(tiny_scenario):
    policy = OptimalPolicy(time_limit=2)
    system = compile_scenario(tiny_scenario)
    policy.reset(system, 0)
    assert policy.info() == {}
    twin = Twin(system, seed=0)
    decision = policy.decide(twin.observe())
    assert feasibility_problems(system, decision) == []
    info = policy.info()
    assert info["opt_solve_ms"] >= 0
    assert 0 <= info["opt_gap"] < 1

    summary = run_policy(OptimalPolicy(time_limit=2), tiny_scenario, slots=5).summary()
    assert summary.policy == "opt"
    assert summary.policy_info["opt_solve_ms_p50"] >= 0
    assert 0 <= summary.policy_info["opt_gap_max"] < 1


# ---------------------------------------------------------------------------------------------
# 7. Incumbents: the plan of GRD's, RAND's and the previous deployment bound OPT's plan

INCUMBENT_CASES = [
    (2, 4, 21, 1.2, 2),
    (2, 5, 22, 0.8, 3),
    (3, 4, 23, 1.5, 1),
    (3, 3, 24, 1.0, 4),
]


@pytest.mark.parametrize(("n_cells", "n_services", "seed", "load", "warmup"), INCUMBENT_CASES)
def test_opt_plan_is_never_above_the_plan_of_baseline_deployments(
    n_cells, n_services, seed, load, warmup
):
    system = synthetic_system(n_cells, n_services, seed, load)
    assert system.can_sleep.any()
    obs, grd = warmed_up(system, seed, warmup)
    inputs = SlotInputs.from_observation(obs)
    baselines = baseline_decisions(system, obs, grd, seed)
    solution = solve(system, inputs, time_limit=TIME_LIMIT, warm=baselines)
    deployments = [d.deployment for d in baselines] + [inputs.previous]
    plans = [plan_deployment(system, inputs, x) for x in deployments]
    for plan in plans:
        assert plan.status == "Optimal"
        assert feasibility_problems(system, plan.decision) == []
        # no completed deployment undercuts the optimum, and OPT's plan is within its
        # certified gap of it
        assert solution.objective <= plan.objective * (1 + EXACT) + solution.gap * abs(
            solution.objective
        )
        # the reported bound (relaxation, raised by branch and cut) is a bound on every plan
        assert solution.bound <= plan.objective * (1 + EXACT) + 1e-9
    # and each completed plan is itself an upper bound on the twin's score of its decision
    _, twin = scores(system, inputs, [p.decision for p in plans])
    for plan, score in zip(plans, twin, strict=True):
        assert score <= plan.objective * (1 + EXACT)


@pytest.mark.parametrize(("n_cells", "n_services", "seed", "load", "warmup"), INCUMBENT_CASES)
def test_completion_of_a_deployment_is_a_feasible_plan_no_better_than_the_exact_one(
    n_cells, n_services, seed, load, warmup
):
    system = synthetic_system(n_cells, n_services, seed, load)
    obs, grd = warmed_up(system, seed, warmup)
    inputs = SlotInputs.from_observation(obs)
    built = build_model(system, inputs)
    lp, _ = built.model.to_lp(relax=True)
    h = new_solver(30.0, 1e-3)
    h.passModel(lp)
    h.run()
    n = built.model.n_cols
    relaxed = primal(h, n)
    assert relaxed is not None
    fixed_cols = built.deployment_cols
    on = np.asarray(grd.decide(obs).deployment)[built.pairs[:, 0], built.pairs[:, 1]]
    awake = np.zeros(system.n_nodes, dtype=bool)
    np.logical_or.at(awake, built.pairs[on, 1], True)
    fixed = np.concatenate([on * 1.0, awake[built.a >= 0] * 1.0])
    completed = _complete(h, built, fixed_cols, fixed, n)
    assert completed is not None
    values, objective = completed
    # the completion is integral and no better than the exact completion of the same deployment
    ints = built.integers
    assert np.allclose(values[ints], np.round(values[ints]), atol=1e-9)
    exact = plan_deployment(system, inputs, grd.decide(obs).deployment)
    assert objective >= exact.objective * (1 - EXACT) - 1e-9
    # the completed values are a feasible point of the MILP: check them with the plan's rows
    mip, _ = built.model.to_lp(relax=False)
    check = new_solver(30.0, 0.0)
    check.passModel(mip)
    fix = np.round(values[ints])
    check.changeColsBounds(ints.size, ints, fix, fix)
    check.run()
    assert check.getInfo().objective_function_value <= objective * (1 + 1e-6) + 1e-9


# 16 rounds: enough for each slot below to need only some of the rows (the second takes 9-12
# since a server left to sleep is spared part of the removal charge)
@pytest.mark.parametrize("rounds", [0, 1, 16])
@pytest.mark.parametrize(
    ("n_cells", "n_services", "seed", "load", "warmup"),
    [(3, 6, 41, 1.5, 3), (4, 6, 43, 1.5, 2), (6, 12, 7, 1.2, 3)],
)
def test_relaxation_with_lazy_rows_is_the_full_relaxation(
    monkeypatch, rounds, n_cells, n_services, seed, load, warmup
):
    """The lazy tier-share bounds are added until none is violated: the same optimum as the
    relaxation with every row, a point that satisfies every row, with fewer rows."""
    monkeypatch.setattr(opt_relaxation, "LAZY_ROUNDS", rounds)
    system = synthetic_system(n_cells, n_services, seed, load)
    obs, _ = warmed_up(system, seed, warmup)
    built = build_model(
        system, SlotInputs.from_observation(obs), amortise_slots=10.0, removal_weight=0.3
    )
    lp, _ = built.model.to_lp(relax=True)
    assert built.model.lazy_rows.size > 0
    full = new_solver(30.0, 1e-3)
    full.passModel(lp)
    full.run()
    lazy = new_solver(30.0, 1e-3)
    solve_relaxation(lazy, lp, built.model, time.perf_counter() + 30.0)
    assert lazy.modelStatusToString(lazy.getModelStatus()) == "Optimal"
    objective = lazy.getInfo().objective_function_value
    assert objective == pytest.approx(full.getInfo().objective_function_value, rel=1e-9, abs=1e-9)
    values = primal(lazy, built.model.n_cols)
    start, cols, vals = built.model.rows_csr
    activity = np.add.reduceat(vals * values[cols], start[:-1]) * (np.diff(start) > 0)
    assert np.all(activity <= np.asarray(lp.row_upper_) + 1e-6)
    assert np.all(activity >= np.asarray(lp.row_lower_) - 1e-6)
    if rounds > 1:  # after one round the rest are added
        assert lazy.getLp().num_row_ < lp.num_row_


def test_rows_lp_keeps_the_rows_asked_for():
    system = synthetic_system(3, 4, 23, 1.5)
    obs, _ = warmed_up(system, 23, 1)
    built = build_model(system, SlotInputs.from_observation(obs))
    lp, _ = built.model.to_lp(relax=True)
    start, cols, vals = built.model.rows_csr
    rows = np.array([0, 3, lp.num_row_ - 1])
    part = _rows_lp(lp, rows, built.model.rows_csr)
    assert part.num_row_ == 3
    got = np.asarray(part.a_matrix_.start_)
    for i, r in enumerate(rows):
        entries = slice(got[i], got[i + 1])
        np.testing.assert_array_equal(part.a_matrix_.index_[entries], cols[start[r] : start[r + 1]])
        np.testing.assert_array_equal(part.a_matrix_.value_[entries], vals[start[r] : start[r + 1]])
    assert part.row_upper_[1] == lp.row_upper_[3]


def test_no_time_for_a_solution_keeps_the_given_decision():
    system = synthetic_system(3, 5, 25, 1.5)
    obs, grd = warmed_up(system, 25, 2)
    inputs = SlotInputs.from_observation(obs)
    given = grd.decide(obs)
    solution = solve_slot(system, inputs, time_limit=1e-4, warm=[given])
    assert feasibility_problems(system, solution.decision) == []
    if not np.isfinite(solution.objective):
        assert solution.decision is given
        assert any("no solution" in note for note in solution.notes)
        assert solution.gap == float("inf")


def test_node_limit_stops_a_slot_at_the_same_point_every_time():
    """A limit on work, unlike the time limit: the same slot stops with the same answer."""
    system = synthetic_system(4, 6, 43, 1.5)  # a slot that branch and cut needs
    obs, _ = warmed_up(system, 43, 2)
    inputs = SlotInputs.from_observation(obs)
    kwargs = {"mip_rel_gap": 0.0, "amortise_slots": 10.0, "removal_weight": 0.3}
    free = solve(system, inputs, **kwargs)
    limited = [solve(system, inputs, node_limit=1, **kwargs) for _ in range(2)]
    assert free.status == "Optimal"
    for s in limited:
        # stopped by the node limit before the gap closed, never by the clock
        assert s.status not in {"Optimal", "Time limit reached"}
        assert "branch_and_cut" in s.phase_ms
        assert s.bound <= free.bound * (1 + 1e-9)
    a, b = limited
    np.testing.assert_array_equal(a.decision.deployment, b.decision.deployment)
    np.testing.assert_array_equal(a.decision.routing, b.decision.routing)
    assert (a.objective, a.bound, a.source) == (b.objective, b.bound, b.source)


def test_solution_reports_where_the_time_went():
    system = synthetic_system(2, 4, 26, 1.2)
    obs, grd = warmed_up(system, 26, 2)
    solution = solve(system, SlotInputs.from_observation(obs), warm=[grd.decide(obs)])
    assert solution.build_ms > 0
    assert next(iter(solution.phase_ms)) == "relaxation"
    assert list(solution.phase_ms) == [p for p in PHASES if p in solution.phase_ms]
    assert sum(solution.phase_ms.values()) <= solution.solve_ms * (1 + 1e-9) + 1e-6
    assert solution.source in {"relaxation", "rens", "rc neighbourhood", "branch and cut"}
    assert solution.bound <= solution.objective * (1 + 1e-9)


def test_rens_keeps_the_relaxations_integral_binaries_and_branch_and_cut_closes_the_rest():
    """RENS fixes what the relaxation decides; branch and cut (started from RENS's point) may
    change those binaries too, and is never worse than RENS alone."""
    system = synthetic_system(3, 5, 36, 2.0)  # a slot whose relaxation is fractional
    obs, _ = warmed_up(system, 36, 2)
    inputs = SlotInputs.from_observation(obs)
    full = solve(system, inputs, time_limit=TIME_LIMIT, mip_rel_gap=0.0)
    rens_only = solve(system, inputs, time_limit=TIME_LIMIT, mip_rel_gap=1.0 - 1e-9)
    assert "branch_and_cut" not in rens_only.phase_ms  # any gap below 1 stops after RENS
    assert rens_only.source == "rens"
    assert full.status == "Optimal"
    assert full.objective <= rens_only.objective * (1 + 1e-9)
    assert full.bound == pytest.approx(full.objective, rel=1e-6)
    assert rens_only.bound <= full.objective * (1 + 1e-9)


@pytest.mark.parametrize(
    ("n_cells", "n_services", "seed", "load"), [(2, 4, 31, 1.2), (3, 5, 32, 1.0)]
)
def test_twin_check_never_applies_a_decision_worse_than_grds(n_cells, n_services, seed, load):
    system = synthetic_system(n_cells, n_services, seed, load)
    policy = OptimalPolicy(time_limit=2.0)
    policy.reset(system, seed)
    shadow = GreedyPolicy()  # decides as the policy's own GRD: same observations, deterministic
    shadow.reset(system, seed)
    twin = Twin(system, seed=seed)
    for _ in range(3):
        obs = twin.observe()
        decision = policy.decide(obs)
        grd = shadow.decide(obs)
        assert feasibility_problems(system, decision) == []
        opt, grd_score = twin_scores(
            system, obs, [decision, grd], policy.amortise_slots, policy.removal_weight
        )
        assert opt <= grd_score * (1 + 1e-9)
        info = policy.info()
        assert info["opt_twin_kept_grd"] + info["opt_twin_kept_previous"] <= 1
        twin.step(decision)


def test_twin_scores_match_the_twin_without_amortisation():
    system = synthetic_system(2, 4, 33, 0.8)
    obs, grd = warmed_up(system, 33, 2)
    decisions = baseline_decisions(system, obs, grd, 33)
    _, objective = scores(system, SlotInputs.from_observation(obs), decisions)
    assert twin_scores(system, obs, decisions) == pytest.approx(objective, rel=1e-12)
    # amortising the cost of starting instances can only lower a score
    assert (twin_scores(system, obs, decisions, 10.0) <= objective * (1 + 1e-12)).all()


def test_removing_an_instance_is_charged_its_share_of_the_restart_cost():
    system = synthetic_system(2, 4, 34, 0.8)
    obs, grd = warmed_up(system, 34, 3)
    assert obs.deployment.any()
    decisions = baseline_decisions(system, obs, grd, 34)
    restart = restart_cost(system, obs.demand, obs.deployment)
    free = twin_scores(system, obs, decisions)
    charged = twin_scores(system, obs, decisions, removal_weight=0.5)
    for d, f, c in zip(decisions, free, charged, strict=True):
        removed = obs.deployment & ~np.asarray(d.deployment)
        assert c - f == pytest.approx(0.5 * (removed * restart[:, None]).sum(), abs=1e-9)
    assert (restart >= system.instantiation_energy).all()


def test_plan_keeps_an_idle_instance_when_removing_it_is_charged():
    system = synthetic_system(2, 4, 35, 0.8)
    obs, _ = warmed_up(system, 35, 2)
    # an instance on a node that never sleeps, of a service with no demand in this slot
    s = 0
    n = int(np.flatnonzero(system.can_host[s] & ~system.can_sleep)[0])
    previous = np.asarray(obs.deployment, dtype=bool).copy()
    previous[s, n] = True
    demand = np.asarray(obs.demand, dtype=float).copy()
    demand[:, s] = 0.0
    inputs = SlotInputs(demand, obs.uplink_mbps, obs.downlink_mbps, previous)
    dropped = solve_slot(system, inputs, time_limit=TIME_LIMIT)
    kept = solve_slot(system, inputs, time_limit=TIME_LIMIT, removal_weight=1.0)
    assert not dropped.decision.deployment[s, n]  # keeping it only costs its keep-alive power
    assert kept.decision.deployment[s, n]  # the charge outweighs a slot of keep-alive power
    # in this slot alone, keeping costs more: the plan without the charge is the slot's optimum
    assert kept.objective >= dropped.objective * (1 - dropped.gap) - 1e-9


@cache
def cold_service_system():
    """Origins T0, T1; service a (a 0.5 s cold start) on any node. Nodes: T0-dev, T1-dev,
    R-mec (sleeps: 60 W idle, 10 W asleep), X-dc (never sleeps)."""
    return tiny_system(
        2, [_service("a", 0.2, 1.0, 2.0, 20.0).model_copy(update={"cold_start_ms": 500.0})]
    )


def previous_slot_observation(system, inputs):
    """The observation of a slot whose deployment is ``inputs.previous``, all nodes idle."""
    return Observation(
        0,
        inputs.demand.astype(np.int64),
        inputs.uplink_mbps,
        inputs.downlink_mbps,
        inputs.previous,
        np.zeros(system.n_nodes),
        np.ones_like(inputs.demand),
    )


def emptied_server_inputs():
    """a ran on R-mec and X-dc; X-dc alone serves the slot's 40 tasks within its limit.

    Removing a from R-mec is charged 0.3 x (20 J + 20 J x 0.5 x 20 tasks) = 66 J, more than the
    50 J a slot of R-mec's sleep saves; each slot after, R-mec asleep saves 50 J for 20 J more
    of X-dc's dynamic energy.
    """
    return tiny_inputs(cold_service_system(), [[20.0], [20.0]], [(0, 2), (0, 3)])


def test_removal_charge_of_a_server_left_to_sleep_is_spread_like_a_start():
    system = cold_service_system()
    inputs = emptied_server_inputs()
    demand, previous = inputs.demand[None], inputs.previous[None]
    restart = restart_cost(system, inputs.demand, inputs.previous)[0]
    asleep = np.zeros_like(previous)
    asleep[0, 0, 3] = True  # R-mec emptied: it sleeps
    awake = np.zeros_like(previous)
    awake[0, 0, 2] = True  # X-dc, which never sleeps, emptied
    for slots in (1.0, 10.0):
        charge = removal_cost(system, demand, asleep, previous, 0.3, sleep_slots=slots)
        assert charge == pytest.approx([0.3 * restart / slots])
        charge = removal_cost(system, demand, awake, previous, 0.3, sleep_slots=slots)
        assert charge == pytest.approx([0.3 * restart])
    with pytest.raises(ValueError, match="sleep_slots"):
        removal_cost(system, demand, asleep, previous, 0.3, sleep_slots=0.5)


def test_plan_lets_a_server_sleep_when_emptying_it_pays_over_the_amortised_slots():
    """A one-slot removal charge against one slot of sleep kept every MEC server of the
    calibrated case study awake; spread like a start, the plan empties the server."""
    system = cold_service_system()
    inputs = emptied_server_inputs()
    mec, dc = 2, 3
    plan = solve(system, inputs, amortise_slots=10.0, removal_weight=REMOVAL_WEIGHT)
    assert plan.status == "Optimal"
    assert not plan.decision.deployment[:, mec].any()
    assert plan.decision.deployment[0, dc]
    # the same decisions in the twin, the plan's charges included: emptying the server is
    # better in this slot and in every slot after it at the same demand
    kept = plan_deployment(
        system, inputs, inputs.previous, amortise_slots=10.0, removal_weight=REMOVAL_WEIGHT
    ).decision
    obs = previous_slot_observation(system, inputs)
    now = twin_scores(system, obs, [plan.decision, kept], 10.0, REMOVAL_WEIGHT)
    assert now[0] < now[1]
    after = [replace(obs, deployment=np.asarray(d.deployment)) for d in (plan.decision, kept)]
    assert twin_scores(system, after[0], [plan.decision]) < twin_scores(system, after[1], [kept])
    # the plan's optimised objective of both is the twin's (the plan is exact here)
    for decision, score in zip((plan.decision, kept), now, strict=True):
        planned = plan_deployment(
            system,
            inputs,
            decision.deployment,
            amortise_slots=10.0,
            removal_weight=REMOVAL_WEIGHT,
        )
        assert planned.bound == pytest.approx(score, rel=1e-6)


def test_opt_lets_a_server_sleep_when_emptying_it_pays_over_the_amortised_slots():
    system = cold_service_system()
    inputs = emptied_server_inputs()
    obs = previous_slot_observation(system, inputs)
    policy = OptimalPolicy(time_limit=TIME_LIMIT)
    policy.reset(system, 0)
    decision = policy.decide(obs)
    assert not np.asarray(decision.deployment)[:, 2].any()


def test_interior_point_relaxation_gives_the_same_bound_and_plan(monkeypatch):
    """Large relaxations go to the interior-point method (with crossover, a vertex for RENS)."""
    system = synthetic_system(3, 5, 36, 2.0)
    obs, _ = warmed_up(system, 36, 2)
    inputs = SlotInputs.from_observation(obs)
    simplex = solve(system, inputs, mip_rel_gap=0.0)
    relaxed = solve_slot(system, inputs, relax=True)
    monkeypatch.setattr(opt_relaxation, "IPM_COLUMNS", 0)
    ipm = solve(system, inputs, mip_rel_gap=0.0)
    assert ipm.status == simplex.status == "Optimal"
    assert ipm.objective == pytest.approx(simplex.objective, rel=1e-6)
    assert solve_slot(system, inputs, relax=True).objective == pytest.approx(
        relaxed.objective, rel=1e-6
    )


def test_reduced_cost_fixing_fixes_only_what_costs_more_than_the_gap():
    point = np.array([0.0, 0.0, 1.0, 1.0, 0.5, 0.0])
    reduced = np.array([3.0, 1.0, -3.0, -1.0, 0.0, 3.0])
    incumbent = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 1.0])  # the last disagrees: left free
    lower, upper = _reduced_cost_fixing(point, reduced, incumbent, gap=2.0)
    np.testing.assert_array_equal(lower, [0, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(upper, [0, 1, 1, 1, 1, 1])


@pytest.mark.parametrize(
    ("n_cells", "n_services", "seed", "load", "warmup"),
    [(2, 4, 26, 1.2, 2), (3, 6, 41, 1.5, 3), (4, 6, 42, 1.2, 0), (4, 6, 43, 1.5, 2)],
)
def test_rc_neighbourhood_and_reduced_cost_fixing_keep_the_optimum(
    monkeypatch, n_cells, n_services, seed, load, warmup
):
    """Both are exact: solved to optimality with and without them, the optimum is the same. The
    slots are ones where RENS leaves a gap, so that both run."""
    system = synthetic_system(n_cells, n_services, seed, load)
    obs, _ = warmed_up(system, seed, warmup)
    inputs = SlotInputs.from_observation(obs)
    kwargs = {"mip_rel_gap": 0.0, "amortise_slots": 10.0, "removal_weight": 0.3}
    with_both = solve(system, inputs, **kwargs)
    assert with_both.phase_ms.get("rc_neighbourhood", 0.0) > 0.0
    monkeypatch.setattr(opt_phases, "RC_NEIGHBOURHOOD", 0.0)
    monkeypatch.setattr(opt_phases, "REDUCED_COST_FIXING", False)
    without = solve(system, inputs, **kwargs)
    assert "rc_neighbourhood" not in without.phase_ms
    assert with_both.status == without.status == "Optimal"
    # the slot's own cost of two optima of the amortised objective may differ; their bounds,
    # the amortised optimum, may not
    assert with_both.bound == pytest.approx(without.bound, rel=1e-6, abs=1e-6)
    for s in (with_both, without):
        assert s.gap <= 1e-6
