"""`apply_catalog`: create or update the platform, agencies, plans, sub-accounts and numbers
from a catalog document, whole or not at all. Applying the same document twice changes nothing.

Plan changes and number rentals take effect at the time the catalog gives (`subscribed_at`,
`rented_at`, `released_at`) or now; their immediate charges are issued as paid receipts.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import ValidationError as PydanticError

from rebill.domain import logo
from rebill.domain.account import Agency, Brand, Platform, SubAccount
from rebill.domain.caps import Caps
from rebill.domain.charges import HeldNumber, PlanChange, charges_in
from rebill.domain.dunning import DunningPolicy
from rebill.domain.errors import ConflictError, FieldError, ValidationError
from rebill.domain.money import decimal_places, to_micros
from rebill.domain.period import Period
from rebill.domain.plan import UNLIMITED, Limits, Plan
from rebill.domain.rating import Increment, VoiceRate
from rebill.domain.tax import TaxPolicy
from rebill.domain.tax_decision import BuyerTaxIdentity
from rebill.services.catalog import schema as cs
from rebill.services.catalog.ownership import OPERATOR, CatalogCaller, merge_catalog
from rebill.services.catalog.wholesale_schedule import apply_card, current_period, from_problem
from rebill.services.invoicing.billing import issue_receipt
from rebill.services.ports import (
    AgencyView,
    AuditEntry,
    DomainDirectory,
    PlatformView,
    UnitOfWork,
    UnitOfWorkFactory,
    WholesalePrices,
)

EVER = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))


@dataclass
class ApplyReport:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    receipts: list[str] = field(default_factory=list)

    def count(self, kind: str, created: bool) -> None:
        bucket = self.created if created else self.updated
        bucket[kind] = bucket.get(kind, 0) + 1


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _mapping(document: object, source: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise ValidationError(
            [FieldError(source, "a catalog is a mapping with `platform` and/or `agencies`")],
            "invalid catalog",
        )
    return document


def parse_catalog(document: object, source: str) -> cs.CatalogSpec:
    """Validate the document's shape; every problem is reported with its path."""
    document = _mapping(document, source)
    try:
        return cs.CatalogSpec.model_validate(document)
    except PydanticError as exc:
        errors = []
        for err in exc.errors():
            path = _path(tuple(err["loc"]))
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            errors.append(FieldError(source, message, path))
        raise ValidationError(errors, f"{source}: invalid catalog") from None


def _voice_rate(per_minute: Decimal, increment: str, connect_fee: Decimal) -> VoiceRate:
    return VoiceRate(
        to_micros(per_minute),
        Increment.parse(increment),
        to_micros(connect_fee),
        decimal_places(per_minute),
    )


def _wholesale_parts(spec: cs.Wholesale | None) -> WholesalePrices:
    voice: dict[str, VoiceRate] = {}
    numbers: dict[str, int] = {}
    if spec and spec.voice:
        for direction in ("outbound", "inbound"):
            rate = getattr(spec.voice, direction)
            if rate is not None:
                voice[direction] = _voice_rate(rate.per_minute, rate.increment, rate.connect_fee)
    if spec and spec.numbers:
        for number_type in ("local", "toll_free"):
            price = getattr(spec.numbers, number_type)
            if price is not None:
                numbers[number_type] = to_micros(price.monthly)
    return WholesalePrices(voice, numbers)


def _plan(spec: cs.PlanSpec) -> Plan:
    voice = {
        d: _voice_rate(r.overage_per_minute, r.increment, r.connect_fee)
        for d, r in (("outbound", spec.voice.outbound), ("inbound", spec.voice.inbound))
    }
    prices = {
        t: to_micros(p.monthly) if p else 0
        for t, p in (("local", spec.numbers.local), ("toll_free", spec.numbers.toll_free))
    }
    limits = Limits(spec.limits.campaigns, spec.limits.numbers, spec.limits.parallel_calls)
    return Plan(
        spec.id,
        spec.name,
        to_micros(spec.monthly_fee),
        spec.included_minutes,
        spec.overage,
        voice,
        spec.numbers.included,
        prices,
        limits,
    )


