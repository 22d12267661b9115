"""Ports: the plain data and the interfaces the services need from the outside world, in
modules by concern (one protocol per repository, beside its records; the unit of work; the
gateway, clock, mailer, renderer, webhook sender and DNS). The adapters implement them;
`bootstrap.py` picks which. Every name is re-exported here: `from rebill.services.ports
import X`."""

from __future__ import annotations

from rebill.services.ports.access import (
    AgencyUserRepository,
    ApiKey,
    ApiKeyRepository,
    AuditEntry,
    AuditRepository,
    IdempotencyRecord,
    IdempotencyRepository,
    InvitationDirectory,
    InvitationRepository,
    SignInThrottleRepository,
    ThrottleCount,
    WebSessionRecord,
    WebSessionRepository,
    WebUserRecord,
    WebUserRepository,
)
from rebill.services.ports.accounts import (
    AgencyDirectory,
    AgencyRepository,
    BrandRepository,
    PlatformSettingsRepository,
    PlatformWholesaleRepository,
    ScheduledCard,
    WholesaleOverride,
    WholesalePrices,
    WholesaleRepository,
)
from rebill.services.ports.alerts import (
    Alert,
    AlertInbox,
    AlertRepository,
    TopUpRepository,
    TopUpRequest,
)
from rebill.services.ports.campaigns import CampaignRepository, CampaignUsage, OpenCampaigns
from rebill.services.ports.documents import (
    InvoiceRenderer,
)
from rebill.services.ports.domains import (
    CustomDomain,
    DomainDirectory,
    DomainRepository,
)
from rebill.services.ports.gateway import (
    GatewayRefund,
    PaymentGateway,
)
from rebill.services.ports.invoices import (
    InvoiceDirectory,
    InvoiceRepository,
    NumberedDraft,
    StoredInvoice,
    StoredLine,
)
from rebill.services.ports.ledger import (
    EntryRef,
    LedgerCheck,
    LedgerRepository,
)
from rebill.services.ports.messaging import (
    Mailer,
    WebhookSender,
)
from rebill.services.ports.numbers import (
    NumberRepository,
)
from rebill.services.ports.payments import (
    AgencyPayment,
    Checkout,
    CheckoutRepository,
    Dispute,
    DunningCase,
    GatewayCustomer,
    GatewayDirectory,
    GatewayLink,
    GatewayLinkRepository,
    LinkStateRepository,
    PaymentRepository,
    Refund,
    TaxRecord,
)
from rebill.services.ports.periods import (
    PeriodClose,
    PeriodRepository,
    PeriodUsageLine,
)
from rebill.services.ports.plans import (
    PlanRepository,
)
from rebill.services.ports.sub_accounts import (
    StateChange,
    SubAccountRepository,
)
from rebill.services.ports.system import (
    Clock,
    DomainResolver,
)
from rebill.services.ports.uow import (
    AgencyView,
    PlatformView,
    UnitOfWork,
    UnitOfWorkFactory,
)
from rebill.services.ports.usage import (
    AuthorizationSnapshot,
    CallRecord,
    CallStart,
    CallTotals,
    CampaignUse,
    RatedCall,
    UsageKey,
    UsageRepository,
)
from rebill.services.ports.wallets import (
    WalletRepository,
)
from rebill.services.ports.webhooks import (
    DeliveryOutcome,
    DeliveryQueue,
    DueDelivery,
    QueuedEvent,
    Subscription,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookRepository,
)

__all__ = [
    "AgencyDirectory",
    "AgencyPayment",
    "AgencyRepository",
    "AgencyUserRepository",
    "AgencyView",
    "Alert",
    "AlertInbox",
    "AlertRepository",
    "ApiKey",
    "ApiKeyRepository",
    "AuditEntry",
    "AuditRepository",
    "AuthorizationSnapshot",
    "BrandRepository",
    "CallRecord",
    "CallStart",
    "CallTotals",
    "CampaignRepository",
    "CampaignUsage",
    "CampaignUse",
    "Checkout",
    "CheckoutRepository",
    "Clock",
    "CustomDomain",
    "DeliveryOutcome",
    "DeliveryQueue",
    "Dispute",
    "DomainDirectory",
    "DomainRepository",
    "DomainResolver",
    "DueDelivery",
    "DunningCase",
    "EntryRef",
    "GatewayCustomer",
    "GatewayDirectory",
    "GatewayLink",
    "GatewayLinkRepository",
    "GatewayRefund",
    "IdempotencyRecord",
    "IdempotencyRepository",
    "InvitationDirectory",
    "InvitationRepository",
    "InvoiceDirectory",
    "InvoiceRenderer",
    "InvoiceRepository",
    "LedgerCheck",
    "LedgerRepository",
    "LinkStateRepository",
    "Mailer",
    "NumberRepository",
    "NumberedDraft",
    "OpenCampaigns",
    "PaymentGateway",
    "PaymentRepository",
    "PeriodClose",
    "PeriodRepository",
    "PeriodUsageLine",
    "PlanRepository",
    "PlatformSettingsRepository",
    "PlatformView",
    "PlatformWholesaleRepository",
    "QueuedEvent",
    "RatedCall",
    "Refund",
    "ScheduledCard",
    "SignInThrottleRepository",
    "StateChange",
    "StoredInvoice",
    "StoredLine",
    "SubAccountRepository",
    "Subscription",
    "TaxRecord",
    "ThrottleCount",
    "TopUpRepository",
    "TopUpRequest",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UsageKey",
    "UsageRepository",
    "WalletRepository",
    "WebSessionRecord",
    "WebSessionRepository",
    "WebUserRecord",
    "WebUserRepository",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookRepository",
    "WebhookSender",
    "WholesaleOverride",
    "WholesalePrices",
    "WholesaleRepository",
]
