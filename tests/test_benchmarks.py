"""The whole-slot benchmark's code runs, and the docs' tables render what its JSON holds.

These tests time nothing: they prove that the benchmark runs end to end (its quick mode on a
tiny system) and that the generated docs table shows the figures of a given results file.
"""

import importlib.util
import json
from pathlib import Path

import pytest

from benchmarks.report import render
from benchmarks.slot_throughput import run

RESULTS = {
    "meta": {
        "commit": "abc1234",
        "dirty": False,
        "date": "2026-01-02 03:04 UTC",
        "machine": "Linux x86_64, Test CPU, 2 cores",
        "python": "3.11.7",
        "numpy": "2.4.6",
        "blas_threads": "1",
        "quick": False,
    },
    "whole_slot": [
        {"cells": 10, "requests_per_slot": 100, "policy": "grd", "slots_per_s": 3210.4},
        {"cells": 100, "requests_per_slot": 1000, "policy": "grd", "slots_per_s": 1234.0},
        {"cells": 10, "requests_per_slot": 100, "policy": "hmarl", "slots_per_s": 456.7},
        {
            "cells": 100,
            "requests_per_slot": 1000,
            "policy": "hmarl",
            "slots_per_s": None,
            "note": "the checkpoint does not fit this system",
        },
        {
            "cells": 10,
            "requests_per_slot": "L = 0.8",
            "preset_load": True,
            "policy": "grd",
            "slots_per_s": 2500.0,
        },
    ],
    "calibrated": [
        {"cells": 10, "requests_per_slot": 100, "policy": "grd", "slots_per_s": 1284.16},
        {"cells": 100, "requests_per_slot": 1000, "policy": "grd", "slots_per_s": 617.0},
        {
            "cells": 100,
            "requests_per_slot": 1000,
            "policy": "hmarl",
            "checkpoint": "family-hmarl.pt",
            "slots_per_s": 40.0,
        },
        {
            "cells": 10,
            "requests_per_slot": "L = 0.8",
            "preset_load": True,
            "policy": "grd",
            "slots_per_s": 900.0,
        },
    ],
    "peers": [
        {"cells": 10, "peer": "leaf", "slots_per_s": 500.0},
        {"cells": 100, "peer": "leaf", "slots_per_s": 20.0},
        {"cells": 10, "peer": "leaf-replace-all", "slots_per_s": 200.0},
        {"cells": 100, "peer": "leaf-replace-all", "slots_per_s": 10.0},
    ],
    "secondary": [
        {
            "measure": "frozen twin",
            "cells": 100,
            "requests_per_slot": 1000,
            "copies": 1,
            "slots_per_s": 7000.0,
        },
        {
            "measure": "batched twin",
            "cells": 10,
            "requests_per_slot": 100,
            "copies": 256,
            "slots_per_s": 25000.0,
        },
    ],
    "memory": {"cells": 1000, "peak_mib": 321.6},
}


def test_report_renders_the_figures_of_the_results():
    text = render(RESULTS)
    lines = text.splitlines()
    assert lines[0] == "| slots/s, whole slot | 10 cells, 100 req. | 100 cells, 1,000 req. |"
    assert "| GRD | 3,210 | 1,234 |" in lines
    assert "| HMARL | 457 | n/a [1] |" in lines
    assert "[1] the checkpoint does not fit this system" in lines
    assert "| GRD / LEAF (every user re-placed) | 16.1x | 123.4x |" in lines
    assert "| GRD / LEAF (10 % of users re-placed) | 6.4x | 61.7x |" in lines
    assert "| LEAF, 10 % of users re-placed per step | 500 | 20.0 |" in lines
    assert "the case study at its preset load" in text
    assert "GRD 2,500." in text
    # The second table: the same policies and sizes with the calibrated models, and their rate
    # against the original models' (the first table's) at each size.
    calibrated = text[text.index("calibrated models |") :]
    assert calibrated.splitlines()[:6] == [
        "calibrated models | 10 cells, 100 req. | 100 cells, 1,000 req. |",
        "|---|---|---|",
        "| GRD | 1,284 | 617 |",
        "| HMARL |  | 40.0 [1] |",
        "| GRD, calibrated / original models | 0.40x | 0.50x |",
        "| HMARL, calibrated / original models | n/a | n/a |",
    ]
    assert "on the calibrated case study at its preset load" in calibrated
    assert "GRD 900." in calibrated
    assert "| one frozen decision (`Twin.step_arrays`) | 100 | 1,000 | 1 | 7,000 |" in lines
    assert "| one frozen decision, batched copies | 10 | 100 | 256 | 25,000 |" in lines
    assert "322 MiB" in text
    assert "commit `abc1234`" in text
    assert "quick mode" not in text


