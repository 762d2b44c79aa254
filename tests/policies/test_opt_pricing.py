"""The slot model's LP by route pricing: the whole LP's optimum, and a bound over every route.

The restricted LP starts here from one route per origin and service, so that its first optimum
is above the whole LP's; only the pricing rounds bring it down to it.
"""

from functools import cache

import numpy as np
import pytest

from cnc6g.model import Scenario, ServiceType, Stage, Workflow
from cnc6g.policies.opt import SlotInputs, pricing
from cnc6g.policies.opt.bound import dual_bound
from cnc6g.policies.opt.decompose import decompose_slot
from cnc6g.policies.opt.highs import new_solver
from cnc6g.policies.opt.model import DEFAULT_TIERS, BuiltModel, build_model
from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.twin import System, Twin, compile_scenario

REL = 1e-6


@pytest.fixture(autouse=True)
def one_route_at_a_time(monkeypatch):
    """Start from one route per origin and service and add one a round: many rounds."""
    monkeypatch.setattr(pricing, "CHEAPEST", 1)
    monkeypatch.setattr(pricing, "ADD", 1)


@cache
def system_of(cells: int, candidates: int | None, chain: bool = False) -> System:
    scenario = synthetic_scenario(
        f"pricing-{cells}", n_cells=cells, n_services=6, candidates_per_origin=candidates
    )
    if chain:  # a two-step chain placed step by step: path columns
        data = scenario.model_dump()
        steps = [
            Stage(name="a", compute_gcycles=0.05, output_mbit=0.2),
            Stage(name="b", compute_gcycles=0.1, after=["a"]),
        ]
        data["services"].append(
            ServiceType(
                name="chain",
                input_mbit=0.5,
                output_mbit=0.5,
                memory_gb=0.5,
                instance_power_w=2.0,
                instantiation_energy_j=5.0,
                cold_start_ms=100.0,
                deadline_ms=1000.0,
                workflow=Workflow(stages=steps),
                place_steps=True,
            ).model_dump()
        )
        scenario = Scenario.model_validate(data)
    return compile_scenario(scenario.at_load(1.0))


def whole_lp(built: BuiltModel) -> float:
    lp, _ = built.model.to_lp(relax=True)
    h = new_solver(60.0, 0.0)
    h.passModel(lp)
    h.run()
    return float(h.getInfo().objective_function_value)


def priced(
    system: System, seed: int = 0, tiers: tuple[float, ...] = ()
) -> tuple[BuiltModel, pricing.PricedLp, SlotInputs]:
    inputs = SlotInputs.from_observation(Twin(system, seed=seed).observe())
    built = build_model(system, inputs, tiers, amortise_slots=10.0)
    lp, _ = built.model.to_lp(relax=True)
    chosen = pricing.initial_groups(system, inputs, built, np.asarray(lp.col_cost_))
    return built, pricing.solve_priced(built, lp, chosen), inputs


@pytest.mark.parametrize(
    ("cells", "candidates", "tiers", "seed"),
    [(6, None, (), 0), (6, None, (), 1), (8, 6, (), 0), (4, 3, DEFAULT_TIERS, 0)],
)
def test_priced_lp_is_the_whole_lp_and_its_bound_holds_over_every_route(
    cells, candidates, tiers, seed
):
    system = system_of(cells, candidates)
    built, result, _ = priced(system, seed, tiers)
    value = whole_lp(built)
    assert result.rounds > 1  # the first restricted LP was not the optimum
    assert result.objective == pytest.approx(value, rel=REL)
    assert result.bound <= value + REL * abs(value)
    assert result.bound == pytest.approx(value, rel=REL)
    lp, _ = built.model.to_lp(relax=True)
    assert dual_bound(built.model, lp, result.duals) == pytest.approx(result.bound)
    # the point is the whole model's: every row and bound holds
    start, cols, vals = built.model.rows_csr
    row_of = np.repeat(np.arange(start.size - 1), np.diff(start))
    activity = np.bincount(row_of, vals * result.values[cols], start.size - 1)
    assert (activity <= np.asarray(lp.row_upper_) + 1e-6).all()
    assert (activity >= np.asarray(lp.row_lower_) - 1e-6).all()
    assert float(np.asarray(lp.col_cost_) @ result.values + lp.offset_) == pytest.approx(
        value, rel=REL
    )


def test_priced_lp_with_paths():
    system = system_of(4, 3, chain=True)
    built, result, _ = priced(system)
    assert built.path_cols.size > 0
    value = whole_lp(built)
    assert result.objective == pytest.approx(value, rel=REL)
    assert result.bound == pytest.approx(value, rel=REL)


def test_decomposition_by_pricing_gives_the_lp_method_bound():
    system = system_of(6, None)
    inputs = SlotInputs.from_observation(Twin(system, seed=0).observe())
    by_lp = decompose_slot(system, inputs, region_cells=3, tiers=(), method="lp")
    by_pricing = decompose_slot(system, inputs, region_cells=3, tiers=(), method="priced")
    assert by_pricing.bound == pytest.approx(by_lp.bound, rel=REL)
    assert by_pricing.violation <= 1e-6
    assert by_pricing.bound <= by_pricing.optimised
