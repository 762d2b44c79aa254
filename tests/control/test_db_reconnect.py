"""A pooled PostgreSQL connection the server dropped: the next operation still succeeds.

Connections are not pinged when taken from the pool; a transaction whose first statement finds
its connection dead is run again on a new one (the database kept nothing of it). A real
PostgreSQL server ends the pool's connections (``pg_terminate_backend``) between operations.
"""

import pytest
from harness import fresh_database, postgres_admin_url
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError

from cnc6g.control import ControlPlane, Settings
from cnc6g.control.catalog import create_client
from cnc6g.control.schemas import ClientCreate, Role
from cnc6g.storage.db import is_retryable
from cnc6g.storage.tables import Client


def _terminate_others(database: str) -> int:
    admin = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            return len(
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :d AND pid <> pg_backend_pid()"
                    ),
                    {"d": database},
                ).all()
            )
    finally:
        admin.dispose()


@pytest.fixture
def postgres_url(tmp_path):
    with fresh_database("postgres", tmp_path) as url:
        yield url


def test_an_operation_on_a_dropped_connection_is_run_again(postgres_url):
    plane = ControlPlane(Settings(database_url=postgres_url, clock="manual"))
    plane.setup()
    try:
        count = select(func.count()).select_from(Client)
        assert plane.run(lambda p, s: s.scalar(count), write=False)[0] == 0
        assert _terminate_others(plane.db.engine.url.database) >= 1
        made = plane.run(create_client, None, ClientCreate(name="t", role=Role.terminal))[0]
        assert plane.run(lambda p, s: s.scalar(count), write=False)[0] == 1
        assert made.client_id.startswith("term-")
        # what a dropped connection raises is what the retry takes
        assert _terminate_others(plane.db.engine.url.database) >= 1
        with pytest.raises(DBAPIError) as raised, plane.db.transaction() as s:
            s.scalar(count)
        assert is_retryable(raised.value)
    finally:
        plane.db.dispose()
