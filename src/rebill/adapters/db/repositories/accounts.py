"""The parties' own rows: the platform (settings, brand, wholesale card), an agency (terms,
brand, wholesale overrides, the lock that orders a close against imports) and the platform's
directory of agencies."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from rebill.adapters.db.door_rows import CustomDomainRow
from rebill.adapters.db.read_cache import cached
from rebill.adapters.db.repositories.common import AgencyBound, voice_columns, voice_rate
from rebill.adapters.db.rows import (
    AgencyRow,
    GatewayLinkRow,
    PlatformRow,
    WholesaleNumberPriceRow,
    WholesaleScheduleRow,
    WholesaleVoiceRateRow,
)
from rebill.domain.account import Agency, Brand, Platform
from rebill.domain.plan import WholesaleCard
from rebill.domain.rating import VoiceRate
from rebill.domain.tax import TaxPolicy
from rebill.services.ports.accounts import ScheduledCard, WholesaleOverride, WholesalePrices

PLATFORM_ID = "platform"
PLATFORM_SCOPE = ""  # the wholesale scope of the platform's own card


def _scheduled_scope(period: str) -> str:
    """The wholesale scope of the platform's card scheduled from `period` on."""
    return f"@{period}"


def _platform_scope(session: Session, period: str | None) -> tuple[str, int | None]:
    """The scope of the platform's card in force in `period`, and that card's agency fee
    (None: the platform row's, for the card set at once)."""
    if period is None:
        return PLATFORM_SCOPE, None
    row = session.scalars(
        select(WholesaleScheduleRow)
        .where(WholesaleScheduleRow.effective_period <= period)
        .order_by(WholesaleScheduleRow.effective_period.desc())
        .limit(1)
    ).first()
    if row is None:
        return PLATFORM_SCOPE, None
    return _scheduled_scope(row.effective_period), row.agency_monthly_fee_micros


def _agency(row: AgencyRow) -> Agency:
    tax = TaxPolicy(row.tax_mode, Decimal(row.tax_rate_percent), row.tax_behavior, row.tax_label)
    return Agency(
        row.id,
        row.name,
        row.timezone,
        row.invoice_prefix,
        row.currency,
        tax,
        row.credit_limit_micros,
    )


class SqlAgencyRepository(AgencyBound):
    def get(self) -> Agency | None:
        return cached(self.session, ("agency", self.agency_id), self._get)

    def _get(self) -> Agency | None:
        row = self.session.get(AgencyRow, self.agency_id)
        return _agency(row) if row else None

    def save(self, agency: Agency, agency_monthly_fee_micros: int | None, now: datetime) -> None:
        assert agency.id == self.agency_id, "an agency is saved through its own view"
        row = self.session.get(AgencyRow, agency.id)
        if row is None:
            row = AgencyRow(id=agency.id, created_at=now)
            self.session.add(row)
        row.name, row.timezone = agency.name, agency.timezone
        row.invoice_prefix = agency.invoice_prefix
        row.currency = agency.currency
        row.tax_mode, row.tax_behavior, row.tax_label = (
            agency.tax.mode,
            agency.tax.behavior,
            agency.tax.label,
        )
        row.tax_rate_percent = str(agency.tax.rate_percent)
        row.credit_limit_micros = agency.credit_limit_micros
        if agency_monthly_fee_micros is not None:  # an override given; else the stored one
            row.agency_monthly_fee_micros = agency_monthly_fee_micros
        self.session.flush()

    def lock(self, exclusive: bool) -> None:
        """On SQLite every write transaction is already exclusive (BEGIN IMMEDIATE)."""
        if self.session.get_bind().dialect.name == "sqlite":
            return
        query = select(AgencyRow.id).where(AgencyRow.id == self.agency_id)
        self.session.execute(query.with_for_update(read=not exclusive))


