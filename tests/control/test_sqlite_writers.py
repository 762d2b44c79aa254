"""SQLite's writers queue on a file lock beside the database, across processes and threads."""

import fcntl

import pytest
from sqlalchemy import text

from cnc6g.storage.db import Database, _SqliteWriters


@pytest.fixture
def database(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'cp.db'}")
    yield db
    db.dispose()


def _free(path) -> bool:
    """Whether another open file description could take the writers' lock now."""
    with open(path, "a+b") as other:
        try:
            fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)
        return True


def test_a_writing_transaction_holds_the_file_lock_until_it_ends(database, tmp_path):
    lock = tmp_path / "cp.db-writers"
    with database.transaction() as session:
        session.execute(text("SELECT 1"))
        assert not _free(lock)  # another process's writer would wait here, not poll SQLite
    assert _free(lock)
    with database.transaction(write=False) as session:  # a reader takes no lock
        session.execute(text("SELECT 1"))
        assert _free(lock)


def test_a_failed_transaction_releases_the_file_lock(database, tmp_path):
    def refuse() -> None:
        with database.transaction() as session:
            session.execute(text("SELECT 1"))
            raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        refuse()
    assert _free(tmp_path / "cp.db-writers")


def test_two_databases_on_one_file_queue_on_the_same_lock(database, tmp_path):
    other = Database(f"sqlite:///{tmp_path / 'cp.db'}")
    try:
        with database.transaction():
            assert not _free(tmp_path / "cp.db-writers")
        with other.transaction():
            assert not _free(tmp_path / "cp.db-writers")
        assert _free(tmp_path / "cp.db-writers")
    finally:
        other.dispose()


def test_the_lock_is_reentrant_and_released_by_the_outermost_holder(tmp_path):
    writers = _SqliteWriters(str(tmp_path / "x.db"))
    lock = tmp_path / "x.db-writers"
    with writers:
        with writers:
            assert not _free(lock)
        assert not _free(lock)
    assert _free(lock)
    writers.close()


def test_an_in_memory_database_has_no_lock_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    writers = _SqliteWriters(":memory:")
    with writers:
        pass
    assert list(tmp_path.iterdir()) == []
