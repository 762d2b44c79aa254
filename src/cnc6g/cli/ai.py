"""``cnc6g profile`` and ``cnc6g splitinfer``: model profiles and split inference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import matplotlib
import numpy as np
import typer
from rich.table import Table

from cnc6g.ai.processors import PROCESSORS, Processor
from cnc6g.ai.profiles import ModelProfile, load_profile, profile_names
from cnc6g.ai.split import (
    BASELINES,
    OBJECTIVES,
    Network,
    Objective,
    Plan,
    baseline,
    solve,
    split_points,
)
from cnc6g.cli.common import check_folder, err_console, out_console
from cnc6g.report import write_csv

matplotlib.use("Agg")
import matplotlib.pyplot as plt

NEUROSURGEON = {"latency_speedup": 3.1, "energy_reduction": 0.595}
"""Neurosurgeon's averages over its DNNs and networks against cloud-only (Kang et al., ASPLOS
2017): 3.1x lower latency, 59.5 % less mobile energy."""

SWEEP_MBPS = np.logspace(-1, 3, 41)
"""Uplink rates of ``--bandwidth-sweep``: 0.1 to 1,000 Mbit/s, ten per decade."""

TIER_NAMES = ("terminal", "edge", "cloud")


def profile_cmd(
    model: Annotated[
        str | None,
        typer.Option("--model", help="model to profile (default: all); see --list"),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="folder for the tables (NAME.json)")] = Path(
        "profiles"
    ),
    list_models: Annotated[
        bool, typer.Option("--list", help="list the models it knows and stop")
    ] = False,
) -> None:
    """Profile models built from their published configurations (no weights, no download).

    Writes one per-block table per model: FLOPs, parameter bytes, output bytes, KV-cache bytes
    per token and, for decoders, prefill and per-step decode FLOPs. The shipped tables are
    regenerated with ``--out src/cnc6g/ai/profiles``. Needs torch and transformers (the
    ``profile`` extra).
    """
    from cnc6g.ai import profiler

    if list_models:
        for name, recipe in profiler.RECIPES.items():
            out_console.print(f"{name}: {recipe.title}")
        return
    names = list(profiler.RECIPES)
    if model is not None:
        if model not in profiler.RECIPES:
            raise typer.BadParameter(
                f"unknown model {model!r}: use one of {', '.join(names)}", param_hint="--model"
            )
        names = [model]
    check_folder(out, "--out")
    table = Table(title="Model profiles (float32 tables; FLOPs of one request's passes)")
    for col in (
        "model",
        "blocks",
        "GFLOP",
        "decode GFLOP/step",
        "params (M)",
        "vs published",
        "GMAC vs published",
        "KV KiB/token",
        "file",
    ):
        table.add_column(col, justify="right")
    for name in names:
        try:
            data = profiler.profile_model(name)
        except ImportError as err:
            err_console.print(f"[red]{err}[/red]")
            raise typer.Exit(1) from None
        path = out / f"{name}.json"
        path.write_text(profiler.to_json(data), encoding="utf-8")
        table.add_row(*_profile_row(data, path))
    out_console.print(table)


def _profile_row(data: dict[str, Any], path: Path) -> list[str]:
    totals, published = data["totals"], data["published"]
    params = totals["params"]
    kv = sum(b["kv_bytes_per_token"] for b in data["blocks"])
    vs_params = (
        f"{(params / published['params'] - 1) * 100:+.2f} %" if "params" in published else "-"
    )
    macs = totals["flops"] / 2
    vs_macs = (
        f"{macs / 1e9:.2f} ({(macs / published['macs'] - 1) * 100:+.1f} %)"
        if "macs" in published
        else "-"
    )
    return [
        data["name"],
        str(len(data["blocks"])),
        f"{totals['flops'] / 1e9:,.2f}",
        f"{totals['decode_flops'] / 1e9:.3f}" if totals["decode_flops"] else "-",
        f"{params / 1e6:,.1f}",
        vs_params,
        vs_macs,
        f"{kv / 1024:.0f}" if kv else "-",
        str(path),
    ]


def _processor(name: str, flag: str) -> Processor:
    if name not in PROCESSORS:
        raise typer.BadParameter(
            f"unknown processor {name!r}: use one of {', '.join(PROCESSORS)}", param_hint=flag
        )
    return PROCESSORS[name]


def splitinfer_cmd(
    model: Annotated[str, typer.Option("--model", help="a profiled model (see cnc6g profile)")],
    bandwidth_sweep: Annotated[
        bool,
        typer.Option("--bandwidth-sweep", help="sweep the uplink from 0.1 to 1,000 Mbit/s"),
    ] = False,
    objective: Annotated[
        str, typer.Option("--objective", help="latency, or terminal energy under --deadline-ms")
    ] = "latency",
    bandwidth: Annotated[
        float, typer.Option("--bandwidth", help="uplink rate, Mbit/s", min=1e-3)
    ] = 20.0,
    deadline_ms: Annotated[
        float | None,
        typer.Option("--deadline-ms", help="energy: the latency to meet (default: none)", min=0),
    ] = None,
    terminal: Annotated[str, typer.Option("--terminal", help="terminal processor")] = "sd8g3-cpu",
    edge: Annotated[str, typer.Option("--edge", help="RAN edge processor")] = "l4",
    cloud: Annotated[str, typer.Option("--cloud", help="cloud processor")] = "a100",
    out: Annotated[Path, typer.Option("--out", help="folder for the CSV and the figure")] = Path(
        "results"
    ),
) -> None:
    """Split one request of a model along terminal -> RAN edge -> cloud, at every split point.

    Prints the latency and terminal energy of each split point and the chosen one, its gain over
    all-local and all-cloud beside Neurosurgeon's published averages, and draws them; with
    --bandwidth-sweep, the chosen split across uplink rates from 0.1 to 1,000 Mbit/s.
    """
    try:
        profile = load_profile(model)
    except KeyError:
        raise typer.BadParameter(
            f"unknown model {model!r}: use one of {', '.join(profile_names())}",
            param_hint="--model",
        ) from None
    if objective not in OBJECTIVES:
        raise typer.BadParameter(
            f"unknown objective {objective!r}: use latency or energy", param_hint="--objective"
        )
    if deadline_ms is not None and objective != "energy":
        raise typer.BadParameter("applies to --objective energy only", param_hint="--deadline-ms")
    obj: Objective = "energy" if objective == "energy" else "latency"
    tiers = [
        _processor(terminal, "--terminal"),
        _processor(edge, "--edge"),
        _processor(cloud, "--cloud"),
    ]
    deadline = np.inf if deadline_ms is None else deadline_ms / 1e3
    check_folder(out, "--out")
    setup = (
        f"{profile.table.title} on {terminal} -> {edge} -> {cloud}; downlink "
        f"{Network().downlink_mbps:g} Mbit/s, wired {Network().wired_mbps:g} Mbit/s, delays "
        f"{Network().radio_delay_s * 1e3:g} + {Network().wired_delay_s * 1e3:g} ms one way"
    )
    rows: list[dict[str, Any]] = []
    if bandwidth_sweep:
        rows = _sweep(profile, tiers, obj, deadline, setup, out)
    else:
        rows = _points(profile, tiers, obj, deadline, bandwidth, setup, out)
    csv = write_csv(out / f"splitinfer-{model}.csv", rows)
    out_console.print(f"table: {csv}; figure: {out / f'splitinfer-{model}.png'}")


def _cut_label(profile: ModelProfile, a: int) -> str:
    if a == 0:
        return "before " + profile.names[0]
    if a == profile.n:
        return "all on terminal"
    return "after " + profile.names[a - 1]


def _points(
    profile: ModelProfile,
    tiers: list[Processor],
    objective: Objective,
    deadline: float,
    bandwidth: float,
    setup: str,
    out: Path,
) -> list[dict[str, Any]]:
    net = Network(uplink_mbps=bandwidth)
    points = split_points(profile, tiers, net)
    chosen = solve(profile, tiers, net, 1, objective, deadline)
    a = int(chosen.local_blocks[0])
    table = Table(
        title=f"{profile.name} at {bandwidth:g} Mbit/s uplink ({objective})", caption=setup
    )
    for col in ("split", "cut", "uplink KiB", "network from", "latency ms", "energy mJ", ""):
        table.add_column(col, justify="right")
    rows = []
    for k in range(profile.n + 1):
        lat, en = float(points.latency_s[0, k]), float(points.energy_j[0, k])
        first = TIER_NAMES[int(points.first_tier[0, k])]
        sent = float(points.uplink_bytes[k]) if k < profile.n else 0.0
        table.add_row(
            str(k),
            _cut_label(profile, k),
            f"{sent / 1024:,.1f}",
            first,
            f"{lat * 1e3:,.2f}",
            f"{en * 1e3:,.2f}",
            "<- chosen" if k == a else "",
        )
        rows.append(
            {
                "model": profile.name,
                "uplink_mbps": bandwidth,
                "split": k,
                "cut": _cut_label(profile, k),
                "uplink_bytes": sent,
                "network_from": first,
                "latency_s": lat,
                "energy_j": en,
                "chosen": k == a,
            }
        )
    out_console.print(table)
    _gains(profile, tiers, net, objective, deadline, chosen, setup)
    _points_figure(profile, points, a, bandwidth, out / f"splitinfer-{profile.name}.png")
    return rows


def _gains(
    profile: ModelProfile,
    tiers: list[Processor],
    net: Network,
    objective: Objective,
    deadline: float,
    best: Plan,
    setup: str,
) -> None:
    table = Table(
        title="Best split against fixed plans and Neurosurgeon's published averages",
        caption=setup,
    )
    for col in ("plan", "latency ms", "energy mJ", "best's speed-up", "best's energy change"):
        table.add_column(col, justify="right")
    lat, en = float(best.latency_s[0]), float(best.energy_j[0])
    table.add_row("best split", f"{lat * 1e3:,.2f}", f"{en * 1e3:,.2f}", "", "")
    for name in BASELINES:
        plan = baseline(name, profile, tiers, net, 1, objective, deadline)
        bl, be = float(plan.latency_s[0]), float(plan.energy_j[0])
        table.add_row(
            name,
            f"{bl * 1e3:,.2f}",
            f"{be * 1e3:,.2f}",
            f"{bl / lat:.2f}x",
            f"{(en / be - 1) * 100:+.1f} %" if be > 0 else "-",
        )
    table.add_row(
        "Neurosurgeon vs cloud-only (published)",
        "",
        "",
        f"{NEUROSURGEON['latency_speedup']:.1f}x",
        f"{-NEUROSURGEON['energy_reduction'] * 100:+.1f} %",
    )
    out_console.print(table)


def _points_figure(
    profile: ModelProfile, points: Any, chosen: int, bandwidth: float, path: Path
) -> None:
    x = np.arange(profile.n + 1)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8.0, 5.5), dpi=120, sharex=True)
    ax1.plot(x, points.latency_s[0] * 1e3, marker=".", color="#4e79a7")
    ax1.axvline(chosen, color="#e15759", linestyle="--", label=f"chosen: {chosen}")
    ax1.set_ylabel("latency (ms)")
    ax1.set_yscale("log")
    ax1.legend(loc="upper right")
    ax2.plot(x, points.energy_j[0] * 1e3, marker=".", color="#f28e2b")
    ax2.axvline(chosen, color="#e15759", linestyle="--")
    ax2.set_ylabel("terminal energy (mJ)")
    ax2.set_yscale("log")
    ax2.set_xlabel("split point (blocks on the terminal)")
    fig.suptitle(f"{profile.name}: every split point at {bandwidth:g} Mbit/s uplink")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _sweep(
    profile: ModelProfile,
    tiers: list[Processor],
    objective: Objective,
    deadline: float,
    setup: str,
    out: Path,
) -> list[dict[str, Any]]:
    k = SWEEP_MBPS.size
    net = Network(uplink_mbps=SWEEP_MBPS)
    best = solve(profile, tiers, net, k, objective, deadline)
    plans = {
        name: baseline(name, profile, tiers, net, k, objective, deadline) for name in BASELINES
    }
    rows = []
    for i, bw in enumerate(SWEEP_MBPS):
        row: dict[str, Any] = {
            "model": profile.name,
            "uplink_mbps": float(bw),
            "split": int(best.local_blocks[i]),
            "cut": _cut_label(profile, int(best.local_blocks[i])),
            "latency_s": float(best.latency_s[i]),
            "energy_j": float(best.energy_j[i]),
        }
        for name, plan in plans.items():
            row[f"{name}_latency_s"] = float(plan.latency_s[i])
            row[f"{name}_energy_j"] = float(plan.energy_j[i])
        rows.append(row)
    table = Table(
        title=f"{profile.name}: chosen split across uplink rates ({objective})", caption=setup
    )
    for col in (
        "Mbit/s",
        "split",
        "cut",
        "latency ms",
        "energy mJ",
        "vs local",
        "vs cloud",
        "energy vs cloud",
    ):
        table.add_column(col, justify="right")
    for i in range(0, k, 5):
        r = rows[i]
        table.add_row(
            f"{r['uplink_mbps']:g}",
            str(r["split"]),
            r["cut"],
            f"{r['latency_s'] * 1e3:,.2f}",
            f"{r['energy_j'] * 1e3:,.2f}",
            f"{r['local_latency_s'] / r['latency_s']:.2f}x",
            f"{r['cloud_latency_s'] / r['latency_s']:.2f}x",
            f"{(r['energy_j'] / r['cloud_energy_j'] - 1) * 100:+.1f} %",
        )
    out_console.print(table)
    for label, sel in (
        ("the whole sweep", np.ones(k, dtype=bool)),
        ("1-100 Mbit/s", (SWEEP_MBPS >= 1) & (SWEEP_MBPS <= 100)),
    ):
        lat = best.latency_s[sel]
        speed_local = np.exp(np.mean(np.log(plans["local"].latency_s[sel] / lat)))
        speed_cloud = np.exp(np.mean(np.log(plans["cloud"].latency_s[sel] / lat)))
        energy_cloud = float(np.mean(best.energy_j[sel] / plans["cloud"].energy_j[sel] - 1.0))
        out_console.print(
            f"over {label} (geometric mean of speed-ups, mean energy change): best split "
            f"{speed_local:.2f}x faster than all-local, {speed_cloud:.2f}x faster than "
            f"all-cloud, {energy_cloud * 100:+.1f} % terminal energy against all-cloud."
        )
    out_console.print(
        f"Neurosurgeon (published, against cloud-only, averaged over its DNNs and 3G, LTE and "
        f"Wi-Fi): {NEUROSURGEON['latency_speedup']:.1f}x, "
        f"{-NEUROSURGEON['energy_reduction'] * 100:+.1f} %."
    )
    _sweep_figure(profile, rows, objective, out / f"splitinfer-{profile.name}.png")
    return rows


def _sweep_figure(
    profile: ModelProfile, rows: list[dict[str, Any]], objective: str, path: Path
) -> None:
    bw = np.array([r["uplink_mbps"] for r in rows])
    fig, axes = plt.subplots(3, 1, figsize=(8.0, 8.0), dpi=120, sharex=True)
    styles = {"local": "#9e9e9e", "edge": "#76b7b2", "cloud": "#b07aa1"}
    for key, ax, scale, label in (
        ("latency_s", axes[0], 1e3, "latency (ms)"),
        ("energy_j", axes[1], 1e3, "terminal energy (mJ)"),
    ):
        ax.plot(bw, [r[key] * scale for r in rows], color="#e15759", lw=2, label="best split")
        for name, colour in styles.items():
            ax.plot(
                bw,
                [r[f"{name}_{key}"] * scale for r in rows],
                color=colour,
                ls="--",
                label=f"all {name}" if name != "local" else "all local",
            )
        ax.set_yscale("log")
        ax.set_ylabel(label)
        ax.legend(loc="upper right", fontsize=8)
    axes[2].step(bw, [r["split"] for r in rows], where="mid", color="#4e79a7")
    axes[2].set_ylabel("blocks on the terminal")
    axes[2].set_ylim(-0.5, profile.n + 0.5)
    axes[2].set_xscale("log")
    axes[2].set_xlabel("uplink (Mbit/s)")
    fig.suptitle(f"{profile.name}: chosen split across uplink rates ({objective})")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


SLOT_METHOD_LABELS = {
    "milp": "MILP (most served)",
    "milp-energy": "MILP, then least energy",
    "prices": "price-based decomposition",
    "independent-latency": "independent (Neurosurgeon)",
    "independent-energy": "independent (least energy)",
    "rl-scorer": "RL policy, first stage only",
    "rl": "RL policy",
    "rl-search": "RL policy, best of 5 rollouts",
    "random": "random feasible",
}


def _float_list(text: str, flag: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(
            f"give numbers separated by commas, not {text!r}", param_hint=flag
        ) from None
    if not values or any(v <= 0 for v in values):
        raise typer.BadParameter("give one or more numbers > 0", param_hint=flag)
    return values


def splitslot_cmd(
    users: Annotated[int, typer.Option("--users", help="users per slot", min=1)] = 50,
    loads: Annotated[
        str, typer.Option("--loads", help="loads, comma-separated (1: the edge's capacity)")
    ] = "0.4,0.8,1.2",
    seeds: Annotated[
        int, typer.Option("--seeds", help="slots per load (seeds 0..N-1, never trained on)", min=1)
    ] = 3,
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="RL policy (JSON) to use (default: the shipped one)"),
    ] = None,
    train_rl: Annotated[
        Path | None,
        typer.Option("--train-rl", help="train an RL policy first and write it here (JSON)"),
    ] = None,
    iterations: Annotated[
        int, typer.Option("--iterations", help="with --train-rl: training iterations", min=1)
    ] = 400,
    train_seed: Annotated[int, typer.Option("--train-seed", help="with --train-rl", min=0)] = 0,
    time_limit: Annotated[
        float, typer.Option("--time-limit", help="HiGHS's limit per MILP, s", min=0.1)
    ] = 30.0,
    out: Annotated[Path, typer.Option("--out", help="folder for the CSV")] = Path("results"),
) -> None:
    """Users coupled through the uplink and the edge GPUs: every solver, and the RL policy.

    On random slots (ResNet-50 and ViT-B/16 on phone CPUs and GPUs, the coupled benchmark's
    setting) at each load: requests served within their deadline, the slot's terminal energy
    (unserved requests run on their terminal) against the MILP's least energy at its count, and
    decision time. With --train-rl, trains a policy on random slots first (a few minutes on one
    core) and writes it. Needs torch (the ``learn`` extra).
    """
    try:
        import torch

        from cnc6g.ai import split_rl
    except ImportError:
        err_console.print("[red]the RL policy needs torch: install the 'learn' extra[/red]")
        raise typer.Exit(1) from None
    from cnc6g.ai.coupled import make_instance

    load_list = _float_list(loads, "--loads")
    check_folder(out, "--out")
    if train_rl is not None:
        if checkpoint is not None:
            raise typer.BadParameter(
                "give --checkpoint or --train-rl, not both", param_hint="--checkpoint"
            )

        def progress(it: int, stats: dict[str, float]) -> None:
            if "validation" in stats:
                out_console.print(
                    f"iteration {it}/{iterations}: served {stats['served'] * 100:.1f} %, "
                    f"return per user {stats['return']:.3f} (validation: "
                    f"{stats['validation']:.4f}), {stats['seconds']:.0f} s"
                )

        config = split_rl.TrainConfig(iterations=iterations, seed=train_seed)
        # One thread: the networks are small, and a run is then the same on every machine.
        torch.set_num_threads(1)
        policy = split_rl.train(config, progress)
        policy.meta["command"] = (
            f"cnc6g splitslot --train-rl {train_rl.name} --iterations {iterations} "
            f"--train-seed {train_seed}"
        )
        train_rl.parent.mkdir(parents=True, exist_ok=True)
        train_rl.write_text(policy.to_json(), encoding="utf-8")
        out_console.print(f"policy: {train_rl}")
    elif checkpoint is None:
        policy = split_rl.load_policy()
    else:
        if not checkpoint.is_file():
            raise typer.BadParameter(f"{checkpoint} does not exist", param_hint="--checkpoint")
        try:
            policy = split_rl.policy_from_json(checkpoint.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise typer.BadParameter(f"{checkpoint}: {err}", param_hint="--checkpoint") from None
    rows: list[dict[str, Any]] = []
    for load in load_list:
        results = [
            split_rl.compare_slot(make_instance(users, load, seed=s), policy, time_limit)
            for s in range(seeds)
        ]
        table = Table(
            title=f"{users} users at load {load:g}, {seeds} slot(s)",
            caption="energy: the slot's terminal energy, unserved requests on their terminal",
        )
        for col in (
            "method",
            "served",
            "energy J",
            "vs MILP's least",
            "vs least at its count",
            "decision ms",
            "fits",
        ):
            table.add_column(col, justify="right")
        ref = sum(r.slot_energy_j for res in results for r in res if r.method == "milp-energy")
        for i, method in enumerate(split_rl.METHODS):
            per = [res[i] for res in results]
            served = sum(r.served for r in per) / sum(r.users for r in per)
            energy = sum(r.slot_energy_j for r in per)
            floor = sum(r.floor_j for r in per)
            ms = 1e3 * sum(r.seconds for r in per) / len(per)
            fits = all(r.feasible for r in per)
            table.add_row(
                SLOT_METHOD_LABELS[method],
                f"{served * 100:.1f} %",
                f"{energy / len(per):.3f}",
                f"{energy / ref:.3f}" if ref > 0 else "-",
                f"{energy / floor:.3f}" if floor > 0 else "-",
                f"{ms:,.1f}",
                "yes" if fits else "NO",
            )
            rows.append(
                {
                    "users": users,
                    "load": load,
                    "slots": seeds,
                    "method": method,
                    "served_share": served,
                    "slot_energy_j": energy / len(per),
                    "energy_vs_milp": energy / ref if ref > 0 else float("nan"),
                    "energy_vs_least_at_count": energy / floor if floor > 0 else float("nan"),
                    "decision_s": ms / 1e3,
                    "fits": fits,
                }
            )
        out_console.print(table)
    csv = write_csv(out / f"splitslot-{users}.csv", rows)
    out_console.print(f"table: {csv}")
