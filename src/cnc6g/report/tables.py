"""Result tables as CSV files, written so that a reader sees the old file or the whole new one."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

COMPARE_COLUMNS = (
    "scenario",
    "load",
    "requests_mean",
    "policy",
    "seed",
    "slots_run",
    "window_slots",
    "offered_per_slot",
    "energy_j_per_slot",
    "energy_j_min",
    "energy_j_max",
    "satisfaction_rate",
    "satisfaction_min",
    "satisfaction_max",
    "satisfaction_rate_sampled",
    "dropped_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "objective_j_per_slot",
    "energy_j_per_satisfied_task",
    "cold_starts_per_slot",
    "instances_per_slot",
    "decide_ms_p50",
    "lp_bound_j_per_slot",
    "objective_over_bound",
    "energy_idle_j",
    "energy_dynamic_j",
    "energy_instances_j",
    "energy_cold_start_j",
    "energy_radio_j",
    "energy_transport_j",
    "opt_solve_ms_p50",
    "opt_solve_ms_max",
    "opt_gap_max",
    "error",
)
"""Columns of a sweep's ``results.csv``."""


FILE_MODE = 0o644
"""Mode of the files written (``rw-r--r--``)."""


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, FILE_MODE)  # mkstemp's file is private; results are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(
    path: Path, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None
) -> Path:
    """Write ``rows`` as CSV to ``path`` atomically; returns ``path``.

    ``columns`` (default: every key of the rows, in order of first appearance) fixes the
    header; keys of a row outside it are left out, missing ones are empty.
    """
    rows = list(rows)
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, buf.getvalue())
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file with a header."""
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
