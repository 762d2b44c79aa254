"""OPT by region: the Lagrangian bound holds, the recovered decision is feasible, both are tight
where the regions do not interact.

On small systems the slot's MILP is solved exactly, so that the decomposition's bound, the LP
relaxation, the optimum and the decomposition's decision can be put in order:
bound <= LP <= optimum <= decision. The models here have no tiers and no amortisation, so that
the optimised objective is the slot's own cost.
"""

from functools import cache

import numpy as np
import pytest

from cnc6g.experiments import run_policy
from cnc6g.orchestration import make_policy
from cnc6g.policies import feasibility_problems
from cnc6g.policies.opt import SlotInputs, lower_bound, solve_slot
from cnc6g.policies.opt.bound import dual_bound
from cnc6g.policies.opt.decompose import decompose_slot, region_of_origins, regional_lower_bound
from cnc6g.policies.opt.highs import new_solver
from cnc6g.policies.opt.model import build_model
from cnc6g.policies.opt.regional import RegionalOptimalPolicy
from cnc6g.scenarios.synthetic import synthetic_scenario, tiny_slot_scenario
from cnc6g.twin import System, Twin, compile_scenario

TOL = 1e-6


@cache
def small_system(cells: int, candidates: int | None, load: float = 1.0) -> System:
    scenario = synthetic_scenario(
        f"decompose-{cells}", n_cells=cells, n_services=6, candidates_per_origin=candidates
    )
    return compile_scenario(scenario.at_load(load))


def slot_inputs(system: System, seed: int = 0) -> SlotInputs:
    return SlotInputs.from_observation(Twin(system, seed=seed).observe())


def exact(system: System, inputs: SlotInputs) -> tuple[float, float]:
    """The LP relaxation's value and the MILP's optimum of the slot model without tiers."""
    lp = solve_slot(system, inputs, tiers=(), relax=True).objective
    milp = solve_slot(system, inputs, tiers=(), mip_rel_gap=0.0, time_limit=60.0)
    assert milp.status == "Optimal"
    return lp, milp.objective


def scale(value: float) -> float:
    return TOL * max(1.0, abs(value))


def test_regions_keep_ran_domains_whole_and_are_about_the_size_asked():
    system = small_system(7, 3)
    labels = region_of_origins(system, 3)
    assert labels.tolist() == [0, 0, 0, 1, 1, 1, 2]
    for ran in np.unique(system.origin_ran):
        assert np.unique(labels[system.origin_ran == ran]).size == 1
    with pytest.raises(ValueError, match="region_cells"):
        region_of_origins(system, 0)


@pytest.mark.parametrize("method", ["lagrangian", "lp", "priced", "master"])
@pytest.mark.parametrize(("cells", "candidates", "per_region"), [(4, 3, 1), (6, None, 2)])
def test_bound_lp_optimum_and_decision_are_in_order(cells, candidates, per_region, method):
    system = small_system(cells, candidates)
    inputs = slot_inputs(system)
    lp, optimum = exact(system, inputs)
    result = decompose_slot(
        system,
        inputs,
        region_cells=per_region,
        iterations=8,
        tiers=(),
        mip_rel_gap=0.0,
        method=method,
    )
    assert result.regions == cells // per_region
    assert result.bound <= lp + scale(lp)
    assert lp <= optimum + scale(optimum)
    assert optimum <= result.optimised + scale(optimum)
    assert result.objective == pytest.approx(result.optimised)
    assert result.violation <= 1e-6
    assert result.gap == pytest.approx((result.optimised - result.bound) / result.optimised)
    assert not feasibility_problems(system, result.decision)
    assert len(result.bounds) <= 8
    assert max(result.bounds) == pytest.approx(result.bound)
    if method in ("lp", "priced"):  # the whole LP: the best bound the Lagrangian can reach
        assert result.bound == pytest.approx(lp, rel=1e-6)
        assert result.iterations == 0


@pytest.mark.parametrize("seed", range(3))
def test_lp_method_bound_is_the_lp_and_at_least_the_lagrangian(seed):
    system = small_system(6, 3)
    inputs = slot_inputs(system, seed)
    lp, _ = exact(system, inputs)
    by_lp = decompose_slot(system, inputs, region_cells=2, tiers=(), method="lp")
    lagrangian = decompose_slot(
        system, inputs, region_cells=2, iterations=6, tiers=(), method="lagrangian"
    )
    assert by_lp.bound == pytest.approx(lp, rel=1e-6)
    assert lagrangian.bound <= by_lp.bound + scale(lp)
    assert by_lp.violation <= 1e-6
    assert by_lp.bound <= by_lp.optimised + scale(lp)


