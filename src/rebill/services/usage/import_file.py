"""`import_usage`: call records from a CSV or JSON Lines file into an agency's usage.

Each row is validated on its own: bad rows are reported with their line number, field and
reason, and the good rows of the file are still imported. Duplicates by `call_id` (already
stored, or repeated in the file) are skipped and counted; a call id that comes back with
different content is a `conflict` (counted and reported with the fields that differ, never
stored over the first). The import is one transaction.

The file import and the API's batches share one path: `triage` (one look-up of the stored
twins per chunk) then `record_calls` (rate, fund, one bulk insert).
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from rebill.domain.errors import FieldError, ValidationError
from rebill.domain.period import in_range, instant_range
from rebill.domain.rating import DIRECTIONS
from rebill.domain.text import text_problem
from rebill.services.accounts.tenant import open_agency
from rebill.services.ports import AgencyView, CallRecord, UnitOfWorkFactory
from rebill.services.races import rerun_on_race
from rebill.services.usage.record import RatingContext, record_calls

REQUIRED = ("call_id", "sub_account", "started_at", "duration_seconds", "direction")
OPTIONAL = ("campaign_id", "phone_number", "status")
FIELDS = REQUIRED + OPTIONAL
duration_seconds_max = 7 * 24 * 3600
call_id_length_max = 200
# The optional fields are labels: bounded so one record cannot carry megabytes into storage.
optional_length_max = {"campaign_id": 100, "phone_number": 32, "status": 32}
# Calls rated, funded and stored together. Each chunk costs a fixed amount per sub-account it
# touches (its counters, its totals rows): with 2,000 sub-accounts in a file, 10,000-row
# chunks cost 35 µs of CPU a call on PostgreSQL, 50,000-row chunks 27 µs (and +40 MiB).
chunk_rows_max = 50_000
# A call record is a few hundred bytes; a longer line is one rejected row, read in bounded pieces.
line_bytes_max = 64 * 1024
# Values echoed in error messages are cut to this many characters.
shown_length_max = 40
rejections_kept_max = 1_000


# The content a call id stands for, by its name in a usage record; a repeat that differs in
# any of these is a conflict.
CONTENT_FIELDS = (
    ("sub_account", "sub_account_id"),
    ("started_at", "started_at"),
    ("duration_seconds", "duration_seconds"),
    ("direction", "direction"),
    ("campaign_id", "campaign_id"),
    ("phone_number", "phone_number"),
    ("status", "status"),
)


@dataclass
class ImportReport:
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    late: int = 0
    conflicts: int = 0
    rejections: list[FieldError] = field(default_factory=list)
    conflict_details: list[FieldError] = field(default_factory=list)

    def reject(self, error: FieldError) -> None:
        self.rejected += 1
        if len(self.rejections) < rejections_kept_max:
            self.rejections.append(error)

    def conflict(self, error: FieldError) -> None:
        self.conflicts += 1
        if len(self.conflict_details) < rejections_kept_max:
            self.conflict_details.append(error)


def differing_fields(stored: CallRecord, call: CallRecord) -> tuple[str, ...]:
    """The record fields in which `call` differs from the call stored under its id (instants
    compared as instants, whatever their UTC offset)."""
    return tuple(
        name
        for name, attribute in CONTENT_FIELDS
        if getattr(stored, attribute) != getattr(call, attribute)
    )


def conflict_error(where: str, call_id: str, fields: tuple[str, ...]) -> FieldError:
    return FieldError(
        where,
        f"call id {_shown(call_id)} was received before with a different {', '.join(fields)}"
        " (the first is kept)",
        fields[0],
    )


Verdict = tuple[str, ...] | None


def triage(tenant: AgencyView, calls: list[CallRecord]) -> tuple[list[CallRecord], list[Verdict]]:
    """The new calls among `calls` (one look-up for the batch), and for each call in order:
    None (new), () (a true repeat: a duplicate) or the fields that differ (a conflict). A call
    id repeated within `calls` is judged against its first occurrence."""
    seen = tenant.usage.stored_calls([c.call_id for c in calls])
    fresh: list[CallRecord] = []
    verdicts: list[Verdict] = []
    for call in calls:
        if call.call_id not in seen:
            seen[call.call_id] = call
            fresh.append(call)
            verdicts.append(None)
            continue
        stored = seen[call.call_id]
        # A call of a detached (archived) month cannot be compared: it is a duplicate.
        verdicts.append(() if stored is None else differing_fields(stored, call))
    return fresh, verdicts


def _text(row: dict[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None or value == "":
        return None
    text = value.strip() if type(value) is str else str(value).strip()
    return text or None


def _texts(row: dict[str, Any], keys: tuple[str, ...]) -> list[str | None]:
    """`_text` of each key (the import's hot path: one call per row, not per field)."""
    get = row.get
    texts: list[str | None] = []
    for key in keys:
        value = get(key)
        if type(value) is str:
            texts.append(value.strip() or None)
        else:
            texts.append(None if value is None else (str(value).strip() or None))
    return texts


def parse_call(row: dict[str, Any], subs: set[str], where: str) -> CallRecord | FieldError:
    """One record, or the first problem found in it (with its field). On the import's hot path:
    each field is read and stripped once."""
    call_id, sub, started_text, _, direction_text = texts = _texts(row, REQUIRED)
    for key, text in zip(REQUIRED, texts, strict=True):
        if text is None:
            return FieldError(where, "is missing", key)
    for key, value in row.items():
        if type(value) is not str:
            if isinstance(value, (dict, list)):
                problem = "must be a single value, not a list or an object"
                return FieldError(where, problem, str(key))
            if type(value) is bool and key in FIELDS:
                return FieldError(where, f"must be text or a number, not {str(value).lower()}", key)
    optional = _texts(row, OPTIONAL)
    for key, text in zip(FIELDS, (*texts, *optional), strict=True):
        # NUL and lone surrogates cannot be stored (PostgreSQL text, UTF-8): checked only in
        # the rare text that is not plain ASCII or holds a NUL
        if text is not None and (not text.isascii() or "\0" in text):
            fault = text_problem(text)
            if fault:
                return FieldError(where, fault, key)
    for (key, length_max), text in zip(optional_length_max.items(), optional, strict=True):
        if text is not None and len(text) > length_max:
            return FieldError(where, f"is longer than {length_max} characters", key)
    assert call_id and sub and started_text and direction_text
    if len(call_id) > call_id_length_max:
        return FieldError(where, f"is longer than {call_id_length_max} characters", "call_id")
    if sub not in subs:
        return FieldError(where, f"unknown sub-account {_shown(sub)}", "sub_account")
    try:
        started_at = datetime.fromisoformat(started_text.replace("Z", "+00:00"))
    except ValueError:
        return FieldError(
            where, f"{_shown(started_text)} is not an ISO 8601 timestamp", "started_at"
        )
    if started_at.tzinfo is None:
        return FieldError(
            where, f"{_shown(started_text)} has no UTC offset (add Z or +00:00)", "started_at"
        )
    # Far months are stored (each in its own month), within the instants a period can hold.
    if not in_range(started_at):
        return FieldError(where, f"{_shown(started_text)} is {instant_range}", "started_at")
    if started_at.tzinfo is not UTC:
        # One instant, one form: datetimes that share the UTC object compare and sort without
        # asking each one's offset (the batch's sort, its periods, its storage).
        started_at = started_at.astimezone(UTC)
    duration = _duration(row["duration_seconds"])
    if isinstance(duration, str):
        return FieldError(where, duration, "duration_seconds")
    direction = direction_text.lower()
    if direction not in DIRECTIONS:
        return FieldError(
            where,
            f"unknown direction {_shown(row['direction'])} (inbound or outbound)",
            "direction",
        )
    return CallRecord(call_id, sub, started_at, duration, direction, *optional)


def _shown(value: object) -> str:
    """A value as quoted in an error message, cut short so a huge field is not echoed whole."""
    if not isinstance(value, str):
        value = str(value)
        if len(value) <= shown_length_max:
            return value
    if len(value) <= shown_length_max:
        return repr(value)
    return f"{value[:shown_length_max]!r}… ({len(value)} characters)"


def _duration(value: object) -> int | str:
    if isinstance(value, bool | float):
        return f"{value!r} is not a whole number of seconds"
    if isinstance(value, Decimal):
        # `adjusted()` reads the exponent without arithmetic, so 1e999999999 cannot overflow
        if not value.is_finite() or value.adjusted() > len(str(duration_seconds_max)):
            return f"{_shown(value)} is not a duration up to {duration_seconds_max} seconds"
        if value != value.to_integral_value():
            return f"{value} is not a whole number of seconds"
        number = int(value)
    elif isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        digits = text[1:] if text.startswith("-") else text
        # ASCII digits only: `isdigit` alone admits "²", which `int` refuses
        if not (digits.isdigit() and digits.isascii()):
            return f"{_shown(text)} is not a whole number of seconds"
        if len(text) > len(str(duration_seconds_max)) + 1:
            return f"{_shown(text)} is longer than {duration_seconds_max} seconds"
        number = int(text)
    if number < 0:
        return f"{number} is negative"
    if number > duration_seconds_max:
        return f"{number} is longer than {duration_seconds_max} seconds"
    return number


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | FieldError]]:
    """(line number, row) from CSV (header row) or JSON Lines, chosen by extension. A line that
    is not UTF-8 or is longer than `line_bytes_max` is one rejected row; the others still count.
    """
    suffix = path.suffix.lower()
    name = str(path)
    if suffix == ".csv":
        yield from _read_csv(path, name)
    elif suffix in (".jsonl", ".ndjson", ".json"):
        yield from _read_jsonl(path, name)
    else:
        raise ValidationError(
            [FieldError(name, "use a .csv or .jsonl file")], "unknown usage file type"
        )


