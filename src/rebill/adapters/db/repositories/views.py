"""The two ways into the repositories: an agency's view (each repository bound to it, made on
first use) and the platform's view (its own records and every cross-tenant look-up)."""

from __future__ import annotations

from functools import cached_property

from sqlalchemy.orm import Session

from rebill.adapters.db.repositories.access import (
    PLATFORM_AUDIT_SCOPE,
    SqlAgencyUserRepository,
    SqlApiKeyRepository,
    SqlAuditRepository,
    SqlIdempotencyRepository,
    SqlSignInThrottleRepository,
    SqlWebSessionRepository,
    SqlWebUserRepository,
)
from rebill.adapters.db.repositories.accounts import (
    SqlAgencyDirectory,
    SqlAgencyRepository,
    SqlBrandRepository,
    SqlPlatformSettings,
    SqlPlatformWholesale,
    SqlWholesaleRepository,
)
from rebill.adapters.db.repositories.alerts import (
    SqlAlertInbox,
    SqlAlertRepository,
    SqlTopUpRepository,
)
from rebill.adapters.db.repositories.campaigns import SqlCampaignRepository
from rebill.adapters.db.repositories.domains import SqlDomainDirectory, SqlDomainRepository
from rebill.adapters.db.repositories.invitations import (
    SqlInvitationDirectory,
    SqlInvitationRepository,
)
from rebill.adapters.db.repositories.invoices import SqlInvoiceDirectory, SqlInvoiceRepository
from rebill.adapters.db.repositories.ledger import SqlLedgerCheck, SqlLedgerRepository
from rebill.adapters.db.repositories.link_state import SqlLinkStateRepository
from rebill.adapters.db.repositories.numbers import SqlNumberRepository
from rebill.adapters.db.repositories.payments import (
    SqlCheckoutRepository,
    SqlGatewayDirectory,
    SqlGatewayLinkRepository,
    SqlPaymentRepository,
)
from rebill.adapters.db.repositories.periods import SqlPeriodRepository
from rebill.adapters.db.repositories.plans import SqlPlanRepository
from rebill.adapters.db.repositories.sub_accounts import SqlSubAccountRepository
from rebill.adapters.db.repositories.usage import SqlUsageRepository
from rebill.adapters.db.repositories.wallets import SqlWalletRepository
from rebill.adapters.db.repositories.webhooks import SqlDeliveryQueue, SqlWebhookRepository


