from cnc6g import compile_scenario, load_scenario
from cnc6g.envs import DomainsEnv

env = DomainsEnv(compile_scenario(load_scenario("paper-case-study")), horizon=200)
obs, infos = env.reset(seed=0)
actions = {agent: env.action_space(agent).sample() for agent in env.agents}
obs, rewards, terminations, truncations, infos = env.step(actions)
