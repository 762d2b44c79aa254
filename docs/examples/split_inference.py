import numpy as np

from cnc6g.ai.processors import PROCESSORS, ttft_s
from cnc6g.ai.profiles import load_profile
from cnc6g.ai.split import Network, baseline, solve

vit = load_profile("vit-b16")  # a shipped per-block table
tiers = [PROCESSORS["sd8g3-cpu"], PROCESSORS["l4"], PROCESSORS["a100"]]

# 10,000 requests, each with its own uplink rate and deadline, solved at once.
rng = np.random.default_rng(0)
rates = 10 ** rng.uniform(0, 3, 10_000)  # 1 to 1,000 Mbit/s
plans = solve(
    vit,
    tiers,
    Network(uplink_mbps=rates),
    requests=rates.size,
    objective="energy",
    deadline_s=0.1,
)
local = baseline("local", vit, tiers, Network(uplink_mbps=rates), rates.size)
print(f"offloaded: {np.mean(plans.local_blocks < vit.n):.0%}")
print(
    f"terminal energy: {plans.energy_j.mean() * 1e3:.0f} mJ (all local: "
    f"{local.energy_j.mean() * 1e3:.0f} mJ)"
)
print(
    f"Llama 3.2 3B on the phone, time to first token: "
    f"{ttft_s(load_profile('llama-3.2-3b'), PROCESSORS['sd8g3-cpu']):.2f} s"
)
