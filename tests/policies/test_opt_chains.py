"""OPT on services placed step by step (``place_steps``): the MILP's path columns.

On small random chains (1-2 cells, 2-3 steps, 2-4 hosting nodes, with and without steps
pinned to the terminal) the MILP's optimum equals a brute force over the plan's own objective:
every deployment and every tier of its nodes, each path's terms stated again here from the
system's arrays, and for each the linear programme over the paths' shares. On the XR preset OPT
passes the policy contract, and its decision's paths are what the plan chose.
"""

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from cnc6g.model import DomainKind, ServiceType, Stage, Workflow
from cnc6g.policies.base import feasibility_problems
from cnc6g.policies.opt import model as opt_model
from cnc6g.policies.opt.model import SlotInputs, build_model
from cnc6g.policies.opt.phases import solve_slot
from cnc6g.policies.opt.policy import OptimalPolicy
from cnc6g.scenarios import load_scenario
from cnc6g.scenarios.synthetic import synthetic_scenario
from cnc6g.twin import Twin, compile_scenario
from cnc6g.twin.chains import hypoexp_cdf, internode
from cnc6g.twin.system import wired_s_per_mbit

TIERS = (0.5,)
NET = 0.8  # the plan's network utilisation


def _chain_system(seed):
    rng = np.random.default_rng(seed)
    n_cells = int(rng.integers(1, 3))
    base = synthetic_scenario("chains", n_cells=n_cells, n_services=1, seed=seed)
    n = int(rng.integers(2, 4))
    pins = rng.random() < 0.5
    stages = [
        Stage(
            name=f"s{q}",
            compute_gcycles=float(rng.uniform(0.05, 0.8)),
            after=[] if q == 0 else [f"s{q - 1}"],
            output_mbit=float(rng.uniform(0.0, 2.0)),
            pin_to_terminal=bool(pins and q == 0),
        )
        for q in range(n)
    ]
    kinds = [DomainKind.TERMINAL, DomainKind.RAN]
    svc = ServiceType(
        name="chain",
        input_mbit=float(rng.uniform(0.1, 1.0)),
        output_mbit=float(rng.uniform(0.1, 1.0)),
        memory_gb=float(rng.uniform(0.5, 2.0)),
        deadline_ms=float(rng.uniform(60.0, 300.0)),
        cold_start_ms=float(rng.uniform(100.0, 800.0)),
        tiers=kinds,
        workflow=Workflow(stages=stages),
        place_steps=True,
    )
    data = base.model_dump()
    data["services"] = [svc.model_dump()]
    system = compile_scenario(type(base).model_validate(data))
    O = system.n_origins
    inputs = SlotInputs(
        demand=rng.integers(2, 25, size=(O, 1)).astype(float),
        uplink_mbps=rng.uniform(20.0, 120.0, O),
        downlink_mbps=rng.uniform(40.0, 200.0, O),
        previous=(rng.random((1, system.n_nodes)) < 0.4) & system.can_host,
    )
    return system, inputs


