"""Policies on services placed step by step (``place_steps``): RAND, GRD, OPT, check_policy.

RAND, GRD and OPT pass the policy contract on the XR preset; over random chain and DAG
instances RAND, GRD and OPT never place a step pinned to the terminal elsewhere, nor a step on
a node without an instance; ``feasibility_problems`` names what is wrong with a bad path;
opt-regions takes them; each use case's whole-task service carries its step services' figures;
the layered dynamic programme GRD uses equals brute force.
"""

import functools
import itertools

import numpy as np
import pytest

from cnc6g.model import DomainKind, ServiceType, Stage, Workflow
from cnc6g.model.decision import Decision
from cnc6g.orchestration import make_policy
from cnc6g.policies import GreedyPolicy, RandomPolicy
from cnc6g.policies.base import feasibility_problems
from cnc6g.policies.opt.policy import OptimalPolicy
from cnc6g.policies.paths import best_layered_path
from cnc6g.scenarios import load_scenario
from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.testing import check_policy
from cnc6g.twin import Twin, compile_scenario


@pytest.fixture(scope="module")
def xr():
    return compile_scenario(load_scenario("xr-offload"))


@pytest.mark.parametrize("policy", [RandomPolicy, GreedyPolicy])
def test_policies_pass_the_contract_on_chains(policy, xr):
    check_policy(policy, xr, slots=12)


def _random_chain(rng, name):
    n = int(rng.integers(1, 5))
    stages = []
    for q in range(n):
        if q == 0:
            after = []
        elif rng.random() < 0.7:
            after = [f"s{q - 1}"]
        else:  # a DAG: after one or two of the steps before
            after = sorted({f"s{int(i)}" for i in rng.integers(0, q, size=2)})
        stages.append(
            Stage(
                name=f"s{q}",
                compute_gcycles=float(rng.uniform(0.05, 1.0)),
                after=after,
                output_mbit=float(rng.uniform(0.0, 2.0)),
                pin_to_terminal=bool(rng.random() < 0.35),
            )
        )
    return ServiceType(
        name=name,
        input_mbit=float(rng.uniform(0.0, 1.0)),
        output_mbit=float(rng.uniform(0.0, 1.0)),
        memory_gb=float(rng.uniform(0.2, 1.0)),
        deadline_ms=float(rng.uniform(50.0, 500.0)),
        workflow=Workflow(stages=stages),
        place_steps=True,
    )


def _instance(seed):
    rng = np.random.default_rng(seed)
    base = synthetic_scenario("chains", n_cells=int(rng.integers(1, 4)), n_services=2, seed=seed)
    data = base.model_dump()
    services = [_random_chain(rng, f"chain{i}") for i in range(int(rng.integers(1, 3)))]
    data["services"] = [s.model_dump() for s in services] + data["services"]
    return compile_scenario(type(base).model_validate(data))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(
    "policy",
    [
        RandomPolicy,
        GreedyPolicy,
        pytest.param(functools.partial(OptimalPolicy, node_limit=20), marks=pytest.mark.slow),
    ],
)
def test_pins_and_instances_are_respected(policy, seed):
    system = _instance(seed)
    spec = system.chains
    assert spec is not None
    twin = Twin(system, seed=seed)
    p = policy()
    p.reset(system, seed)
    placed = 0
    for _ in range(4):
        obs = twin.observe()
        d = p.decide(obs)
        assert feasibility_problems(system, d) == []
        o, s, q = np.nonzero(d.path_shares > 0)
        for oi, si, qi in zip(o, s, q, strict=True):
            for step in range(spec.n_steps[si]):
                k = d.paths[oi, si, qi, step]
                assert system.candidate_valid[oi, k]
                assert d.deployment[si, system.candidates[oi, k]]
                if spec.step_pinned[si, step]:
                    assert system.candidate_local[oi, k]
            placed += 1
        twin.step(d)
    assert placed > 0