class SqlBrandRepository:
    """The brand of the agency given, or of the platform (None)."""

    def __init__(self, session: Session, agency_id: str | None) -> None:
        assert agency_id is None or agency_id, "the platform's brand is asked with None"
        self.session = session
        self.agency_id = agency_id

    def _row(self) -> PlatformRow | AgencyRow | None:
        if self.agency_id is None:
            return self.session.get(PlatformRow, PLATFORM_ID)
        return self.session.get(AgencyRow, self.agency_id)

    def get(self) -> Brand:
        row = self._row()
        if row is None:
            raise LookupError(self.agency_id)
        data = json.loads(row.brand_json or "{}")
        logo = data.get("logo_png")
        return Brand(
            display_name=data.get("display_name") or row.name,
            colour=data.get("colour", "#1f6feb"),
            support_email=data.get("support_email", ""),
            address_lines=tuple(data.get("address", [])),
            country=data.get("country", "US"),
            tax_id=data.get("tax_id"),
            domain=self._active_domain(),
            logo_png=base64.b64decode(logo) if logo else None,
        )

    def _active_domain(self) -> str | None:
        if self.agency_id is None:
            return None
        return self.session.scalar(
            select(CustomDomainRow.domain).where(
                CustomDomainRow.agency_id == self.agency_id, CustomDomainRow.status == "active"
            )
        )

    def save(self, brand: Brand) -> None:
        row = self._row()
        assert row is not None
        row.brand_json = json.dumps(
            {
                "display_name": brand.display_name,
                "colour": brand.colour,
                "support_email": brand.support_email,
                "address": list(brand.address_lines),
                "country": brand.country,
                "tax_id": brand.tax_id,
                "logo_png": base64.b64encode(brand.logo_png).decode() if brand.logo_png else None,
            }
        )
        self.session.flush()


def _prices(session: Session, scope: str) -> WholesalePrices:
    voice = {
        r.direction: voice_rate(r)
        for r in session.scalars(
            select(WholesaleVoiceRateRow)
            .where(WholesaleVoiceRateRow.scope == scope)
            .order_by(WholesaleVoiceRateRow.direction)
        )
    }
    numbers = {
        r.number_type: r.monthly_micros
        for r in session.scalars(
            select(WholesaleNumberPriceRow)
            .where(WholesaleNumberPriceRow.scope == scope)
            .order_by(WholesaleNumberPriceRow.number_type)
        )
    }
    return WholesalePrices(voice, numbers)


def _save_prices(session: Session, scope: str, prices: WholesalePrices) -> None:
    """Upsert each rate and price given (those not given are kept)."""
    for direction, rate in prices.voice.items():
        session.merge(
            WholesaleVoiceRateRow(scope=scope, direction=direction, **voice_columns(rate))
        )
    for number_type, micros in prices.number_monthly_micros.items():
        session.merge(
            WholesaleNumberPriceRow(scope=scope, number_type=number_type, monthly_micros=micros)
        )


def _platform_fee_micros(session: Session) -> int:
    row = session.get(PlatformRow, PLATFORM_ID)
    return row.agency_monthly_fee_micros if row else 0


class SqlWholesaleRepository(AgencyBound):
    def card(self, period: str | None = None) -> WholesaleCard:
        """The platform's card in force in `period` with the agency's overrides on top."""
        return cached(
            self.session, ("wholesale_card", self.agency_id, period), lambda: self._card(period)
        )

    def _card(self, period: str | None) -> WholesaleCard:
        """The platform's prices and the agency's read together (a query per table)."""
        platform_scope, platform_fee = _platform_scope(self.session, period)
        scopes = (platform_scope, self.agency_id)
        voice: dict[str, dict[str, VoiceRate]] = {scope: {} for scope in scopes}
        for r in self.session.scalars(
            select(WholesaleVoiceRateRow).where(WholesaleVoiceRateRow.scope.in_(scopes))
        ):
            voice[r.scope][r.direction] = voice_rate(r)
        numbers: dict[str, dict[str, int]] = {scope: {} for scope in scopes}
        for n in self.session.scalars(
            select(WholesaleNumberPriceRow).where(WholesaleNumberPriceRow.scope.in_(scopes))
        ):
            numbers[n.scope][n.number_type] = n.monthly_micros
        agency = self.session.get(AgencyRow, self.agency_id)
        fee = agency.agency_monthly_fee_micros if agency else None
        if fee is None:
            fee = platform_fee if platform_fee is not None else _platform_fee_micros(self.session)
        return WholesaleCard(
            {**voice[platform_scope], **voice[self.agency_id]},
            {**numbers[platform_scope], **numbers[self.agency_id]},
            fee,
        )

    def override(self) -> WholesaleOverride:
        agency = self.session.get(AgencyRow, self.agency_id)
        fee = agency.agency_monthly_fee_micros if agency else None
        return WholesaleOverride(fee, _prices(self.session, self.agency_id))

    def save_override(self, prices: WholesalePrices) -> None:
        _save_prices(self.session, self.agency_id, prices)


