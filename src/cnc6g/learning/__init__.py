"""HMARL, seed 002's hierarchical multi-agent learning orchestrator, and its ablations.

- :mod:`cnc6g.learning.executor`: the knobs the agents set and the executor that turns them
  into feasible decisions (pure NumPy, batched over copies);
- :mod:`cnc6g.learning.features`: observations and the decomposition of the objective;
- :mod:`cnc6g.learning.agents`: the learners (branched double DQN, DDPG) in PyTorch;
- :mod:`cnc6g.learning.hmarl`: the agents of the hierarchy and of the two ablations;
- :mod:`cnc6g.learning.trainer`: training on batched twins at every load, with validation;
- :mod:`cnc6g.learning.checkpoint`: checkpoints, and the ones shipped with the package;
- :mod:`cnc6g.learning.policy`: :class:`~cnc6g.learning.policy.HMARLPolicy`.

Importing this package does not import PyTorch; the learner modules do.
"""

from cnc6g.learning.executor import LEVELS, THRESHOLDS, Knobs, execute

__all__ = ["LEVELS", "THRESHOLDS", "Knobs", "execute"]
