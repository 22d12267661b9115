"""Two closes of one period at once (issue 12): the second waits for the first's lock, finds
the period closed and answers the same invoices; nothing is issued twice. On PostgreSQL the
two run truly at once (SQLite serialises writers with BEGIN IMMEDIATE)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import text

from rebill.domain.period import Period
from rebill.services.invoicing.close import close_period
from tests.integration.test_close_integrity import NOW, PERIOD, seeded

ROUNDS = 3


def _close_together(url: str, count: int) -> list[list[dict[str, Any]] | BaseException]:
    app = seeded(url)
    start = threading.Barrier(count)
    results: list[list[dict[str, Any]] | BaseException] = [RuntimeError("not run")] * count

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = close_period(app.uow, PERIOD, None, NOW)
        except BaseException as exc:  # the test reports it below
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    with app.uow() as uow:
        session = uow.session  # type: ignore[attr-defined]
        numbers = session.execute(text("SELECT issuer, number FROM invoices")).all()
    app.dispose()
    assert len(numbers) == len(set(numbers))
    return results


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_closes_at_once_answer_the_same_invoices(db_url: str, round_: int) -> None:
    first, second = _close_together(db_url, 2)
    assert not isinstance(first, BaseException), repr(first)
    assert not isinstance(second, BaseException), repr(second)
    assert first == second
    assert len(first) == 2 and str(Period(2026, 10)) in str(first)