@pytest.mark.parametrize(
    ("seed", "tiers", "load"), [(0, (), 1.0), (1, (), 0.6), (2, (0.6, 0.4, 0.2), 1.0)]
)
def test_the_master_method_meets_the_whole_lp_and_its_bound_never_passes_it(seed, tiers, load):
    # the master LP's duals bound the slot at every iteration, and the bound and the master's
    # optimum meet at the whole model's LP relaxation (tiers add rows over a node's columns
    # alone, which the master holds)
    system = small_system(6, 3, load)
    inputs = slot_inputs(system, seed)
    lp = decompose_slot(system, inputs, region_cells=2, tiers=tiers, method="lp").bound
    result = decompose_slot(
        system, inputs, region_cells=2, iterations=400, tiers=tiers, method="master"
    )
    assert result.method == "master"
    assert result.regions == 3
    assert max(result.bounds) <= lp + scale(lp)
    assert result.bound == pytest.approx(lp, rel=1e-4)
    assert result.iterations == len(result.bounds) < 400  # stopped once the two met
    assert result.violation <= 1e-6
    assert not feasibility_problems(system, result.decision)


def test_dual_bound_holds_for_any_row_prices():
    system = small_system(4, 3)
    built = build_model(system, slot_inputs(system), tiers=())
    lp, _ = built.model.to_lp(relax=True)
    h = new_solver(60.0, 0.0)
    h.passModel(lp)
    h.run()
    value = h.getInfo().objective_function_value
    duals = np.asarray(h.getSolution().row_dual)
    assert dual_bound(built.model, lp, duals) == pytest.approx(value, rel=1e-7)
    rng = np.random.default_rng(0)
    for _ in range(5):  # any prices: still below the optimum, and below it when moved away
        noisy = duals + rng.normal(0.0, 0.5 * (np.abs(duals).mean() + 1e-3), duals.size)
        assert dual_bound(built.model, lp, noisy) < value - scale(value)
    assert dual_bound(built.model, lp, np.zeros_like(duals)) <= value


def test_regions_that_share_nothing_give_the_lp_bound_and_the_optimum():
    # each origin reaches its own device and its own MEC server only: nothing is shared
    system = small_system(4, 1)
    inputs = slot_inputs(system)
    lp, optimum = exact(system, inputs)
    result = decompose_slot(
        system,
        inputs,
        region_cells=1,
        iterations=5,
        tiers=(),
        mip_rel_gap=0.0,
        method="lagrangian",
    )
    assert result.regions == 4
    assert result.bound == pytest.approx(lp, rel=1e-7)
    assert result.optimised == pytest.approx(optimum, rel=1e-6)
    assert len(result.bounds) == 1  # the copies agree at once: no price to move


def test_one_region_is_the_whole_model():
    system = small_system(4, 3)
    inputs = slot_inputs(system)
    lp, optimum = exact(system, inputs)
    result = decompose_slot(
        system, inputs, region_cells=10, iterations=5, tiers=(), mip_rel_gap=0.0
    )
    assert result.regions == 1
    assert result.bound == pytest.approx(lp, rel=1e-7)
    assert result.optimised == pytest.approx(optimum, rel=1e-6)


@pytest.mark.parametrize("seed", range(6))
def test_bound_holds_on_random_tiny_slots_with_every_origin_its_own_region(seed):
    system = compile_scenario(tiny_slot_scenario(seed, "tight"))
    inputs = slot_inputs(system, seed)
    lp, optimum = exact(system, inputs)
    result = decompose_slot(
        system,
        inputs,
        regions=np.arange(system.n_origins),
        iterations=6,
        tiers=(),
        mip_rel_gap=0.0,
    )
    assert result.bound <= lp + scale(lp)
    assert optimum <= result.optimised + scale(optimum)
    assert result.violation <= 1e-6


@pytest.mark.parametrize("seed", range(3))
def test_regional_bound_on_the_twin_objective_is_below_the_lp_bound(seed):
    system = small_system(6, 3)
    inputs = slot_inputs(system, seed)
    regional = regional_lower_bound(system, inputs, region_cells=2, iterations=6)
    assert regional <= lower_bound(system, inputs) + scale(regional)
    assert regional > 0


def test_bad_arguments_are_named():
    system = small_system(4, 3)
    inputs = slot_inputs(system)
    with pytest.raises(ValueError, match="regions"):
        decompose_slot(system, inputs, regions=np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="iterations"):
        decompose_slot(system, inputs, iterations=0)
    with pytest.raises(ValueError, match="node_limit"):
        decompose_slot(system, inputs, node_limit=0)
    with pytest.raises(ValueError, match="method"):
        decompose_slot(system, inputs, method="simplex")
    with pytest.raises(ValueError, match="workers"):
        RegionalOptimalPolicy(workers=-1)
    with pytest.raises(ValueError, match="tiers"):
        RegionalOptimalPolicy(tiers=(1.5,))


