"""Alembic's environment: runs the migrations on the engine the caller put in the config.

The migrations run in one transaction that writes from its start and holds the setup lock, so
processes started together on a new database migrate it one after the other.
"""

from alembic import context

from cnc6g.storage.db import lock_setup
from cnc6g.storage.tables import Base

config = context.config
engine = config.attributes["engine"]

with engine.execution_options(write=True).begin() as connection:
    lock_setup(connection)
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