def _check_references(spec: cs.CatalogSpec, uow: UnitOfWork, source: str) -> list[FieldError]:
    """Rules that span entries: unique ids, known plans and timezones, one currency."""
    errors: list[FieldError] = []
    platform = uow.platform.settings.get()
    currency = spec.platform.currency if spec.platform else None
    if currency is None and platform is not None:
        currency = platform.currency
    if currency is None and spec.agencies:
        errors.append(FieldError(source, "no platform yet: add a `platform` section", "platform"))
    if spec.platform and platform and spec.platform.currency != platform.currency:
        errors.append(
            FieldError(
                source,
                f"the platform's currency is {platform.currency}; it cannot change",
                "platform.currency",
            )
        )
    if spec.platform:
        wholesale = spec.platform.wholesale
        voice = wholesale.voice
        if platform is None and (voice is None or voice.outbound is None or voice.inbound is None):
            errors.append(
                FieldError(
                    source,
                    "the platform needs wholesale voice prices for outbound and inbound",
                    "platform.wholesale.voice",
                )
            )
    errors += _check_prefixes(spec, uow, source)
    seen_agencies: set[str] = set()
    for a_index, agency in enumerate(spec.agencies):
        where = f"agencies[{a_index}]"
        if agency.id in seen_agencies:
            errors.append(FieldError(source, f"agency {agency.id!r} appears twice", f"{where}.id"))
        seen_agencies.add(agency.id)
        try:
            if agency.timezone not in _time_zones():  # not a folder, a host's `localtime`...
                raise ZoneInfoNotFoundError(agency.timezone)
            ZoneInfo(agency.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            errors.append(
                FieldError(
                    source,
                    f"unknown timezone {agency.timezone!r} (use an "
                    "IANA name like America/New_York)",
                    f"{where}.timezone",
                )
            )
        if agency.currency and currency and agency.currency != currency:
            errors.append(
                FieldError(
                    source,
                    f"an agency bills in the platform's currency ({currency})",
                    f"{where}.currency",
                )
            )
        if agency.tax.mode == "manual" and agency.tax.rate is None:
            errors.append(
                FieldError(source, "manual tax needs a `rate` in percent", f"{where}.tax.rate")
            )
        if agency.tax.rate is not None and agency.tax.rate > 100:
            errors.append(
                FieldError(source, "a tax rate is a percent from 0 to 100", f"{where}.tax.rate")
            )
        errors += _check_agency_children(agency, where, uow.for_agency(agency.id), source)
    return errors


def _check_prefixes(spec: cs.CatalogSpec, uow: UnitOfWork, source: str) -> list[FieldError]:
    """Invoice prefixes name gapless series: one owner each across the platform and every
    agency (now or ever numbered), and fixed once a document carries one."""
    errors: list[FieldError] = []
    platform = uow.platform.settings.get()
    issued = uow.platform.invoices.prefix_issued
    owners: dict[str, str] = {}  # prefix -> "the platform" or "agency x", as this applies it
    changes: list[tuple[str, str | None, str, str]] = []  # (owner, stored, new, path)
    if spec.platform:
        stored = platform.invoice_prefix if platform else None
        changes.append(("the platform", stored, spec.platform.invoice_prefix, "platform"))
    elif platform:
        owners[platform.invoice_prefix] = "the platform"
    for index, agency in enumerate(spec.agencies):
        stored_agency = uow.for_agency(agency.id).agency.get()
        stored = stored_agency.invoice_prefix if stored_agency else None
        changes.append(
            (f"agency {agency.id!r}", stored, agency.invoice_prefix, f"agencies[{index}]")
        )
    for owner, stored, new, where in changes:
        path = f"{where}.invoice_prefix"
        taken = owners.get(new)
        if taken is None and new != stored:
            holder = uow.platform.agencies.with_prefix(new)
            if holder is not None:
                taken = f"agency {holder!r}"
            elif platform is not None and platform.invoice_prefix == new:
                taken = "the platform"
            elif issued(new):
                taken = "documents already issued"
        if taken is not None and taken != owner:
            errors.append(FieldError(source, f"invoice prefix {new!r} is used by {taken}", path))
        if stored is not None and new != stored and issued(stored):
            errors.append(
                FieldError(
                    source,
                    f"invoice prefix {stored!r} is on issued documents; it cannot change",
                    path,
                )
            )
        owners[new] = owner
    return errors


def _check_agency_children(
    agency: cs.AgencySpec, where: str, tenant: AgencyView, source: str
) -> list[FieldError]:
    errors: list[FieldError] = []
    stored_plans = tenant.plans.all()
    plan_ids = set(stored_plans)
    number_limits = {p.id: p.limits.numbers for p in stored_plans.values()}
    number_limits |= {p.id: p.limits.numbers for p in agency.plans}
    seen_plans: set[str] = set()
    for p_index, plan in enumerate(agency.plans):
        if plan.id in seen_plans:
            errors.append(
                FieldError(
                    source, f"plan {plan.id!r} appears twice", f"{where}.plans[{p_index}].id"
                )
            )
        seen_plans.add(plan.id)
    plan_ids |= seen_plans
    seen_subs: set[str] = set()
    seen_numbers: dict[str, str] = {}
    for s_index, sub in enumerate(agency.sub_accounts):
        s_where = f"{where}.sub_accounts[{s_index}]"
        limit = (
            sub.limits.numbers if sub.limits.numbers is not None else number_limits.get(sub.plan)
        )
        held = [n for n in sub.numbers or [] if n.released_at is None]
        if limit is not None and limit != UNLIMITED and len(held) > limit:
            errors.append(
                FieldError(
                    source,
                    f"{len(held)} numbers held, but the limit is "
                    f"{limit} (plan {sub.plan!r} or the sub-account's "
                    "override)",
                    f"{s_where}.numbers",
                )
            )
        if sub.id in seen_subs:
            errors.append(
                FieldError(source, f"sub-account {sub.id!r} appears twice", f"{s_where}.id")
            )
        seen_subs.add(sub.id)
        if sub.plan not in plan_ids:
            errors.append(
                FieldError(
                    source,
                    f"plan {sub.plan!r} is not defined for agency {agency.id!r}",
                    f"{s_where}.plan",
                )
            )
        for alert_index, alert in enumerate(sub.caps.alerts if sub.caps else []):
            if not 0 < alert <= 1:
                errors.append(
                    FieldError(
                        source,
                        "an alert threshold is a fraction in (0, 1]",
                        f"{s_where}.caps.alerts[{alert_index}]",
                    )
                )
        for n_index, number in enumerate(sub.numbers or []):
            n_where = f"{s_where}.numbers[{n_index}]"
            if not cs.E164.match(number.e164):
                errors.append(
                    FieldError(
                        source,
                        f"{number.e164!r} is not an E.164 number like +15551230001",
                        f"{n_where}.e164",
                    )
                )
            if number.e164 in seen_numbers:
                errors.append(
                    FieldError(
                        source,
                        f"{number.e164} is also listed for {seen_numbers[number.e164]!r}",
                        f"{n_where}.e164",
                    )
                )
            seen_numbers[number.e164] = sub.id
            if number.rented_at and number.released_at and number.released_at <= number.rented_at:
                errors.append(
                    FieldError(
                        source, "released_at must be after rented_at", f"{n_where}.released_at"
                    )
                )
            holder = tenant.numbers.holder(number.e164)
            if holder and holder != sub.id:
                errors.append(
                    FieldError(
                        source,
                        f"{number.e164} is held by sub-account {holder!r}",
                        f"{n_where}.e164",
                    )
                )
    return errors


def apply_catalog(
    uow_factory: UnitOfWorkFactory,
    document: object,
    source: str,
    now: datetime,
    caller: CatalogCaller = OPERATOR,
    base_dir: Path | None = None,
) -> ApplyReport:
    """Apply `document` as `caller`: laid over what is stored (a key left out keeps its
    value), refused whole when it sets a field the caller does not own, every change audited.
    `base_dir` is the catalog file's folder: only then may a logo be a file name (beside it)."""
    given = _mapping(document, source)
    report = ApplyReport()
    with uow_factory() as uow:
        merged, changes = merge_catalog(uow, given, caller, current_period(now))
        spec = parse_catalog(merged, source)
        errors = _check_references(spec, uow, source)
        if spec.platform and spec.platform.wholesale_from:
            problem = from_problem(spec.platform.wholesale_from, now)
            if uow.platform.settings.get() is None:
                problem = "a new platform's card is set at once; schedule changes once it exists"
            if problem:
                errors.append(FieldError("platform.wholesale_from", problem))
        logos = _read_logos(spec, source, base_dir, errors)
        errors += _check_domains(spec, uow.platform.domains, source)
        if errors:
            raise ValidationError(errors, f"{source}: invalid catalog")
        if spec.platform:
            _apply_platform(uow.platform, spec.platform, report, logos.get(None), now, caller)
        platform = uow.platform.settings.get()
        assert platform is not None
        for agency in spec.agencies:
            tenant = uow.for_agency(agency.id)
            _apply_agency(tenant, agency, platform.currency, now, report)
            if agency.brand is not None:  # without a `brand` entry the stored one stays
                _apply_brand(tenant, agency, logos.get(agency.id), now)
        for change in changes:
            audit = uow.for_agency(change.agency_id).audit if change.agency_id else None
            (audit or uow.platform.audit).add(
                AuditEntry(now, caller.actor, change.target, change.field, change.old, change.new)
            )
        uow.commit()
    return report


def _apply_brand(
    tenant: AgencyView, spec: cs.AgencySpec, logo_bytes: bytes | None, now: datetime
) -> None:
    assert spec.brand is not None
    brand = _brand(spec.brand, spec.name, logo_bytes)
    stored_brand = tenant.brand.get()
    tenant.brand.save(_keep_logo(brand, stored_brand))
    if brand.domain != stored_brand.domain:  # the platform's call (see ownership)
        if brand.domain is None:
            tenant.domains.deactivate_all()
        elif not tenant.domains.activate(brand.domain, now):
            raise ConflictError(f"domain {brand.domain} was just taken; try again")


def _check_domains(spec: cs.CatalogSpec, domains: DomainDirectory, source: str) -> list[FieldError]:
    """A custom domain has one owner: not another agency's, not twice in one document."""
    errors: list[FieldError] = []
    claimed: dict[str, str] = {}
    for index, agency in enumerate(spec.agencies):
        domain = agency.brand.domain if agency.brand else None
        if domain is None:
            continue
        owner = claimed.get(domain) or domains.owner(domain)
        if owner is not None and owner != agency.id:
            errors.append(
                FieldError(
                    source,
                    f"domain {domain} belongs to another agency",
                    f"agencies[{index}].brand.domain",
                )
            )
        claimed[domain] = agency.id
    return errors


def _read_logos(
    spec: cs.CatalogSpec, source: str, base_dir: Path | None, errors: list[FieldError]
) -> dict[str | None, bytes]:
    """Every logo the document gives, read and checked before anything is written."""
    given: list[tuple[str | None, str, str]] = []
    if spec.platform and spec.platform.brand and spec.platform.brand.logo:
        given.append((None, spec.platform.brand.logo, "platform.brand.logo"))
    for index, agency in enumerate(spec.agencies):
        if agency.brand and agency.brand.logo:
            given.append((agency.id, agency.brand.logo, f"agencies[{index}].brand.logo"))
    logos: dict[str | None, bytes] = {}
    for owner, text, where in given:
        try:
            if text.startswith("data:") or base_dir is None:
                logos[owner] = logo.from_data_url(text)
            else:
                logos[owner] = _logo_file(base_dir, text)
        except logo.LogoError as exc:
            errors.append(FieldError(source, str(exc), where))
    return logos


@cache
def _time_zones() -> frozenset[str]:
    """The IANA names of the time zone database (read once)."""
    return frozenset(available_timezones() - {"localtime", "posixrules", "Factory"})


def _logo_file(base_dir: Path, name: str) -> bytes:
    """A logo file named by a catalog file: beside it (no other folder, no link out of it),
    a regular file, its size checked before a byte is read."""
    if "\0" in name:
        raise logo.LogoError("a logo file's name has a NUL character")
    folder = base_dir.resolve()
    path = (folder / name).resolve()
    if Path(name).is_absolute() or path.parent != folder:
        raise logo.LogoError(f"{name!r}: a logo file sits beside the catalog file")
    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):
            raise logo.LogoError(f"{name!r} is not a regular file")
        if status.st_size > logo.logo_bytes_max:
            raise logo.LogoError(f"a logo is at most {logo.logo_bytes_max // 1024} KiB")
        with path.open("rb") as handle:
            data = handle.read(logo.logo_bytes_max + 1)
    except OSError as exc:
        raise logo.LogoError(f"cannot read {name!r}: {exc.strerror}") from None
    return logo.checked(data)


