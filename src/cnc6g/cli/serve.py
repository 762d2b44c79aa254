"""``cnc6g serve``, ``cnc6g db`` and ``cnc6g admin``: the control plane as a service."""

from __future__ import annotations

import importlib.util
from typing import Annotated

import typer
from rich.table import Table

from cnc6g.cli.common import err_console, out_console
from cnc6g.orchestration import BUILTIN

DEFAULT_DB = "sqlite:///cnc6g-control.db"
"""The embedded default database: a SQLite file in the current folder."""

SHUTDOWN_GRACE_S = 5
"""How long a stopping server waits for open responses (event streams last up to an hour)
before it cuts them and gives the slot loop's lease up."""

HTTP_IMPLEMENTATIONS = ("auto", "h11", "httptools")
EVENT_LOOPS = ("auto", "asyncio", "uvloop")

DatabaseOpt = Annotated[
    str,
    typer.Option(
        "--database-url",
        help="sqlite:///FILE (default) or postgresql+psycopg://USER@HOST/DB",
        envvar="CNC6G_DATABASE_URL",
    ),
]

db_app = typer.Typer(
    help="The control plane's database: migrations.", no_args_is_help=True, rich_markup_mode=None
)
admin_app = typer.Typer(
    help="Administration of the control plane.", no_args_is_help=True, rich_markup_mode=None
)


def _database(url: str):  # type: ignore[no-untyped-def]
    from cnc6g.storage import Database

    try:
        return Database(url)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--database-url") from None


def serve(
    scenario: Annotated[
        str, typer.Option("--scenario", "-s", help="preset name or scenario file of the live twin")
    ] = "speech-translation",
    policy: Annotated[
        str,
        typer.Option("--policy", "-p", help=f"{', '.join(BUILTIN)} or package.module:Class"),
    ] = "grd",
    database_url: DatabaseOpt = DEFAULT_DB,
    clock: Annotated[
        str,
        typer.Option("--clock", help="realtime, accelerated:K (K times faster) or manual"),
    ] = "realtime",
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="port to listen on", min=1, max=65535)] = 8000,
    seed: Annotated[int, typer.Option("--seed", help="seed of the twin and the policy", min=0)] = 0,
    no_loop: Annotated[
        bool, typer.Option("--no-loop", help="serve the API only; another process runs the slots")
    ] = False,
    loop_process: Annotated[
        bool,
        typer.Option(
            "--loop-process",
            help="run the slot loop in a process of its own (started and stopped with this "
            "one), not in a thread of this process",
        ),
    ] = False,
    lease_s: Annotated[
        float,
        typer.Option(
            "--lease-s",
            help="seconds the slot loop's lease lasts unrenewed before another process takes over",
            min=0.1,
        ),
    ] = 5.0,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn's log level")] = "info",
    http: Annotated[
        str,
        typer.Option(
            "--http",
            help="HTTP/1.1 parser: h11 (pure Python), httptools (compiled) or auto (httptools "
            "where it is installed)",
        ),
    ] = "auto",
    event_loop: Annotated[
        str,
        typer.Option(
            "--event-loop",
            help="asyncio event loop: asyncio (the standard library's), uvloop (libuv) or auto "
            "(uvloop where it is installed)",
        ),
    ] = "auto",
) -> None:
    """Start the control plane's HTTP API over a live twin (OpenAPI at /docs)."""
    import uvicorn

    from cnc6g.api import create_app
    from cnc6g.control import ControlPlane, Settings
    from cnc6g.control.runtime import freeze_heap
    from cnc6g.orchestration import make_policy

    if http not in HTTP_IMPLEMENTATIONS:
        raise typer.BadParameter(
            f"{http!r} is not one of {', '.join(HTTP_IMPLEMENTATIONS)}", param_hint="--http"
        )
    if event_loop not in EVENT_LOOPS:
        raise typer.BadParameter(
            f"{event_loop!r} is not one of {', '.join(EVENT_LOOPS)}", param_hint="--event-loop"
        )
    for value, hint in ((http, "--http"), (event_loop, "--event-loop")):
        if value in ("httptools", "uvloop") and importlib.util.find_spec(value) is None:
            raise typer.BadParameter(f"{value} is not installed", param_hint=hint)
    try:
        make_policy(policy)
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--policy") from None
    try:
        settings = Settings(
            scenario=scenario,
            policy=policy,
            database_url=database_url,
            clock=clock,
            seed=seed,
            lease_s=lease_s,
            run_loop=not no_loop,
            loop_process=loop_process,
        )
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--clock") from None
    try:
        plane = ControlPlane(settings, _database(database_url))
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--scenario") from None
    try:
        plane.setup()
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--database-url") from None
    except Exception as err:  # an unreachable database, a refused connection
        raise typer.BadParameter(
            f"cannot use the database: {type(err).__name__}: {err}", param_hint="--database-url"
        ) from None
    err_console.print(
        f"control plane on http://{host}:{port} (OpenAPI: /docs), scenario {plane.scenario.name}, "
        f"policy {policy}, clock {clock}, database {database_url}"
    )
    app = create_app(plane)
    app.state.engine.freeze_after_build = True  # the slot loop's thread, if it runs here
    freeze_heap()  # the scenario, the schema, the app: built for the process's life
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http=http,
        loop=event_loop,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseOpt = DEFAULT_DB) -> None:
    """Apply the schema migrations (serve does this itself on start)."""
    from cnc6g.storage import current_revision

    db = _database(database_url)
    try:
        db.upgrade()
    except Exception as err:
        raise typer.BadParameter(
            f"cannot migrate: {type(err).__name__}: {err}", param_hint="--database-url"
        ) from None
    out_console.print(f"database at revision {current_revision(db.engine)}")


@admin_app.command("create-client")
def create_client(
    name: Annotated[str, typer.Option("--name", help="who the client is")] = "operator",
    role: Annotated[
        str, typer.Option("--role", help="operator, provider or terminal")
    ] = "operator",
    database_url: DatabaseOpt = DEFAULT_DB,
) -> None:
    """Create an API client and print its id and secret (shown this once)."""
    from pydantic import ValidationError

    from cnc6g.control.catalog import create_client as create
    from cnc6g.control.schemas import ClientCreate

    try:
        body = ClientCreate(name=name, role=role)  # type: ignore[arg-type]
    except ValidationError as err:
        field = str(err.errors()[0]["loc"][0])
        raise typer.BadParameter(err.errors()[0]["msg"], param_hint=f"--{field}") from None
    db = _database(database_url)
    try:
        db.upgrade()
        with db.transaction() as s:
            made = create(None, s, None, body)  # type: ignore[arg-type]
    except Exception as err:
        raise typer.BadParameter(
            f"cannot use the database: {type(err).__name__}: {err}", param_hint="--database-url"
        ) from None
    table = Table(title=f"client {made.name} ({made.role.value})")
    table.add_column("field")
    table.add_column("value")
    table.add_row("client_id", made.client_id)
    table.add_row("client_secret", made.client_secret)
    out_console.print(table)
