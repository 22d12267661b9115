"""The parties' own records: the platform (its settings, brand and wholesale card) and an
agency (its terms, brand and wholesale overrides), plus the platform's directory of agencies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from rebill.domain.account import Agency, Brand, Platform
from rebill.domain.plan import WholesaleCard
from rebill.domain.rating import VoiceRate


@dataclass(frozen=True)
class WholesalePrices:
    """Wholesale voice rates by direction and number prices by type, as one scope stores them
    (the platform's card, or an agency's overrides on top of it)."""

    voice: dict[str, VoiceRate] = field(default_factory=dict)
    number_monthly_micros: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class WholesaleOverride:
    """An agency's own wholesale terms on top of the platform's card (None: the platform's)."""

    agency_monthly_fee_micros: int | None
    prices: WholesalePrices


@dataclass(frozen=True)
class ScheduledCard:
    """The platform's card as it will be from `period` on (each agency's period of that label,
    in its own timezone), who scheduled it and when."""

    period: str
    card: WholesaleCard
    scheduled_at: datetime
    scheduled_by: str


class AgencyRepository(Protocol):
    """The bound agency's own row."""

    def get(self) -> Agency | None: ...

    def save(self, agency: Agency, agency_monthly_fee_micros: int | None, now: datetime) -> None:
        """Create or update the agency (its id is the bound one); a fee of None keeps the
        stored override."""
        ...

    def lock(self, exclusive: bool) -> None:
        """Serialize a close (exclusive) against imports (shared) of this agency."""
        ...


class BrandRepository(Protocol):
    """The brand of one party: the bound agency, or the platform."""

    def get(self) -> Brand: ...

    def save(self, brand: Brand) -> None: ...


class WholesaleRepository(Protocol):
    """The bound agency's wholesale card: the platform's with the agency's overrides."""

    def card(self, period: str | None = None) -> WholesaleCard:
        """The card in force in `period` (the platform's latest change scheduled for it or
        earlier, else the card set at once); None: the card set at once, ignoring schedules."""
        ...

    def override(self) -> WholesaleOverride: ...

    def save_override(self, prices: WholesalePrices) -> None: ...


class PlatformSettingsRepository(Protocol):
    def get(self) -> Platform | None: ...

    def agency_monthly_fee_micros(self) -> int: ...

    def save(self, platform: Platform, agency_monthly_fee_micros: int | None) -> None: ...


class PlatformWholesaleRepository(Protocol):
    """The platform's own wholesale card (every agency's, unless overridden), and its changes
    scheduled for later periods."""

    def card(self, period: str | None = None) -> WholesaleCard:
        """As `WholesaleRepository.card`, without any agency's overrides."""
        ...

    def save(self, prices: WholesalePrices) -> None: ...

    def scheduled(self) -> list[ScheduledCard]:
        """Every scheduled change, by period."""
        ...

    def schedule(self, change: ScheduledCard) -> None:
        """Keep `change` (replacing one scheduled for the same period)."""
        ...

    def unschedule(self, periods: list[str]) -> None:
        """Forget the changes scheduled for `periods`."""
        ...


class AgencyDirectory(Protocol):
    """Look-ups across agencies (the platform's)."""

    def ids(self) -> list[str]: ...

    def with_prefix(self, invoice_prefix: str) -> str | None:
        """The agency whose invoice prefix this is."""
        ...

    def for_gateway_account(self, account_id: str) -> str | None:
        """The agency linked to this gateway account."""
        ...
