"""The read cache (issue 13): what one process caches, another process's change (or a plain
SQL statement) replaces at once; a transaction sees its own writes; every cached table bumps
the version, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, text

from rebill.adapters.db.engine import normalize_url
from rebill.adapters.db.read_cache import CACHED_TABLES, _table_written
from rebill.bootstrap import App, build
from rebill.config import Settings
from rebill.demo.data import demo_catalog
from rebill.domain.account import SubAccount
from rebill.domain.caps import Caps
from rebill.domain.plan import Limits
from rebill.domain.tax_decision import BuyerTaxIdentity
from rebill.services.access.keys import authenticate, create_key, revoke_key
from rebill.services.accounts.sub_accounts import set_state
from rebill.services.catalog.apply import apply_catalog
from rebill.services.usage.authorize import authorize_call
from tests.integration.test_close_integrity import NOW, PERIOD


def _two_processes(url: str) -> tuple[App, App]:
    """Two composition roots on one database, as two server processes have."""
    first = build(Settings(database_url=url, now=NOW))
    apply_catalog(first.uow, demo_catalog(PERIOD), "catalog", NOW)
    return first, build(Settings(database_url=url, now=NOW))


def _version(app: App) -> int:
    with app.uow() as uow:
        return int(uow.session.execute(text("SELECT version FROM cache_version")).scalar_one())


def test_a_key_revoked_by_another_process_is_refused_at_once(db_url: str) -> None:
    server, other = _two_processes(db_url)
    key, key_id = create_key(other.uow, "agency", "acme", None, "admin", NOW)
    assert authenticate(server.uow, key) is not None  # cached now
    assert authenticate(server.uow, key) is not None
    revoke_key(other.uow, key_id, NOW)
    assert authenticate(server.uow, key) is None
    server.dispose()
    other.dispose()


def test_a_suspension_by_another_process_refuses_the_next_call(db_url: str) -> None:
    server, other = _two_processes(db_url)
    sub = "bright-dental"
    assert authorize_call(server.uow, "acme", sub, "outbound", None, NOW).decision.allowed
    set_state(other.uow, "acme", sub, "suspended", "test", "unpaid", NOW)
    decision = authorize_call(server.uow, "acme", sub, "outbound", None, NOW).decision
    assert (decision.allowed, decision.reason) == (False, "sub_account_suspended")
    server.dispose()
    other.dispose()


def test_a_plain_sql_change_is_seen_at_once(db_url: str) -> None:
    server, _ = _two_processes(db_url)
    sub = "bright-dental"
    assert authorize_call(server.uow, "acme", sub, "outbound", None, NOW).decision.allowed
    before = _version(server)
    engine = create_engine(normalize_url(db_url))
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE sub_accounts SET state = 'suspended' WHERE id = :s"), {"s": sub}
        )
    engine.dispose()
    assert _version(server) > before
    decision = authorize_call(server.uow, "acme", sub, "outbound", None, NOW).decision
    assert decision.reason == "sub_account_suspended"
    server.dispose()


def test_a_transaction_reads_its_own_writes_past_the_cache(db_url: str) -> None:
    server, _ = _two_processes(db_url)
    with server.uow() as uow:
        tenant = uow.for_agency("acme")
        assert tenant.sub_accounts.get("newcomer") is None  # the cache holds the agency's subs
        template = tenant.sub_accounts.get("bright-dental")
        assert template is not None
        newcomer = SubAccount(
            "acme",
            "newcomer",
            "Newcomer",
            "a@b.example",
            "active",
            Limits(None, None, None),
            Caps(None, None, (), "soft"),
            None,
            None,
            BuyerTaxIdentity(None, None, ()),
        )
        tenant.sub_accounts.save(newcomer, None, NOW)
        assert tenant.sub_accounts.get("newcomer") == newcomer  # its own write, not the cache
        assert "newcomer" in tenant.sub_accounts.all()
        uow.rollback()
    with server.uow() as uow:  # rolled back: the cache never held it
        assert uow.for_agency("acme").sub_accounts.get("newcomer") is None
    server.dispose()


def _triggers(app: App) -> dict[str, int]:
    with app.uow() as uow:
        session = uow.session
        if session.get_bind().dialect.name == "sqlite":
            rows = session.execute(
                text(
                    "SELECT tbl_name, count(*) FROM sqlite_master WHERE type = 'trigger'"
                    " AND name LIKE 'bump_cache_version%' GROUP BY tbl_name"
                )
            )
        else:
            rows = session.execute(
                text(
                    "SELECT c.relname, count(*) FROM pg_trigger t JOIN pg_class c"
                    " ON c.oid = t.tgrelid WHERE t.tgname = 'bump_cache_version'"
                    " AND c.relnamespace = to_regnamespace(current_schema())::oid"
                    " GROUP BY c.relname"
                )
            )
        return {str(table): int(count) for table, count in rows}


def test_every_cached_table_bumps_the_version(db_url: str) -> None:
    """A later migration that rebuilds a cached table (SQLite batch mode drops its triggers)
    must install them again: this fails until it does."""
    server, _ = _two_processes(db_url)
    expected = 3 if db_url.startswith("sqlite") else 1  # per action on SQLite; one on PostgreSQL
    assert _triggers(server) == dict.fromkeys(CACHED_TABLES, expected)
    server.dispose()


@pytest.mark.parametrize(
    ("statement", "table"),
    [
        ("INSERT INTO sub_accounts (agency_id, id) VALUES (?, ?)", "sub_accounts"),
        ('INSERT INTO "plans" (id) VALUES (1)', "plans"),
        ("UPDATE agencies SET name=? WHERE agencies.id = ?", "agencies"),
        ("  update api_keys set revoked_at = now()", "api_keys"),
        ("DELETE FROM period_closes WHERE agency_id = ?", "period_closes"),
        ("INSERT INTO calls(call_id) VALUES (1)", "calls"),
        ("SELECT * FROM sub_accounts", None),
        ("UPDATE", None),
    ],
)
def test_the_table_a_statement_writes(statement: str, table: Any) -> None:
    assert _table_written(statement) == table


def test_a_version_read_on_a_lost_connection_is_a_clean_503_and_the_pool_recovers(
    db_url: str,
) -> None:
    """The version is read on the driver's cursor (issue 13): a connection the server dropped
    is still raised as SQLAlchemy raises it (an OperationalError, the connection invalidated:
    the API's 503), and the next unit of work gets a working connection."""
    from sqlalchemy import exc as sql

    from rebill.entrypoints.api.errors import database_unavailable

    if not db_url.startswith("postgresql"):
        pytest.skip("a dropped connection is a server's (PostgreSQL)")
    server, _ = _two_processes(db_url)
    key, _ = create_key(server.uow, "agency", "acme", None, "admin", NOW)
    admin = create_engine(db_url)
    with pytest.raises(sql.DBAPIError) as raised, server.uow() as uow:
        backend = uow.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        uow.session.commit()  # the next statement begins a new transaction: the version read
        with admin.begin() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        uow.platform.api_keys.get("key_nothing")
    assert database_unavailable(raised.value)
    assert raised.value.connection_invalidated
    assert "cache_version" in str(raised.value.statement)  # the read's own error, not a follow-on
    assert authenticate(server.uow, key) is not None  # a fresh connection, nothing stuck
    admin.dispose()
    server.dispose()


def test_a_key_check_and_a_decision_share_one_transaction(db_url: str) -> None:
    """`services.transaction.one_transaction`: the services it lends its unit of work to open
    no session of their own, and a revoked key is refused in it as on its own."""
    from sqlalchemy import event

    from rebill.services.transaction import one_transaction

    server, other = _two_processes(db_url)
    key, key_id = create_key(other.uow, "agency", "acme", None, "admin", NOW)
    begins: list[int] = []
    event.listen(server.engine, "begin", lambda _connection: begins.append(1))
    with one_transaction(server.uow) as uow:
        principal = authenticate(uow, key)
        assert principal is not None and principal.agency_id == "acme"
        decision = authorize_call(uow, "acme", "bright-dental", "outbound", None, NOW).decision
        assert decision.allowed
    assert len(begins) == 1
    revoke_key(other.uow, key_id, NOW)
    with one_transaction(server.uow) as uow:
        assert authenticate(uow, key) is None
    server.dispose()
    other.dispose()