def test_policy_runs_by_name_and_reports_its_gap():
    system = small_system(4, 3)
    policy = make_policy("opt-regions", region_cells=2, iterations=4)
    assert isinstance(policy, RegionalOptimalPolicy)
    result = run_policy(policy, system, 3, seed=0, sample=False)
    for info in result.policy_info:
        assert info["opt_regions"] == 2
        assert 0 <= info["opt_gap"] < 1
        assert info["opt_bound_j"] <= info["opt_objective_j"] + scale(info["opt_bound_j"])


def test_opt_regions_bounds_its_slots_by_the_method_asked():
    system = small_system(6, 3)
    policy = make_policy("opt-regions", region_cells=2, iterations=10, method="master")
    assert isinstance(policy, RegionalOptimalPolicy)
    result = run_policy(policy, system, 2, seed=0, sample=False)
    assert policy.last is not None
    assert policy.last.method == "master"
    assert policy.last.iterations <= 10
    for info in result.policy_info:
        assert info["opt_bound_j"] <= info["opt_objective_j"] + scale(info["opt_bound_j"])
    with pytest.raises(ValueError, match=r"method must be one of .*master.*not 'simplex'"):
        make_policy("opt-regions", method="simplex")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["auto", "lagrangian", "master"])
def test_ray_actors_give_what_one_process_gives(method):
    pytest.importorskip("ray")
    from cnc6g.policies.opt.decompose_ray import ray_solver

    system = small_system(6, 3)
    inputs = slot_inputs(system)
    options = {"region_cells": 2, "iterations": 4, "tiers": (), "method": method}
    here = decompose_slot(system, inputs, **options)
    there = decompose_slot(system, inputs, solver=ray_solver(2), **options)
    assert there.bound == pytest.approx(here.bound, rel=1e-9)
    assert there.optimised == pytest.approx(here.optimised, rel=1e-9)


def test_compare_bounds_large_systems_by_region(monkeypatch):
    from cnc6g.experiments import sweep

    system = small_system(4, 3)
    lp = sweep.window_lower_bound(system, 2, 1, 0)
    monkeypatch.setattr(sweep, "REGIONAL_BOUND_ORIGINS", 2)
    regional = sweep.window_lower_bound(system, 2, 1, 0)
    assert 0 < regional <= lp + scale(lp)


def test_region_milps_of_the_recovery_do_not_restart_their_root(monkeypatch):
    """The recovery's region MILPs run with HiGHS's root restart off (``REGION_RESTART``):
    after presolve they are small, and the restart cost more time than it saved at 20-100
    cells. Every MILP the recovery solves, and only those, has it off; the decision is
    the same optimum as with the restart on the one-region model."""
    from cnc6g.policies.opt import decompose

    made = []

    def recording(*args, **kwargs):
        h = new_solver(*args, **kwargs)
        made.append((args, kwargs, h))
        return h

    monkeypatch.setattr(decompose, "new_solver", recording)
    system = small_system(4, 3)
    inputs = slot_inputs(system)
    _, optimum = exact(system, inputs)
    result = decompose_slot(system, inputs, region_cells=10, tiers=(), mip_rel_gap=0.0)
    milps = [h for args, kwargs, h in made if len(args) + len(kwargs) == 3]
    assert milps, "the recovery solved no region MILP"
    for h in milps:
        assert h.getOptionValue("mip_allow_restart")[1] is False
    others = [h for args, kwargs, h in made if len(args) + len(kwargs) < 3]
    assert all(h.getOptionValue("mip_allow_restart")[1] is True for h in others)
    assert result.optimised == pytest.approx(optimum, rel=1e-6)


def test_recovery_in_turn_skips_a_copy_whose_milp_did_not_change(monkeypatch):
    """A copy whose shared instances run as at its last MILP is not solved again (HiGHS would
    return the same point): the last copy of one turn opens the next. The decision is the one
    of the recovery that solves every turn's MILP."""
    from cnc6g.policies.opt import decompose

    system = small_system(6, None)
    inputs = slot_inputs(system)
    calls = [0]
    solve = decompose.RegionWorker.solve_milps

    def counting(self, specs):
        calls[0] += sum(spec is not None for spec in specs)
        return solve(self, specs)

    monkeypatch.setattr(decompose.RegionWorker, "solve_milps", counting)
    kwargs = {"region_cells": 2, "tiers": (), "method": "lp"}
    result = decompose_slot(system, inputs, **kwargs)
    skipped = calls[0]
    assert result.regions >= 2
    assert skipped <= decompose.TURNS * result.regions - 1

    calls[0] = 0
    monkeypatch.setattr(decompose.np, "array_equal", lambda *_: False)
    every = decompose_slot(system, inputs, **kwargs)
    assert calls[0] == decompose.TURNS * result.regions
    monkeypatch.undo()  # numpy's array_equal again
    assert np.array_equal(result.values, every.values)
    assert result.optimised == every.optimised
