"""Alembic environment: runs on the engine that rebill hands over (no ini file).

On SQLite a migration that drops or alters a column rebuilds the table (batch mode: copy,
DROP, rename), which foreign keys pointing at it would refuse. Foreign keys are switched off
for the migration's connection (SQLite ignores the pragma inside a transaction, so it is set
before one begins), checked with `PRAGMA foreign_key_check` before the commit, and switched
on again after."""

from __future__ import annotations

from alembic import context

from rebill.adapters.db.rows import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    # Straight on the driver's connection (autocommit): through SQLAlchemy the pragma would
    # follow the BEGIN that rebill's engine emits first.
    driver = connection.connection.driver_connection
    if sqlite:
        driver.execute("PRAGMA foreign_keys=OFF")
    try:
        with connection.begin():
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=sqlite,
            )
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
    finally:
        if sqlite:
            driver.execute("PRAGMA foreign_keys=ON")
