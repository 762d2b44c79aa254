"""Server power curves: linear, Fan et al.'s fitted curve, and measured SPECpower points."""

import numpy as np
import pytest
from factories import node, one_cell
from pydantic import ValidationError

from cnc6g.model import PowerModel, ServiceType, TwinSettings
from cnc6g.twin import compile_scenario, evaluate_slot
from cnc6g.twin.costs import node_energy
from cnc6g.twin.power import dynamic_share

# A concave measured curve (W at 0 %, 10 %, ..., 100 % load): steep at low load, flat near peak.
CURVE = [100.0, 130.0, 150.0, 165.0, 175.0, 183.0, 189.0, 193.0, 196.0, 198.0, 200.0]


def system(**power):
    service = ServiceType(
        name="s",
        compute_gcycles=0.2,
        input_mbit=0.0,
        memory_gb=1.0,
        deadline_ms=600.0,
        tiers=["ran"],
    )
    mec = node("R-mec", 10.0, 8.0, idle=100.0, peak=200.0, **power)
    scenario = one_cell(
        [service], terminal=node("T-node", 1.0, 8.0), ran=mec, twin=TwinSettings(slot_ms=1000.0)
    )
    return compile_scenario(scenario)


def slot(sy, requests):
    S, N, K = sy.n_services, sy.n_nodes, sy.n_candidates
    mec = sy.node_names.index("R-mec")
    k = int(np.flatnonzero(sy.candidates[0] == mec)[0])
    deployment = np.zeros((1, S, N), dtype=bool)
    deployment[0, 0, mec] = True
    routing = np.zeros((1, 1, S, K))
    routing[0, 0, 0, k] = 1.0
    out = evaluate_slot(
        sy,
        np.array([[[requests]]]),
        np.array([[1000.0]]),
        np.array([[1000.0]]),
        deployment,
        deployment.copy(),
        routing,
    )
    return out, deployment, mec


def test_linear_is_the_utilisation_itself():
    sy = system()
    u = np.array([[0.3, 0.7]])
    assert dynamic_share(sy, u) is u


@pytest.mark.parametrize("u", [0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_fan2007_follows_its_formula(u):
    sy = system(power_model="fan2007", power_exponent=1.4)
    mec = sy.node_names.index("R-mec")
    util = np.zeros((1, sy.n_nodes))
    util[0, mec] = u
    share = dynamic_share(sy, util)
    assert share[0, mec] == pytest.approx(2 * u - u**1.4)
    # A concave curve draws at least the linear share at every load.
    assert share[0, mec] >= u - 1e-12


def test_measured_curve_passes_through_its_points_and_interpolates():
    sy = system(power_model="measured", power_curve_w=CURVE)
    mec = sy.node_names.index("R-mec")
    grid = np.linspace(0.0, 1.0, 11)
    util = np.zeros((11, sy.n_nodes))
    util[:, mec] = grid
    share = dynamic_share(sy, util)[:, mec]
    np.testing.assert_allclose(100.0 + 100.0 * share, CURVE)
    util[:, mec] = 0.05 + 0.1 * np.arange(11).clip(max=9)
    mid = dynamic_share(sy, util)[:10, mec]
    np.testing.assert_allclose(100.0 + 100.0 * mid, (np.array(CURVE[:-1]) + CURVE[1:]) / 2)


@pytest.mark.parametrize(
    "power",
    [
        {"power_model": "linear"},
        {"power_model": "fan2007"},
        {"power_model": "measured", "power_curve_w": CURVE},
    ],
)
def test_the_twin_charges_the_curve(power):
    sy = system(**power)
    out, deployment, mec = slot(sy, 20.0)
    u = out.utilisation[0, mec]
    assert 0.2 < u < 0.9
    model = PowerModel(power["power_model"])
    if model is PowerModel.LINEAR:
        g = u
    elif model is PowerModel.FAN2007:
        g = 2 * u - u**1.4
    else:
        g = np.interp(u, np.linspace(0, 1, 11), (np.array(CURVE) - 100.0) / 100.0)
    assert out.energy["dynamic"][0] == pytest.approx(1.0 * 100.0 * g)
    per_node = node_energy(sy, out, deployment, deployment)
    assert per_node.sum() == pytest.approx(
        out.energy["idle"][0]
        + out.energy["dynamic"][0]
        + out.energy["instances"][0]
        + out.energy["cold_start"][0]
    )


def test_a_concave_curve_costs_more_at_part_load_than_the_line():
    linear, _, _ = slot(system(), 20.0)
    fan, _, _ = slot(system(power_model="fan2007"), 20.0)
    assert fan.energy["dynamic"][0] > linear.energy["dynamic"][0]
    assert fan.served[0] == linear.served[0]


@pytest.mark.parametrize(
    ("power", "message"),
    [
        ({"power_model": "measured"}, "needs power_curve_w"),
        ({"power_model": "measured", "power_curve_w": [100.0] * 10 + [200.0, 200.0]}, "11"),
        ({"power_model": "measured", "power_curve_w": [90.0, *CURVE[1:]]}, "idle_power_w"),
        ({"power_model": "measured", "power_curve_w": [*CURVE[:-1], 210.0]}, "peak_power_w"),
        (
            {"power_model": "measured", "power_curve_w": [100.0, 150.0, 140.0, *CURVE[3:]]},
            "must not decrease",
        ),
        ({"power_curve_w": CURVE}, "only read with power_model 'measured'"),
        ({"power_model": "fan2007", "power_exponent": 1.0}, "power_exponent"),
        ({"power_model": "cubic"}, "power_model"),
    ],
)
def test_bad_power_fields_are_named(power, message):
    with pytest.raises(ValidationError, match=message):
        node("R-mec", 10.0, 8.0, idle=100.0, peak=200.0, **power)
