import os

import pytest
from hypothesis import settings

from cnc6g.scenarios import load_scenario
from cnc6g.twin import compile_scenario

# CI runs the property tests on a fixed set of examples, so a red run is always reproducible;
# locally they explore new examples each run.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def tiny_scenario():
    return load_scenario("tiny")


@pytest.fixture(scope="session")
def tiny_system(tiny_scenario):
    return compile_scenario(tiny_scenario)


@pytest.fixture(scope="session")
def case_scenario():
    return load_scenario("paper-case-study")


@pytest.fixture(scope="session")
def case_system(case_scenario):
    return compile_scenario(case_scenario)
