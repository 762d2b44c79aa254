"""HMARL's faster paths (observations, forwards, routes, planned tasks, rounds) equal their
references."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cnc6g.policies.hmarl import executor
from cnc6g.policies.hmarl.agents import DDPG, DQN, LearnerConfig, infer
from cnc6g.policies.hmarl.executor import (
    LEVELS,
    LOOK_AHEAD,
    NETWORK_UTILISATION,
    Knobs,
    _consts,
    _fill,
    _fit_memory,
    _fit_memory_numpy,
    _Load,
    _planned,
    _planned_numpy,
    _Routes,
    _Slot,
    _Usable,
    _usable,
    execute,
)
from cnc6g.policies.hmarl.features import (
    _fill_domains,
    _fill_domains_numpy,
    domain_observations,
    domain_observations_reference,
    set_levels,
)
from cnc6g.twin import Twin
from cnc6g.twin.jit import numpy_exp_loop


def _running_twin(system, slots=4, batch=3):
    """A twin whose deployment the executor has filled for a few slots (neutral knobs)."""
    twin = Twin(system, batch=batch, seed=2)
    knobs = Knobs.neutral(system, batch)
    for _ in range(slots):
        d = execute(
            system, twin.demand, twin.uplink_mbps, twin.downlink_mbps, twin.deployment, knobs
        )
        twin.step_arrays(d.deployment, d.routing)
    return twin


@pytest.mark.parametrize("name", ["tiny_system", "case_system"])
@pytest.mark.parametrize("with_level", [False, True])
def test_domain_observations_equal_the_reference(name, with_level, request):
    system = request.getfixturevalue(name)
    twin = _running_twin(system)
    rng = np.random.default_rng(1)
    D = int(system.node_domain.max()) + 1
    level = rng.integers(0, len(LEVELS), (3, D)) if with_level else None
    args = (system, twin.demand.astype(float), twin.uplink_mbps, twin.deployment, twin.utilisation)
    got = domain_observations(*args, level=level)
    want = domain_observations_reference(*args, level=level)
    assert len(got) == len(want) == 3
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype == np.float32
        np.testing.assert_array_equal(g, w)
        assert g.tobytes() == w.tobytes()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_domain_fill_equals_the_numpy_one(seed):
    rng = np.random.default_rng(seed)
    B, D, W, S, G, N = 4, 5, 12, 6, 3, 9
    start, size = 5, 5 + 12 + 6 + 2
    args = (
        rng.lognormal(size=(B, N)) * 1e3,  # node features, flat
        rng.integers(0, N, (D, W)),
        rng.random((D, W)) < 0.3,  # padding
        rng.integers(0, G, D),
        rng.lognormal(size=D),
        rng.lognormal(size=(B, G, S)) * 10,
        rng.lognormal(size=B),
        rng.lognormal(size=(B, G)) * 100,
    )
    got = np.full((B, D, size), 7.0, dtype=np.float32)
    want = got.copy()
    _fill_domains(got, start, *args)
    _fill_domains_numpy(want, start, *args)
    assert got.tobytes() == want.tobytes()
    assert (got[:, :, :start] == 7.0).all()  # the levels' part is left as it was


def test_acting_forward_equals_calling_the_modules():
    cfg = LearnerConfig(hidden=32)
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(7, 13)).astype(np.float32)
    for net in (DQN(13, 2, 5, cfg, seed=1).net, DDPG(13, 4, cfg, seed=2).actor):
        with torch.no_grad():
            want = net(torch.from_numpy(obs))
        got = infer(net, obs)
        assert not got.requires_grad
        assert torch.equal(got, want)


def _forward(net, obs):
    with torch.no_grad():
        return net(torch.from_numpy(obs))


def test_acting_forward_follows_training_loading_and_replaced_layers():
    """The plan of parameters kept between calls sees what changes the networks."""
    cfg = LearnerConfig(hidden=16, batch=8, min_replay=8)
    rng = np.random.default_rng(3)
    obs = rng.normal(size=(5, 6)).astype(np.float32)
    q = DQN(6, 2, 3, cfg, seed=4)
    first = infer(q.net, obs).clone()
    q.store(o=obs, a=rng.integers(0, 3, (5, 2)), r=rng.normal(size=5), o2=obs)
    q.store(o=obs, a=rng.integers(0, 3, (5, 2)), r=rng.normal(size=5), o2=obs)
    for _ in range(3):  # the optimiser changes the parameters in place
        q.update()
    trained = infer(q.net, obs)
    assert not torch.equal(trained, first)
    assert torch.equal(trained, _forward(q.net, obs))
    other = DQN(6, 2, 3, cfg, seed=5)
    q.load(other.state())  # loading copies into the same tensors
    assert torch.equal(infer(q.net, obs), _forward(other.net, obs))
    q.net[2] = torch.nn.Linear(16, 16)  # a layer replaced: the plan is made again
    assert torch.equal(infer(q.net, obs), _forward(q.net, obs))
    assert not torch.equal(infer(q.net, obs), _forward(other.net, obs))


def test_acting_forward_of_a_network_with_other_layers_calls_them():
    torch.manual_seed(6)
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.ReLU()
    )
    obs = np.random.default_rng(7).normal(size=(3, 4)).astype(np.float32)
    got = infer(net, obs)
    assert (got >= 0).all()
    assert torch.equal(got, _forward(net, obs))
    first = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(4, 2))
    kept = obs.copy()
    assert torch.equal(infer(first, obs), _forward(first, kept))
    assert (obs == kept).all()  # a ReLU first does not write into the observation


def test_greedy_continuous_actions_are_the_clipped_tanh_of_the_forward():
    pg = DDPG(5, 3, LearnerConfig(hidden=16), seed=9)
    with torch.no_grad():  # large outputs: tanh saturates at -1 and 1 exactly
        pg.actor[-1].bias.copy_(torch.tensor([30.0, -30.0, 0.0]))
    obs = np.random.default_rng(10).normal(size=(6, 5)).astype(np.float32)
    want = np.clip(torch.tanh(_forward(pg.actor, obs)).numpy(), -1.0, 1.0)
    got = pg.act(obs, 0.0, np.random.default_rng(0))
    assert (want[:, 0] == 1.0).all()
    assert (want[:, 1] == -1.0).all()
    assert got.dtype == want.dtype
    assert got.tobytes() == want.tobytes()
    noisy = pg.act(obs, 0.5, np.random.default_rng(0))
    assert np.abs(noisy).max() <= 1.0
    assert not np.array_equal(noisy, want)


@pytest.mark.parametrize("name", ["tiny_system", "case_system"])
def test_levels_written_afterwards_equal_the_reference_with_levels(name, request):
    system = request.getfixturevalue(name)
    twin = _running_twin(system)
    D = int(system.node_domain.max()) + 1
    level = np.random.default_rng(8).integers(0, len(LEVELS), (3, D))
    args = (system, twin.demand.astype(float), twin.uplink_mbps, twin.deployment, twin.utilisation)
    got = domain_observations(*args)
    set_levels(system, got, level)
    want = domain_observations_reference(*args, level=level)
    for g, w in zip(got, want, strict=True):
        assert g.tobytes() == w.tobytes()


@pytest.mark.parametrize("seed", [0, 1])
def test_planned_tasks_equal_the_dense_sums(case_system, seed):
    sy = case_system
    rng = np.random.default_rng(seed)
    B, O, S, K, N = 3, sy.n_origins, sy.n_services, sy.n_candidates, sy.n_nodes
    demand = rng.poisson(2.0, (B, O, S)).astype(float)
    routing = rng.random((B, O, S, K)) * (rng.random((B, O, S, K)) < 0.2)
    c = _consts(sy)
    flows = (demand[..., None] * routing).reshape(B, -1)
    index = (np.arange(B)[:, None] * S + c.flow_service[None]) * N + c.flow_node[None]
    want = np.bincount(index.ravel(), weights=flows.ravel(), minlength=B * S * N)
    got = _planned(sy, c, demand, routing)
    assert got.tobytes() == want.reshape(B, S, N).tobytes()
    assert got.tobytes() == _planned_numpy(sy, c, demand, routing).tobytes()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_planned_tasks_equal_the_numpy_ones(case_system, seed):
    sy = case_system
    rng = np.random.default_rng(seed)
    B, O, S, K = 1 + seed * 3, sy.n_origins, sy.n_services, sy.n_candidates
    demand = rng.poisson(3.0, (B, O, S)) * rng.uniform(0.5, 1.5, (B, O, S))
    routing = rng.dirichlet(np.ones(K) * 0.3, (B, O, S)) * (rng.random((B, O, S, K)) < 0.3)
    routing[rng.random(routing.shape) < 0.05] = -0.0  # no flow, as 0
    c = _consts(sy)
    want = _planned_numpy(sy, c, demand, routing)
    got = _planned(sy, c, demand, routing)
    assert want.any()
    assert got.shape == want.shape
    assert got.tobytes() == want.tobytes()


def _assert_same_usable(got, want):
    assert got.shape == want.shape
    assert got.stuck == want.stuck
    for g, w in zip(
        (got.live, got.k, *got.rows_of[:5], *got.entries),
        (want.live, want.k, *want.rows_of[:5], *want.entries),
        strict=True,
    ):
        assert g.dtype == w.dtype
        assert g.shape == w.shape
        assert np.ascontiguousarray(g).tobytes() == np.ascontiguousarray(w).tobytes()


@pytest.mark.parametrize("name", ["tiny_system", "case_system"])
def test_usable_routes_in_one_pass_equal_the_numpy_ones(name, request):
    sy = request.getfixturevalue(name)
    B = 3
    twin = _running_twin(sy, batch=B)
    rng = np.random.default_rng(7)
    c = _consts(sy)
    up = twin.uplink_mbps.copy()
    up[0, 0] = 0.0  # a faded cell: its remote routes cost inf or nan and are not usable
    with np.errstate(divide="ignore", invalid="ignore"):
        energy = c.energy[None] + c.tx_j[None] / up[:, :, None, None] + c.bs_j[None]
    slot = _Slot(
        demand=twin.demand.astype(float),
        uplink=up,
        downlink=twin.downlink_mbps,
        previous=twin.deployment,
        energy=energy,
        price=rng.uniform(-1, 1, (B, sy.n_origins, 1, sy.n_candidates)),
        theta=np.ones((B, 1, sy.n_nodes)),
        idle=np.zeros(twin.deployment.shape, dtype=np.int64),
        held=np.zeros((B, sy.n_nodes), dtype=bool),
    )
    cold_s = np.minimum(sy.cold_start_s / sy.slot_s, 1.0)[None, None, :, None]
    for cold in (cold_s, np.zeros((1, 1, 1, 1))):
        instances = (rng.random(twin.deployment.shape) < 0.5) & sy.can_host
        args = (sy, c, slot, instances, twin.deployment, cold)
        with np.errstate(divide="ignore"):
            want = _Usable.of(sy, _Routes.build(*args))
        _assert_same_usable(_usable(*args), want)
        assert want.entries[0].size > 0


@pytest.mark.parametrize("name", ["tiny_system", "case_system"])
def test_rounds_computing_the_changed_terms_equal_computing_every_term(name, request):
    sy = request.getfixturevalue(name)
    B = 3
    twin = _running_twin(sy, batch=B)
    rng = np.random.default_rng(11)
    c = _consts(sy)
    up = twin.uplink_mbps / 4.0  # cells over NETWORK_UTILISATION
    slot = _Slot(
        demand=twin.demand.astype(float) * 2.0,  # some nodes fill up
        uplink=up,
        downlink=twin.downlink_mbps / 4.0,
        previous=twin.deployment,
        energy=c.energy[None] + c.tx_j[None] / up[:, :, None, None] + c.bs_j[None],
        price=rng.uniform(-1, 1, (B, sy.n_origins, 1, sy.n_candidates)),
        theta=np.ones((B, 1, sy.n_nodes)),
        idle=np.zeros(twin.deployment.shape, dtype=np.int64),
        held=np.zeros((B, sy.n_nodes), dtype=bool),
    )
    cold = np.minimum(sy.cold_start_s / sy.slot_s, 1.0)[None, None, :, None]
    instances = ((rng.random(twin.deployment.shape) < 0.6) & sy.can_host) | twin.deployment
    usable = _usable(sy, c, slot, instances, twin.deployment, cold)
    assert usable.entries[0].size > 0
    budget = rng.uniform(0.2, 0.95, (B, sy.n_nodes)) * sy.capacity * sy.slot_s
    first = _fill(sy, usable, budget)
    look_ahead = _Load(LOOK_AHEAD * first[1].node, first[1].radio)
    # Nodes priced at their whole budget from the start: their terms change with the cells'
    # slow-downs only.
    cells_only = _Load(budget, np.zeros_like(first[1].radio))
    assert (first[1].radio > NETWORK_UTILISATION).any()
    for fast, every in (
        (first, _fill(sy, usable, budget, every=True)),
        *(
            (_fill(sy, usable, budget, floor), _fill(sy, usable, budget, floor, every=True))
            for floor in (look_ahead, cells_only)
        ),
    ):
        for got, want in zip((fast[0], *fast[1]), (every[0], *every[1]), strict=True):
            assert got.tobytes() == want.tobytes()
        assert fast[0].any()


def _busy_knobs(sy, B, rng):
    """Random knobs with every domain above the lowest level and low start thresholds."""
    D, N = int(sy.node_domain.max()) + 1, sy.n_nodes
    return Knobs(
        level=rng.integers(1, len(LEVELS), (B, D)),
        threshold=rng.integers(0, 3, (B, D)),
        price=rng.uniform(-1, 1, (B, N)),
        trim=rng.uniform(-1, 1, (B, N)),
    )


def test_rounds_that_stop_once_a_last_round_takes_nothing_equal_running_every_round(
    case_system, monkeypatch
):
    sy = case_system
    B = 3
    twin = _running_twin(sy, batch=B)
    rng = np.random.default_rng(5)
    knobs = _busy_knobs(sy, B, rng)
    fills = []  # every assignment's arguments, consolidation's included
    fill = executor._fill

    def recording(sy_, usable, budget, floor=None, route=True, every=False):
        fills.append((usable, budget, floor))
        return fill(sy_, usable, budget, floor, route, every)

    monkeypatch.setattr(executor, "_fill", recording)
    args = (twin.uplink_mbps, twin.downlink_mbps, twin.deployment, knobs)
    execute(sy, twin.demand * 2.0, *args)  # parts turned away, offered again
    monkeypatch.undo()
    calls = [0]
    round_ = executor._round

    def counting(*a):
        calls[0] += 1
        return round_(*a)

    monkeypatch.setattr(executor, "_round", counting)
    shorter = 0
    for usable, budget, floor in fills:
        ran = []
        for every in (False, True):  # rounds called one by one, to count them
            calls[0] = 0
            ran.append((fill(sy, usable, budget, floor, every=every, whole=False), calls[0]))
        (fast, fast_calls), (want, want_calls) = ran
        whole = fill(sy, usable, budget, floor)  # in one compiled call
        for got, one_call, ref in zip(
            (fast[0], *fast[1]), (whole[0], *whole[1]), (want[0], *want[1]), strict=True
        ):
            assert got.tobytes() == ref.tobytes()
            assert one_call.tobytes() == ref.tobytes()
        shorter += fast_calls < want_calls
    assert len(fills) > 4  # the consolidation ran
    assert shorter  # some stopped early
    assert numpy_exp_loop()  # the rounds ran in one call


def test_rounds_in_one_compiled_call_equal_the_rounds_called_from_python(case_system, monkeypatch):
    sy = case_system
    B = 2
    twin = _running_twin(sy, batch=B)
    rng = np.random.default_rng(8)
    knobs = _busy_knobs(sy, B, rng)
    rounds = executor._fill_rounds
    compared = [0]

    def both(sy_, usable, floored, nodes, cells, every=False, whole=True):
        start = (nodes.copy(), cells.copy())
        got = rounds(sy_, usable, floored, nodes, cells, every, whole)
        want = rounds(sy_, usable, floored, *start, every, whole=False)
        # The shares, the slack and the exponentials of the deadline terms, and the loads.
        for a, b in zip((got, nodes, cells), (want, *start), strict=True):
            assert a.tobytes() == b.tobytes()
        compared[0] += 1
        return got

    monkeypatch.setattr(executor, "_fill_rounds", both)
    args = (twin.uplink_mbps, twin.downlink_mbps, twin.deployment, knobs)
    execute(sy, twin.demand * 1.5, *args)
    assert compared[0] > 4  # the consolidation's too
    assert numpy_exp_loop()  # the rounds ran in one call


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compiled_memory_fit_equals_the_numpy_one(case_system, seed):
    sy = case_system
    rng = np.random.default_rng(seed)
    B, S, N = 1 + 3 * seed, sy.n_services, sy.n_nodes
    want = (rng.random((B, S, N)) < 0.7) & sy.can_host
    # Whole numbers of tasks: ties between services, which keep their order.
    planned = rng.integers(0, 4, (B, S, N)) * rng.choice([1.0, 0.5], (B, S, N))
    previous = rng.random((B, S, N)) < 0.3
    fit = SimpleNamespace(service_memory=sy.service_memory, memory=sy.memory * 0.3)
    got = _fit_memory(fit, want, planned, previous)
    want_fit = _fit_memory_numpy(fit, want, planned, previous)
    assert got.dtype == want_fit.dtype == np.bool_
    assert (got != want).any()  # some wanted instances do not fit
    np.testing.assert_array_equal(got, want_fit)
