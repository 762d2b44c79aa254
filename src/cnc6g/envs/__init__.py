"""Reinforcement-learning environments over the twin (thin shells; the twin stays pure)."""

from cnc6g.envs.central import CentralEnv
from cnc6g.envs.decode import action_size, decode_action

__all__ = ["CentralEnv", "action_size", "decode_action"]
