"""Reinforcement-learning environments over the twin (thin shells; the twin stays pure)."""

from cnc6g.envs.central import CentralEnv
from cnc6g.envs.decode import action_size, decode_action
from cnc6g.envs.domains import DomainsEnv
from cnc6g.envs.knobs import KnobsEnv

__all__ = [
    "CentralEnv",
    "DomainsEnv",
    "KnobsEnv",
    "action_size",
    "decode_action",
]