def _xr_decision(xr, step_on):
    """A decision sending origin 0's xr-frame demand along one path (steps on ``step_on``)."""
    S, N, O, K = xr.n_services, xr.n_nodes, xr.n_origins, xr.n_candidates
    x = np.zeros((S, N), dtype=bool)
    x[0, [0, 3]] = True  # xr-frame on T0's devices and R0's MEC
    paths = np.full((O, S, 1, 4), -1)
    shares = np.zeros((O, S, 1))
    paths[0, 0, 0] = step_on
    shares[0, 0, 0] = 1.0
    return Decision(deployment=x, routing=np.zeros((O, S, K)), paths=paths, path_shares=shares)


def test_feasibility_names_bad_paths(xr):
    assert xr.candidates[0, :3].tolist() == [0, 3, 4]
    assert feasibility_problems(xr, _xr_decision(xr, [0, 1, 1, 1])) == []
    pinned = feasibility_problems(xr, _xr_decision(xr, [1, 1, 1, 1]))
    assert any("step encode is pinned to the terminal" in p for p in pinned)
    missing = feasibility_problems(xr, _xr_decision(xr, [0, 2, 1, 1]))
    assert any("step slam runs on node R1-mec without an admissible instance" in p for p in missing)
    d = _xr_decision(xr, [0, 1, 1, 1])
    not_chain = Decision(
        deployment=d.deployment,
        routing=d.routing,
        paths=np.roll(d.paths, 1, axis=1),
        path_shares=np.roll(d.path_shares, 1, axis=1),
    )
    assert any("not placed separately" in p for p in feasibility_problems(xr, not_chain))
    # One-unit routing of a service with a pinned step needs an instance on the terminal.
    routing = np.zeros((xr.n_origins, xr.n_services, xr.n_candidates))
    routing[0, 0, 1] = 1.0
    x = d.deployment.copy()
    x[0, 0] = False
    problems = feasibility_problems(xr, Decision(deployment=x, routing=routing))
    assert any("without an instance on the terminal's node" in p for p in problems)


def test_opt_regions_takes_chains(xr):
    policy = make_policy("opt-regions")
    policy.reset(xr, 0)
    d = policy.decide(Twin(xr, seed=0).observe())
    assert feasibility_problems(xr, d) == []


@pytest.mark.parametrize("preset", ["env-sensing", "windfarm-assistant"])
@pytest.mark.parametrize("policy", [RandomPolicy, GreedyPolicy])
def test_policies_pass_the_contract_on_the_other_use_case_presets(policy, preset):
    check_policy(policy, compile_scenario(load_scenario(preset)), slots=12)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["env-sensing", "windfarm-assistant"])
def test_opt_passes_the_contract_on_the_other_use_case_presets(preset):
    system = compile_scenario(load_scenario(preset))
    check_policy(lambda: OptimalPolicy(node_limit=20, time_limit=60.0), system, slots=3)


# (preset, whole-task service, its step services by stage)
WHOLE_TASKS = [
    (
        "xr-offload",
        "xr-frame",
        {"encode": "xr-encode", "slam": "xr-slam", "gesture": "xr-gesture", "render": "xr-render"},
    ),
    (
        "env-sensing",
        "sense-task",
        {"bs": "sense-bs", "camera": "sense-camera", "fuse": "sense-fuse", "map": "sense-map"},
    ),
    (
        "windfarm-assistant",
        "wf-task",
        {"monitor": "wf-monitor", "sense": "wf-sense", "assistant": "wf-assistant"},
    ),
]


