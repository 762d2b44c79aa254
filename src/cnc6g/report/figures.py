"""Figures of a load sweep in the format of seed 002, Figs. 4 and 5.

Grouped bars per load level, one bar per policy: the mean over the evaluation window, with
whiskers from the window's minimum to its maximum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

POLICY_COLOURS = {
    "rand": "#9e9e9e",
    "grd": "#f28e2b",
    "opt": "#4e79a7",
    "hmarl": "#e15759",
    "hmarl-central": "#76b7b2",
    "hmarl-independent": "#b07aa1",
}

FIGURES = {
    "energy": (
        "energy_j_per_slot",
        "energy_j_min",
        "energy_j_max",
        "Total energy per slot (kJ)",
        1e-3,
    ),
    "satisfaction": (
        "satisfaction_rate",
        "satisfaction_min",
        "satisfaction_max",
        "Task satisfaction rate (%)",
        100.0,
    ),
}
"""Figure name -> (mean column, min column, max column, axis label, scale)."""


def sweep_figure(rows: Sequence[dict[str, Any]], figure: str, path: Path) -> Path:
    """Draw one figure of a sweep (``energy`` or ``satisfaction``) to ``path`` (PNG or PDF).

    Rows with several seeds for the same (load, policy) are pooled: the bar is the mean of the
    seeds' window means, the whiskers the extreme window minimum and maximum.
    """
    mean_key, lo_key, hi_key, label, scale = FIGURES[figure]
    loads = sorted({float(r["load"]) for r in rows})
    policies = list(dict.fromkeys(str(r["policy"]) for r in rows))
    width = 0.8 / max(len(policies), 1)
    fig, ax = plt.subplots(figsize=(7.0, 4.0), dpi=120)
    x = np.arange(len(loads))
    for i, pol in enumerate(policies):
        means, los, his = [], [], []
        for load in loads:
            sel = [r for r in rows if r["policy"] == pol and float(r["load"]) == load]
            means.append(np.mean([r[mean_key] for r in sel]) * scale)
            los.append(min(r[lo_key] for r in sel) * scale)
            his.append(max(r[hi_key] for r in sel) * scale)
        m = np.array(means)
        err = np.vstack([m - np.array(los), np.array(his) - m])
        ax.bar(
            x + (i - (len(policies) - 1) / 2) * width,
            m,
            width,
            yerr=np.clip(err, 0, None),
            capsize=3,
            label=pol.upper(),
            color=POLICY_COLOURS.get(pol),
            edgecolor="black",
            linewidth=0.5,
        )
    requests = {}
    for r in rows:
        requests[float(r["load"])] = r.get("requests_mean")
    ticks = [
        f"{load:g}\n({requests[load]:.0f})" if requests.get(load) else f"{load:g}" for load in loads
    ]
    ax.set_xticks(x, ticks)
    ax.set_xlabel("Offered load L (mean requests per slot)")
    ax.set_ylabel(label)
    if figure == "satisfaction":
        ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(ncols=len(policies), loc="upper center", bbox_to_anchor=(0.5, 1.12), frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def learning_curves_figure(
    curves: dict[str, Sequence[dict[str, Any]]], path: Path, smooth: int = 20
) -> Path:
    """Learning curves of several learners in one figure.

    ``curves`` maps a learner's name to its training log rows (``step``, ``reward``: the mean
    reward of the step's slots, minus the objective per request in units of the penalty) or
    to its validation rows (``step``, ``score``, the same quantity for the greedy agents). The
    training reward is drawn as a moving average over ``smooth`` logged rows.
    """
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for name, rows in curves.items():
        if not rows:
            continue
        steps = np.array([float(r["step"]) for r in rows])
        key = "score" if "score" in rows[0] else "reward"
        values = np.array([float(r[key]) for r in rows])
        if key == "reward" and values.size >= smooth:
            values = np.convolve(values, np.ones(smooth) / smooth, mode="valid")
            steps = steps[smooth - 1 :]
        colour = POLICY_COLOURS.get(name.removesuffix(" (validation)"))
        style = "o-" if key == "score" else "-"
        ax.plot(steps, values, style, label=name, color=colour, markersize=3)
    ax.set_xlabel("training step (one slot of every copy)")
    ax.set_ylabel("reward: - objective per request / penalty")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", frameon=False, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def adaptation_figure(
    series: Mapping[str, Sequence[float]],
    at_slot: int,
    path: Path,
    title: str = "",
    window: int = 10,
) -> Path:
    """Draw satisfaction per slot of each policy through an event to ``path`` (PNG or PDF).

    Each policy's per-slot satisfaction is drawn faintly and its trailing ``window``-slot
    average boldly, with the event's first slot marked by a dashed line.

    Args:
        series: policy label -> satisfaction (share of tasks) per slot.
        at_slot: first slot of the event.
        path: file to write.
        title: figure title (the event).
        window: slots of the moving average.
    """
    fig, ax = plt.subplots(figsize=(7.0, 4.0), dpi=120)
    for label, values in series.items():
        y = np.asarray(values, dtype=float) * 100.0
        t = np.arange(y.size)
        colour = POLICY_COLOURS.get(label, POLICY_COLOURS.get(label.split("-")[0]))
        (line,) = ax.plot(t, y, color=colour, alpha=0.25, linewidth=0.8)
        if y.size >= window:
            avg = np.convolve(y, np.ones(window) / window, mode="valid")
            ax.plot(
                t[window - 1 :],
                avg,
                color=line.get_color(),
                linestyle="--" if label.endswith("online") else "-",
                linewidth=1.8,
                label=label.upper(),
            )
    ax.axvline(at_slot, color="black", linestyle=":", linewidth=1.2)
    ax.annotate(
        "event",
        (at_slot, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(3, -12),
        textcoords="offset points",
        fontsize=8,
    )
    ax.set_xlabel(f"Slot (bold: {window}-slot average)")
    ax.set_ylabel("Task satisfaction rate (%)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(ncols=max(len(series), 1), loc="lower left", frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