class SqlPlatformSettings:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self) -> Platform | None:
        row = self.session.get(PlatformRow, PLATFORM_ID)
        return Platform(row.name, row.currency, row.invoice_prefix) if row else None

    def agency_monthly_fee_micros(self) -> int:
        return _platform_fee_micros(self.session)

    def save(self, platform: Platform, agency_monthly_fee_micros: int | None) -> None:
        row = self.session.get(PlatformRow, PLATFORM_ID)
        if row is None:
            row = PlatformRow(id=PLATFORM_ID, agency_monthly_fee_micros=0)
            self.session.add(row)
        row.name, row.currency = platform.name, platform.currency
        row.invoice_prefix = platform.invoice_prefix
        if agency_monthly_fee_micros is not None:
            row.agency_monthly_fee_micros = agency_monthly_fee_micros


class SqlPlatformWholesale:
    def __init__(self, session: Session) -> None:
        self.session = session

    def card(self, period: str | None = None) -> WholesaleCard:
        scope, fee = _platform_scope(self.session, period)
        prices = _prices(self.session, scope)
        if fee is None:
            fee = _platform_fee_micros(self.session)
        return WholesaleCard(prices.voice, prices.number_monthly_micros, fee)

    def save(self, prices: WholesalePrices) -> None:
        _save_prices(self.session, PLATFORM_SCOPE, prices)

    def scheduled(self) -> list[ScheduledCard]:
        rows = self.session.scalars(
            select(WholesaleScheduleRow).order_by(WholesaleScheduleRow.effective_period)
        ).all()
        changes = []
        for row in rows:
            prices = _prices(self.session, _scheduled_scope(row.effective_period))
            card = WholesaleCard(
                prices.voice, prices.number_monthly_micros, row.agency_monthly_fee_micros
            )
            changes.append(
                ScheduledCard(row.effective_period, card, row.scheduled_at, row.scheduled_by)
            )
        return changes

    def schedule(self, change: ScheduledCard) -> None:
        self.unschedule([change.period])
        self.session.add(
            WholesaleScheduleRow(
                effective_period=change.period,
                agency_monthly_fee_micros=change.card.agency_monthly_fee_micros,
                scheduled_at=change.scheduled_at,
                scheduled_by=change.scheduled_by,
            )
        )
        prices = WholesalePrices(change.card.voice, change.card.number_monthly_micros)
        _save_prices(self.session, _scheduled_scope(change.period), prices)

    def unschedule(self, periods: list[str]) -> None:
        if not periods:
            return
        scopes = [_scheduled_scope(p) for p in periods]
        for table in (WholesaleVoiceRateRow, WholesaleNumberPriceRow):
            self.session.execute(delete(table).where(table.scope.in_(scopes)))
        self.session.execute(
            delete(WholesaleScheduleRow).where(WholesaleScheduleRow.effective_period.in_(periods))
        )


class SqlAgencyDirectory:
    def __init__(self, session: Session) -> None:
        self.session = session

    def ids(self) -> list[str]:
        return list(self.session.scalars(select(AgencyRow.id).order_by(AgencyRow.id)))

    def with_prefix(self, invoice_prefix: str) -> str | None:
        return self.session.scalar(
            select(AgencyRow.id).where(AgencyRow.invoice_prefix == invoice_prefix)
        )

    def for_gateway_account(self, account_id: str) -> str | None:
        return self.session.scalar(
            select(GatewayLinkRow.agency_id).where(GatewayLinkRow.account_id == account_id)
        )