def _lines(path: Path, name: str) -> Iterator[tuple[int, str | FieldError]]:
    """The file's lines as text (line ending removed), each read with a bounded buffer: a line
    over `line_bytes_max` is skipped to its end and reported, undecodable bytes are reported."""
    with path.open("rb") as handle:
        number = 0
        while raw := handle.readline(line_bytes_max + 1):
            number += 1
            where = f"{name}:{number}"
            if len(raw) > line_bytes_max and not raw.endswith(b"\n"):
                while (rest := handle.readline(line_bytes_max)) and not rest.endswith(b"\n"):
                    pass
                yield number, FieldError(where, f"is longer than {line_bytes_max} bytes", "row")
                continue
            if raw.startswith(codecs.BOM_UTF8):  # also where files were joined end to end
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                problem = f"is not UTF-8 text (byte {exc.start + 1} of the line)"
                yield number, FieldError(where, problem, "row")
                continue
            yield number, text.rstrip("\r\n")


def _read_csv(path: Path, name: str) -> Iterator[tuple[int, dict[str, Any] | FieldError]]:
    lines = _lines(path, name)
    first = next(lines, None)
    if first is None or isinstance(first[1], FieldError):
        problem = first[1].message if first and isinstance(first[1], FieldError) else "is empty"
        raise ValidationError([FieldError(f"{name}:1", problem, "header")], "invalid usage file")
    try:
        header = [h.strip() for h in _csv_values(first[1])]
    except csv.Error as exc:
        problem = f"is not a CSV row ({exc})"
        error = FieldError(f"{name}:1", problem, "header")
        raise ValidationError([error], "invalid usage file") from exc
    missing = [key for key in REQUIRED if key not in header]
    repeated = sorted({key for key in header if key and header.count(key) > 1})
    if missing or repeated:
        problem = (
            f"the header lacks {', '.join(missing)}"
            if missing
            else f"the header names {', '.join(repeated)} more than once"
        )
        raise ValidationError([FieldError(f"{name}:1", problem, "header")], "invalid usage file")
    for number, text in lines:
        if isinstance(text, FieldError):
            yield number, text
            continue
        if not text.strip():
            continue
        try:
            values = _csv_values(text)
        except csv.Error as exc:
            yield number, FieldError(f"{name}:{number}", f"is not a CSV row ({exc})", "row")
            continue
        if len(values) == len(header):
            yield number, dict(zip(header, values, strict=True))
            continue
        if len(values) > len(header):
            problem = "has more values than the header"
            yield number, FieldError(f"{name}:{number}", problem, "row")
            continue
        yield number, dict(zip(header, values + [None] * (len(header) - len(values)), strict=True))


