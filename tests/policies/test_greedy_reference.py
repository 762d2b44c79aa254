"""GRD makes the same decisions as before its speed-up, slot by slot, on seeded twins."""

import numpy as np
import pytest
from reference_greedy import ReferenceGreedy

from cnc6g.policies import GreedyPolicy
from cnc6g.scenarios import load_scenario
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
