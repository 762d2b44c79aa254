"""Where HMARL's training time goes, as ratios measured in one process.

Run with ``python -m benchmarks.hmarl_train [--steps N] [--json PATH]``.

On the case study (24 copies: 4 per load of the sweep), one training step of each mode is
broken into its parts, each timed over ``--steps`` repetitions (median):

- ``twin``: evaluating one slot of every copy in the twin with a fixed decision (the floor of
  any simulator-based training);
- ``executor``: turning the agents' knobs into decisions for every copy;
- ``act``: the agents' observations and forward passes;
- ``counterfactuals``: the difference rewards (HMARL only: five more executor and twin passes);
- ``updates``: one gradient step of every learner (batch 256).

Ratios are to the twin's slot time, so they do not depend on the machine's speed; absolute
figures (env steps/s = copies x slots per second, updates/s per learner) are printed too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from cnc6g.learning.trainer import TrainConfig
from cnc6g.model import DEFAULT_LOADS
from cnc6g.policies.hmarl.agents import LearnerConfig
from cnc6g.policies.hmarl.executor import execute
from cnc6g.policies.hmarl.hierarchy import MODES, Agents
from cnc6g.policies.hmarl.rewards import difference_rewards
from cnc6g.scenarios import load_scenario
from cnc6g.twin import Twin, compile_scenario
from cnc6g.twin.dynamics import evaluate_slot


def _median_s(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(steps: int, copies: int = 4) -> dict[str, dict[str, float]]:
    torch.set_num_threads(1)
    scenario = load_scenario("paper-case-study")
    systems = [compile_scenario(scenario.at_load(load)) for load in DEFAULT_LOADS]
    base = systems[0]
    twins = [Twin(sy, batch=copies, seed=i) for i, sy in enumerate(systems)]
    parts = [slice(i * copies, (i + 1) * copies) for i in range(len(systems))]
    demand = np.concatenate([t.demand for t in twins]).astype(float)
    up = np.concatenate([t.uplink_mbps for t in twins])
    down = np.concatenate([t.downlink_mbps for t in twins])
    previous = np.concatenate([t.deployment for t in twins])
    util = np.concatenate([t.utilisation for t in twins])
    B = demand.shape[0]
    out: dict[str, dict[str, float]] = {}
    for mode in MODES:
        agents = Agents(base, mode, LearnerConfig(), seed=0)
        rng = np.random.default_rng(0)
        acted = agents.act(demand, up, previous, util, 0.1, 0.1, rng)
        executed = execute(base, demand, up, down, previous, acted.knobs)
        x, y, idle = executed.deployment, executed.routing, executed.idle

        def twin_pass(x=x, y=y) -> None:
            for tw, p in zip(twins, parts, strict=True):
                evaluate_slot(tw.system, demand[p], up[p], down[p], x[p], previous[p], y[p])

        inputs = (demand, up, down, previous)
        counterfactuals = partial(
            difference_rewards,
            agents,
            systems,
            parts,
            inputs,
            idle,
            acted.knobs,
            executed,
            TrainConfig().rewards,
            rng,
        )
        # Fill the replay buffers so that updates run on full batches.
        for _ in range(12):
            after = agents.act(demand, up, previous, util, 0.1, 0.1, rng)
            if mode == "hmarl":
                agents.remember_differences(after, *counterfactuals())
            else:
                agents.remember(acted, after, -np.ones(B), -np.ones((B, agents.layout.n_domains)))
            acted = after
        row = {
            "twin_s": _median_s(twin_pass, steps),
            "executor_s": _median_s(
                partial(execute, base, demand, up, down, previous, acted.knobs), steps
            ),
            "act_s": _median_s(
                partial(agents.act, demand, up, previous, util, 0.1, 0.1, rng), steps
            ),
            "updates_s": _median_s(agents.update, steps),
            "learners": float(len(agents.learners)),
        }
        if mode == "hmarl":
            row["counterfactuals_s"] = _median_s(counterfactuals, steps)
        step = sum(v for k, v in row.items() if k.endswith("_s"))
        row["step_s"] = step
        row["env_steps_per_s"] = B / step
        row["updates_per_s_per_learner"] = 1.0 / (row["updates_s"] / row["learners"])
        for key in ("executor_s", "act_s", "updates_s", "counterfactuals_s", "step_s"):
            if key in row:
                row[key.replace("_s", "_x_twin")] = row[key] / row["twin_s"]
        out[mode] = row
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = measure(args.steps)
    header = (
        f"{'mode':<12} {'step ms':>8} {'env steps/s':>12} {'updates/s/learner':>18} "
        f"{'x twin: executor':>17} {'act':>5} {'counterf.':>10} {'updates':>8}"
    )
    print(header)
    for mode, r in result.items():
        print(
            f"{mode:<12} {r['step_s'] * 1e3:8.1f} {r['env_steps_per_s']:12.0f} "
            f"{r['updates_per_s_per_learner']:18.0f} {r['executor_x_twin']:17.1f} "
            f"{r['act_x_twin']:5.1f} {r.get('counterfactuals_x_twin', 0.0):10.1f} "
            f"{r['updates_x_twin']:8.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
