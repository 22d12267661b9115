"""Who owns each catalog field, and how a caller's document is laid over what is stored.

The rule (docs/security.md has the table):

- The platform owns its own section and, in an agency's entry, the terms it sells on:
  `currency`, `timezone`, `invoice_prefix`, `credit_limit`, `tax`, `wholesale` and
  `brand.domain`. An agency caller (key or panel user) that sets one of them to anything but
  its stored value is refused with `forbidden_field` and the field's path; the stored value
  itself is accepted, so an agency can re-apply its whole file.
- The agency owns its name, display brand, plans, sub-accounts, numbers and caps, and its
  clients' tax identity (`AGENCY_OWNED_SUB_ACCOUNT_TAX_KEYS`: `country`, `tax_id`,
  `address`; they decide the tax of a `manual` mode invoice, docs/tax.md). A
  sub-account's `auto_top_up` charges a client's card with no person present: only callers
  that may move money (the platform, agency `admin` and `billing`) may change it.
- Merge: entries are matched by id; a key left out keeps its stored value, at every depth of
  an object; a key given replaces it (lists whole; `null` clears an optional field). Entries
  not mentioned are kept. Nothing a caller did not mention is reset.

Every difference between what was stored and what is applied becomes an audit entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from rebill.domain.errors import ForbiddenFieldError, NotFoundError
from rebill.services.catalog.document import (
    agency_entry,
    plan_entry,
    platform_entry,
    sub_account_entry,
)
from rebill.services.ports import AgencyView, UnitOfWork

PLATFORM_OWNED_AGENCY_KEYS = (
    "currency",
    "timezone",
    "invoice_prefix",
    "credit_limit",
    "tax",
    "wholesale",
)
PLATFORM_OWNED_BRAND_KEYS = ("domain",)
MONEY_MOVING_SUB_ACCOUNT_KEYS = ("auto_top_up",)
# The buyer's tax identity: the agency's to set (its invoices, its clients); a sub-account's
# own key has no catalog access. Audited like every other change.
AGENCY_OWNED_SUB_ACCOUNT_TAX_KEYS = ("country", "tax_id", "address")
audit_value_length_max = 200
# Not compared for the audit: numbers (a rental is its own receipt) and when a plan starts.
SUB_ACCOUNT_UNAUDITED = {"numbers", "subscribed_at"}


@dataclass(frozen=True)
class CatalogCaller:
    """Who applies a catalog: the platform operator (`agency_id` None) or one agency."""

    actor: str
    agency_id: str | None = None
    may_move_money: bool = True

    @property
    def is_platform(self) -> bool:
        return self.agency_id is None


OPERATOR = CatalogCaller("operator (cli)")


@dataclass(frozen=True)
class Change:
    """One audited difference: whose, on what, which field, before → after."""

    agency_id: str  # "" for the platform's own terms
    target: str
    field: str
    old: str
    new: str


def overlay(stored: Any, given: Any) -> Any:
    """`given` laid over `stored`: objects merge key by key, anything else replaces."""
    if isinstance(stored, dict) and isinstance(given, dict):
        merged = dict(stored)
        for key, value in given.items():
            merged[key] = overlay(stored[key], value) if key in stored else value
        return merged
    return given


def _comparable(value: Any) -> Any:
    """A form in which the stored and the given values compare as the catalog reads them:
    numbers by value ("5000" == "5000.00"), absent == null == {}."""
    if isinstance(value, dict):
        items = {k: _comparable(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v is not None and v != {}}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal | str):
        try:
            number = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            return value
        return number if number.is_finite() else value
    return value


def differences(old: Any, new: Any, path: str) -> list[tuple[str, Any, Any]]:
    """Leaf paths where two catalog values differ, with both values."""
    return _diff(_comparable(old), _comparable(new), path)


def _diff(old: Any, new: Any, path: str) -> list[tuple[str, Any, Any]]:
    if isinstance(old, dict) and new is None:
        new = {}
    if isinstance(new, dict) and old is None:
        old = {}  # so a path names the leaf that was set, not the object around it
    if isinstance(old, dict) and isinstance(new, dict):
        found: list[tuple[str, Any, Any]] = []
        for key in dict.fromkeys([*old, *new]):
            found += _diff(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
        return found
    return [] if old == new else [(path, old, new)]


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, dict | list):
        text = json.dumps(value, default=str, sort_keys=True)
    else:
        text = str(value)
    return text[:audit_value_length_max]


def _changes(
    agency_id: str, target: str, old: dict[str, Any] | None, new: dict[str, Any], skip: set[str]
) -> list[Change]:
    if old is None:
        return [Change(agency_id, target, "created", "none", str(new.get("id", target)))]
    return [
        Change(agency_id, target, path, _text(before), _text(after))
        for path, before, after in differences(
            {k: v for k, v in old.items() if k not in skip},
            {k: v for k, v in new.items() if k not in skip},
            "",
        )
    ]


def _refuse_platform_owned(
    stored: dict[str, Any], merged: dict[str, Any], entry: dict[str, Any], where: str
) -> None:
    for key in PLATFORM_OWNED_AGENCY_KEYS:
        if key in entry:
            found = differences(stored.get(key), merged.get(key), f"{where}.{key}")
            if found:
                raise ForbiddenFieldError(
                    found[0][0], "the platform owns this field; an agency may not change it"
                )
    brand = entry.get("brand")
    if isinstance(brand, dict):
        stored_brand = stored.get("brand") or {}
        for key in PLATFORM_OWNED_BRAND_KEYS:
            if key in brand and differences(stored_brand.get(key), brand[key], ""):
                raise ForbiddenFieldError(
                    f"{where}.brand.{key}",
                    "the platform owns this field; request a custom domain instead",
                )


def _entries(given: Any) -> list[Any]:
    return given if isinstance(given, list) else []


def merge_catalog(
    uow: UnitOfWork, document: dict[str, Any], caller: CatalogCaller, period: str | None = None
) -> tuple[dict[str, Any], list[Change]]:
    """The document to apply (the caller's over what is stored, the platform's wholesale card
    as in force in `period`) and what it changes; refuses a field the caller does not own."""
    merged = dict(document)
    changes: list[Change] = []
    if "platform" in document:
        if not caller.is_platform:
            raise ForbiddenFieldError("platform", "only the platform may change the platform")
        given = document["platform"]
        if isinstance(given, dict):
            stored = platform_entry(uow.platform, period)
            merged["platform"] = overlay(stored, given) if stored else given
            changes += _changes("", "platform", stored, merged["platform"], {"brand"})
    if isinstance(document.get("agencies"), list):
        agencies = []
        for index, given in enumerate(document["agencies"]):
            entry = given
            if isinstance(given, dict) and isinstance(given.get("id"), str):
                entry, found = _merge_agency(uow, index, given, caller)
                changes += found
            elif not caller.is_platform:
                raise NotFoundError("an agency may only apply its own agency")
            agencies.append(entry)
        merged["agencies"] = agencies
    return merged, changes


def _merge_agency(
    uow: UnitOfWork, index: int, entry: dict[str, Any], caller: CatalogCaller
) -> tuple[dict[str, Any], list[Change]]:
    agency_id = entry["id"]
    where = f"agencies[{index}]"
    if not caller.is_platform and agency_id != caller.agency_id:
        raise NotFoundError("an agency may only apply its own agency")
    tenant = uow.for_agency(agency_id) if agency_id else None
    exists = tenant is not None and tenant.agency.get() is not None
    stored = agency_entry(uow, agency_id) if exists else None
    own = {k: v for k, v in entry.items() if k not in ("plans", "sub_accounts")}
    merged = overlay(stored, own) if stored is not None else own
    if not caller.is_platform:
        _refuse_platform_owned(stored or {}, merged, entry, where)
    changes = _changes(agency_id, f"agency {agency_id}", stored, merged, {"brand"})
    changes += _brand_changes(agency_id, stored, merged)
    stored_plans = tenant.plans.all() if tenant and exists else {}
    plans = []
    for given in _entries(entry.get("plans")):
        plan = given
        if isinstance(given, dict) and given.get("id") in stored_plans:
            before = plan_entry(stored_plans[given["id"]])
            plan = overlay(before, given)
            found = _changes(agency_id, f"plan {plan['id']}", before, plan, set())
            # When the change reaches the clients is audited with it, never alone.
            if any(c.field != "takes_effect" for c in found):
                changes += found
        elif isinstance(given, dict):
            changes += _changes(agency_id, f"plan {given.get('id')}", None, given, set())
        plans.append(plan)
    if "plans" in entry:
        merged["plans"] = plans if isinstance(entry["plans"], list) else entry["plans"]
    if "sub_accounts" in entry:
        subs = entry["sub_accounts"]
        merged["sub_accounts"] = (
            _merge_sub_accounts(tenant, subs, where, caller, changes)
            if isinstance(subs, list) and tenant and exists
            else subs
        )
        if not exists and not caller.may_move_money:
            _refuse_money_moving({}, _entries(subs), where)
    return merged, changes


def _brand_changes(
    agency_id: str, stored: dict[str, Any] | None, merged: dict[str, Any]
) -> list[Change]:
    if stored is None or "brand" not in merged:
        return []
    brand = merged["brand"] if isinstance(merged["brand"], dict) else {}
    new = {k: v for k, v in brand.items() if k != "logo"}  # the logo is bytes: noted apart
    found = _changes(
        agency_id, f"agency {agency_id}", {"brand": stored.get("brand")}, {"brand": new}, set()
    )
    if brand.get("logo"):
        found.append(Change(agency_id, f"agency {agency_id}", "brand.logo", "stored", "given"))
    return found


def _refuse_money_moving(stored: dict[str, Any], subs: list[Any], where: str) -> None:
    for s_index, sub in enumerate(subs):
        if not isinstance(sub, dict):
            continue
        for key in MONEY_MOVING_SUB_ACCOUNT_KEYS:
            before = (stored.get(str(sub.get("id"))) or {}).get(key)
            if key in sub and differences(before, sub[key], ""):
                raise ForbiddenFieldError(
                    f"{where}.sub_accounts[{s_index}].{key}",
                    "charges a client's card with no person present: only the admin and "
                    "billing roles may change it",
                )


def _merge_sub_accounts(
    tenant: AgencyView,
    subs: list[Any],
    where: str,
    caller: CatalogCaller,
    changes: list[Change],
) -> list[Any]:
    agency_id = tenant.agency_id
    ids = {s["id"] for s in subs if isinstance(s, dict) and isinstance(s.get("id"), str)}
    stored_subs = tenant.sub_accounts.all(ids)
    before: dict[str, dict[str, Any]] = {}
    for sub_id, sub in stored_subs.items():
        history = tenant.plans.history_of(sub_id)
        plan_id = history[-1].plan.id if history else None
        before[sub_id] = sub_account_entry(sub, sub.tax_identity.country, plan_id)
    if not caller.may_move_money:
        _refuse_money_moving(before, subs, where)
    merged = []
    for given in subs:
        sub = given
        if isinstance(given, dict) and given.get("id") in before:
            stored = before[given["id"]]
            sub = overlay(stored, given)
            changes += _changes(
                agency_id, f"sub-account {sub['id']}", stored, sub, SUB_ACCOUNT_UNAUDITED
            )
        elif isinstance(sub, dict):
            changes += _changes(agency_id, f"sub-account {sub.get('id')}", None, sub, set())
        merged.append(sub)
    return merged
