"""The schema check on start-up: the newest revision read from the migration files is the one
Alembic finds, a database at it is left alone, and one behind it (new, or an older revision)
is upgraded by Alembic, on both backends."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory

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
