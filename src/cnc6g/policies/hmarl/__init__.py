"""HMARL, seed 002's hierarchical multi-agent learning orchestrator, and its two ablations.

The decision code, pure and batched over copies of the system:

- :mod:`~cnc6g.policies.hmarl.executor`: the knobs the agents set and the executor that turns
  them into feasible decisions (NumPy);
- :mod:`~cnc6g.policies.hmarl.features`: what the agents observe;
- :mod:`~cnc6g.policies.hmarl.rewards`: the decomposition of the objective and the difference
  rewards the agents learn from;
- :mod:`~cnc6g.policies.hmarl.agents`: the learners (branched double DQN, DDPG) in PyTorch;
- :mod:`~cnc6g.policies.hmarl.hierarchy`: the agents of the hierarchy and of the ablations;
- :mod:`~cnc6g.policies.hmarl.policy`: :class:`HMARLPolicy`, given its trained agents by an
  :class:`AgentSource`.

Training and checkpoints are a layer above, in :mod:`cnc6g.learning`.
"""

from cnc6g.policies.hmarl.executor import LEVELS, THRESHOLDS, Execution, Knobs, execute
from cnc6g.policies.hmarl.hierarchy import MODES, Agents
from cnc6g.policies.hmarl.policy import AgentSource, HMARLPolicy, TrainedAgents
from cnc6g.policies.hmarl.rewards import RewardConfig

__all__ = [
    "LEVELS",
    "MODES",
    "THRESHOLDS",
    "AgentSource",
    "Agents",
    "Execution",
    "HMARLPolicy",
    "Knobs",
    "RewardConfig",
    "TrainedAgents",
    "execute",
]
