"""The sweep on Ray: same jobs, same rows as in-process; bad set-up fails before any job runs."""

import csv
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cnc6g.cli.main import app
from cnc6g.experiments import (
    BackendError,
    Job,
    LocalBackend,
    PolicySpec,
    RayBackend,
    compare,
    make_backend,
)

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
SWEEP = {"loads": [0.3, 0.9], "slots": 12, "window": 5, "seeds": (0, 1)}


def _timeless(rows):
    """Rows without wall-clock fields (``decide_ms_p50``, ``opt_solve_ms_*``)."""
    rows = [row if isinstance(row, dict) else row.as_row() for row in rows]
    return [{k: v for k, v in row.items() if "_ms_" not in k} for row in rows]


@pytest.fixture(scope="module")
def ray_backend():
    """One local Ray instance of two CPUs for the module; backends made meanwhile reuse it."""
    backend = RayBackend(workers=2)
    backend.start()
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def local_rows(tiny_scenario):
    return compare(tiny_scenario, ["rand", "grd"], **SWEEP)


def test_ray_gives_the_rows_of_the_local_backend(ray_backend, tiny_scenario, local_rows):
    ticks = []
    rows = compare(
        tiny_scenario, ["rand", "grd"], **SWEEP, on_slot=ticks.append, backend=ray_backend
    )
    assert len(rows) == 8
    assert _timeless(rows) == _timeless(local_rows)
    assert rows[0].lp_bound_j_per_slot is not None
    assert rows[0].objective_over_bound is not None
    assert len(ticks) == 8 * SWEEP["slots"]


def test_a_capped_number_of_jobs_in_flight_gives_the_same_rows(
    ray_backend, tiny_scenario, local_rows
):
    import ray

    capped = RayBackend(address="auto", workers=1)  # joins the running instance
    rows = compare(tiny_scenario, [PolicySpec("rand"), PolicySpec("grd")], **SWEEP, backend=capped)
    capped.close()
    assert ray.is_initialized()  # it did not start the instance, so it left it running
    assert _timeless(rows) == _timeless(local_rows)


def test_a_failing_job_raises_its_error(ray_backend, tiny_scenario):
    with pytest.raises(ValueError, match="unknown policy"):
        compare(tiny_scenario, ["grd", "zzz"], [0.5], slots=3, window=2, backend=ray_backend)


@pytest.mark.parametrize(
    ("address", "reason"),
    [("127.0.0.1:1", "cannot reach a Ray cluster at '127.0.0.1:1'"), ("nonsense", "HOST:PORT")],
)
def test_a_bad_address_fails_before_any_job(address, reason):
    ran = []
    backend = RayBackend(address=address)
    with pytest.raises(BackendError, match=reason):
        backend.run([Job(ran.append, {"x": 1})])
    assert ran == []


def test_backend_names_and_options_are_checked():
    with pytest.raises(BackendError, match="unknown backend 'spark'"):
        make_backend("spark")
    with pytest.raises(BackendError, match="ray backend only"):
        make_backend("local", workers=2)
    with pytest.raises(BackendError, match="workers must be >= 1"):
        make_backend("ray", workers=0)
    assert isinstance(make_backend("local"), LocalBackend)


def test_local_backend_runs_jobs_in_order_and_reports_slots():
    def job(x, on_slot=None):
        for t in range(x):
            on_slot(t)
        return x * 10

    ticks = []
    jobs = [Job(job, {"x": 2}, slots=2), Job(job, {"x": 1}, slots=1)]
    assert LocalBackend().run(jobs, ticks.append) == [20, 10]
    assert ticks == [0, 1, 0]


def test_policy_spec_builds_with_its_options():
    policy = PolicySpec.of("opt", time_limit=0.5, mip_rel_gap=0.01).build()
    assert (policy.time_limit, policy.mip_rel_gap) == (0.5, 0.01)
    with pytest.raises(ValueError, match="built-in policies only"):
        PolicySpec.of("pkg.mod:Cls", x=1).build()


def test_importing_the_package_and_cli_does_not_import_ray():
    code = "import sys, cnc6g, cnc6g.cli.main; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def _csv_rows(path):
    with path.open() as fh:
        return _timeless(list(csv.DictReader(fh)))


def test_cli_compare_on_ray_writes_the_local_results(ray_backend, tmp_path):
    args = ["compare", "--scenario", "tiny", "--policies", "rand,grd", "--loads", "0.3,0.9"]
    args += ["--seeds", "0,1", "--slots", "12", "--window", "5"]
    local = runner.invoke(app, [*args, "--out", str(tmp_path / "local")])
    remote = runner.invoke(app, [*args, "--backend", "ray", "--out", str(tmp_path / "ray")])
    assert local.exit_code == 0, local.output
    assert remote.exit_code == 0, remote.output
    assert "96/96" in remote.output  # the progress bar counted every slot of every run
    assert _csv_rows(tmp_path / "ray" / "results.csv") == _csv_rows(
        tmp_path / "local" / "results.csv"
    )


@pytest.mark.parametrize(
    ("args", "flag", "reason"),
    [
        (["--backend", "spark"], "--backend", "'spark' is not one of"),
        (["--address", "127.0.0.1:6379"], "--address", "applies to --backend ray only"),
        (["--workers", "2"], "--workers", "applies to --backend ray only"),
        (["--backend", "ray", "--address", "127.0.0.1:1"], "--address", "cannot reach"),
        (["--backend", "ray", "--workers", "0"], "--workers", "greater than or equal to 1"),
    ],
)
def test_cli_rejects_bad_backend_flags_before_running(args, flag, reason, tmp_path):
    out = tmp_path / "o"
    result = runner.invoke(app, ["compare", "--scenario", "tiny", *args, "--out", str(out)])
    assert result.exit_code == 2, result.output
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())
    assert flag in text
    assert reason in text
    assert not out.exists()


def _ray_processes():
    import subprocess

    out = subprocess.run(["ps", "-eo", "pid,cmd"], capture_output=True, text=True).stdout
    marks = ("ray::", "raylet", "gcs_server", "ray/dashboard")
    return {line.split()[0] for line in out.splitlines()[1:] if any(m in line for m in marks)}


def test_ctrl_c_on_a_ray_sweep_keeps_its_rows_and_leaves_no_ray_process(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    before = _ray_processes()
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "cnc6g", "compare", "-s", "paper-case-study"]
    cmd += ["--policies", "grd,rand", "--loads", "0.3,0.6,0.9,1.2", "--seeds", "0,1,2,3"]
    cmd += ["--slots", "300", "--backend", "ray", "--workers", "2", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    results = out / "results.csv"
    while time.monotonic() < deadline and proc.poll() is None:
        if results.is_file() and len(results.read_text().splitlines()) >= 2:
            break
        time.sleep(0.5)
    assert proc.poll() is None, "the sweep ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in output
    assert "--resume" in " ".join(output.split())
    assert len(results.read_text().splitlines()) >= 2
    time.sleep(2)
    assert _ray_processes() - before == set()
