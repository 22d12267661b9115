"""`services.transaction.one_transaction` (issue 13): services run in one transaction see one
snapshot, and a service that loses a race inside it is rolled back and rerun as on its own."""

from __future__ import annotations

import pytest
from sqlalchemy import event, text

from rebill.bootstrap import build
from rebill.config import Settings
from rebill.demo.data import demo_catalog
from rebill.services.access.keys import authenticate, create_key
from rebill.services.catalog.apply import apply_catalog
from rebill.services.races import rerun_on_race
from rebill.services.transaction import one_transaction
from tests.integration.test_close_integrity import NOW, PERIOD


def test_a_race_lost_inside_one_transaction_is_rerun_in_a_new_one(db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("a unique violation is a race on PostgreSQL only (its SQLSTATE)")
    app = build(Settings(database_url=db_url, now=NOW))
    apply_catalog(app.uow, demo_catalog(PERIOD), "catalog", NOW)
    key, _ = create_key(app.uow, "agency", "acme", None, "admin", NOW)
    begins: list[int] = []
    event.listen(app.engine, "begin", lambda _connection: begins.append(1))
    attempts: list[int] = []

    def work_losing_once() -> str:
        attempts.append(1)
        with uow_factory() as uow:
            if len(attempts) == 1:  # the version row exists: a unique violation, SQLSTATE 23505
                uow.session.execute(text("INSERT INTO cache_version (id, version) VALUES (1, 0)"))
            agencies = uow.platform.agencies.ids()
            uow.commit()
            return ",".join(agencies)

    with one_transaction(app.uow) as uow_factory:
        assert authenticate(uow_factory, key) is not None
        assert rerun_on_race(work_losing_once) == "acme"
    assert len(attempts) == 2  # rerun after the lost race, in a new transaction
    assert len(begins) == 2
    app.dispose()


def test_a_failure_inside_one_transaction_rolls_back_what_it_did(db_url: str) -> None:
    app = build(Settings(database_url=db_url, now=NOW))
    apply_catalog(app.uow, demo_catalog(PERIOD), "catalog", NOW)
    with (
        pytest.raises(RuntimeError),
        one_transaction(app.uow) as uow_factory,
        uow_factory() as uow,
    ):
        uow.session.execute(text("UPDATE agencies SET name = 'Changed' WHERE id = 'acme'"))
        raise RuntimeError("the service failed")
    with app.uow() as uow:
        name = uow.session.execute(text("SELECT name FROM agencies WHERE id = 'acme'")).scalar()
    assert name != "Changed"
    app.dispose()