def _paths_by_hand(system, inputs, levels):
    """Every path of the one chain service: its cost terms, restated from the system's arrays."""
    sy = system
    spec = sy.chains
    inter = internode(sy)
    wired = wired_s_per_mbit(sy)
    slow = 1.0 / (1.0 - NET)
    beta = sy.unsatisfied_penalty_j
    dyn = (sy.peak_power - sy.idle_power) / sy.capacity
    n = int(spec.n_steps[0])
    work = spec.step_work[0, :n]
    sizes = [sy.input_mbit[0]] + [spec.mbit[0, q + 1] for q in range(n)]  # transfers in order
    K, L = sy.n_candidates, sy.n_links
    out = []
    for o in range(sy.n_origins):
        lam = inputs.demand[o, 0]
        ok = sy.candidate_valid[o] & sy.admissible[o, 0]
        options = [
            [
                k
                for k in range(K)
                if ok[k] and (sy.candidate_local[o, k] or not spec.step_pinned[0, q])
            ]
            for q in range(n)
        ]
        for ks in itertools.product(*options):
            ends = [None, *ks, None]  # None: the terminal
            time = energy = up = down = 0.0
            links = np.zeros((2, L))
            for (ka, kb), m in zip(itertools.pairwise(ends), sizes, strict=True):
                if ka == kb:
                    continue
                la = ka is None or sy.candidate_local[o, ka]
                lb = kb is None or sy.candidate_local[o, kb]
                da = 0.0 if ka is None else sy.candidate_delay_s[o, ka]
                db = 0.0 if kb is None else sy.candidate_delay_s[o, kb]
                if la and lb:
                    time += da + db
                elif la:  # up to the network
                    time += db + m * (1 / inputs.uplink_mbps[o] + wired[o, kb]) * slow
                    energy += m * (sy.tx_power[o] / inputs.uplink_mbps[o])
                    energy += m * sy.candidate_j_per_mbit[o, kb]
                    up += m
                    for li in sy.path_links[o * K + kb]:
                        if li < L:
                            links[0, li] += m
                elif lb:  # back to the terminal
                    time += da + m * (1 / inputs.downlink_mbps[o] + wired[o, ka]) * slow
                    energy += m * (sy.bs_j_per_mbit[o] + sy.candidate_j_per_mbit[o, ka])
                    down += m
                    for li in sy.path_links[o * K + ka]:
                        if li < L:
                            links[1, li] += m
                else:  # between network nodes
                    na, nb = sy.candidates[o, ka], sy.candidates[o, kb]
                    hops = [li for li in inter.links[na, nb] if li < L]
                    time += inter.delay_s[na, nb]
                    time += m * sum(1 / sy.link_capacity[li] for li in hops) * slow
                    energy += m * inter.j_per_mbit[na, nb]
                    for li in hops:
                        links[int(db < da), li] += m
            slack = sy.deadline_s[0] - time
            if slack <= 0:
                continue
            nodes = [int(sy.candidates[o, k]) for k in ks]
            energy += sum(dyn[nd] * w for nd, w in zip(nodes, work, strict=True))
            load = np.zeros(sy.n_nodes)
            for nd, w in zip(nodes, work, strict=True):
                load[nd] += lam * w / sy.slot_s
            starts = any(not inputs.previous[0, nd] for nd in nodes)
            cold = min(sy.cold_start_s[0] / sy.slot_s, 1.0) if starts else 0.0
            head = np.array(
                [sy.capacity[nd] / sy.devices[nd] / w for nd, w in zip(nodes, work, strict=True)]
            )
            fail = [
                1.0
                - hypoexp_cdf(((1 - t) * head)[None], np.ones((1, n), bool), np.array([slack]))[0]
                for t in levels
            ]
            out.append(
                {
                    "o": o,
                    "nodes": set(nodes),
                    "steps": ks,
                    "load": load,
                    "up": lam * up,
                    "down": lam * down,
                    "links": lam * links,
                    "cost": [lam * (energy + beta * cold + beta * (1 - cold) * f) for f in fail],
                }
            )
    return out


def _brute_force(system, inputs):
    """The plan's optimum: every deployment and tiers of its nodes, then an LP over the paths."""
    sy = system
    tau, beta = sy.slot_s, sy.unsatisfied_penalty_j
    rho = sy.admission_utilisation
    levels = np.array([rho, *sorted((t for t in TIERS if t < rho), reverse=True)])
    paths = _paths_by_hand(sy, inputs, levels)
    hosts = np.flatnonzero(sy.can_host[0])
    O = sy.n_origins
    base = (
        tau * sy.idle_power[~sy.can_sleep].sum()
        + tau * np.nan_to_num(sy.sleep_power)[sy.can_sleep].sum()
    )
    best = np.inf
    for on in itertools.product([False, True], repeat=hosts.size):
        x = hosts[np.array(on, dtype=bool)]
        if any(sy.service_memory[0] > sy.memory[nd] for nd in x):
            continue
        fixed = base + sum(
            tau * sy.instance_power[0]
            + (0.0 if inputs.previous[0, nd] else sy.instantiation_energy[0])
            for nd in x
        )
        fixed += sum(tau * (sy.idle_power[nd] - sy.sleep_power[nd]) for nd in x if sy.can_sleep[nd])
        usable = [p for p in paths if p["nodes"] <= set(x.tolist())]
        for tiers in itertools.product(range(levels.size), repeat=x.size):
            level = dict(zip(x.tolist(), tiers, strict=True))
            M = len(usable)
            c = [p["cost"][min(level[nd] for nd in p["nodes"])] for p in usable]
            c += [beta * inputs.demand[o, 0] for o in range(O)]
            a_eq = np.zeros((O, M + O))
            for j, p in enumerate(usable):
                a_eq[p["o"], j] = 1.0
            a_eq[np.arange(O), M + np.arange(O)] = 1.0
            rows, rhs = [], []
            for nd in x.tolist():
                rows.append([p["load"][nd] for p in usable] + [0.0] * O)
                rhs.append(levels[level[nd]] * sy.capacity[nd])
            for o in range(O):
                rows.append([p["up"] * (p["o"] == o) for p in usable] + [0.0] * O)
                rhs.append(NET * inputs.uplink_mbps[o] * tau)
                rows.append([p["down"] * (p["o"] == o) for p in usable] + [0.0] * O)
                rhs.append(NET * inputs.downlink_mbps[o] * tau)
            for d, li in itertools.product(range(2), range(sy.n_links)):
                rows.append([p["links"][d, li] for p in usable] + [0.0] * O)
                rhs.append(NET * sy.link_capacity[li] * tau)
            res = linprog(
                c,
                A_ub=np.array(rows) if rows else None,
                b_ub=np.array(rhs) if rows else None,
                A_eq=a_eq,
                b_eq=np.ones(O),
                bounds=(0.0, 1.0),
                method="highs",
            )
            assert res.status == 0
            best = min(best, fixed + res.fun)
    return best


