"""Every built-in policy passes the shipped checker; broken policies do not."""

from functools import partial

import numpy as np
import pytest

from cnc6g.model.decision import Decision
from cnc6g.orchestration import BUILTIN, make_policy
from cnc6g.policies import GreedyPolicy, OptimalPolicy, Policy, RandomPolicy
from cnc6g.testing import PolicyCheckError, check_policy


@pytest.mark.parametrize("name", sorted(set(BUILTIN) - {"opt"}))
@pytest.mark.parametrize("scenario", ["tiny_scenario", "case_scenario"])
def test_builtin_policy_passes_checks(name, scenario, request):
    check_policy(lambda: make_policy(name), request.getfixturevalue(scenario), slots=15)


def test_opt_passes_checks(tiny_scenario):
    # OPT's search is bounded by work (branch-and-bound nodes per phase), not by the clock, so
    # the same seed decides the same on any machine; the time limit is only a safety net that
    # the tiny system's slots, solved in a fraction of a second, never reach.
    check_policy(partial(OptimalPolicy, node_limit=100, time_limit=300.0), tiny_scenario, slots=10)


class _Mutating(GreedyPolicy):
    def decide(self, obs):
        obs.demand[0, 0] = 0
        return super().decide(obs)


class _Unseeded(RandomPolicy):
    def reset(self, system, seed=None):
        super().reset(system, None)


class _Overcommitting(Policy):
    """Deploys everything everywhere it may run, ignoring memory."""

    def decide(self, obs):
        sy = self.system
        x = sy.can_host.copy()
        y = np.zeros((sy.n_origins, sy.n_services, sy.n_candidates))
        return Decision(deployment=x, routing=y)


class _Leaky(GreedyPolicy):
    """Keeps a counter across resets."""

    calls = 0

    def decide(self, obs):
        type(self).calls += 1
        d = super().decide(obs)
        if type(self).calls > 20:
            return Decision(d.deployment, d.routing * 0.5)
        return d


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (_Mutating, "modify the observation"),
        (_Unseeded, "decide differently"),
        (_Overcommitting, "memory"),
    ],
)
def test_checker_catches_broken_policies(policy, message, tiny_scenario):
    with pytest.raises(PolicyCheckError, match=message):
        check_policy(policy, tiny_scenario, slots=10)


def test_checker_catches_state_leaking_across_resets(tiny_scenario):
    _Leaky.calls = 0
    with pytest.raises(PolicyCheckError, match="differently"):
        check_policy(_Leaky, tiny_scenario, slots=10)


def test_make_policy_by_import_path():
    assert isinstance(make_policy("cnc6g.policies:GreedyPolicy"), GreedyPolicy)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nope", "unknown policy"),
        ("cnc6g.nothing:X", "cannot import"),
        ("numpy:ndarray", "not a subclass"),
    ],
)
def test_make_policy_rejects_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        make_policy(spec)
