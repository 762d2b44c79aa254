"""OPT's plan and LP bound with the EARTH radio: the energy the twin charges whatever is decided.

With a radio model the twin charges every RAN site its sleep power, its static power above that
once it sends anything, its load-dependent power, and the phones' radio with the RRC tail. The
plan charges the sleep floor as a constant and the rest per task sent; the LP relaxation must
stay below the twin's objective of every decision, and nothing may change without the model.
"""

from functools import cache

import numpy as np
import pytest

from cnc6g.model import Scenario
from cnc6g.model.decision import Decision
from cnc6g.model.radio import RadioModel, TerminalPower
from cnc6g.policies import GreedyPolicy, OptimalPolicy, RandomPolicy
from cnc6g.policies.base import usable_candidates
from cnc6g.policies.opt import SlotInputs, lower_bound
from cnc6g.policies.opt.model import (
    build_model,
    radio_awake_j,
    radio_energy_per_task,
    radio_floor_j,
)
from cnc6g.scenarios import load_scenario
from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.twin import Twin, compile_scenario, evaluate_slot


def _with_radio(sc: Scenario, phones: bool) -> Scenario:
    radio = RadioModel(
        downlink_layers=4, uplink_layers=2, terminal_power=TerminalPower() if phones else None
    )
    return sc.model_validate({**sc.model_dump(), "radio": radio.model_dump()})


@cache
def radio_system(n_cells: int, n_services: int, seed: int, load: float, phones: bool):
    base = synthetic_scenario(
        f"radio-{n_cells}-{n_services}-{seed}",
        n_cells=n_cells,
        n_services=n_services,
        offered_load=load,
        seed=seed,
    )
    return compile_scenario(_with_radio(base, phones))


def _scores(system, inputs, decisions):
    B = len(decisions)

    def rep(a):
        return np.repeat(np.asarray(a)[None], B, axis=0)

    out = evaluate_slot(
        system,
        rep(inputs.demand.astype(float)),
        rep(inputs.uplink_mbps),
        rep(inputs.downlink_mbps),
        np.stack([np.asarray(d.deployment, dtype=bool) for d in decisions]),
        rep(inputs.previous),
        np.stack([np.asarray(d.routing, dtype=float) for d in decisions]),
    )
    return out, out.objective(system.unsatisfied_penalty_j)


def _observed(system, seed: int, warmup: int):
    twin = Twin(system, seed=seed)
    grd = GreedyPolicy()
    grd.reset(system, seed)
    for _ in range(warmup):
        twin.step(grd.decide(twin.observe()))
    return twin.observe(), grd


def _decisions(system, obs, grd, seed: int, opt_time_s: float = 3.0) -> list[Decision]:
    rand = RandomPolicy()
    rand.reset(system, seed)
    opt = OptimalPolicy(time_limit=opt_time_s, refine=False)
    opt.reset(system, seed)
    out = [grd.decide(obs), rand.decide(obs), opt.decide(obs)]
    rng = np.random.default_rng(seed)
    for _ in range(6):  # random deployments with random shares, some tasks left unsent
        x = (rng.random(system.can_host.shape) < rng.uniform(0.1, 0.9)) & system.can_host
        for n in range(system.n_nodes):
            while (x[:, n] * system.service_memory).sum() > system.memory[n]:
                x[np.flatnonzero(x[:, n])[0], n] = False
        usable = usable_candidates(system, x)
        raw = rng.random(usable.shape) * usable
        row = raw.sum(axis=-1, keepdims=True)
        y = np.divide(raw, row, out=np.zeros_like(raw), where=row > 0)
        out.append(Decision(x, y * rng.uniform(0.2, 1.0, size=row.shape)))
    return out


@pytest.mark.parametrize(
    ("n_cells", "n_services", "seed", "load", "phones", "warmup"),
    [
        (3, 5, 1, 0.3, True, 2),
        (3, 5, 2, 1.2, True, 3),
        (4, 4, 3, 0.8, False, 2),
        (2, 6, 4, 0.1, True, 1),
    ],
)
def test_the_bound_with_the_radio_is_below_rand_grd_opt_and_random_decisions(
    n_cells, n_services, seed, load, phones, warmup
):
    system = radio_system(n_cells, n_services, seed, load, phones)
    obs, grd = _observed(system, seed, warmup)
    inputs = SlotInputs.from_observation(obs)
    bound = lower_bound(system, inputs)
    out, objective = _scores(system, inputs, _decisions(system, obs, grd, seed))
    assert (bound <= objective + 1e-9 * np.abs(objective)).all()
    # and it counts the radio: at least the sites' sleep floor above the bound without it
    assert bound >= radio_floor_j(system)
    assert (out.energy["radio"] >= radio_floor_j(system) - 1e-9).all()


def test_the_bound_is_below_every_policy_on_the_calibrated_preset():
    system = compile_scenario(load_scenario("paper-case-study-calibrated"))
    obs, grd = _observed(system, 0, 3)
    inputs = SlotInputs.from_observation(obs)
    bound = lower_bound(system, inputs)
    decisions = _decisions(system, obs, grd, 0, opt_time_s=2.0)
    _, objective = _scores(system, inputs, decisions)
    assert (bound <= objective).all()
    # the radio's sleep floor alone is ten sites x 6 transceivers x 75 W for the slot
    assert radio_floor_j(system) == pytest.approx(10 * 6 * 75.0)
    # within reach of the best decision: the radio is most of the energy and is now counted
    assert objective.min() < 2.0 * bound


