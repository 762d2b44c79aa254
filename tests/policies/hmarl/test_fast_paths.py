"""HMARL's batched observation and forward paths equal their one-by-one references bit for bit."""

import numpy as np
import pytest

from cnc6g.policies.hmarl.executor import LEVELS, Knobs, execute
from cnc6g.policies.hmarl.features import domain_observations, domain_observations_reference
from cnc6g.twin import Twin


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