@pytest.mark.parametrize("seed", range(8))
def test_milp_optimum_equals_brute_force_on_small_chains(seed, monkeypatch):
    # Every node that saves at all takes tier columns (the brute force lets every node tier).
    monkeypatch.setattr(opt_model, "MATERIAL", 0.0)
    system, inputs = _chain_system(seed)
    assert 2 <= int(system.can_host.sum()) <= 4
    solution = solve_slot(system, inputs, tiers=TIERS, mip_rel_gap=0.0, time_limit=60.0)
    assert solution.status == "Optimal"
    assert solution.objective == pytest.approx(_brute_force(system, inputs), rel=1e-6)
    d = solution.decision
    assert feasibility_problems(system, d) == []
    built = build_model(system, inputs, TIERS)
    assert built.paths is not None
    assert built.paths.size > 0


def test_the_decision_sends_the_plan_s_shares_along_the_plan_s_paths():
    system, inputs = _chain_system(3)
    solution = solve_slot(system, inputs, tiers=TIERS, mip_rel_gap=0.0)
    d = solution.decision
    assert d.paths is not None
    assert d.path_shares is not None
    spec = system.chains
    assert d.path_shares.sum() > 0
    for o in range(system.n_origins):
        sent = d.path_shares[o, 0].sum()
        assert sent <= 1.0 + 1e-9
        for p in np.flatnonzero(d.path_shares[o, 0] > 0):
            steps = d.paths[o, 0, p, : spec.n_steps[0]]
            assert (steps >= 0).all()
            assert d.deployment[0, system.candidates[o, steps]].all()
            for q in np.flatnonzero(spec.step_pinned[0, : spec.n_steps[0]]):
                assert system.candidate_local[o, steps[q]]


@pytest.mark.parametrize("seed", range(12))
def test_every_path_column_has_the_terms_stated_by_hand(seed):
    """Each path column's cost at each tier, its nodes' work, radio and link bits, by hand."""
    system, inputs = _chain_system(seed)
    built = build_model(system, inputs, TIERS)
    rho = system.admission_utilisation
    levels = np.array([rho, *TIERS])
    hand = {(p["o"], p["steps"]): p for p in _paths_by_hand(system, inputs, levels)}
    pp = built.paths
    assert pp is not None
    assert pp.size == len(hand)
    m = built.model
    m.to_lp(relax=True)
    costs = m.slot_costs
    start, cols, vals = m.rows_csr
    tau, O, L = system.slot_s, system.n_origins, system.n_links
    n = int(system.chains.n_steps[0])
    lam = inputs.demand[pp.origin, 0]
    for i in range(pp.size):
        p = hand[int(pp.origin[i]), tuple(int(k) for k in pp.steps[i, :n])]
        col = built.path_cols[i]
        assert costs[col] == pytest.approx(p["cost"][0], rel=1e-9, abs=1e-9)
        entries = {}
        for r in range(m.n_rows):
            hit = np.flatnonzero(cols[start[r] : start[r + 1]] == col)
            if hit.size:
                entries[r] = vals[start[r] + hit[0]]
        load_rows = built.row_starts["_load_rows"]
        load = np.array([-entries.get(load_rows + nd, 0.0) for nd in range(system.n_nodes)])
        np.testing.assert_allclose(load * tau, p["load"] * tau, rtol=1e-9, atol=1e-12)
        radio = built.row_starts["_radio_rows"]
        assert entries.get(radio + p["o"], 0.0) == pytest.approx(p["up"], rel=1e-9, abs=1e-12)
        assert entries.get(radio + O + p["o"], 0.0) == pytest.approx(p["down"], rel=1e-9, abs=1e-12)
        if L:
            wired = built.row_starts["_wired_rows"]
            got = np.array(
                [[entries.get(wired + d * L + li, 0.0) for li in range(L)] for d in range(2)]
            )
            np.testing.assert_allclose(got, p["links"], rtol=1e-9, atol=1e-12)
        assert lam[i] > 0


def test_opt_places_xr_frame_along_paths_once_a_path_can_meet_its_deadline():
    """At the preset's 20 ms no path of xr-frame can; at 150 ms OPT sends it along paths."""
    scenario = load_scenario("xr-offload")
    data = scenario.model_dump()
    for svc in data["services"]:
        if svc["name"] == "xr-frame":
            svc["deadline_ms"] = 150.0
    system = compile_scenario(type(scenario).model_validate(data))
    twin = Twin(system, seed=0)
    policy = OptimalPolicy(node_limit=20, time_limit=60.0)
    policy.reset(system, 0)
    d = policy.decide(twin.observe())
    assert feasibility_problems(system, d) == []
    assert d.path_shares is not None
    assert d.path_shares[:, 0].sum(axis=-1).min() > 0.5
    out = twin.step(d)
    assert out.chains is not None
    assert out.chains.satisfied.sum() > 0