def _brand(spec: cs.BrandSpec | None, name: str, logo_bytes: bytes | None) -> Brand:
    if spec is None:
        return Brand(display_name=name)
    return Brand(
        display_name=spec.display_name or name,
        colour=spec.colour,
        support_email=spec.support_email,
        address_lines=tuple(spec.address),
        country=spec.country,
        tax_id=spec.tax_id,
        domain=spec.domain,
        logo_png=logo_bytes,
    )


def _keep_logo(brand: Brand, stored: Brand) -> Brand:
    """A brand entry without a logo keeps the logo already stored."""
    return brand if brand.logo_png else replace(brand, logo_png=stored.logo_png)


def _apply_platform(
    platform: PlatformView,
    spec: cs.PlatformSpec,
    report: ApplyReport,
    logo_bytes: bytes | None,
    now: datetime,
    caller: CatalogCaller,
) -> None:
    created = platform.settings.get() is None
    fee = (
        to_micros(spec.wholesale.agency_monthly_fee)
        if spec.wholesale.agency_monthly_fee is not None
        else None
    )
    settings = Platform(spec.name, spec.currency, spec.invoice_prefix)
    prices = _wholesale_parts(spec.wholesale)
    if created:
        platform.settings.save(settings, fee)
        platform.wholesale.save(prices)
    else:
        apply_card(platform, settings, prices, fee, spec.wholesale_from, now, caller.actor)
    if spec.brand is not None:
        brand = _brand(spec.brand, spec.name, logo_bytes)
        platform.brand.save(_keep_logo(brand, platform.brand.get()))
    platform.gateway.save_dunning_policy(dunning_policy(spec.dunning), now)
    report.count("platform", created)


