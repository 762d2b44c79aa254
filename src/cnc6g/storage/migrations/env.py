"""Alembic's environment: runs the migrations on the engine the caller put in the config."""

from alembic import context

from cnc6g.storage.tables import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