class SqlAgencyView:
    """One agency's repositories over the unit of work's session."""

    def __init__(self, session: Session, agency_id: str) -> None:
        if not agency_id:
            raise ValueError("an agency view needs an agency id (the platform's is uow.platform)")
        self._session = session
        self._agency_id = agency_id

    @property
    def agency_id(self) -> str:
        return self._agency_id

    @cached_property
    def agency(self) -> SqlAgencyRepository:
        return SqlAgencyRepository(self._session, self._agency_id)

    @cached_property
    def brand(self) -> SqlBrandRepository:
        return SqlBrandRepository(self._session, self._agency_id)

    @cached_property
    def wholesale(self) -> SqlWholesaleRepository:
        return SqlWholesaleRepository(self._session, self._agency_id)

    @cached_property
    def plans(self) -> SqlPlanRepository:
        return SqlPlanRepository(self._session, self._agency_id)

    @cached_property
    def sub_accounts(self) -> SqlSubAccountRepository:
        return SqlSubAccountRepository(self._session, self._agency_id)

    @cached_property
    def numbers(self) -> SqlNumberRepository:
        return SqlNumberRepository(self._session, self._agency_id)

    @cached_property
    def usage(self) -> SqlUsageRepository:
        return SqlUsageRepository(self._session, self._agency_id)

    @cached_property
    def campaigns(self) -> SqlCampaignRepository:
        return SqlCampaignRepository(self._session, self._agency_id)

    @cached_property
    def wallets(self) -> SqlWalletRepository:
        return SqlWalletRepository(self._session, self._agency_id)

    @cached_property
    def ledger(self) -> SqlLedgerRepository:
        return SqlLedgerRepository(self._session, self._agency_id)

    @cached_property
    def invoices(self) -> SqlInvoiceRepository:
        return SqlInvoiceRepository(self._session, self._agency_id)

    @cached_property
    def periods(self) -> SqlPeriodRepository:
        return SqlPeriodRepository(self._session, self._agency_id)

    @cached_property
    def alerts(self) -> SqlAlertRepository:
        return SqlAlertRepository(self._session, self._agency_id)

    @cached_property
    def top_ups(self) -> SqlTopUpRepository:
        return SqlTopUpRepository(self._session, self._agency_id)

    @cached_property
    def gateway(self) -> SqlGatewayLinkRepository:
        return SqlGatewayLinkRepository(self._session, self._agency_id)

    @cached_property
    def payments(self) -> SqlPaymentRepository:
        return SqlPaymentRepository(self._session, self._agency_id)

    @cached_property
    def checkouts(self) -> SqlCheckoutRepository:
        return SqlCheckoutRepository(self._session, self._agency_id)

    @cached_property
    def link_states(self) -> SqlLinkStateRepository:
        return SqlLinkStateRepository(self._session, self._agency_id)

    @cached_property
    def webhooks(self) -> SqlWebhookRepository:
        return SqlWebhookRepository(self._session, self._agency_id)

    @cached_property
    def domains(self) -> SqlDomainRepository:
        return SqlDomainRepository(self._session, self._agency_id)

    @cached_property
    def users(self) -> SqlAgencyUserRepository:
        return SqlAgencyUserRepository(self._session, self._agency_id)

    @cached_property
    def invitations(self) -> SqlInvitationRepository:
        return SqlInvitationRepository(self._session, self._agency_id)

    @cached_property
    def audit(self) -> SqlAuditRepository:
        return SqlAuditRepository(self._session, self._agency_id)


class SqlPlatformView:
    """The platform's records and the look-ups across agencies, over the same session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @cached_property
    def settings(self) -> SqlPlatformSettings:
        return SqlPlatformSettings(self._session)

    @cached_property
    def brand(self) -> SqlBrandRepository:
        return SqlBrandRepository(self._session, None)

    @cached_property
    def wholesale(self) -> SqlPlatformWholesale:
        return SqlPlatformWholesale(self._session)

    @cached_property
    def agencies(self) -> SqlAgencyDirectory:
        return SqlAgencyDirectory(self._session)

    @cached_property
    def invoices(self) -> SqlInvoiceDirectory:
        return SqlInvoiceDirectory(self._session)

    @cached_property
    def ledger(self) -> SqlLedgerCheck:
        return SqlLedgerCheck(self._session)

    @cached_property
    def gateway(self) -> SqlGatewayDirectory:
        return SqlGatewayDirectory(self._session)

    @cached_property
    def alerts(self) -> SqlAlertInbox:
        return SqlAlertInbox(self._session)

    @cached_property
    def deliveries(self) -> SqlDeliveryQueue:
        return SqlDeliveryQueue(self._session)

    @cached_property
    def domains(self) -> SqlDomainDirectory:
        return SqlDomainDirectory(self._session)

    @cached_property
    def api_keys(self) -> SqlApiKeyRepository:
        return SqlApiKeyRepository(self._session)

    @cached_property
    def idempotency(self) -> SqlIdempotencyRepository:
        return SqlIdempotencyRepository(self._session)

    @cached_property
    def web_users(self) -> SqlWebUserRepository:
        return SqlWebUserRepository(self._session)

    @cached_property
    def web_sessions(self) -> SqlWebSessionRepository:
        return SqlWebSessionRepository(self._session)

    @cached_property
    def sign_in_throttle(self) -> SqlSignInThrottleRepository:
        return SqlSignInThrottleRepository(self._session)

    @cached_property
    def invitations(self) -> SqlInvitationDirectory:
        return SqlInvitationDirectory(self._session)

    @cached_property
    def audit(self) -> SqlAuditRepository:
        return SqlAuditRepository(self._session, PLATFORM_AUDIT_SCOPE)