def _apply_agency(
    tenant: AgencyView, spec: cs.AgencySpec, currency: str, now: datetime, report: ApplyReport
) -> None:
    created = tenant.agency.get() is None
    tax = TaxPolicy(spec.tax.mode, spec.tax.rate or Decimal(0), spec.tax.behavior, spec.tax.label)
    credit_limit = to_micros(spec.credit_limit) if spec.credit_limit is not None else None
    agency = Agency(
        spec.id, spec.name, spec.timezone, spec.invoice_prefix, currency, tax, credit_limit
    )
    fee = None
    if spec.wholesale and spec.wholesale.agency_monthly_fee is not None:
        fee = to_micros(spec.wholesale.agency_monthly_fee)
    tenant.agency.save(agency, fee, now)
    tenant.wholesale.save_override(_wholesale_parts(spec.wholesale))
    tenant.payments.save_dunning_policy(dunning_policy(spec.dunning), now)
    report.count("agency", created)
    known = tenant.plans.all()
    for plan_spec in spec.plans:
        report.count("plan", plan_spec.id not in known)
        plan = _plan(plan_spec)
        before = known.get(plan.id)
        if (
            before is not None
            and plan_spec.takes_effect != "now"
            and replace(before, name=plan.name) != plan
        ):
            start = Period.containing(now, agency.tz).end(agency.tz)
            tenant.plans.keep_terms(plan.id, plan_spec.takes_effect, start, now)
        tenant.plans.save(plan)
    plans = tenant.plans.all()
    for sub_spec in spec.sub_accounts:
        _apply_sub_account(tenant, agency, sub_spec, plans, now, report)


