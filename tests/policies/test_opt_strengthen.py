"""The strengthened slot model: the same optimum as the plain one, a relaxation at least as high.

Each slot's model (starts amortised over 10 slots, as OPT plans) is solved exactly (HiGHS to a
zero gap) with and without the rows of :mod:`cnc6g.policies.opt.strengthen`; the optima must
agree (the rows cut off no integer point), and the strengthened LP relaxation must lie between
the plain one's and the optimum.
"""

import numpy as np
import pytest

from cnc6g.policies.opt import SlotInputs, lower_bound, strengthen
from cnc6g.policies.opt.highs import new_solver
from cnc6g.policies.opt.model import build_model
from cnc6g.scenarios.synthetic import synthetic_scenario, tiny_slot_scenario
from cnc6g.twin import System, Twin, compile_scenario

TOL = 1e-6


def slot_inputs(system: System, seed: int) -> SlotInputs:
    return SlotInputs.from_observation(Twin(system, seed=seed).observe())


def solve(system: System, inputs: SlotInputs, tiers: tuple[float, ...], relax: bool) -> float:
    built = build_model(system, inputs, tiers, amortise_slots=10.0)
    lp, _ = built.model.to_lp(relax=relax)
    h = new_solver(60.0, 0.0)
    h.passModel(lp)
    h.run()
    assert h.modelStatusToString(h.getModelStatus()) == "Optimal"
    return float(h.getInfo().objective_function_value)


def plain_and_strong(monkeypatch, system, inputs, tiers=()):
    """(LP, optimum) of the plain model, then of the strengthened one."""
    out = []
    for enabled in (False, True):
        monkeypatch.setattr(strengthen, "ENABLED", enabled)
        out.append((solve(system, inputs, tiers, True), solve(system, inputs, tiers, False)))
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("family", ["tight", "loose"])
def test_same_optimum_and_no_lower_relaxation_on_tiny_slots_with_tiers(monkeypatch, seed, family):
    system = compile_scenario(tiny_slot_scenario(seed, family))
    inputs = slot_inputs(system, seed)
    (plain_lp, plain_opt), (strong_lp, strong_opt) = plain_and_strong(
        monkeypatch, system, inputs, (0.6, 0.4, 0.2)
    )
    assert strong_opt == pytest.approx(plain_opt, rel=TOL, abs=TOL)
    assert plain_lp <= strong_lp + TOL * abs(strong_lp)
    assert strong_lp <= strong_opt + TOL * abs(strong_opt)


@pytest.mark.parametrize(("cells", "services", "seed"), [(4, 12, 0), (4, 12, 1), (6, 8, 1)])
def test_same_optimum_and_a_higher_relaxation_where_nodes_fill_up(
    monkeypatch, cells, services, seed
):
    system = compile_scenario(
        synthetic_scenario("strengthen", n_cells=cells, n_services=services).at_load(1.0)
    )
    inputs = slot_inputs(system, seed)
    (plain_lp, plain_opt), (strong_lp, strong_opt) = plain_and_strong(monkeypatch, system, inputs)
    assert strong_opt == pytest.approx(plain_opt, rel=TOL)
    assert plain_lp < plain_opt * (1 - 1e-3)  # the plain relaxation leaves a gap ...
    # ... and the rows close at least a third of it
    assert strong_lp - plain_lp > (plain_opt - plain_lp) / 3
    assert strong_lp <= strong_opt + TOL * strong_opt


def test_rows_only_where_an_instance_could_overfill_its_node_and_the_plain_lp_breaks_them(
    monkeypatch,
):
    system = compile_scenario(
        synthetic_scenario("strengthen", n_cells=4, n_services=12).at_load(1.0)
    )
    inputs = slot_inputs(system, 0)
    monkeypatch.setattr(strengthen, "ENABLED", False)
    plain = build_model(system, inputs, (), amortise_slots=10.0)
    monkeypatch.setattr(strengthen, "ENABLED", True)
    strong = build_model(system, inputs, (), amortise_slots=10.0)
    assert strong.model.n_cols == plain.model.n_cols
    count = strong.model.n_rows - plain.model.n_rows
    assert 0 < count < strong.x.size  # instances that could not overfill their node get none
    lp, _ = plain.model.to_lp(relax=True)
    h = new_solver(60.0, 0.0)
    h.passModel(lp)
    h.run()
    point = np.asarray(h.getSolution().col_value)
    strong_lp, _ = strong.model.to_lp(relax=True)
    start, cols, vals = strong.model.rows_csr
    row_of = np.repeat(np.arange(start.size - 1), np.diff(start))
    activity = np.bincount(row_of, vals * point[cols], start.size - 1)
    added = np.arange(plain.model.n_rows, strong.model.n_rows)
    assert (activity[added] > np.asarray(strong_lp.row_upper_)[added] + 1e-6).any()


def test_bound_on_the_twin_objective_still_holds(monkeypatch):
    system = compile_scenario(
        synthetic_scenario("strengthen", n_cells=4, n_services=12).at_load(1.0)
    )
    inputs = slot_inputs(system, 0)
    monkeypatch.setattr(strengthen, "ENABLED", False)
    plain = lower_bound(system, inputs)
    monkeypatch.setattr(strengthen, "ENABLED", True)
    strong = lower_bound(system, inputs)
    assert strong >= plain - TOL * abs(plain)
