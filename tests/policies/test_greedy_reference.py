"""GRD makes the same decisions as before its speed-up, slot by slot, on seeded twins."""

import numpy as np
import pytest
from reference_greedy import ReferenceGreedy

from cnc6g.model import Scenario
from cnc6g.policies import GreedyPolicy
from cnc6g.scenarios import load_scenario
from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.twin import Twin, compile_scenario
from cnc6g.twin.events import NodeFailure


@pytest.mark.parametrize(("preset", "load"), [("tiny", 1.2), ("paper-case-study", 0.8)])
@pytest.mark.parametrize("options", [{}, {"chunks": 3, "min_tasks_per_instance": 1.0}])
def test_grd_decides_as_the_reference_did(preset, load, options):
    system = compile_scenario(load_scenario(preset).at_load(load))
    mine, ref = GreedyPolicy(**options), ReferenceGreedy(**options)
    mine.reset(system, 4)
    ref.reset(system, 4)
    twin = Twin(system, seed=4)
    failed = system.node_names[system.n_origins]  # the first RAN node fails at slot 12
    for slot in range(35):
        if slot == 12:
            changed = twin.apply(NodeFailure(node=failed))
            mine.system_changed(changed)
            ref.system_changed(changed)
        obs = twin.observe()
        got, want = mine.decide(obs), ref.decide(obs)
        np.testing.assert_array_equal(got.deployment, want.deployment)
        np.testing.assert_array_equal(got.routing, want.routing)
        twin.step(twin.repair(got)[0])


@pytest.mark.parametrize(("cells", "services", "k", "seed"), [(3, 6, None, 0), (12, 9, 5, 1)])
def test_compiled_deployment_equals_the_reference_on_random_systems(cells, services, k, seed):
    scenario = synthetic_scenario(
        "random", n_cells=cells, n_services=services, candidates_per_origin=k, seed=seed
    )
    data = scenario.model_dump()
    for domain in data["domains"]:  # memory that binds before the budgets do
        for node in domain["nodes"]:
            node["memory_gb"] *= 0.25
    system = compile_scenario(Scenario.model_validate(data))
    rng = np.random.default_rng(seed)
    for options in ({}, {"target_utilisation": 0.3, "min_tasks_per_instance": 12.0}):
        mine, ref = GreedyPolicy(**options), ReferenceGreedy(**options)
        mine.reset(system, seed)
        ref.reset(system, seed)
        for scale in (0.5, 5.0, 50.0, 500.0):
            # Sparse demands with ties (whole numbers) and fractions, as the moving average has.
            demand = rng.integers(0, 8, size=(system.n_origins, system.n_services)) * scale
            demand = demand * (rng.random(demand.shape) < 0.6) + rng.random(demand.shape) * 0.1
            got = mine._deploy(demand)
            np.testing.assert_array_equal(got, ref._deploy(demand))
            assert got.any()
