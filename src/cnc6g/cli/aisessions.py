"""``cnc6g aisessions``: inference sessions in the twin's cells, re-decided slot by slot."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table

from cnc6g.ai.offload import PRIVACY, Privacy
from cnc6g.ai.processors import PROCESSORS
from cnc6g.ai.profiles import profile_names
from cnc6g.cli.common import ScenarioOpt, SeedOpt, build_policy, load, out_console, progress
from cnc6g.experiments.ai_sessions import (
    SMOOTHING,
    STREAM_MIXES,
    SessionConfig,
    coupling_summary,
    drop_report,
    run_sessions,
    stream_rows,
    window_rows,
)
from cnc6g.orchestration import BUILTIN


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def aisessions_cmd(
    scenario: ScenarioOpt = "paper-case-study-calibrated",
    policy: Annotated[
        str, typer.Option("--policy", "-p", help=f"{', '.join(BUILTIN)} or package.module:Class")
    ] = "grd",
    model: Annotated[str, typer.Option("--model", help="model profile of the sessions")] = (
        "whisper-base"
    ),
    sessions: Annotated[int, typer.Option("--sessions", help="inference sessions", min=1)] = 200,
    slots: Annotated[int, typer.Option("--slots", help="slots to simulate", min=1)] = 60,
    seed: SeedOpt = 0,
    drop_at: Annotated[
        int | None,
        typer.Option("--drop-at", help="slot from which --drop-cell's uplink is ten times lower"),
    ] = None,
    drop_cell: Annotated[
        str | None,
        typer.Option("--drop-cell", help="terminal domain whose uplink drops (default: the first)"),
    ] = None,
    privacy: Annotated[
        str, typer.Option("--privacy", help="device, operator or any: where the data may go")
    ] = "any",
    deadline_ms: Annotated[
        float, typer.Option("--deadline-ms", help="latency target of one request", min=0.001)
    ] = 300.0,
    rate: Annotated[
        float, typer.Option("--requests-per-s", help="requests of one session a second", min=1e-6)
    ] = 0.5,
    speed: Annotated[
        float, typer.Option("--speed-kmh", help="terminal speed of the mobility model", min=0.0)
    ] = 30.0,
    context_tokens: Annotated[
        int,
        typer.Option("--context-tokens", help="KV-cache tokens a session keeps at the edge", min=0),
    ] = 64,
    streams: Annotated[
        str, typer.Option("--streams", help="modal streams of each session: xr or none")
    ] = "xr",
    terminal: Annotated[str, typer.Option("--terminal", help="terminal processor")] = "sd8g3-cpu",
    edge: Annotated[str, typer.Option("--edge", help="RAN edge processor")] = "l4",
    cloud: Annotated[str, typer.Option("--cloud", help="cloud processor")] = "a100",
    window: Annotated[
        int,
        typer.Option(
            "--window", help="slots per row of the table (one row if --slots is fewer)", min=1
        ),
    ] = 10,
    coupling: Annotated[
        bool,
        typer.Option(
            "--coupling/--no-coupling",
            help="put the sessions' compute and radio load into the twin (--no-coupling: one way)",
        ),
    ] = True,
    smoothing: Annotated[
        float,
        typer.Option(
            "--smoothing",
            help="weight of the newest slot in the sessions' load on the twin (1: no average)",
        ),
    ] = SMOOTHING,
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON")] = False,
) -> None:
    """Run inference sessions in the twin's cells; each re-splits, migrates or falls back per slot.

    Every slot each session's offloading decision reads its uplink, queues and links from the
    twin under the policy; with --drop-at, one cell's uplink drops tenfold and the table says how
    its sessions reacted in the first slot whose rates carry the drop. The sessions' work and
    traffic load the twin's nodes and cells unless --no-coupling.
    """
    if model not in profile_names():
        raise typer.BadParameter(
            f"unknown model {model!r}: use one of {', '.join(profile_names())}",
            param_hint="--model",
        )
    if privacy not in PRIVACY:
        raise typer.BadParameter(
            f"unknown privacy {privacy!r}: use one of {', '.join(PRIVACY)}", param_hint="--privacy"
        )
    if streams not in STREAM_MIXES:
        raise typer.BadParameter(
            f"unknown streams {streams!r}: use one of {', '.join(STREAM_MIXES)}",
            param_hint="--streams",
        )
    for flag, name in (("--terminal", terminal), ("--edge", edge), ("--cloud", cloud)):
        if name not in PROCESSORS:
            raise typer.BadParameter(
                f"unknown processor {name!r}: use one of {', '.join(PROCESSORS)}", param_hint=flag
            )
    if drop_at is not None and not 0 <= drop_at < slots:
        raise typer.BadParameter(
            f"must be in 0..{slots - 1} (--slots {slots})", param_hint="--drop-at"
        )
    if not 0.0 < smoothing <= 1.0:
        raise typer.BadParameter(f"must be in (0, 1], got {smoothing}", param_hint="--smoothing")
    if drop_cell is not None and drop_at is None:
        raise typer.BadParameter("needs --drop-at", param_hint="--drop-cell")
    sc = load(scenario)
    origins = [d.name for d in sc.domains if d.kind.value == "terminal"]
    if drop_cell is not None and drop_cell not in origins:
        raise typer.BadParameter(
            f"unknown cell {drop_cell!r}: use one of {', '.join(origins)}", param_hint="--drop-cell"
        )
    pol = build_policy(policy, {}, scenario=sc)()
    chosen: Privacy = (
        "device" if privacy == "device" else "operator" if privacy == "operator" else "any"
    )
    config = SessionConfig(
        model=model,
        sessions=sessions,
        terminal=terminal,
        edge=edge,
        cloud=cloud,
        deadline_s=deadline_ms / 1e3,
        privacy=chosen,
        requests_per_s=rate,
        speed_kmh=speed,
        context_tokens=context_tokens,
        streams=STREAM_MIXES[streams],
    )
    label = f"{sessions} {model} sessions in {sc.name} under {pol.name}"
    with progress(slots, label, enabled=not as_json) as tick:
        run = run_sessions(
            sc,
            pol,
            config,
            slots,
            seed,
            drop_at,
            drop_cell,
            on_slot=tick,
            coupling=coupling,
            smoothing=smoothing,
        )
    rows = window_rows(run, window)
    summary = coupling_summary(run)
    drop = drop_report(run, window)
    modal = stream_rows(run)
    if as_json:
        data: dict[str, Any] = {
            "scenario": run.scenario,
            "policy": run.policy,
            "seed": seed,
            "config": {k: v for k, v in asdict(config).items() if k != "streams"},
            "streams": streams,
            "windows": rows,
            "drop": drop,
            "modal": modal,
            "coupling": {**summary, "smoothing": smoothing},
        }
        typer.echo(json.dumps(data, allow_nan=False))
        return
    table = Table(
        title=f"{label} (seed {seed}, {config.deadline_s * 1e3:g} ms deadline)",
        caption="local / split / remote: share of sessions whose plan keeps every block on the "
        "terminal, some, none; met: deadline met; HO: handovers; J: terminal energy",
        collapse_padding=True,
    )
    for col in ("slots", "local", "split", "remote", "met", "HO", "migr.", "fallb.", "resplit"):
        table.add_column(col, justify="right")
    table.add_column("J", justify="right")
    for r in rows:
        table.add_row(
            f"{r['first_slot']}-{r['last_slot']}",
            _pct(r["local"]),
            _pct(r["split"]),
            _pct(r["offloaded"]),
            _pct(r["deadline_met"]),
            str(r["handovers"]),
            str(r["migrations"]),
            str(r["fallbacks"]),
            str(r["resplits"]),
            f"{r['terminal_energy_j']:.0f}",
        )
    out_console.print(table)
    out_console.print(
        f"{'coupled' if coupling else 'one way'}: the twin's tasks "
        f"{_pct(summary['twin_satisfied'])} satisfied, {summary['twin_energy_j'] / 1e3:.1f} kJ; "
        f"sessions local {_pct(summary['local'])}, deadline met {_pct(summary['deadline_met'])}, "
        f"local share's mean change per slot {_pct(summary['local_swing'])}; "
        f"sessions' compute on the twin {summary['background_gcps']:.1f} Gc/s",
        highlight=False,
    )
    if drop is not None:
        out_console.print(
            f"uplink of {drop['cell']} / 10 at slot {drop['drop_at']}; first slot with the "
            f"dropped rate {drop['first_slot']} "
            f"({drop.get('cell_uplink_before_mbps', 0):.1f} -> "
            f"{drop.get('cell_uplink_after_mbps', 0):.1f} Mbit/s): "
            f"{drop['affected']} sessions used the uplink, {drop['resplit']} re-split, "
            f"{drop['fell_back']} fell back, {drop['kept']} kept their plan; deadline met in "
            f"the cell {_pct(drop.get('deadline_met_before'))} before, "
            f"{_pct(drop.get('deadline_met_after'))} after; sessions elsewhere that changed "
            f"plan that slot: {drop.get('others_changed', 0)} of {drop.get('others', 0)}",
            highlight=False,
        )
    if modal:
        streams_table = Table(title="modal streams within budget", collapse_padding=True)
        for col in ("stream", "priority", "best effort"):
            streams_table.add_column(col, justify="right")
        if drop is not None:
            for col in ("drop cell after: priority", "best effort"):
                streams_table.add_column(col, justify="right")
        for m, row in enumerate(modal):
            cells = [row["stream"], _pct(row["priority"]), _pct(row["best_effort"])]
            if drop is not None and "streams_after" in drop:
                after = drop["streams_after"][m]
                cells += [_pct(after["priority"]), _pct(after["best_effort"])]
            streams_table.add_row(*cells)
        out_console.print(streams_table)
