"""Split inference: the DP against brute force, baselines, min cut, vectorisation."""

import numpy as np
import pytest
from ai_models import table
from hypothesis import given, settings
from hypothesis import strategies as st

from cnc6g.ai.mincut import min_cut
from cnc6g.ai.processors import PROCESSORS
from cnc6g.ai.profiles import load_profile
from cnc6g.ai.split import (
    BASELINES,
    Network,
    baseline,
    brute_force,
    evaluate,
    least_latency,
    solve,
    split_points,
)

TIERS = [PROCESSORS["jetson-tk1"], PROCESSORS["l4"], PROCESSORS["a100"]]
MIXED = [PROCESSORS["sd8g3-cpu"], PROCESSORS["l4"], PROCESSORS["titan-x"]]


@st.composite
def instances(draw):
    n = draw(st.integers(1, 6))
    flops = draw(st.lists(st.integers(10**6, 10**11), min_size=n, max_size=n))
    out = draw(st.lists(st.integers(10, 5 * 10**6), min_size=n, max_size=n))
    extra = draw(st.lists(st.integers(-1, n), min_size=n, max_size=n))
    loop = None
    steps = 0
    if n >= 2 and draw(st.booleans()):
        first = draw(st.integers(0, n - 2))
        loop = (first, draw(st.integers(first, n - 1)))
        steps = draw(st.integers(1, 20))
    profile = table(flops, out, extra, loop, steps, input_bytes=draw(st.integers(1, 10**6)))
    net = Network(
        uplink_mbps=draw(st.floats(0.1, 1000)),
        downlink_mbps=draw(st.floats(1, 1000)),
        wired_mbps=draw(st.floats(10, 10000)),
        radio_delay_s=draw(st.floats(0, 0.02)),
        wired_delay_s=draw(st.floats(0, 0.05)),
        wait_w=draw(st.sampled_from([0.0, 0.3])),
    )
    tiers = draw(st.sampled_from([TIERS, MIXED]))
    return profile, tiers, net


@settings(max_examples=150, deadline=None)
@given(instances())
def test_the_dp_finds_the_least_latency_brute_force_finds(inst):
    profile, tiers, net = inst
    plan = solve(profile, tiers, net)
    _, latency, _ = brute_force(profile, tiers, net)
    assert plan.latency_s[0] == pytest.approx(latency, rel=1e-9)
    assert least_latency(profile, tiers, net)[0] == pytest.approx(latency, rel=1e-9)
    again = evaluate(profile, tiers, net, plan.tiers)
    assert again.latency_s[0] == pytest.approx(latency, rel=1e-9)


@settings(max_examples=150, deadline=None)
@given(instances(), st.floats(0.001, 2.0))
def test_the_dp_finds_the_least_energy_within_the_deadline_brute_force_finds(inst, deadline):
    profile, tiers, net = inst
    plan = solve(profile, tiers, net, objective="energy", deadline_s=deadline)
    assign, latency, energy = brute_force(profile, tiers, net, "energy", deadline)
    if latency <= deadline:
        assert plan.meets_deadline[0]
        assert plan.energy_j[0] == pytest.approx(energy, rel=1e-9, abs=1e-15)
    else:  # nothing meets it: both fall back to the least latency
        assert not plan.meets_deadline[0]
        assert plan.latency_s[0] == pytest.approx(latency, rel=1e-9)
    del assign


def test_every_baseline_is_at_best_as_fast_as_the_dp():
    profile = load_profile("resnet50")
    for bw in (0.5, 5, 50, 500):
        net = Network(uplink_mbps=bw)
        best = solve(profile, MIXED, net).latency_s[0]
        for name in BASELINES:
            assert baseline(name, profile, MIXED, net).latency_s[0] >= best - 1e-12


def test_the_best_split_moves_off_the_terminal_as_the_uplink_grows():
    profile = load_profile("vit-b16")
    bws = np.logspace(-1, 3, 21)
    plan = solve(profile, TIERS, Network(uplink_mbps=bws), requests=bws.size)
    local = plan.local_blocks
    assert local[0] == profile.n  # 0.1 Mbit/s: all on the terminal
    assert local[-1] == 0  # 1 Gbit/s: all offloaded
    assert np.all(np.diff(local) <= 0)


