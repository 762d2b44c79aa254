"""The executor's decisions equal those of its frozen copy from before the speed-up."""

import numpy as np
import pytest
from reference_executor import reference_execute

from cnc6g.orchestration import SlotLoop, make_policy
from cnc6g.policies.hmarl import policy as hmarl_policy
from cnc6g.policies.hmarl.executor import LEVELS, THRESHOLDS, Knobs, execute
from cnc6g.twin import Twin


def assert_same(new, old):
    """Deployment, idle counts and switched-off nodes equal; routing equal to 1e-9."""
    np.testing.assert_array_equal(new.deployment, old.deployment)
    np.testing.assert_array_equal(new.idle, old.idle)
    np.testing.assert_array_equal(new.switched_off, old.switched_off)
    np.testing.assert_allclose(new.routing, old.routing, rtol=0.0, atol=1e-9)


@pytest.mark.parametrize("name", ["tiny_system", "case_system"])
def test_a_seeded_hmarl_run_decides_as_the_frozen_executor(name, request, monkeypatch):
    system = request.getfixturevalue(name)
    calls = []

    def both(*args, **kwargs):
        new = execute(*args, **kwargs)
        assert_same(new, reference_execute(*args, **kwargs))
        calls.append(new.switched_off.any())
        return new

    monkeypatch.setattr(hmarl_policy, "execute", both)
    loop = SlotLoop(Twin(system, seed=0), make_policy("hmarl"), seed=0)
    for _ in range(30):
        loop.step()
    assert len(calls) == 30
    if name == "case_system":  # the consolidation's choices are compared too
        assert any(calls)


@pytest.mark.parametrize("name", ["tiny_system", "case_system"])
def test_random_knobs_on_a_batch_decide_as_the_frozen_executor(name, request):
    system = request.getfixturevalue(name)
    rng = np.random.default_rng(3)
    B = 4
    D = int(system.node_domain.max()) + 1
    twin = Twin(system, batch=B, seed=1)
    idle = idle_ref = None
    for _ in range(8):
        knobs = Knobs(
            level=rng.integers(0, len(LEVELS), (B, D)),
            threshold=rng.integers(0, len(THRESHOLDS), (B, D)),
            price=rng.uniform(-1, 1, (B, system.n_nodes)),
            trim=rng.uniform(-1, 1, (B, system.n_nodes)),
        )
        args = (
            system,
            twin.demand.astype(float),
            twin.uplink_mbps,
            twin.downlink_mbps,
            twin.deployment.copy(),
            knobs,
        )
        new = execute(*args, idle)
        old = reference_execute(*args, idle_ref)
        assert_same(new, old)
        imposed = rng.random((B, system.n_nodes)) < 0.3
        assert_same(
            execute(*args, idle, switched_off=imposed),
            reference_execute(*args, idle_ref, switched_off=imposed),
        )
        idle, idle_ref = new.idle, old.idle
        twin.step_arrays(new.deployment, new.routing)