@pytest.mark.parametrize(("preset", "whole", "steps"), WHOLE_TASKS)
def test_whole_task_services_take_their_step_services_figures(preset, whole, steps):
    """Work and data of each step, instance sums and the longest start-up; listed first."""
    scenario = load_scenario(preset)
    by_name = {s.name: s for s in scenario.services}
    task = by_name[whole]
    assert scenario.services[0].name == whole
    assert task.place_steps
    assert task.workflow is not None
    stages = {st.name: st for st in task.workflow.stages}
    assert set(stages) == set(steps)
    parts = [by_name[steps[name]] for name in stages]
    for name, st in stages.items():
        step = by_name[steps[name]]
        assert st.compute_gcycles == pytest.approx(step.work)
        downstream = [s for s in stages.values() if name in s.after]
        if downstream:  # what it passes on is at least its step service's output
            assert task.stage_output_mbit(st) >= step.output_mbit - 1e-12
        else:  # a last step returns the step service's output
            assert task.stage_output_mbit(st) == pytest.approx(step.output_mbit)
        assert task.deadline_ms == step.deadline_ms
    assert task.memory_gb == pytest.approx(sum(p.memory_gb for p in parts))
    assert task.instance_power_w == pytest.approx(sum(p.instance_power_w for p in parts))
    assert task.instantiation_energy_j == pytest.approx(
        sum(p.instantiation_energy_j for p in parts)
    )
    assert task.cold_start_ms == max(p.cold_start_ms for p in parts)
    system = compile_scenario(scenario)
    s = system.service_names.index(whole)
    assert system.can_host[s].any()  # some node holds the whole instance
    pinned = [n for n, st in stages.items() if st.pin_to_terminal]
    for name in pinned:  # a pinned step's service runs on the terminal only
        assert by_name[steps[name]].tiers == [DomainKind.TERMINAL]


def test_opt_passes_the_contract_on_chains(xr):
    # A node limit, not the clock, stops each phase: two fresh policies decide alike.
    check_policy(lambda: OptimalPolicy(node_limit=20, time_limit=60.0), xr, slots=3)


@pytest.mark.parametrize("seed", range(20))
def test_layered_path_is_the_brute_force_optimum(seed):
    rng = np.random.default_rng(seed)
    Q, K = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    step = rng.uniform(0, 1, (Q, K))
    step[rng.random((Q, K)) < 0.2] = np.inf
    hop = rng.uniform(0, 1, (Q - 1, K, K))
    first, last = rng.uniform(0, 1, K), rng.uniform(0, 1, K)
    cost, picks = best_layered_path(first, step, hop, last)

    def total(ks):
        c = first[ks[0]] + last[ks[-1]] + sum(step[q, k] for q, k in enumerate(ks))
        return c + sum(hop[q, ks[q], ks[q + 1]] for q in range(Q - 1))

    best = min(total(ks) for ks in itertools.product(range(K), repeat=Q))
    assert cost == pytest.approx(best)
    if np.isfinite(best):
        assert total(tuple(picks)) == pytest.approx(best)


def test_hmarl_runs_on_chains_as_one_unit(xr):
    """HMARL routes only: its routing places xr-frame's unpinned steps on one node."""
    from cnc6g.policies.hmarl.agents import LearnerConfig
    from cnc6g.policies.hmarl.hierarchy import Agents
    from cnc6g.policies.hmarl.policy import HMARLPolicy, TrainedAgents
    from cnc6g.policies.hmarl.rewards import RewardConfig

    def untrained(system, mode, seed):
        return TrainedAgents(Agents(system, mode, LearnerConfig(), 0), RewardConfig(), {})

    policy = HMARLPolicy(source=untrained)
    policy.reset(xr, 0)
    twin = Twin(xr, seed=0)
    for _ in range(3):
        d = policy.decide(twin.observe())
        assert feasibility_problems(xr, d) == []
        out = twin.step(d)
    assert out.offered[0] > 0


def test_grd_leaves_the_terminals_room_for_a_terminal_only_service(xr):
    """xr-encode runs only on the glasses: GRD deploys it there beside xr-frame's instance."""
    encode = xr.service_names.index("xr-encode")
    assert {k.value for k in xr.scenario.services[encode].tiers} == {"terminal"}
    policy = GreedyPolicy()
    policy.reset(xr, 0)
    twin = Twin(xr, seed=0)
    served = 0.0
    for _ in range(5):
        d = policy.decide(twin.observe())
        out = twin.step(d)
        served += float(out.served_by_demand[0, :, encode].sum())
    terminals = np.unique(xr.candidates[xr.candidate_local & xr.candidate_valid])
    assert d.deployment[encode, terminals].all()
    assert served > 0.0
