"""``cnc6g knowledge``: the resource knowledge base (demo against fixed templates, show a base)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import matplotlib
import typer
from rich.markup import escape
from rich.table import Table

from cnc6g.cli.common import ScenarioOpt, check_folder, err_console, load, out_console
from cnc6g.experiments.knowledge import (
    DEMO_LOAD,
    KB_NAME,
    DemoResult,
    demo_scenario,
    knowledge_demo,
)
from cnc6g.policies.knowledge import KnowledgeBase
from cnc6g.report import write_csv
from cnc6g.storage.knowledge import load_knowledge, save_knowledge

matplotlib.use("Agg")
import matplotlib.pyplot as plt

app = typer.Typer(
    help="The resource knowledge base: service demand learned from consumption.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _rows(res: DemoResult, slots: int) -> list[dict[str, Any]]:
    return [
        {
            "provisioner": r.name,
            "reserved_gcps": round(r.reserved / slots, 2),
            "used_gcps": round(r.used / slots, 2),
            "waste_gcps": round((r.reserved - r.used) / slots, 2),
            "waste_share": round(r.waste_share, 4),
            "miss_rate": round(r.miss_rate, 4),
        }
        for r in res.runs
    ]


def _figure(res: DemoResult, path: Path) -> Path:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    tpl = res.templates
    ax1.plot(
        [r.reserved / len(r.waste_series) for r in tpl],
        [100 * r.miss_rate for r in tpl],
        "o-",
        color="tab:gray",
        label="fixed templates",
    )
    for r in tpl:
        ax1.annotate(
            r.name.replace("template ", ""),
            (r.reserved / len(r.waste_series), 100 * r.miss_rate),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=8,
        )
    kbs = [r for r in res.runs[res.n_templates :] if r.name.startswith("knowledge base")]
    kbs = [r for r in kbs if "no forgetting" not in r.name]
    kbs.sort(key=lambda r: r.reserved)
    ax1.plot(
        [r.reserved / len(r.waste_series) for r in kbs],
        [100 * r.miss_rate for r in kbs],
        "s-",
        color="tab:blue",
        label="knowledge base (quantiles)",
    )
    for r in kbs:
        label = r.name.replace("knowledge base", "").strip() or f"q{res.base.quantile:g}"
        ax1.annotate(
            label,
            (r.reserved / len(r.waste_series), 100 * r.miss_rate),
            textcoords="offset points",
            xytext=(4, -10),
            fontsize=8,
            color="tab:blue",
        )
    ax1.set_xlabel("reserved compute, gigacycles/s (mean over slots)")
    ax1.set_ylabel("requests missing their deadline, %")
    ax1.set_title("reservation vs deadline misses")
    ax1.grid(alpha=0.3)
    ax1.legend(loc="upper right")
    slots = range(len(res.true_series))
    ax2.plot(slots, res.true_series, color="black", label="true mean work (drifting service)")
    for name, color in ((KB_NAME, "tab:blue"), ("knowledge base, no forgetting", "tab:orange")):
        ax2.plot(slots, res.run(name).belief_series, color=color, alpha=0.8, label=name)
    for r in tpl:
        if r.name in ("template x1.25", "template x1.5"):
            ax2.plot(slots, r.belief_series, "--", color="tab:gray", alpha=0.7, label=r.name)
    ax2.set_xlabel("slot")
    ax2.set_ylabel("work per request / nominal")
    ax2.set_title("provisioned work of the drifting service")
    ax2.grid(alpha=0.3)
    ax2.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option("--out", help="folder for the table, figure and base")],
    scenario: ScenarioOpt = "tiny",
    slots: Annotated[int, typer.Option("--slots", help="slots of each run", min=20)] = 300,
    drift: Annotated[
        float, typer.Option("--drift", help="growth of the drifting service's work", min=0.0)
    ] = 0.5,
    load_: Annotated[
        float, typer.Option("--load", help="offered load L of the scenario", min=0.01, max=1.2)
    ] = DEMO_LOAD,
    seed: Annotated[int, typer.Option("--seed", help="seed of the twin and the demand", min=0)] = 0,
    base: Annotated[
        Path | None,
        typer.Option("--base", help="knowledge base to start from and write back (JSON)"),
    ] = None,
) -> None:
    """Knowledge-base provisioning against fixed SLA templates, with the demand drifting.

    Runs GRD on the twin once per provisioner (fixed templates at several levels of the nominal
    work, the knowledge base at several quantiles, with and without forgetting, and an oracle)
    with the most requested service's work growing by --drift over the run. Writes
    knowledge.csv, knowledge.png and the learned base knowledge.json (or --base).
    """
    check_folder(out, "--out")
    sc = demo_scenario(load(scenario), load_)
    try:
        kb = load_knowledge(base) if base is not None else KnowledgeBase()
    except ValueError as err:
        err_console.print(f"[red]{escape(str(err))}[/red]")
        raise typer.Exit(1) from None
    res = knowledge_demo(sc, slots=slots, drift=drift, seed=seed, base=kb)
    rows = _rows(res, slots)
    write_csv(out / "knowledge.csv", rows)
    _figure(res, out / "knowledge.png")
    saved = save_knowledge(res.base, base if base is not None else out / "knowledge.json")
    table = Table(title=f"provisioning on {sc.name} at L={load_:g}, drift {100 * drift:g} %")
    for col in ("provisioner", "reserved gc/s", "used gc/s", "waste gc/s", "waste", "missed"):
        table.add_column(col, justify="left" if col == "provisioner" else "right")
    for row in rows:
        table.add_row(
            row["provisioner"],
            f"{row['reserved_gcps']:.1f}",
            f"{row['used_gcps']:.1f}",
            f"{row['waste_gcps']:.1f}",
            f"{100 * row['waste_share']:.1f} %",
            f"{100 * row['miss_rate']:.2f} %",
        )
    out_console.print(table)
    kbr = res.run(KB_NAME)
    cheaper = res.cheapest_template_missing_at_most(kbr)
    same = res.best_template_reserving_at_most(kbr)
    if cheaper is not None:
        less = 100 * (1 - kbr.reserved / cheaper.reserved)
        out_console.print(
            f"{KB_NAME} (q{res.base.quantile:g}) reserves {abs(less):.1f} % "
            f"{'less' if less >= 0 else 'more'} than {cheaper.name}, "
            "the cheapest template that misses no more deadlines"
        )
    if same is not None:
        fewer = 100 * (1 - kbr.miss_rate / same.miss_rate)
        out_console.print(
            f"{KB_NAME} misses {abs(fewer):.1f} % {'fewer' if fewer >= 0 else 'more'} "
            f"deadlines than {same.name}, the best template that reserves no more"
        )
    out_console.print(f"table: {out / 'knowledge.csv'}; figure: {out / 'knowledge.png'}")
    out_console.print(f"knowledge base: {saved}")


@app.command("show")
def show_cmd(
    path: Annotated[Path, typer.Argument(help="a knowledge base file (JSON)")],
) -> None:
    """Print what a knowledge base learned: per service and quantity, mean, std, provisioned."""
    if not path.exists():
        err_console.print(f"[red]no such file: {escape(str(path))}[/red]")
        raise typer.Exit(1)
    try:
        kb = load_knowledge(path)
    except ValueError as err:
        err_console.print(f"[red]{escape(str(err))}[/red]")
        raise typer.Exit(1) from None
    table = Table(title=f"knowledge base (provisioning at q{kb.quantile:g})")
    for col in ("service", "quantity", "observations", "mean", "std", "provisioned"):
        table.add_column(col, justify="left" if col in ("service", "quantity") else "right")
    for row in kb.summary():
        table.add_row(
            row["service"],
            row["quantity"],
            str(row["observations"]),
            f"{row['mean']:.4g}",
            f"{row['std']:.3g}",
            f"{row['provisioned']:.4g}",
        )
    out_console.print(table)