def _csv_values(text: str) -> list[str]:
    """One line's values (a record is one line). A line with no quote, carriage return or NUL
    has nothing for the CSV reader to interpret: its values are the text between the commas
    (the import's hot path). A quote left open (an odd number of them: a field running on to
    the next line, or cut short) makes the line no CSV row, and so does its next line."""
    if '"' not in text and "\r" not in text and "\0" not in text:
        return text.split(",")
    if text.count('"') % 2:
        raise csv.Error("a quote is not closed on this line")
    return next(csv.reader([text], strict=True), [])


def _read_jsonl(path: Path, name: str) -> Iterator[tuple[int, dict[str, Any] | FieldError]]:
    for number, line in _lines(path, name):
        if isinstance(line, FieldError):
            yield number, line
            continue
        if not line.strip():
            continue
        try:
            row = json.loads(line, parse_float=Decimal)
        except (ValueError, RecursionError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "a value is too large"
            if isinstance(exc, RecursionError):
                reason = "nested too deeply"
            yield number, FieldError(f"{name}:{number}", f"not valid JSON ({reason})", "row")
            continue
        if not isinstance(row, dict):
            yield number, FieldError(f"{name}:{number}", "is not a JSON object", "row")
            continue
        yield number, row


def import_usage_file(
    uow_factory: UnitOfWorkFactory, agency_id: str, path: Path, now: datetime
) -> ImportReport:
    """`import_usage` of a CSV or JSON Lines file. An import that loses a race to a concurrent
    one (the same call ids, or new usage counters of the same month) was rolled back whole; it
    reads the file again and runs again, and then finds the other's calls as duplicates."""
    return rerun_on_race(
        lambda: import_usage(uow_factory, agency_id, read_rows(path), str(path), now)
    )


def import_usage(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    rows: Iterable[tuple[int, dict[str, Any] | FieldError]],
    source: str,
    now: datetime,
) -> ImportReport:
    """Validate, rate, fund and store call records in one transaction (chunk by chunk)."""
    report = ImportReport()
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        tenant.agency.lock(exclusive=False)
        context = RatingContext.load(tenant, agency)
        subs = set(tenant.sub_accounts.ids())
        chunk: list[CallRecord] = []
        lines: list[str] = []
        for line, row in rows:
            if isinstance(row, FieldError):
                report.reject(row)
                continue
            where = f"{source}:{line}"
            parsed = parse_call(row, subs, where)
            if isinstance(parsed, FieldError):
                report.reject(parsed)
                continue
            chunk.append(parsed)
            lines.append(where)
            if len(chunk) >= chunk_rows_max:
                _store_chunk(tenant, context, chunk, lines, report, now)
                chunk, lines = [], []
        _store_chunk(tenant, context, chunk, lines, report, now)
        uow.commit()
    return report


def _store_chunk(
    tenant: AgencyView,
    context: RatingContext,
    chunk: list[CallRecord],
    lines: list[str],
    report: ImportReport,
    now: datetime,
) -> None:
    if not chunk:
        return
    fresh, verdicts = triage(tenant, chunk)
    for call, where, verdict in zip(chunk, lines, verdicts, strict=True):
        if verdict == ():
            report.duplicates += 1
        elif verdict:
            report.conflict(conflict_error(where, call.call_id, verdict))
    rated = record_calls(tenant, context, fresh, now)
    report.imported += len(fresh)
    report.late += sum(1 for r in rated if r.late)


@dataclass(frozen=True)
class RecordResult:
    call_id: str | None
    status: str  # accepted | duplicate | conflict | rejected
    error: FieldError | None = None
    fields: tuple[str, ...] = ()  # a conflict's differing fields


def from_cloud_event(record: dict[str, Any]) -> dict[str, Any] | None:
    """A CloudEvents-shaped record (`specversion`, `id`, `time`, `data`) as a call record:
    the data's keys win, `id` and `time` fill `call_id` and `started_at` when missing. None
    when its `data` is something else than an object (or null)."""
    data = record.get("data")
    if data is not None and not isinstance(data, dict):
        return None
    merged: dict[str, Any] = dict(data) if data else {}
    merged.setdefault("call_id", record.get("id"))
    merged.setdefault("started_at", record.get("time"))
    return merged


def _answerable(call_id: object) -> str | None:
    """A rejected record's call id as its answer names it: text, or a number as its text
    (as `parse_call` reads one); `true`, a list, an object or an empty text are no call id."""
    if call_id is None or isinstance(call_id, bool | dict | list):
        return None
    return str(call_id) or None


def _no_data(where: str) -> FieldError:
    return FieldError(where, "must be an object holding the call's fields", "data")


def _sub_named(record: dict[str, Any]) -> object:
    """The sub-account a record names, itself or in its CloudEvents `data` (which may be
    anything: the record is judged later)."""
    data = record.get("data")
    inner = data.get("sub_account") if isinstance(data, dict) else None
    return record.get("sub_account") or inner or ""


def ingest_calls(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    records: list[dict[str, Any]],
    now: datetime,
    labels: Sequence[str] | None = None,
) -> list[RecordResult]:
    """Validate each record, skip duplicates by call_id, store the good ones; one result per
    record in input order. A batch that loses a race to a concurrent one (the same call ids,
    or the first calls of a month creating the same usage counters) was rolled back whole and
    runs again: the second time it finds the other's rows (its twins are `duplicate`).
    `labels[i]` names record i in its problems (`calls[i]` by default): requests committed
    together name each record as its own request does."""
    return rerun_on_race(lambda: _ingest_once(uow_factory, agency_id, records, now, labels))


def _ingest_once(
    uow_factory: UnitOfWorkFactory,
    agency_id: str,
    records: list[dict[str, Any]],
    now: datetime,
    labels: Sequence[str] | None,
) -> list[RecordResult]:
    with uow_factory() as uow:
        agency, tenant = open_agency(uow, agency_id)
        tenant.agency.lock(exclusive=False)
        named = {str(_sub_named(r)) for r in records if isinstance(r, dict)}
        context = RatingContext.load(tenant, agency, named)
        subs = set(context.subs)
        results: list[RecordResult] = []
        good: list[CallRecord] = []
        for index, record in enumerate(records):
            where = labels[index] if labels else f"calls[{index}]"
            row = from_cloud_event(record) if "specversion" in record else record
            parsed = parse_call(row, subs, where) if row is not None else _no_data(where)
            if isinstance(parsed, FieldError):
                call_id = row.get("call_id") if row is not None else record.get("id")
                results.append(RecordResult(_answerable(call_id), "rejected", parsed))
            else:
                results.append(RecordResult(parsed.call_id, "accepted"))
                good.append(parsed)
        fresh, verdicts = triage(tenant, good)
        pending = iter(zip(good, verdicts, strict=True))  # the accepted results, in order
        for index, result in enumerate(results):
            if result.status != "accepted":
                continue
            call, verdict = next(pending)
            if verdict == ():
                results[index] = RecordResult(call.call_id, "duplicate")
            elif verdict:
                where = labels[index] if labels else f"calls[{index}]"
                error = conflict_error(where, call.call_id, verdict)
                results[index] = RecordResult(call.call_id, "conflict", error, verdict)
        record_calls(tenant, context, fresh, now)
        uow.commit()
    return results
