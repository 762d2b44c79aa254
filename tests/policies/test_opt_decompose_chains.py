"""OPT by region on services placed step by step: bound <= LP <= optimum <= decision holds.

Small systems with a chain (or a DAG) whose steps are placed separately beside one-unit
services: the slot's MILP is solved exactly and put in order with the decomposition's bound and
decision, by one region per cell; the decision sends the chain's demand along paths, is feasible
and runs in the twin. The models have no tiers and no amortisation (as in
``test_opt_decompose``), and the previous deployment is GRD's after two slots, so that starting
instances does not dominate the slot.
"""

from functools import cache

import numpy as np
import pytest

from cnc6g.model import Scenario, ServiceType, Stage, Workflow
from cnc6g.policies import GreedyPolicy, feasibility_problems
from cnc6g.policies.opt import SlotInputs, solve_slot
from cnc6g.policies.opt.decompose import decompose_slot, instance_uses
from cnc6g.policies.opt.model import DEFAULT_TIERS, build_model
from cnc6g.policies.opt.regional import RegionalOptimalPolicy
from cnc6g.scenarios import load_scenario
from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.testing import check_policy
from cnc6g.twin import System, Twin, compile_scenario

TOL = 1e-6


def _stages(dag: bool) -> list[Stage]:
    first = [
        Stage(name="a", compute_gcycles=0.02, output_mbit=0.3, pin_to_terminal=True),
        Stage(name="b", compute_gcycles=0.1, after=["a"], output_mbit=0.2),
    ]
    if dag:  # a -> (b, c) -> d
        return [
            *first,
            Stage(name="c", compute_gcycles=0.05, after=["a"], output_mbit=0.1),
            Stage(name="d", compute_gcycles=0.05, after=["b", "c"]),
        ]
    return [*first, Stage(name="c", compute_gcycles=0.08, after=["b"])]


@cache
def chain_system(cells: int, dag: bool, alone: bool = False) -> System:
    """``cells`` cells with a chain (or a DAG) placed step by step; ``alone``: no other service."""
    base = synthetic_scenario(
        f"chains-{cells}", n_cells=cells, n_services=3, candidates_per_origin=3
    )
    chain = ServiceType(
        name="chain",
        input_mbit=0.5,
        output_mbit=0.5,
        memory_gb=0.5,
        instance_power_w=2.0,
        instantiation_energy_j=5.0,
        cold_start_ms=100.0,
        deadline_ms=1000.0,
        workflow=Workflow(stages=_stages(dag)),
        place_steps=True,
    )
    data = base.model_dump()
    data["services"] = [chain.model_dump(), *([] if alone else data["services"])]
    return compile_scenario(Scenario.model_validate(data).at_load(0.5))


def warm_twin(system: System, slots: int = 2) -> Twin:
    """A twin after ``slots`` slots of GRD (so that instances run)."""
    twin = Twin(system, seed=0)
    grd = GreedyPolicy()
    grd.reset(system, 0)
    for _ in range(slots):
        twin.step(grd.decide(twin.observe()))
    return twin


MASTER_ITERATIONS = 400
"""Enough for the master method to meet the whole LP on these systems (it stops there)."""


def scale(value: float) -> float:
    return TOL * max(1.0, abs(value))


