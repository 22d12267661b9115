"""Alembic environment: runs on the engine that rebill hands over (no ini file)."""

from __future__ import annotations

from alembic import context

from rebill.adapters.db.rows import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