def dunning_policy(spec: cs.DunningSpec | None) -> DunningPolicy | None:
    return DunningPolicy(tuple(spec.retry_days), spec.grace_days) if spec else None


def caps_of(spec: cs.Caps | None) -> Caps:
    if spec is None:
        return Caps()
    return Caps(
        monthly_spend_micros=to_micros(spec.monthly_spend)
        if spec.monthly_spend is not None
        else None,
        monthly_minutes=spec.monthly_minutes,
        alerts=tuple(sorted({Fraction(a) for a in spec.alerts})),
        enforcement=spec.enforcement,
    )


def _apply_sub_account(
    tenant: AgencyView,
    agency: Agency,
    spec: cs.SubAccountSpec,
    plans: dict[str, Plan],
    now: datetime,
    report: ApplyReport,
) -> None:
    existing = tenant.sub_accounts.get(spec.id)
    limits = Limits(spec.limits.campaigns, spec.limits.numbers, spec.limits.parallel_calls)
    top_up = spec.auto_top_up
    sub = SubAccount(
        agency.id,
        spec.id,
        spec.name,
        spec.email,
        existing.state if existing else "active",
        limits,
        replace(
            caps_of(spec.caps),
            wallet_alert_below_micros=existing.caps.wallet_alert_below_micros if existing else None,
        ),
        to_micros(top_up.threshold) if top_up else None,
        to_micros(top_up.amount) if top_up else None,
        BuyerTaxIdentity(spec.country, spec.tax_id, tuple(spec.address)),
    )
    tenant.sub_accounts.save(sub, spec.country, now)
    report.count("sub_account", existing is None)
    history = tenant.plans.history_of(spec.id)
    _apply_plan(tenant, agency, spec, plans[spec.plan], history, now)
    if spec.numbers is not None:
        _apply_numbers(tenant, spec, now)
    # Immediate charges (subscription, upgrade, number rental) become paid receipts once each.
    history = tenant.plans.history_of(spec.id)
    numbers = tenant.numbers.of(spec.id)
    tz = agency.tz
    for charge in charges_in(history, numbers, tz, EVER[0], EVER[1]):
        number = issue_receipt(tenant, agency, spec.id, charge, now)
        if number:
            report.receipts.append(number)


