"""What the web faces' forms share: forgiving reading of what people type (`$300`,
`1,500.00`, `50, 80, 100`), and a catalog refusal's messages put back beside the form field
they are about. Nothing here decides a business rule: the services still check every value."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from rebill.domain.errors import FieldError, ValidationError
from rebill.domain.money import to_micros
from rebill.services.catalog.apply import apply_catalog
from rebill.services.catalog.ownership import CatalogCaller
from rebill.services.ports import UnitOfWorkFactory

_SYMBOLS = "$€£¥"
_GROUPED = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")


def plain_number(text: str, currency: str = "") -> str:
    """`text` as the services read numbers: a currency symbol or code, spaces and thousands
    separators (`$1,500.00`, `1 500 USD`) removed. Anything else is left for the service to
    refuse with its own message."""
    shown = text.strip()
    for code in {currency.upper(), "USD", "EUR", "GBP"} - {""}:
        if shown.upper().endswith(code) or shown.upper().startswith(code):
            shown = shown.upper().replace(code, "").strip()
    shown = shown.strip(_SYMBOLS).strip()
    if shown.startswith("-") and shown[1:].lstrip().startswith(tuple(_SYMBOLS)):
        shown = "-" + shown[1:].lstrip().lstrip(_SYMBOLS)
    shown = shown.replace(" ", "").replace("\u00a0", "")
    if _GROUPED.match(shown):
        shown = shown.replace(",", "")
    return shown


def amount_micros(
    form: dict[str, str], name: str, errors: list[FieldError], currency: str = ""
) -> int | None:
    """A non-negative amount from the form field `name` (forgiving input); a problem is
    appended to `errors` under the field's name."""
    text = plain_number(form.get(name, ""), currency)
    if not text:
        errors.append(FieldError(name, "required: an amount like 12.50", name))
        return None
    try:
        micros = to_micros(text)
    except (TypeError, ValueError) as exc:
        errors.append(FieldError(name, str(exc) or "not an amount", name))
        return None
    if micros < 0:
        errors.append(FieldError(name, f"{text} is negative: it must be 0 or more", name))
        return None
    return micros


def alert_thresholds(text: str) -> str:
    """Alert thresholds as the caps service reads them (fractions of the cap), from either
    fractions (`0.5, 0.8, 1`) or percentages (`50, 80, 100` or `50%, 80%`). A list in which
    any value is above 1 or carries `%` is read as percentages."""
    parts = [p.strip() for p in re.split(r"[,;\s]+", text) if p.strip()]
    percent = any(p.endswith("%") for p in parts)
    cleaned = [p.rstrip("%").strip() for p in parts]
    numbers: list[Decimal | None] = []
    for part in cleaned:
        try:
            numbers.append(Decimal(part) if re.fullmatch(r"\d+(\.\d+)?", part) else None)
        except InvalidOperation:  # pragma: no cover - the pattern already guards
            numbers.append(None)
    percent = percent or any(n is not None and n > 1 for n in numbers)
    if not percent:
        return ", ".join(cleaned)
    return ", ".join(
        format((n / 100).normalize(), "f") if n is not None else part
        for part, n in zip(cleaned, numbers, strict=True)
    )


def percent_list(fractions: list[str]) -> str:
    """Stored alert thresholds (`0.5`) as the form shows them (`50%`)."""
    return ", ".join(f"{format((Decimal(f) * 100).normalize(), 'f')}%" for f in fractions)


_CATALOG_PATH = re.compile(r"^agencies\[\d+\]\.(plans|sub_accounts)\[\d+\]\.(.+)$")


def form_errors(exc: ValidationError, fields: dict[str, str]) -> dict[str, str]:
    """A catalog refusal's messages by form field: `fields` maps the catalog path inside a
    plan or sub-account entry (`voice.outbound.increment`) to the form field's name; a
    message about anything else goes under `form`."""
    found: dict[str, str] = {}
    for error in exc.field_errors:
        path = error.field or ""
        match = _CATALOG_PATH.match(path)
        inner = match.group(2) if match else path
        name = fields.get(inner, inner if inner in fields.values() else "form")
        found.setdefault(name, error.message)
    return found


def apply_form(
    uow_factory: UnitOfWorkFactory,
    document: dict[str, Any],
    source: str,
    now: datetime,
    caller: CatalogCaller,
    fields: dict[str, str],
    summary: str,
) -> None:
    """Apply a catalog document built from a form; a refusal comes back with its messages
    under the form's field names (`fields`, as `form_errors` reads them)."""
    try:
        apply_catalog(uow_factory, document, source, now, caller)
    except ValidationError as exc:
        found = form_errors(exc, fields)
        raise ValidationError([FieldError(k, m, k) for k, m in found.items()], summary) from None