def test_requests_are_solved_independently_of_each_other():
    profile = load_profile("whisper-base")
    rng = np.random.default_rng(1)
    r = 10_000  # more than one chunk
    ul = rng.uniform(0.5, 500, r)
    deadline = rng.uniform(0.05, 1.0, r)
    speed = rng.uniform(0.1, 1.0, (r, 3))
    net = Network(uplink_mbps=ul)
    many = solve(profile, MIXED, net, r, "energy", deadline, speed)
    for i in rng.choice(r, 20, replace=False):
        one = solve(profile, MIXED, Network(uplink_mbps=ul[i]), 1, "energy", deadline[i], speed[i])
        assert many.energy_j[i] == pytest.approx(one.energy_j[0])
        np.testing.assert_array_equal(many.tiers[i], one.tiers[0])


def test_split_points_hold_the_chosen_plan():
    profile = load_profile("mobilenetv2")
    net = Network(uplink_mbps=30)
    points = split_points(profile, TIERS, net)
    plan = solve(profile, TIERS, net)
    assert plan.latency_s[0] == pytest.approx(points.latency_s[0].min())
    assert points.uplink_bytes[0] == profile.input_bytes


@pytest.mark.parametrize("name", ["mobilenetv2", "vit-b16"])
@pytest.mark.parametrize("objective", ["latency", "energy"])
def test_the_min_cut_of_a_chain_is_neurosurgeons_best_split(name, objective):
    profile = load_profile(name)
    for bw in (1, 10, 40, 200):
        net = Network(uplink_mbps=bw, wait_w=0.2)
        cut = min_cut(profile, TIERS[0], TIERS[1], net, objective=objective)
        ns = baseline("neurosurgeon-edge", profile, TIERS, net, objective=objective)
        value = ns.latency_s[0] if objective == "latency" else ns.energy_j[0]
        assert cut.cost == pytest.approx(value, rel=1e-9)


def test_the_min_cut_of_a_dag_is_no_worse_than_any_split_of_its_order():
    profile = load_profile("resnet50")
    for bw in (5, 15, 25, 60):
        net = Network(uplink_mbps=bw)
        cut = min_cut(profile, TIERS[0], TIERS[2], net, "cloud", relay=TIERS[1])
        ns = baseline("neurosurgeon-cloud", profile, TIERS, net)
        assert cut.cost <= ns.latency_s[0] + 1e-12


@settings(max_examples=60, deadline=None)
@given(instances())
def test_the_min_cut_matches_brute_force_on_small_dags(inst):
    profile, tiers, net = inst
    if profile.loop.any():
        return
    cut = min_cut(profile, tiers[0], tiers[1], net)
    edge_only = [tiers[0], tiers[1], tiers[1]]
    # Brute force over terminal/edge plans only: the cloud is made unreachable.
    far = Network(
        uplink_mbps=net.uplink_mbps,
        downlink_mbps=net.downlink_mbps,
        wired_mbps=1e-9,
        radio_delay_s=net.radio_delay_s,
        wired_delay_s=1e9,
    )
    _, latency, _ = brute_force(profile, edge_only, far)
    assert cut.cost == pytest.approx(latency, rel=1e-9)


def test_bad_input_is_refused():
    profile = load_profile("mobilenetv2")
    with pytest.raises(ValueError, match="objective"):
        solve(profile, TIERS, Network(), objective="speed")
    with pytest.raises(ValueError, match="three processors"):
        solve(profile, TIERS[:2], Network())
    with pytest.raises(ValueError, match="uplink_mbps"):
        solve(profile, TIERS, Network(uplink_mbps=0.0))
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline("dads", profile, TIERS, Network())
    with pytest.raises(ValueError, match="go back"):
        evaluate(profile, TIERS, Network(), np.array([[1] * 10 + [0] * 10]))
    with pytest.raises(ValueError, match="decode loop"):
        min_cut(load_profile("whisper-base"), TIERS[0], TIERS[1], Network())
