"""What every panel page shares: the layout (navigation, the agency's brand, the notice of
what was just saved), the role check of a change, and how a change is named in the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from rebill.domain.errors import BillingError, ValidationError
from rebill.domain.period import Period
from rebill.entrypoints.web.common import PageError, Web, field_messages
from rebill.services.access.users import WebSession
from rebill.services.views import panel as views
from rebill.services.views.notices import agency_banners
from rebill.services.views.watch import over_cap_count

ALERTS = "/panel/alerts"  # its label carries how many clients are over a cap
NAV = (
    ("/panel", "Home"),
    ("/panel/gateway", "Gateway & tax"),
    ("/panel/plans", "Plans & rates"),
    ("/panel/sub-accounts", "Sub-accounts"),
    (ALERTS, "Alerts"),
    ("/panel/invoices", "Invoices"),
    ("/panel/brand", "Brand & domain"),
    ("/panel/users", "Users"),
    ("/panel/audit", "Audit log"),
)
SAVED = {
    "plan": "Plan saved.",
    "brand": "Brand saved.",
    "domain": "Domain asked for: publish the TXT record below, then verify.",
    "verified": "Domain verified: your portal answers on it.",
    "caps": "Caps saved.",
    "credits": "Credits added.",
    "close": "Period closed; invoices issued.",
    "gateway": "Manual gateway chosen: record your clients' payments as credits.",
    "onboarded": "Back from Stripe: the account's status is up to date.",
    "connected": "Your Stripe account is connected.",
    "charged": "Paid with the saved card.",
    "refunded": "Refunded; the credit note is issued.",
    "client": "Client added.",
    "invited": "Invitation sent: the link in it works once, for 7 days.",
    "unsent": "The invitation e-mail could not be sent (the mail server refused it), so its "
    "link reaches no one. Send it again below.",
    "revoked": "Invitation revoked: its link no longer works.",
    "role": "Role changed: it applies from the person's next click.",
    "disabled": "User disabled: they were signed out and cannot sign in until enabled.",
    "enabled": "User enabled: they can sign in again.",
    "unchanged": "Nothing to change: the user was like that already.",
    "client_invited": "Client added, and its contact invited to your portal by e-mail.",
    "client_unsent": "Client added, but the invitation e-mail could not be sent: send it again "
    "from Users.",
}


def page(web: Web, request: Request, session: WebSession, name: str, **context: Any) -> Response:
    """The template `name` in the panel's layout (`status` in the context: the answer's)."""
    rebill = web.rebill
    agency_id = session.user.agency_id or ""
    brand = views.brand_of(rebill.uow, agency_id)
    now = rebill.clock.now()
    context.setdefault("banners", agency_banners(rebill.uow, agency_id, now))
    over = over_cap_count(rebill.uow, agency_id, now)
    nav = tuple(
        (href, f"{label} ({over} over a cap)" if href == ALERTS and over else label)
        for href, label in NAV
    )
    return web.staff_page(request, session, name, nav, SAVED, brand, context)


def must(session: WebSession, area: str) -> None:
    """403 unless the user's role may change `area` (settings, billing)."""
    if not session.user.may_write(area):
        raise PageError(403, f"your role ({session.user.role}) may not change {area}")


def actor(session: WebSession) -> str:
    """The user as the audit log names it."""
    return f"{session.user.email} ({session.user.role})"


def agency_of(session: WebSession) -> str:
    return session.user.agency_id or ""


def parse_period(text: str | None) -> Period | None:
    if not text:
        return None
    try:
        return Period.parse(text)
    except ValueError:
        raise PageError(404, "no such period") from None


def error_fields(exc: BillingError) -> dict[str, str]:
    """A refusal's messages by form field (none unless it is a validation error)."""
    return field_messages(exc.field_errors) if isinstance(exc, ValidationError) else {}
