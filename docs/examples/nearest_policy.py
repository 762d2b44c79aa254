import numpy as np

from cnc6g import Decision, Policy, load_scenario, run_policy
from cnc6g.policies import usable_candidates
from cnc6g.testing import check_policy


class Nearest(Policy):
    """Every service everywhere it fits; each request to the nearest instance."""

    name = "nearest"

    def decide(self, obs):
        sy = self.system
        x = np.zeros((sy.n_services, sy.n_nodes), dtype=bool)
        free = sy.memory.copy()
        for s in np.argsort(-obs.demand.sum(axis=0)):  # most requested first
            fits = sy.can_host[s] & (free >= sy.service_memory[s])
            x[s] = fits
            free -= fits * sy.service_memory[s]
        usable = usable_candidates(sy, x)  # [O, S, K], candidates nearest first
        nearest = usable & (np.cumsum(usable, axis=-1) == 1)
        return Decision(deployment=x, routing=nearest.astype(float))


if __name__ == "__main__":
    check_policy(Nearest, load_scenario("tiny"))
    result = run_policy(Nearest(), load_scenario("paper-case-study"), slots=100)
    print(result.summary(window=50).satisfaction_rate)
