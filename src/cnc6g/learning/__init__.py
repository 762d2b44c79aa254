"""Training HMARL and its ablations, and their checkpoints (the layer above the policies).

- :mod:`cnc6g.learning.trainer`: training on batched twins at every load, with validation, and
  :class:`~cnc6g.learning.trainer.Retrain`, agents trained when a policy is reset;
- :mod:`cnc6g.learning.checkpoint`: checkpoints (PyTorch files), the ones shipped with the
  package, and :class:`~cnc6g.learning.checkpoint.FromCheckpoint`, agents loaded from one.

The agents, their features, rewards and executor are pure decision code and live with the
policies, in :mod:`cnc6g.policies.hmarl`; this layer gives them their trained networks.
"""

from cnc6g.learning.checkpoint import FromCheckpoint, load_agents, save_checkpoint, shipped_path
from cnc6g.learning.trainer import Retrain, TrainConfig, TrainResult, train

__all__ = [
    "FromCheckpoint",
    "Retrain",
    "TrainConfig",
    "TrainResult",
    "load_agents",
    "save_checkpoint",
    "shipped_path",
    "train",
]
