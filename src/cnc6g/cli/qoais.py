"""``cnc6g qoais``: each service's QoAIS evaluated on the twin, window by window."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from cnc6g.ai.qoais import IndicatorReport, ts28105_gaps
from cnc6g.cli.common import ScenarioOpt, SeedOpt, build_policy, load, out_console, progress
from cnc6g.experiments.qoais import QoAISWindow, default_qoais, run_qoais
from cnc6g.model import MAX_LOAD
from cnc6g.orchestration import BUILTIN
from cnc6g.orchestration.qoais import QoAISReplanner
from cnc6g.twin import compile_scenario


def qoais_cmd(
    scenario: ScenarioOpt = "paper-case-study",
    policy: Annotated[
        str, typer.Option("--policy", "-p", help=f"{', '.join(BUILTIN)} or package.module:Class")
    ] = "grd",
    slots: Annotated[int, typer.Option("--slots", help="slots to simulate", min=1)] = 200,
    window: Annotated[int, typer.Option("--window", help="slots per QoAIS evaluation", min=1)] = 20,
    drift_windows: Annotated[
        int,
        typer.Option(
            "--drift-windows", help="missed windows in a row that open a re-training", min=1
        ),
    ] = 3,
    seed: SeedOpt = 0,
    load_value: Annotated[
        float | None,
        typer.Option(
            "--load", help="offered load L; default: the scenario's", min=0.01, max=MAX_LOAD
        ),
    ] = None,
    top: Annotated[
        int, typer.Option("--top", help="services shown, the most often missed first", min=1)
    ] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print every window as JSON")] = False,
    replan: Annotated[
        bool,
        typer.Option(
            "--replan",
            help="act on missed QoAIS: more computing or a closer node for the service in the "
            "next windows, given back once it recovers",
        ),
    ] = False,
    relax_windows: Annotated[
        int | None,
        typer.Option(
            "--relax-windows",
            help="with --replan: windows met in a row before a re-planned resource is given "
            "back (default 2)",
            min=1,
        ),
    ] = None,
) -> None:
    """Evaluate each service's QoAIS (seed 001) per window of a run, with its lifecycle."""
    if window > slots:
        raise typer.BadParameter(f"must not exceed --slots ({slots})", param_hint="--window")
    if relax_windows is not None and not replan:
        raise typer.BadParameter("only with --replan", param_hint="--relax-windows")
    sc = load(scenario)
    if load_value is not None:
        sc = sc.at_load(load_value)
    pol = build_policy(policy, {}, scenario=sc)()
    planner: QoAISReplanner | bool = False
    if replan:
        planner = QoAISReplanner(
            default_qoais(compile_scenario(sc)), relax_windows=relax_windows or 2
        )
    with progress(slots, f"QoAIS of {sc.name} under {pol.name}", enabled=not as_json) as tick:
        windows = run_qoais(
            pol,
            sc,
            slots,
            window,
            seed,
            drift_windows=drift_windows,
            on_slot=tick,
            replan=planner,
        )
    if as_json:
        data = [
            {
                "first_slot": w.first_slot,
                "last_slot": w.last_slot,
                "retraining": w.retraining,
                "replan": w.replan,
                "energy_j": w.energy_j,
                "actions": [
                    {
                        "service": a.service,
                        "resource": a.resource.value,
                        "change": a.change,
                        "node": a.node,
                        "share": a.share,
                        "reason": a.reason,
                    }
                    for a in w.actions
                ],
                "levers": {
                    name: [{"resource": r, "node": n, "share": s} for r, n, s in levers]
                    for name, levers in w.levers.items()
                },
                "services": {
                    name: [
                        {
                            "indicator": r.indicator,
                            "dimension": r.dimension.value,
                            "target": r.target,
                            "measured": r.measured,
                            "status": r.status,
                        }
                        for r in reports
                    ]
                    for name, reports in w.reports.items()
                },
            }
            for w in windows
        ]
        typer.echo(json.dumps(data, allow_nan=False))
        return
    missed: dict[str, int] = {}
    for w in windows:
        for name, reports in w.reports.items():
            missed[name] = missed.get(name, 0) + any(r.status == "missed" for r in reports)
    last = windows[-1]

    def success(name: str) -> float:
        r = next((r for r in last.reports[name] if r.indicator == "deadline_success"), None)
        return 2.0 if r is None or r.measured is None else float(r.measured)

    def ask(w: QoAISWindow, name: str) -> bool:
        return any(
            r.indicator == "deadline_success" and r.measured is not None for r in w.reports[name]
        )

    def mean_success(name: str) -> float:
        got = [
            float(r.measured)
            for w in windows
            for r in w.reports[name]
            if r.indicator == "deadline_success" and r.measured is not None
        ]
        return sum(got) / max(len(got), 1)

    order = sorted(last.reports, key=lambda n: (-missed.get(n, 0), success(n)))
    table = Table(
        title=f"QoAIS under {pol.name.upper()} on {sc.name}: slots {last.first_slot}-"
        f"{last.last_slot} (last window of {len(windows)})"
    )
    for col in ("service", "within deadline", "served", "response ms (target)", "privacy"):
        table.add_column(col, justify="left" if col in ("service", "privacy") else "right")
    table.add_column("windows missed", justify="right")
    table.add_column("mean within deadline", justify="right")
    table.add_column("re-plan", justify="left")
    for name in order[:top]:
        got = {r.indicator: r for r in last.reports[name]}

        def cell(key: str, got: dict[str, IndicatorReport] = got) -> str:
            r = got.get(key)
            if r is None or r.measured is None:
                return "-"
            mark = "" if r.status == "met" else " [red]x[/red]"
            return f"{float(r.measured) * 100:.1f} %{mark}"

        rt = got.get("response_time_s")
        response = "-"
        if rt is not None and rt.measured is not None:
            mark = "" if rt.status == "met" else " [red]x[/red]"
            response = f"{float(rt.measured) * 1e3:.0f} ({float(rt.target) * 1e3:.0f}){mark}"
        privacy = got.get("data_privacy")
        table.add_row(
            name,
            cell("deadline_success"),
            cell("availability"),
            response,
            "-"
            if privacy is None
            else f"{privacy.measured}" + ("" if privacy.status == "met" else " [red]x[/red]"),
            f"{missed.get(name, 0)}/{len(windows)}",
            f"{mean_success(name) * 100:.1f} %",
            ", ".join(last.replan.get(name, [])) or "-",
        )
    out_console.print(table)
    energy = sum(w.energy_j for w in windows)
    names = list(last.reports)
    asked = [n for n in names if any(ask(w, n) for w in windows)]  # services with tasks
    mean_all = sum(mean_success(n) for n in asked) / max(len(asked), 1)
    out_console.print(
        f"Energy over the run: {energy / 1e3:.1f} kJ; windows missed, all services: "
        f"{sum(missed.get(n, 0) for n in names)}/{len(names) * len(windows)}; mean within "
        f"deadline over the services: {mean_all * 100:.1f} %",
        highlight=False,
    )
    if replan:
        acts = Table(title="Re-planning actions (applied from the next window)")
        for col in ("window", "slots", "service", "resource", "change", "node", "share", "why"):
            acts.add_column(col, justify="right" if col in ("window", "share") else "left")
        for i, w in enumerate(windows):
            for a in w.actions:
                acts.add_row(
                    str(i),
                    f"{w.first_slot}-{w.last_slot}",
                    a.service,
                    a.resource.value,
                    a.change,
                    a.node or "-",
                    f"{a.share * 100:.0f} %",
                    a.reason,
                )
        if acts.row_count:
            out_console.print(acts)
        else:
            out_console.print("Re-planning: no action was needed.", highlight=False)
    out_console.print(
        "x: missed. Indicators with no TS 28.105 counterpart: " + ", ".join(ts28105_gaps()),
        highlight=False,
    )