@pytest.mark.parametrize("method", ["lp", "lagrangian", "master"])
@pytest.mark.parametrize(
    ("cells", "dag", "alone"), [(3, False, False), (4, True, False), (3, True, True)]
)
def test_bound_lp_optimum_and_decision_are_in_order_on_chains(cells, dag, alone, method):
    """One region per cell, labelled out of cell order; ``alone``: no route reaches a node, so
    the paths alone decide which nodes each copy holds."""
    system = chain_system(cells, dag, alone)
    twin = warm_twin(system)
    inputs = SlotInputs.from_observation(twin.observe())
    lp = solve_slot(system, inputs, tiers=(), relax=True).objective
    milp = solve_slot(system, inputs, tiers=(), mip_rel_gap=0.0, time_limit=60.0)
    assert milp.status == "Optimal"
    optimum = milp.objective
    result = decompose_slot(
        system,
        inputs,
        regions=np.roll(np.arange(cells), 1),
        iterations=MASTER_ITERATIONS if method == "master" else 8,
        tiers=(),
        mip_rel_gap=0.0,
        method=method,
    )
    assert result.regions == cells
    assert result.bound <= lp + scale(lp)
    assert lp <= optimum + scale(optimum)
    assert optimum <= result.optimised + scale(optimum)
    assert result.violation <= 1e-6
    if method == "lp":  # the whole LP, path columns included
        assert result.bound == pytest.approx(lp, rel=1e-6)
    if method == "master":  # the master's optimum meets its bound at the whole LP
        assert result.bound == pytest.approx(lp, rel=1e-4)
        assert result.iterations < MASTER_ITERATIONS
    d = result.decision
    assert feasibility_problems(system, d) == []
    assert d.path_shares is not None
    assert d.path_shares[:, 0].sum(axis=-1).min() > 0.5  # every cell's chain demand on paths
    out = twin.step(d)
    assert out.chains is not None
    assert out.chains.served.sum() > 0
    assert out.chains.satisfied.sum() > 0


def test_every_path_needs_the_instances_of_its_steps_nodes():
    system = chain_system(3, True)
    inputs = SlotInputs.from_observation(warm_twin(system).observe())
    built = build_model(system, inputs, tiers=())
    pp = built.paths
    assert pp is not None
    assert pp.size
    cols, pairs = instance_uses(built)
    assert np.array_equal(cols[: built.y.size], built.y)
    assert np.array_equal(pairs[: built.y.size], built.route_pair)
    path_of = {int(c): i for i, c in enumerate(built.path_cols)}
    for col, pair in zip(cols[built.y.size :], pairs[built.y.size :], strict=True):
        i = path_of[int(col)]
        s, n = built.pairs[pair]
        assert s == pp.service[i]
        assert n in pp.work_node[pp.work_path == i]
    # one entry per (path, node), and every node of every path
    assert pairs.size - built.y.size == pp.work_path.size


def test_a_shared_instance_no_region_pays_for_alone_still_runs():
    """The wind-farm preset: its LLM paths share the cloud's instance; the LP runs it."""
    system = compile_scenario(load_scenario("windfarm-assistant"))
    inputs = SlotInputs.from_observation(warm_twin(system, 3).observe())
    whole = solve_slot(system, inputs, amortise_slots=10.0, node_limit=50, time_limit=60.0)
    result = decompose_slot(system, inputs, region_cells=1, amortise_slots=10.0, method="lp")
    assert result.regions == 3
    assert result.decision.path_shares is not None
    assert result.decision.path_shares[:, 0].sum(axis=-1).min() > 0.5
    assert result.optimised <= whole.objective * (1 + 1e-6)
    assert result.gap < 1e-3


@pytest.mark.parametrize("preset", ["xr-offload", "windfarm-assistant"])
def test_opt_regions_passes_the_contract_on_chain_presets(preset):
    system = compile_scenario(load_scenario(preset))
    check_policy(lambda: RegionalOptimalPolicy(region_cells=1), system, slots=3)


@pytest.mark.parametrize("method", ["lp", "lagrangian", "master"])
def test_paths_tier_shares_go_to_their_region_and_the_bound_holds_with_tiers(method):
    system = chain_system(3, False)
    twin = warm_twin(system)
    inputs = SlotInputs.from_observation(twin.observe())
    built = build_model(system, inputs, tiers=DEFAULT_TIERS)
    assert built.path_h.size  # the model splits some paths by tier
    lp = solve_slot(system, inputs, tiers=DEFAULT_TIERS, relax=True).objective
    iterations = MASTER_ITERATIONS if method == "master" else 8
    result = decompose_slot(
        system, inputs, region_cells=1, iterations=iterations, tiers=DEFAULT_TIERS, method=method
    )
    assert result.bound <= lp + scale(lp)
    if method == "lp":
        assert result.bound == pytest.approx(lp, rel=1e-6)
    if method == "master":
        assert result.bound == pytest.approx(lp, rel=1e-4)
    assert result.bound <= result.optimised + scale(lp)
    assert result.violation <= 1e-6
    assert feasibility_problems(system, result.decision) == []
    assert twin.step(result.decision).chains is not None
