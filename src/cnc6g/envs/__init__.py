"""Reinforcement-learning environments over the twin (thin shells; the twin stays pure)."""

from cnc6g.envs.central import CentralEnv
from cnc6g.envs.decode import action_size, decode_action
from cnc6g.envs.domains import DomainsEnv, decompose_reward

__all__ = ["CentralEnv", "DomainsEnv", "action_size", "decode_action", "decompose_reward"]
