"""Stripe Tax at the close of an agency in `stripe` tax mode (BILLING_MODEL §10): the account's
tax settings checked before the close starts (`stripe_tax`), and each retail invoice's lines
taxed by a Tax Calculation for the client's country (`StripeTax`)."""

from __future__ import annotations

from dataclasses import replace

from rebill.domain.account import Agency
from rebill.domain.errors import TaxNotConfiguredError
from rebill.domain.invoice import InvoiceDraft
from rebill.domain.period import Period
from rebill.domain.tax import TaxPolicy
from rebill.services.payments.gateway import GatewayContext, active_tax_behavior
from rebill.services.ports import PaymentGateway, UnitOfWorkFactory

STRIPE_TAX_FIXES = [
    "Link the agency's Stripe account: rebill gateway link --agency ID --provider stripe "
    "--account acct_… (or rebill gateway onboard --agency ID)",
]

Quote = tuple[str, tuple[int, ...]]  # (country, line amounts in minor units)


class StripeTax:
    """Stripe Tax on an agency's connected account, for the close of a `stripe` tax mode
    agency: each retail invoice's lines are taxed by a Tax Calculation for the client's
    country, with the account's default behaviour. The close runs once without writing to
    collect what to ask (`collecting`); Stripe is asked outside any transaction
    (`prefetch`), and the close proper finds every answer here."""

    def __init__(self, gateway: PaymentGateway, account: str, behavior: str, currency: str):
        self.gateway, self.account, self.currency = gateway, account, currency
        self.behavior = behavior  # exclusive | inclusive (inferred_by_currency resolved)
        self.quotes: dict[Quote, list[int]] = {}
        self.calculations: dict[Quote, str] = {}  # recorded as tax transactions after
        self.wanted: set[Quote] = set()
        self.collecting = False

    def policy(self, agency: Agency) -> TaxPolicy:
        return replace(agency.tax, behavior=self.behavior)

    def prefetch(self) -> None:
        for quote in sorted(self.wanted - set(self.quotes)):
            self.quotes[quote] = self._ask(quote)
        self.wanted.clear()

    def _ask(self, quote: Quote) -> list[int]:
        country, amounts = quote
        calculation, taxes = self.gateway.tax_calculation(
            self.account, self.currency, country, list(amounts), self.behavior
        )
        self.calculations[quote] = calculation
        return taxes

    def apply(self, draft: InvoiceDraft, country: str) -> None:
        amounts = [line.amount_minor for line in draft.lines]
        positive = [i for i, amount in enumerate(amounts) if amount > 0]
        if not positive:
            return
        quote: Quote = (country, tuple(amounts[i] for i in positive))
        if quote not in self.quotes:
            if self.collecting:
                self.wanted.add(quote)
                return
            self.quotes[quote] = self._ask(quote)  # changed since the dry run: ask now
        taxes = [0] * len(amounts)
        for index, tax in zip(positive, self.quotes[quote], strict=True):
            taxes[index] = tax
        draft.set_line_taxes(taxes)


def stripe_tax(
    uow_factory: UnitOfWorkFactory,
    context: GatewayContext | None,
    agency_id: str,
    period: Period,
) -> StripeTax | None:
    """For an agency in `stripe` tax mode whose period is still open: its account's tax
    settings, read before the close starts; `tax_not_configured` (with the missing fields
    and the fixes) unless they are active (BILLING_MODEL §10)."""
    with uow_factory() as uow:
        tenant = uow.for_agency(agency_id)
        agency = tenant.agency.get()
        if agency is None or agency.tax.mode != "stripe":
            return None
        if tenant.periods.close_of(str(period)) is not None:
            return None  # closed already: the close only reads it back
        link = tenant.gateway.link()
    account = link.account_id if link else None
    if context is None or context.gateway is None or not account:
        raise TaxNotConfiguredError(["stripe_account"], STRIPE_TAX_FIXES)
    behavior = active_tax_behavior(context.gateway, account, agency.currency)
    return StripeTax(context.gateway, account, behavior, agency.currency)
