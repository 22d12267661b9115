"""The schema check on start-up: the newest revision read from the migration files is the one
Alembic finds, a database at it is left alone, and one behind it (new, or an older revision)
is upgraded by Alembic, on both backends. The check is one query; only when it fails is the
version table looked for, and a failure with the table there is raised, not taken for a new
database."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from rebill.adapters.db.engine import (
    alembic_config,
    head_revision,
    make_engine,
    migrate,
    stored_revisions,
)


def test_the_head_read_from_the_files_is_alembics(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    script = ScriptDirectory.from_config(alembic_config(engine))
    assert head_revision() == script.get_current_head()
    engine.dispose()


def test_a_new_database_is_migrated_to_the_head(db_url: str) -> None:
    engine = make_engine(db_url)
    assert stored_revisions(engine) == []
    migrate(engine)
    assert stored_revisions(engine) == [head_revision()]
    migrate(engine)  # at the head: nothing to do
    assert stored_revisions(engine) == [head_revision()]
    engine.dispose()


def test_a_database_at_an_older_revision_is_upgraded(db_url: str) -> None:
    engine = make_engine(db_url)
    script = ScriptDirectory.from_config(alembic_config(engine))
    previous = script.get_revision(head_revision()).down_revision
    assert isinstance(previous, str)
    command.upgrade(alembic_config(engine), previous)
    assert stored_revisions(engine) == [previous]
    migrate(engine)
    assert stored_revisions(engine) == [head_revision()]
    engine.dispose()


def test_the_check_of_a_migrated_database_is_one_query(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    migrate(engine)
    # No look for the table (PRAGMA table_info, pg_catalog): the one query of the revision,
    # beside SQLite's BEGIN and busy timeout.
    queries = [s for s in statements if not s.startswith(("BEGIN", "PRAGMA busy_timeout"))]
    assert queries == ["SELECT version_num FROM alembic_version"]
    engine.dispose()


def test_a_version_table_that_cannot_be_read_is_an_error_not_a_new_database(
    db_url: str,
) -> None:
    engine = make_engine(db_url)
    with engine.begin() as connection:  # not Alembic's: no version_num column
        connection.execute(text("CREATE TABLE alembic_version (other VARCHAR(32))"))
    with pytest.raises(DBAPIError):
        stored_revisions(engine)
    with pytest.raises(DBAPIError):
        migrate(engine)
    engine.dispose()
