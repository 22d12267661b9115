"""The unit of work (cosmicpython's): one transaction, rolled back unless committed, whose
repositories are handed out per tenant. `uow.for_agency(id)` gives an agency's repositories,
each already bound to it (none of their methods takes an agency id); cross-tenant work (the
platform console, workers, checks, look-ups by key, domain or account) asks for
`uow.platform` by name, so that it shows in review."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol

from rebill.services.ports.access import (
    AgencyUserRepository,
    ApiKeyRepository,
    AuditRepository,
    IdempotencyRepository,
    InvitationDirectory,
    InvitationRepository,
    SignInThrottleRepository,
    WebSessionRepository,
    WebUserRepository,
)
from rebill.services.ports.accounts import (
    AgencyDirectory,
    AgencyRepository,
    BrandRepository,
    PlatformSettingsRepository,
    PlatformWholesaleRepository,
    WholesaleRepository,
)
from rebill.services.ports.alerts import AlertInbox, AlertRepository, TopUpRepository
from rebill.services.ports.campaigns import CampaignRepository
from rebill.services.ports.domains import DomainDirectory, DomainRepository
from rebill.services.ports.invoices import InvoiceDirectory, InvoiceRepository
from rebill.services.ports.ledger import LedgerCheck, LedgerRepository
from rebill.services.ports.numbers import NumberRepository
from rebill.services.ports.payments import (
    CheckoutRepository,
    GatewayDirectory,
    GatewayLinkRepository,
    LinkStateRepository,
    PaymentRepository,
)
from rebill.services.ports.periods import PeriodRepository
from rebill.services.ports.plans import PlanRepository
from rebill.services.ports.sub_accounts import SubAccountRepository
from rebill.services.ports.usage import UsageRepository
from rebill.services.ports.wallets import WalletRepository
from rebill.services.ports.webhooks import DeliveryQueue, WebhookRepository


class AgencyView(Protocol):
    """One agency's repositories, bound to it, in the unit of work's transaction."""

    @property
    def agency_id(self) -> str: ...
    @property
    def agency(self) -> AgencyRepository: ...
    @property
    def brand(self) -> BrandRepository: ...
    @property
    def wholesale(self) -> WholesaleRepository: ...
    @property
    def plans(self) -> PlanRepository: ...
    @property
    def sub_accounts(self) -> SubAccountRepository: ...
    @property
    def numbers(self) -> NumberRepository: ...
    @property
    def usage(self) -> UsageRepository: ...
    @property
    def campaigns(self) -> CampaignRepository: ...
    @property
    def wallets(self) -> WalletRepository: ...
    @property
    def ledger(self) -> LedgerRepository: ...
    @property
    def invoices(self) -> InvoiceRepository: ...
    @property
    def periods(self) -> PeriodRepository: ...
    @property
    def alerts(self) -> AlertRepository: ...
    @property
    def top_ups(self) -> TopUpRepository: ...
    @property
    def gateway(self) -> GatewayLinkRepository: ...
    @property
    def payments(self) -> PaymentRepository: ...
    @property
    def checkouts(self) -> CheckoutRepository: ...
    @property
    def link_states(self) -> LinkStateRepository: ...
    @property
    def webhooks(self) -> WebhookRepository: ...
    @property
    def domains(self) -> DomainRepository: ...
    @property
    def users(self) -> AgencyUserRepository: ...
    @property
    def invitations(self) -> InvitationRepository: ...
    @property
    def audit(self) -> AuditRepository: ...


class PlatformView(Protocol):
    """The platform's own records and every look-up that crosses agencies."""

    @property
    def settings(self) -> PlatformSettingsRepository: ...
    @property
    def brand(self) -> BrandRepository: ...
    @property
    def wholesale(self) -> PlatformWholesaleRepository: ...
    @property
    def agencies(self) -> AgencyDirectory: ...
    @property
    def invoices(self) -> InvoiceDirectory: ...
    @property
    def ledger(self) -> LedgerCheck: ...
    @property
    def gateway(self) -> GatewayDirectory: ...
    @property
    def alerts(self) -> AlertInbox: ...
    @property
    def deliveries(self) -> DeliveryQueue: ...
    @property
    def domains(self) -> DomainDirectory: ...
    @property
    def api_keys(self) -> ApiKeyRepository: ...
    @property
    def idempotency(self) -> IdempotencyRepository: ...
    @property
    def web_users(self) -> WebUserRepository: ...
    @property
    def web_sessions(self) -> WebSessionRepository: ...
    @property
    def sign_in_throttle(self) -> SignInThrottleRepository: ...
    @property
    def invitations(self) -> InvitationDirectory: ...
    @property
    def audit(self) -> AuditRepository:
        """The audit log of the platform's own terms."""
        ...


class UnitOfWork(Protocol):
    """A transaction: leaving the `with` block without `commit()` rolls back."""

    @property
    def platform(self) -> PlatformView: ...

    def for_agency(self, agency_id: str) -> AgencyView:
        """The agency's repositories (an empty id is a programmer error). It does not check
        that the agency exists: `services.accounts.tenant.open_agency` does."""
        ...

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
