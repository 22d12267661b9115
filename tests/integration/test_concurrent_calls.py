"""Call batches at once (issue 12): disjoint batches that open a sub-account's month together,
and the same batch twice, are all answered with per-record statuses; every call is stored once.
On PostgreSQL the batches run truly at once; on SQLite they queue for the write lock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from rebill.services.usage.import_file import import_usage_file, ingest_calls
from rebill.services.wallets.credits import record_credit_purchase
from tests.integration.test_close_integrity import NOW, seeded


def _together(count: int, work: Callable[[int], object]) -> list[Any]:
    start = threading.Barrier(count)
    results: list[Any] = [RuntimeError("not run")] * count

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = work(index)
        except BaseException as exc:  # reported by the assertions below
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _batch(prefix: str, size: int) -> list[dict[str, Any]]:
    # December: no call of the seeded month is in it, so every batch opens new counters.
    return [
        {
            "call_id": f"{prefix}-{n}",
            "sub_account": "bright-dental",
            "started_at": f"2026-12-0{1 + n % 9}T10:00:00Z",
            "duration_seconds": 61,
            "direction": "outbound",
        }
        for n in range(size)
    ]


def _stored(app: Any, prefix: str) -> int:
    with app.uow() as uow:
        query = text("SELECT count(*) FROM calls WHERE call_id LIKE :p")
        return int(uow.session.execute(query, {"p": f"{prefix}-%"}).scalar_one())


def test_disjoint_batches_opening_a_month_together_are_all_stored(db_url: str) -> None:
    app = seeded(db_url)
    batches = 6
    results = _together(batches, lambda i: ingest_calls(app.uow, "acme", _batch(f"d{i}", 20), NOW))
    for result in results:
        assert not isinstance(result, BaseException), repr(result)
        assert {r.status for r in result} == {"accepted"}
    for i in range(batches):
        assert _stored(app, f"d{i}") == 20
    app.dispose()


def test_the_same_batch_twice_at_once_is_stored_once(db_url: str) -> None:
    app = seeded(db_url)
    batch = _batch("twin", 30)
    first, second = _together(2, lambda _: ingest_calls(app.uow, "acme", batch, NOW))
    assert not isinstance(first, BaseException), repr(first)
    assert not isinstance(second, BaseException), repr(second)
    statuses = sorted({r.status for r in first} | {r.status for r in second})
    assert statuses == ["accepted", "duplicate"]
    assert sorted([{r.status for r in first}, {r.status for r in second}], key=str) == [
        {"accepted"},
        {"duplicate"},
    ]
    assert _stored(app, "twin") == 30
    app.dispose()


def test_the_same_purchase_reference_twice_at_once_answers_the_first_receipt(
    db_url: str,
) -> None:
    app = seeded(db_url)
    first, second = _together(
        2,
        lambda _: record_credit_purchase(
            app.uow, "acme", "harbor-realty", "12.50", NOW, "bank-transfer-77"
        ),
    )
    assert not isinstance(first, BaseException), repr(first)
    assert not isinstance(second, BaseException), repr(second)
    assert first.receipt == second.receipt
    with app.uow() as uow:
        query = text("SELECT count(*) FROM invoices WHERE idempotency_key LIKE :k")
        receipts = uow.session.execute(query, {"k": "%bank-transfer-77%"}).scalar_one()
    assert receipts == 1
    app.dispose()


def test_two_overlapping_file_imports_at_once_store_every_call_once(
    db_url: str, tmp_path: Path
) -> None:
    app = seeded(db_url)
    files = []
    for index, ids in enumerate((range(0, 40), range(20, 60))):
        lines = ["call_id,sub_account,started_at,duration_seconds,direction"]
        lines += [f"file-{n},harbor-realty,2026-12-02T1{n % 10}:00:00Z,45,inbound" for n in ids]
        path = tmp_path / f"calls-{index}.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files.append(path)
    first, second = _together(2, lambda i: import_usage_file(app.uow, "acme", files[i], NOW))
    assert not isinstance(first, BaseException), repr(first)
    assert not isinstance(second, BaseException), repr(second)
    assert first.imported + second.imported == 60
    assert first.duplicates + second.duplicates == 20
    assert _stored(app, "file") == 60
    app.dispose()


def test_one_idempotency_key_claimed_at_once_runs_once(db_url: str) -> None:
    """Six requests with one Idempotency-Key at once: one claims it, the others find its
    record (in flight: the API's 409) -- none fails on the race for the record's key."""
    from rebill.services.access.idempotency import claim_key

    app = seeded(db_url)
    for round_ in range(8):  # the race is short: several rounds, each a key of its own
        key = f"same-{round_}"
        results = _together(6, lambda _, k=key: claim_key(app.uow, "key-1", k, "sha", NOW))
        assert not [r for r in results if isinstance(r, BaseException)], results
        claimed = [r for r in results if r is None]
        assert len(claimed) == 1, (round_, results)
        assert all(r.request_sha256 == "sha" and not r.done for r in results if r is not None)


def test_a_few_calls_and_many_are_stored_alike(db_url: str) -> None:
    """PostgreSQL stores up to `calls_inserted_max` calls with one INSERT into both tables and
    more with two COPYs: the rows are the same either way (SQLite has one path), a call of a
    month with no partition yet gets one, and a call id taken before is a duplicate."""
    from rebill.adapters.db.repositories import usage

    app = seeded(db_url)
    few = _batch("few", usage.calls_inserted_max)
    many = _batch("many", usage.calls_inserted_max + 1)
    far = [_batch("far", 1)[0] | {"started_at": "2031-07-04T10:00:00Z"}]
    for batch in (few, many, far):
        assert {r.status for r in ingest_calls(app.uow, "acme", batch, NOW)} == {"accepted"}
    again = ingest_calls(app.uow, "acme", few[:1], NOW)
    assert [r.status for r in again] == ["duplicate"]

    guard = (  # PostgreSQL's guard of one id per agency across months (SQLite's is the key)
        "JOIN call_ids i ON i.agency_id = c.agency_id AND i.call_id = c.call_id"
        if db_url.startswith("postgresql")
        else "JOIN calls i ON i.agency_id = c.agency_id AND i.call_id = c.call_id"
    )

    def rows(prefix: str) -> list[tuple[Any, ...]]:
        with app.uow() as uow:
            found = uow.session.execute(
                text(
                    "SELECT c.call_id, c.agency_id, c.sub_account_id, c.started_at,"
                    " c.duration_seconds, c.direction, c.campaign_id, c.phone_number, c.status,"
                    f" c.period, c.late, i.period AS id_period FROM calls c {guard}"
                    " WHERE c.call_id LIKE :p"
                ),
                {"p": f"{prefix}-%"},
            )
            return sorted(
                (int(row[0].split("-", 1)[1]), *row[1:]) for row in found
            )  # by the call's number: "few-3" and "many-3" are the same call

    assert rows("few") == rows("many")[: len(few)]
    assert len(rows("many")) == len(many)
    assert [row[-1] for row in rows("far")] == ["2031-07"]
    app.dispose()


def test_batches_opening_the_same_counters_wait_instead_of_losing_a_race(
    db_url: str, monkeypatch: Any
) -> None:
    """Batches at once that open the same sub-accounts' month (a platform's senders at the
    start of a month): on PostgreSQL the counters are made with `INSERT … ON CONFLICT DO
    NOTHING`, so the later batch waits for the first's commit and is funded from what it
    stored, instead of failing on the counter's key and running again whole. With no rerun
    allowed, every batch is still accepted, and the counters add up."""
    from rebill.services import races

    monkeypatch.setattr(races, "attempts_max", 1)  # a lost race would be this batch's error
    app = seeded(db_url)
    with app.uow() as uow:
        subs = sorted(
            uow.session.execute(text("SELECT id FROM sub_accounts WHERE agency_id = 'acme'"))
            .scalars()
            .all()
        )
    senders, per_sub = 4, 3

    def batch(index: int) -> list[dict[str, Any]]:
        return [
            {
                "call_id": f"open{index}-{sub}-{n}",
                "sub_account": sub,
                "started_at": f"2027-01-0{1 + n}T10:00:00Z",
                "duration_seconds": 61,
                "direction": "outbound",
            }
            for sub in (subs if index % 2 else subs[::-1])  # both orders of the same rows
            for n in range(per_sub)
        ]

    results = _together(senders, lambda i: ingest_calls(app.uow, "acme", batch(i), NOW))
    for result in results:
        assert not isinstance(result, BaseException), repr(result)
        assert {r.status for r in result} == {"accepted"}
    with app.uow() as uow:
        counted = dict(
            uow.session.execute(
                text(
                    "SELECT sub_account_id, calls FROM usage_counters"
                    " WHERE agency_id = 'acme' AND period = '2027-01'"
                )
            ).all()
        )
    assert counted == {sub: senders * per_sub for sub in subs}
    app.dispose()
