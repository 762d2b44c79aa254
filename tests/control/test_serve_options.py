"""``cnc6g serve``'s HTTP server options: the parser and event loop it runs on.

By default uvicorn takes its compiled HTTP parser (httptools) and libuv's event loop (uvloop),
both dependencies of the project; ``--http h11 --event-loop asyncio`` keeps the pure-Python
pair. A value outside the choices, or one whose package is not installed, is refused naming its
flag, before anything is written.
"""

import sys

import pytest
from harness import Server, cli_create_client
from typer.testing import CliRunner

from cnc6g.cli.main import app

runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})


@pytest.mark.parametrize(
    ("flag", "value"), [("--http", "spdy"), ("--event-loop", "trio"), ("--http", "")]
)
def test_an_unknown_server_option_names_its_flag_and_writes_nothing(tmp_path, flag, value):
    db = tmp_path / "control.db"
    result = runner.invoke(
        app, ["serve", "--database-url", f"sqlite:///{db}", "--clock", "manual", flag, value]
    )
    assert result.exit_code == 2
    assert flag in result.output
    assert repr(value) in " ".join(result.output.split())
    assert not db.exists()


def test_the_default_server_runs_on_httptools_and_uvloop():
    uvicorn = pytest.importorskip("uvicorn")
    config = uvicorn.Config(app=None, http="auto", loop="auto")
    config.load()
    assert config.http_protocol_class.__name__ == "HttpToolsProtocol"
    if sys.platform != "win32":
        factory = config.get_loop_factory()
        assert factory is not None
        loop = factory()
        try:
            assert type(loop).__module__.startswith("uvloop")
        finally:
            loop.close()


@pytest.mark.parametrize(
    "options", [("--http", "h11", "--event-loop", "asyncio"), ("--http", "httptools")]
)
def test_a_server_on_either_parser_answers_an_authenticated_call(tmp_path, options):
    url = f"sqlite:///{tmp_path / 'control.db'}"
    server = Server(url, tmp_path / "serve.log", clock="manual", extra=options).start()
    try:
        credentials = cli_create_client(url)
        with server.client(credentials) as api:
            assert api.get("/health").status_code == 200
            assert api.advance(2) == 2
            listed = api.get("/service-catalog/v0.1/services")
            assert listed.status_code == 200, listed.text
    finally:
        server.stop()


def test_a_parser_or_loop_that_is_not_installed_is_refused_before_anything_is_written(
    tmp_path, monkeypatch
):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real(name, *a)
    )
    db = tmp_path / "control.db"
    result = runner.invoke(
        app, ["serve", "--database-url", f"sqlite:///{db}", "--event-loop", "uvloop"]
    )
    assert result.exit_code == 2
    assert "--event-loop" in result.output
    assert "uvloop is not installed" in " ".join(result.output.split())
    assert not db.exists()
