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


def _ratio(a: float | None, b: float | None, digits: int = 1) -> str:
    return "n/a" if not a or not b else f"{a / b:,.{digits}f}x"


def _policy_rows(
    whole: list[dict[str, Any]], cells: list[int], notes: list[str]
) -> tuple[list[str], list[str]]:
    """Markdown rows of the policies' rates by size (footnotes appended to ``notes``)."""
    by = {(r["cells"], r["policy"]): r for r in whole}
    policies = [p for p in POLICY_LABELS if any(r["policy"] == p for r in whole)]
    lines = []
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
    return lines, policies


def _preset_line(rows: list[dict[str, Any]], what: str) -> list[str]:
    preset = [r for r in rows if r.get("preset_load")]
    if not preset:
        return []
    parts = [
        f"{POLICY_LABELS.get(r['policy'], r['policy'])} {_rate(r.get('slots_per_s'))}"
        for r in preset
    ]
    return [
        f"Whole slot on {what} at its preset load (L = 0.8, about 1,225 requests per slot), "
        "slots/s: " + ", ".join(parts) + ".",
        "",
    ]


def _rates(rows: list[dict[str, Any]]) -> dict[tuple[int, str], float | None]:
    """Each (cells, policy)'s slots per second (``None`` where it did not run)."""
    return {(r["cells"], r["policy"]): r.get("slots_per_s") for r in rows}


def _footnotes(notes: list[str]) -> list[str]:
    """A blank line after the table, then each footnote numbered as the table refers to it."""
    lines = [""]
    for i, note in enumerate(notes, 1):
        lines += [f"[{i}] {note}", ""]
    return lines


def _header(title: str, cells: list[int]) -> list[str]:
    header = [title] + [f"{c:,} cells, {c * 10:,} req." for c in cells]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]


def render(results: dict[str, Any]) -> str:
    """Markdown tables of ``results`` (the JSON of ``benchmarks.slot_throughput``)."""
    meta = results.get("meta", {})
    whole = [r for r in results.get("whole_slot", []) if not r.get("preset_load")]
    cells = sorted({r["cells"] for r in whole})
    rate = _rates(whole)
    peers = {(r["cells"], r["peer"]): r.get("slots_per_s") for r in results.get("peers", [])}
    lines = _header("slots/s, whole slot", cells)
    notes: list[str] = []
    rows, policies = _policy_rows(whole, cells, notes)
    lines += rows
    for peer, label in PEER_LABELS.items():
        if any(k[1] == peer for k in peers):
            lines.append(
                "| " + " | ".join([label] + [_rate(peers.get((c, peer))) for c in cells]) + " |"
            )
    if "grd" in policies:
        for peer, label in (("leaf-replace-all", "every user"), ("leaf", "10 % of users")):
            if any(k[1] == peer for k in peers):
                ratios = [_ratio(rate.get((c, "grd")), peers.get((c, peer))) for c in cells]
                lines.append(f"| GRD / LEAF ({label} re-placed) | " + " | ".join(ratios) + " |")
    lines += _footnotes(notes)
    lines += _preset_line(results.get("whole_slot", []), "the case study")
    calibrated = [r for r in results.get("calibrated", []) if not r.get("preset_load")]
    if calibrated:
        cal_cells = sorted({r["cells"] for r in calibrated})
        lines += _header("slots/s, whole slot, calibrated models", cal_cells)
        cal_notes: list[str] = []
        rows, cal_policies = _policy_rows(calibrated, cal_cells, cal_notes)
        lines += rows
        cal_rate = _rates(calibrated)
        for p in cal_policies:
            ratios = [_ratio(cal_rate.get((c, p)), rate.get((c, p)), digits=2) for c in cal_cells]
            lines.append(
                f"| {POLICY_LABELS[p]}, calibrated / original models | " + " | ".join(ratios) + " |"
            )
        lines += _footnotes(cal_notes)
    lines += _preset_line(results.get("calibrated", []), "the calibrated case study")
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