def _apply_plan(
    tenant: AgencyView,
    agency: Agency,
    spec: cs.SubAccountSpec,
    plan: Plan,
    history: list[PlanChange],
    now: datetime,
) -> None:
    if not history:
        at = spec.subscribed_at or now
        tenant.plans.add_change(spec.id, PlanChange(at, plan, "subscribe"), now)
        return
    latest = history[-1]
    if latest.plan.id == plan.id:
        return
    # A change takes effect at `subscribed_at` when the catalog moves it forward, else now.
    at = (
        spec.subscribed_at
        if spec.subscribed_at and spec.subscribed_at > latest.effective_at
        else now
    )
    tenant.plans.drop_changes_after(spec.id, at)
    current = next((c.plan for c in reversed(history) if c.effective_at <= at), history[0].plan)
    if current.id == plan.id:
        # Cancelling a scheduled change is enough; a client on the plan's earlier terms moved
        # back to it takes its terms from the next period, as it would have before the move.
        if current.version is not None:
            start = Period.containing(at, agency.tz).end(agency.tz)
            tenant.plans.add_change(spec.id, PlanChange(start, plan, "version"), now)
        return
    if plan.is_upgrade_from(current):
        tenant.plans.add_change(spec.id, PlanChange(at, plan, "upgrade"), now)
    else:
        tz = agency.tz
        start = Period.containing(at, tz).end(tz)
        tenant.plans.add_change(spec.id, PlanChange(start, plan, "downgrade"), now)


def _apply_numbers(tenant: AgencyView, spec: cs.SubAccountSpec, now: datetime) -> None:
    """The catalog's list is what the sub-account holds: new numbers are rented, missing ones
    released (now), and an explicit `released_at` releases at that time."""
    held = {n.e164: n for n in tenant.numbers.of(spec.id) if n.released_at is None}
    listed = {n.e164 for n in spec.numbers or []}
    for number in spec.numbers or []:
        current = held.get(number.e164)
        if current is None:
            rented_at = number.rented_at or now
            if number.released_at is not None and _already_released(
                tenant, spec.id, number.e164, rented_at
            ):
                continue
            tenant.numbers.add(
                spec.id,
                HeldNumber(number.e164, number.type, rented_at, number.released_at),
            )
        elif number.released_at is not None:
            tenant.numbers.release(current, number.released_at)
    for e164, current in held.items():
        if e164 not in listed:
            tenant.numbers.release(current, now)


def _already_released(
    tenant: AgencyView, sub_account_id: str, e164: str, rented_at: datetime
) -> bool:
    return any(
        n.e164 == e164 and n.rented_at == rented_at for n in tenant.numbers.of(sub_account_id)
    )
