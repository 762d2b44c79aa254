"""Persistence of the control plane: tables, transactions and migrations (SQLAlchemy, Alembic)."""

from cnc6g.storage.db import Database, current_revision, make_engine, upgrade

__all__ = ["Database", "current_revision", "make_engine", "upgrade"]
