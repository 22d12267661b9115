"""A fresh two-agency world per test (SQLite, and PostgreSQL when configured) with keys of
every role, and a snapshot of everything an attack could change, to assert that a refused
request changed nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from tests.e2e.api_fixtures import World, world_on

# Tables an attack on the trust boundary could touch.
WATCHED = (
    "platform",
    "agencies",
    "wholesale_voice_rates",
    "wholesale_number_prices",
    "wholesale_schedule",
    "plans",
    "plan_voice_rates",
    "subscriptions",
    "phone_numbers",
    "sub_accounts",
    "custom_domains",
    "audit_log",
    "top_up_requests",
    "invoice_sequences",
)


@pytest.fixture(params=["sqlite", "postgres"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    yield from world_on(request.param, tmp_path_factory.mktemp("security"), close=False)


def snapshot(world: World) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the watched tables, in a stable order."""
    metadata = MetaData()
    metadata.reflect(world.rebill.engine, only=[t for t in WATCHED])
    found: dict[str, list[tuple[Any, ...]]] = {}
    with world.rebill.engine.connect() as connection:
        for name in WATCHED:
            rows = connection.execute(select(metadata.tables[name])).all()
            found[name] = sorted((tuple(r) for r in rows), key=repr)
    return found
