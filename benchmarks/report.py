"""The benchmark tables as Markdown, from the JSON ``benchmarks.slot_throughput`` writes.

The docs' benchmark page is generated from ``benchmarks/results.json`` through this module (see
``docs/hooks.py``), so a figure on the page is always the one the last ``make bench`` measured.
Pure: takes the parsed JSON, returns text.
"""

from __future__ import annotations

from typing import Any

POLICY_LABELS = {"rand": "RAND", "grd": "GRD", "hmarl": "HMARL"}
PEER_LABELS = {
    "leaf": "LEAF, 10 % of users re-placed per step",
    "leaf-replace-all": "LEAF, every user re-placed per step (paths cached)",
}


def _rate(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}" if value >= 10 else f"{value:,.2f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if not a or not b else f"{a / b:,.1f}x"


def render(results: dict[str, Any]) -> str:
    """Markdown tables of ``results`` (the JSON of ``benchmarks.slot_throughput``)."""
    meta = results.get("meta", {})
    whole = [r for r in results.get("whole_slot", []) if not r.get("preset_load")]
    cells = sorted({r["cells"] for r in whole})
    lines: list[str] = []
    header = ["slots/s, whole slot"] + [f"{c:,} cells, {c * 10:,} req." if c else "" for c in cells]
    by = {(r["cells"], r["policy"]): r for r in whole}
    peers = {(r["cells"], r["peer"]): r.get("slots_per_s") for r in results.get("peers", [])}
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    notes: list[str] = []
    policies = [p for p in POLICY_LABELS if any(r["policy"] == p for r in whole)]
    for p in policies:
        row = [POLICY_LABELS[p]]
        for c in cells:
            r = by.get((c, p))
            if r is None:
                row.append("")
            elif r.get("slots_per_s") is None:
                note = r.get("note") or "did not run"
                if note not in notes:
                    notes.append(note)
                row.append(f"n/a [{notes.index(note) + 1}]")
            elif r.get("checkpoint"):
                note = (
                    f"with `{r['checkpoint']}`, the pooled agents that fit any size (the case "
                    "study's own checkpoint fits only its system)"
                )
                if note not in notes:
                    notes.append(note)
                row.append(f"{_rate(r['slots_per_s'])} [{notes.index(note) + 1}]")
            else:
                row.append(_rate(r["slots_per_s"]))
        lines.append("| " + " | ".join(row) + " |")
    for peer, label in PEER_LABELS.items():
        if any(k[1] == peer for k in peers):
            lines.append(
                "| " + " | ".join([label] + [_rate(peers.get((c, peer))) for c in cells]) + " |"
            )
    if "grd" in policies:
        for peer, label in (("leaf-replace-all", "every user"), ("leaf", "10 % of users")):
            if any(k[1] == peer for k in peers):
                ratios = [
                    _ratio(
                        by[(c, "grd")].get("slots_per_s") if (c, "grd") in by else None,
                        peers.get((c, peer)),
                    )
                    for c in cells
                ]
                lines.append(f"| GRD / LEAF ({label} re-placed) | " + " | ".join(ratios) + " |")
    lines.append("")
    for i, note in enumerate(notes, 1):
        lines.append(f"[{i}] {note}")
        lines.append("")
    preset = [r for r in results.get("whole_slot", []) if r.get("preset_load")]
    if preset:
        parts = [
            f"{POLICY_LABELS.get(r['policy'], r['policy'])} {_rate(r.get('slots_per_s'))}"
            for r in preset
        ]
        lines.append(
            "Whole slot on the case study at its preset load (L = 0.8, about 1,225 requests "
            "per slot), slots/s: " + ", ".join(parts) + "."
        )
        lines.append("")
    secondary = results.get("secondary", [])
    if secondary:
        lines.append(
            "| secondary: twin only, no policy | cells | requests/slot | copies | slots/s |"
        )
        lines.append("|---|---|---|---|---|")
        labels = {
            "frozen twin": "one frozen decision (`Twin.step_arrays`)",
            "batched twin": "one frozen decision, batched copies",
        }
        for r in secondary:
            lines.append(
                f"| {labels.get(r['measure'], r['measure'])} | {r['cells']:,} | "
                f"{r.get('requests_per_slot', 0):,} | {r['copies']:,} | "
                f"{_rate(r.get('slots_per_s'))} |"
            )
        lines.append("")
    memory = results.get("memory")
    if memory:
        lines.append(
            f"Peak memory of one copy of the {memory['cells']:,}-cell system (compiling it and "
            f"running GRD with request sampling): {memory['peak_mib']:,.0f} MiB."
        )
        lines.append("")
    if meta:
        if meta.get("label"):
            lines.append(f"Note: {meta['label']}")
            lines.append("")
        dirty = " (with uncommitted changes)" if meta.get("dirty") else ""
        lines.append(
            f"Measured {meta.get('date', '?')} at commit `{meta.get('commit', '?')}`{dirty} on "
            f"{meta.get('machine', '?')}; Python {meta.get('python', '?')}, NumPy "
            f"{meta.get('numpy', '?')}, BLAS threads {meta.get('blas_threads', '?')}"
            + (" (quick mode: not a measurement)" if meta.get("quick") else "")
            + "."
        )
    return "\n".join(lines).rstrip() + "\n"