@pytest.mark.parametrize("phones", [True, False])
def test_the_constant_is_the_twins_radio_energy_of_a_slot_without_traffic(phones):
    system = radio_system(3, 5, 1, 0.5, phones)
    O, S, K = system.n_origins, system.n_services, system.n_candidates
    idle = Decision(np.zeros((S, system.n_nodes), dtype=bool), np.zeros((O, S, K)))
    silent = SlotInputs(
        np.zeros((O, S)),
        np.full(O, 100.0),
        np.full(O, 300.0),
        np.zeros((S, system.n_nodes), dtype=bool),
    )
    out, objective = _scores(system, silent, [idle])
    model = system.scenario.radio
    assert model is not None
    floor = system.slot_s * 3 * model.base_station.n_trx * model.base_station.p_sleep_w
    assert radio_floor_j(system) == pytest.approx(floor)
    assert out.energy["radio"][0] == pytest.approx(radio_floor_j(system), rel=1e-12)
    # nothing to send: the bound is the twin's objective (idle nodes and the radio's floor)
    assert lower_bound(system, silent) == pytest.approx(objective[0], rel=1e-9)


def test_the_plan_counts_busy_sites_static_power_whole_and_the_bound_spreads_it_per_task():
    system = radio_system(3, 5, 1, 0.5, True)
    obs, grd = _observed(system, 1, 2)
    inputs = SlotInputs.from_observation(obs)
    model = system.scenario.radio
    assert model is not None
    bs = model.base_station
    awake = radio_awake_j(system, inputs.demand)
    # every site has demand that returns data: each is charged n_trx (P0 - P_sleep) for the slot
    assert awake == pytest.approx(3 * system.slot_s * bs.n_trx * (bs.p0_w - bs.p_sleep_w))
    plan = build_model(system, inputs).model
    optimistic = build_model(system, inputs, optimistic=True).model
    assert plan.offset - optimistic.offset == pytest.approx(awake)
    # spread over the tasks, the same static power adds up to the same total
    O, S = system.n_origins, system.n_services
    ro, rs = np.repeat(np.arange(O), S), np.tile(np.arange(S), O)
    spread = radio_energy_per_task(system, inputs, inputs.demand, ro, rs)
    whole = radio_energy_per_task(system, inputs, inputs.demand, ro, rs, spread_static=False)
    assert (inputs.demand.ravel() * (spread - whole)).sum() == pytest.approx(awake)
    # and the twin charges at least the floor and the awake sites when GRD sends from each
    out, _ = _scores(system, inputs, [grd.decide(obs)])
    assert out.energy["radio"][0] >= radio_floor_j(system) + awake


def test_without_a_radio_model_routes_pay_transmit_power_and_energy_per_bit_as_before():
    system = compile_scenario(load_scenario("paper-case-study"))
    assert radio_floor_j(system) == 0.0
    rng = np.random.default_rng(3)
    O, S = system.n_origins, system.n_services
    inputs = SlotInputs(
        rng.integers(0, 9, size=(O, S)).astype(float),
        rng.uniform(50.0, 300.0, O),
        rng.uniform(100.0, 600.0, O),
        np.zeros((S, system.n_nodes), dtype=bool),
    )
    ro, rs = np.repeat(np.arange(O), S), np.tile(np.arange(S), O)
    got = radio_energy_per_task(system, inputs, inputs.demand, ro, rs)
    want = (
        system.tx_power[ro] * system.input_mbit[rs] / inputs.uplink_mbps[ro]
        + system.bs_j_per_mbit[ro] * system.output_mbit[rs]
    )
    np.testing.assert_array_equal(got, want)


def test_the_bound_with_the_radio_holds_with_services_placed_step_by_step():
    # xr-offload's xr-frame is placed step by step: its paths get no radio terms of their own in
    # the plan, which leaves the bound valid (below every decision) if looser
    system = compile_scenario(_with_radio(load_scenario("xr-offload"), phones=True))
    assert system.scenario.services[0].place_steps
    obs, grd = _observed(system, 0, 2)
    inputs = SlotInputs.from_observation(obs)
    bound = lower_bound(system, inputs)
    assert bound >= radio_floor_j(system) > 0
    rand = RandomPolicy()
    rand.reset(system, 0)
    opt = OptimalPolicy(time_limit=3.0, refine=False)
    opt.reset(system, 0)
    decisions = [grd.decide(obs), rand.decide(obs), opt.decide(obs)]
    for decision in decisions:
        assert decision.paths is not None
        assert decision.path_shares is not None
    # GRD and RAND send xr-frame's demand along paths (OPT rejects it at its 20 ms deadline)
    assert all(np.asarray(d.path_shares).sum() > 0 for d in decisions[:2])
    for decision in decisions:
        out = evaluate_slot(
            system,
            inputs.demand[None].astype(float),
            inputs.uplink_mbps[None],
            inputs.downlink_mbps[None],
            np.asarray(decision.deployment, dtype=bool)[None],
            inputs.previous[None],
            np.asarray(decision.routing, dtype=float)[None],
            paths=np.asarray(decision.paths)[None],
            path_shares=np.asarray(decision.path_shares, dtype=float)[None],
        )
        assert bound <= out.objective(system.unsatisfied_penalty_j)[0]
