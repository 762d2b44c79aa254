"""QoAIS re-planning: the re-planner acts on missed QoAIS, stays feasible and gives back."""

import json
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from cnc6g.ai.qoais import Resource, evaluate
from cnc6g.cli.main import app
from cnc6g.experiments.qoais import default_qoais, measure, run_qoais
from cnc6g.orchestration.loop import SlotLoop
from cnc6g.orchestration.qoais import QoAISReplanner, ServiceTimes, _Lever, budgets
from cnc6g.policies import GreedyPolicy, RandomPolicy, feasibility_problems
from cnc6g.scenarios import load_scenario
from cnc6g.twin import Twin, compile_scenario


def _success(windows, service):
    out = []
    for w in windows:
        r = next(r for r in w.reports[service] if r.indicator == "deadline_success")
        out.append(float(r.measured))
    return out


def test_replanning_raises_the_share_within_deadline_of_a_missing_service():
    sc = load_scenario("tiny").at_load(1.0)
    plain = run_qoais(GreedyPolicy(), sc, 60, 10, seed=0)
    replanned = run_qoais(GreedyPolicy(), sc, 60, 10, seed=0, replan=True)
    # The first window is the same run (nothing re-planned yet); svc00 misses 95 % under GRD.
    assert _success(plain, "svc00")[0] == pytest.approx(_success(replanned, "svc00")[0])
    assert max(_success(plain, "svc00")) < 0.9
    later_plain = np.mean(_success(plain, "svc00")[1:])
    later_replanned = np.mean(_success(replanned, "svc00")[1:])
    assert later_replanned > later_plain + 0.1
    assert not any(w.actions for w in plain)
    first = replanned[0].actions
    assert any(a.service == "svc00" and a.change == "added" for a in first)
    assert all(a.window == 0 for a in first)
    assert replanned[0].levers["svc00"][0][0] in ("computing", "connection")


def test_replanned_decisions_stay_feasible_under_any_policy():
    sc = load_scenario("tiny").at_load(1.5)
    system = compile_scenario(sc)
    for policy in (GreedyPolicy(), RandomPolicy()):
        planner = QoAISReplanner(default_qoais(system))
        loop = SlotLoop(Twin(system, seed=2), policy, 2, adjust=planner.adjust)
        buffer = []
        req = default_qoais(system)
        acted = 0
        for record in loop.run(40):
            assert feasibility_problems(system, record.decision) == []
            buffer.append(record)
            if len(buffer) == 10:
                measured = measure(system, buffer)
                reports = {n: evaluate(req[n], measured[n]) for n in req}
                acted += len(planner.observe(system, buffer, reports))
                buffer = []
        assert acted > 0, policy.name


def test_adjust_moves_shares_onto_the_lever_without_passing_memory_or_row_sums():
    system = compile_scenario(load_scenario("tiny"))
    planner = QoAISReplanner(default_qoais(system))
    loop = SlotLoop(Twin(system, seed=0), GreedyPolicy(), 0)
    decision = loop.step().decision
    s = 0
    target = next(
        int(n)
        for n in np.flatnonzero(system.can_host[s])
        if not decision.deployment[s, n]
        and ((system.candidates == n) & system.candidate_valid & system.admissible[:, s, :]).any()
    )
    planner._levers[s] = [_Lever(Resource.COMPUTING, target, 0.5, False)]
    adjusted = planner.adjust(system, decision)
    assert feasibility_problems(system, adjusted) == []
    assert adjusted.deployment[s, target]
    rows_before = np.asarray(decision.routing).sum(axis=-1)
    rows_after = adjusted.routing.sum(axis=-1)
    assert np.allclose(rows_before, rows_after)
    onto = (system.candidates == target) & system.candidate_valid & system.admissible[:, s, :]
    o = int(np.flatnonzero(onto.any(axis=1) & (rows_before[:, s] > 0))[0])
    k = int(np.argmax(onto[o]))
    before = decision.routing[o, s]
    assert adjusted.routing[o, s, k] == pytest.approx(before[k] + 0.5 * (before.sum() - before[k]))
    # A node with no memory left gets no instance and no share.
    full = system.memory.copy()
    full[target] = 0.0
    again = planner.adjust(replace(system, memory=full), decision)
    assert not again.deployment[s, target]
    assert np.array_equal(again.routing, np.asarray(decision.routing))


