"""Plug a learner of your own into HMARL's hierarchy through the PettingZoo environment.

Here the distributor is a simple epsilon-greedy bandit over the capacity level of each domain
kind; the domain agents it leaves out keep their neutral knobs.
"""

import numpy as np

from cnc6g import compile_scenario, load_scenario
from cnc6g.envs import KnobsEnv

env = KnobsEnv(compile_scenario(load_scenario("tiny")), horizon=60)
obs, infos = env.reset(seed=0)
rng = np.random.default_rng(0)
levels = env.action_space("e2e").nvec  # levels per domain kind
value = np.zeros((levels.size, levels.max()))  # running mean reward of each level
count = np.zeros_like(value)
rows = np.arange(levels.size)
while env.agents:
    explore = rng.random(levels.size) < 0.2
    action = np.where(explore, rng.integers(0, levels), value.argmax(axis=1))
    obs, rewards, terminations, truncations, infos = env.step({"e2e": action})
    count[rows, action] += 1
    value[rows, action] += (rewards["e2e"] - value[rows, action]) / count[rows, action]
print("levels the bandit prefers per domain kind:", value.argmax(axis=1))