def test_docs_hook_puts_the_tables_of_the_results_file_on_the_page(tmp_path):
    pytest.importorskip("mkdocs")
    spec = importlib.util.spec_from_file_location(
        "docs_hooks", Path(__file__).parent.parent / "docs" / "hooks.py"
    )
    assert spec is not None
    assert spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(RESULTS), encoding="utf-8")
    assert hooks.benchmark_tables(path) == render(RESULTS)
    assert "make bench" in hooks.benchmark_tables(tmp_path / "missing.json")
    page = (Path(__file__).parent.parent / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert hooks.BENCH_MARKER in page


def test_quick_mode_runs_every_measurement_on_a_small_system():
    pytest.importorskip("torch")
    results = run(sizes=(3,), quick=True, batches=(4,), memory_cells=3, calibrated_sizes=(3,))
    rows = {r["policy"]: r for r in results["whole_slot"]}
    assert rows["rand"]["slots_per_s"] > 0
    assert rows["grd"]["slots_per_s"] > 0
    assert rows["rand"]["cold_starts_per_slot"] > 0  # decisions change: instances start
    # The case study's checkpoint does not fit 3 cells: HMARL runs with the family checkpoint.
    assert rows["hmarl"]["slots_per_s"] > 0
    assert rows["hmarl"]["checkpoint"] == "family-hmarl.pt"
    assert {r["peer"] for r in results["peers"]} == {"leaf", "leaf-replace-all"}
    calibrated = {r["policy"]: r for r in results["calibrated"] if not r.get("preset_load")}
    assert {p: r["cells"] for p, r in calibrated.items()} == {"rand": 3, "grd": 3, "hmarl": 3}
    assert all(r["slots_per_s"] > 0 for r in results["calibrated"])
    assert [r["policy"] for r in results["calibrated"] if r.get("preset_load")] == ["grd", "hmarl"]
    assert results["secondary"][0]["slots_per_s"] > 0
    assert results["memory"]["peak_mib"] > 0
    assert results["meta"]["quick"] is True
    assert "quick mode" in render(results)
    assert "with `family-hmarl.pt`" in render(results)


def test_before_after_comparison_times_both_sides_in_alternation():
    from benchmarks.ab_compare import ROOT, compare

    rows = compare(ROOT / "src", ["frozen10"], reps=2)  # the same code on both sides
    assert [r["measure"] for r in rows] == ["frozen10"]
    assert rows[0]["before"] > 0
    assert rows[0]["after"] > 0
    assert rows[0]["speedup"] > 0


def test_interleaved_comparison_times_every_measurement_in_each_round():
    from benchmarks.ab_compare import ROOT, compare

    rows = compare(ROOT / "src", ["frozen10", "batch64"], reps=3, interleave=True)
    assert [r["measure"] for r in rows] == ["frozen10", "batch64"]
    assert rows[1]["batch"] == 64
    assert all(r["before"] > 0 and r["after"] > 0 and r["speedup"] > 0 for r in rows)


def test_the_size_cv_benchmark_runs_and_its_variant_varies_the_gpu_services_sizes():
    from benchmarks.size_cvs import run, transfers, variant
    from cnc6g.model import ProcessorKind
    from cnc6g.scenarios import load_scenario

    base = load_scenario("paper-case-study-calibrated")
    changed = variant(base)
    for before, after in zip(base.services, changed.services, strict=True):
        gpu = after.processors == [ProcessorKind.GPU]
        assert (after.input_cv, after.output_cv) == ((0.96, 2.15) if gpu else (0.0, 0.0))
        assert before.input_mbit == after.input_mbit
    rows = run(slots=2, reps=1)
    assert [r["policy"] for r in rows] == ["rand", "grd"]
    assert all(r["ratio"] > 0 for r in rows)
    shares = transfers(slots=2)
    assert all(0 < r["share_of_deadline_mean"] < 1 for r in shares)


def test_the_request_cpu_benchmark_answers_every_request_and_profiles_them(tmp_path):
    import cnc6g.api.fast as fast
    from benchmarks.request_cpu import Bench

    pool = fast.run_in_threadpool
    bench = Bench(tmp_path, thread_pool=False)
    try:
        assert bench.cpu_ms(bench.asgi, 120) > 0  # a slot after the 100th request
        assert bench.cpu_ms(bench.service, 20) > 0
        areas = bench.profile(20)
    finally:
        bench.plane.db.dispose()
    assert bench.statuses == {201: 140}
    assert fast.run_in_threadpool is pool  # the thread pool is put back
    assert areas["SQLAlchemy"] > 0
    assert "cnc6g.control.sessions" in areas


@pytest.mark.parametrize(
    ("serve_args", "http", "loop"),
    [
        ("", "httptools", "uvloop"),
        ("--http h11 --event-loop asyncio", "h11", "asyncio"),
        ("--loop-process --http=h11", "h11", "uvloop"),
        ("--event-loop asyncio", "httptools", "asyncio"),
    ],
)
def test_the_control_plane_benchmark_records_the_servers_parser_and_loop(serve_args, http, loop):
    from benchmarks.control_plane import server_stack

    stack = server_stack(serve_args)
    assert stack["http"].split()[0] == http
    assert stack["event_loop"].split()[0] == loop
    assert stack["uvicorn"][0].isdigit()
