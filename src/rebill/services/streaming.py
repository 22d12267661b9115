"""Call-ended events from a stream (`rebill consume`): each event is a call record as
`POST /v1/calls` takes it, plus the `agency` it belongs to. A batch is recorded through the
same ingestion service as the API (`services.usage.import_file.ingest_calls`: validation,
rating, de-duplication by call id), and the stream is told which events are done only after
that commit; a batch that fails is left unacknowledged, to come again (its calls already
stored come back as duplicates, so nothing is lost or doubled)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rebill.domain.errors import BillingError
from rebill.domain.text import text_problem
from rebill.services.ports import UnitOfWorkFactory
from rebill.services.usage.import_file import ingest_calls

logger = logging.getLogger("rebill.stream")


class StreamUnavailable(RuntimeError):
    """The broker cannot be reached, or has no such stream: nothing was consumed."""


@dataclass(frozen=True)
class Outcome:
    """What became of one event: `accepted`, `duplicate`, `rejected` (bad event: done with
    it, never redelivered) or `retry` (not recorded: deliver it again)."""

    status: str
    call_id: str | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status != "retry"


def record_events(
    uow_factory: UnitOfWorkFactory, payloads: list[bytes], now: datetime
) -> list[Outcome]:
    """Record a batch of events; one outcome per event, in order."""
    outcomes: list[Outcome | None] = [None] * len(payloads)
    by_agency: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for index, payload in enumerate(payloads):
        parsed = _parse(payload)
        if isinstance(parsed, Outcome):
            outcomes[index] = parsed
            continue
        agency_id, record = parsed
        by_agency.setdefault(agency_id, []).append((index, record))
    for agency_id, items in by_agency.items():
        for (index, _), outcome in zip(
            items, _ingest(uow_factory, agency_id, items, now), strict=True
        ):
            outcomes[index] = outcome
    return [o if o is not None else Outcome("retry") for o in outcomes]


def _parse(payload: bytes) -> tuple[str, dict[str, Any]] | Outcome:
    try:
        event = json.loads(payload)
    except ValueError as exc:  # not UTF-8 (UnicodeDecodeError) or not JSON
        return Outcome("rejected", error=f"not JSON: {exc}")
    except RecursionError:
        return Outcome("rejected", error="not JSON: nested too deeply")
    if not isinstance(event, dict):
        return Outcome("rejected", error="an event is a JSON object")
    agency_id = event.pop("agency", None)
    call_id = event.get("call_id")
    shown_id = call_id if isinstance(call_id, str) and text_problem(call_id) is None else None
    if not isinstance(agency_id, str) or not agency_id:
        return Outcome("rejected", shown_id, "the event names no `agency`")
    if text_problem(agency_id):
        return Outcome("rejected", shown_id, "the event's `agency` is not plain text")
    return agency_id, event


def _ingest(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    items: list[tuple[int, dict[str, Any]]],
    now: datetime,
) -> list[Outcome]:
    records = [record for _, record in items]
    try:
        results = ingest_calls(uow_factory, agency_id, records, now)
    except BillingError as error:  # the agency does not exist, ...: done with these events
        logger.warning("events refused", extra={"agency": agency_id, "error": error.message})
        return [Outcome("rejected", r.get("call_id"), error.message) for r in records]
    return [Outcome(r.status, r.call_id, str(r.error) if r.error else None) for r in results]


Handler = Callable[[list[bytes]], list[Outcome]]
