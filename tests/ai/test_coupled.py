"""Coupled users: the MILP, the price-based decomposition and independent splits."""

import numpy as np
import pytest

from cnc6g.ai.coupled import (
    build_options,
    make_instance,
    solve_independent,
    solve_milp,
    solve_prices,
)


@pytest.fixture(scope="module")
def slot():
    inst = make_instance(40, 0.8, seed=3)
    return inst, build_options(inst)


def test_options_meet_their_deadline_within_the_shares_they_ask_for(slot):
    inst, opts = slot
    assert opts.user.size > len(inst.users)
    assert np.all((opts.phi >= 0) & (opts.phi <= 1) & (opts.psi >= 0) & (opts.psi <= 1))
    deadlines = np.array([u.deadline_s for u in inst.users])
    assert np.all(opts.latency_s <= deadlines[opts.user] + 1e-12)


def test_no_option_is_dominated_by_another_of_its_user(slot):
    _, opts = slot
    for u in np.unique(opts.user)[:10]:
        rows = np.flatnonzero(opts.user == u)
        for i in rows:
            for j in rows:
                if i != j:
                    assert not (
                        opts.phi[j] <= opts.phi[i]
                        and opts.psi[j] <= opts.psi[i]
                        and opts.energy_j[j] <= opts.energy_j[i]
                    )


def test_the_milp_and_the_prices_fit_the_capacities_and_the_milp_serves_most(slot):
    inst, opts = slot
    milp = solve_milp(inst, opts)
    prices = solve_prices(inst, opts)
    for out in (milp, prices):
        assert out.radio_used <= 1 + 1e-9
        assert out.gpu_used <= inst.gpus + 1e-9
        chosen = out.choice[out.choice >= 0]
        assert np.all(opts.user[chosen] == np.flatnonzero(out.choice >= 0))
    assert milp.detail["optimal"] == 1.0
    assert milp.satisfied >= prices.satisfied
    assert milp.satisfied <= milp.detail["bound"] + 0.01  # the bound is net of energy


def test_coupling_serves_more_than_independent_splits_at_high_load(slot):
    inst, opts = slot
    independent = solve_independent(inst)
    milp = solve_milp(inst, opts)
    assert milp.satisfied > independent.satisfied


def test_a_light_slot_is_served_whole():
    inst = make_instance(20, 0.2, seed=0, deadline_factor=(1.0, 1.5))
    assert solve_milp(inst, build_options(inst)).share == 1.0


def test_load_sets_the_capacities():
    light, heavy = make_instance(30, 0.4, seed=2), make_instance(30, 0.8, seed=2)
    assert light.gpus == pytest.approx(2 * heavy.gpus)
    assert light.users[0].cell_mbps == pytest.approx(2 * heavy.users[0].cell_mbps)
    with pytest.raises(ValueError, match="load"):
        make_instance(10, 0.0)