def test_a_lever_is_relaxed_and_removed_once_the_service_recovers():
    sc = load_scenario("tiny").at_load(1.0)
    planner = QoAISReplanner(default_qoais(compile_scenario(sc)), relax_windows=1)
    windows = run_qoais(GreedyPolicy(), sc, 60, 10, seed=0, replan=planner)
    changes = [(a.service, a.change) for w in windows for a in w.actions]
    removed = [name for name, change in changes if change == "removed"]
    assert removed
    name = removed[0]
    added_at = next(i for i, w in enumerate(windows) if any(a.service == name for a in w.actions))
    gone_at = next(
        i
        for i, w in enumerate(windows)
        if any(a.service == name and a.change == "removed" for a in w.actions)
    )
    assert gone_at > added_at
    assert name not in windows[gone_at].levers or all(
        share > 0 for _, _, share in windows[gone_at].levers[name]
    )
    # The service met its QoAIS in the window that gave the lever back.
    report = windows[gone_at].reports[name]
    assert all(
        r.status != "missed"
        for r in report
        if r.indicator in ("availability", "deadline_success", "response_time_s")
    )
    assert planner.actions == [a for w in windows for a in w.actions]


def test_budgets_come_from_the_decomposition():
    system = compile_scenario(load_scenario("tiny"))
    req = default_qoais(system)["svc00"]
    proc, net = budgets(req, 0.25)
    deadline = float(req.targets["response_time_s"])
    assert proc == pytest.approx(0.25 * deadline)
    assert net == pytest.approx(0.75 * deadline)


def test_bad_settings_are_rejected_by_name():
    system = compile_scenario(load_scenario("tiny"))
    req = default_qoais(system)
    for kwargs, name in (
        ({"step": 0.0}, "step"),
        ({"max_share": 1.5}, "max_share"),
        ({"max_levers": 0}, "max_levers"),
        ({"relax_windows": 0}, "relax_windows"),
        ({"compute_share": 1.0}, "compute_share"),
        ({"worse_by": -0.1}, "worse_by"),
    ):
        with pytest.raises(ValueError, match=name):
            QoAISReplanner(req, **kwargs)
    with pytest.raises(ValueError, match="replan"):
        run_qoais(GreedyPolicy(), load_scenario("tiny"), 10, 10, replan="yes")  # type: ignore[arg-type]


def test_the_cli_replans_and_rejects_bad_flags():
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    args = ["qoais", "-s", "tiny", "--slots", "30", "--window", "10", "--load", "1.0"]
    shown = runner.invoke(app, [*args, "--replan"])
    assert shown.exit_code == 0, shown.output
    assert "Re-planning actions" in shown.output
    assert "Energy over the run" in shown.output
    assert "windows missed, all services" in shown.output
    as_json = runner.invoke(app, [*args, "--replan", "--relax-windows", "1", "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data[0]["actions"]
    assert {"service", "resource", "change", "node", "share", "reason"} <= set(
        data[0]["actions"][0]
    )
    plain = json.loads(runner.invoke(app, [*args, "--json"]).output)
    assert all(not w["actions"] and not w["levers"] for w in plain)
    bad = runner.invoke(app, [*args, "--relax-windows", "2"])
    assert bad.exit_code == 2
    assert "--relax-windows" in bad.output
    assert "--replan" in bad.output
    zero = runner.invoke(app, [*args, "--replan", "--relax-windows", "0"])
    assert zero.exit_code == 2
    assert "--relax-windows" in zero.output


def test_the_decomposition_picks_the_lever():
    blame = QoAISReplanner._blame
    split = (0.1, 0.1)  # processing and transfer budgets, s
    resource, why, overload = blame({"deadline_success"}, ServiceTimes(0.05, 0.15), split)
    assert resource is Resource.CONNECTION
    assert "transfer" in why
    assert not overload
    resource, why, _ = blame({"response_time_s"}, ServiceTimes(0.2, 0.09), split)
    assert resource is Resource.COMPUTING
    assert "processing" in why
    resource, _, overload = blame({"availability"}, ServiceTimes(0.01, 0.5), split)
    assert resource is Resource.COMPUTING
    assert overload
