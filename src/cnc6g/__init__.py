"""cnc6g: computing-network convergence orchestrator for 6G Mobile AI, and its digital twin.

The public surface: scenarios (:func:`load_scenario`), the twin (:func:`compile_scenario`,
:class:`Twin`), policies (:class:`Policy`, :func:`make_policy`) and experiments
(:func:`run_policy`, :func:`compare`).
"""

from cnc6g.experiments import RunResult, RunSummary, compare, run_policy
from cnc6g.model import Scenario
from cnc6g.model.decision import Decision, Observation
from cnc6g.orchestration import SlotLoop, make_policy
from cnc6g.policies import GreedyPolicy, Policy, RandomPolicy
from cnc6g.scenarios import ScenarioError, list_presets, load_scenario
from cnc6g.twin import SlotOutcome, System, Twin, compile_scenario

__version__ = "0.1.0"

__all__ = [
    "Decision",
    "GreedyPolicy",
    "Observation",
    "Policy",
    "RandomPolicy",
    "RunResult",
    "RunSummary",
    "Scenario",
    "ScenarioError",
    "SlotLoop",
    "SlotOutcome",
    "System",
    "Twin",
    "compare",
    "compile_scenario",
    "list_presets",
    "load_scenario",
    "make_policy",
    "run_policy",
]
