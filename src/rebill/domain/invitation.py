"""Invitations: a person asked to sign in (an agency's staff member, or a client's contact)
sets their own password through a link that works once and for `invitation_lifetime`; nobody
sets another person's password. Here: who may invite whom (`invite_refusal`), the states an
invitation goes through, and the named limits on sending them.

States (stored): `pending` until the link is used (`accepted`), withdrawn by an admin
(`revoked`), superseded by a newer invitation to the same address (`replaced`), or never
delivered because the mail server refused it (`unsent`). `expired` is not stored: a pending
invitation is expired from its `expires_at` on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from rebill.domain.access import ROLE_WRITES, STAFF_ROLES, VIEWER

PENDING = "pending"
ACCEPTED = "accepted"
REVOKED = "revoked"
REPLACED = "replaced"
UNSENT = "unsent"
EXPIRED = "expired"  # derived: pending past its expiry
CLIENT = "client"
PLATFORM = "platform"

invitation_lifetime = timedelta(days=7)
# Sends (new invitations and resends) counted over a sliding day, per agency and per address
# within the agency: enough for an agency onboarding its clients, too few to spam with.
send_window = timedelta(hours=24)
sends_per_agency_max = 50
sends_per_address_max = 5
pending_per_agency_max = 200
email_length_max = 320
# An address an invitation may go to: the HTML living standard's "valid e-mail address" (what
# a browser's type=email accepts); no comma, quote, bracket or space can make one header name
# two recipients.
EMAIL_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)

# Who may grant which role. Staff are managed by an agency's admin (or by the platform's
# operator, who invites an agency's first owner); a client's contact by whoever may add clients
# (admin and settings). A platform user is made by the platform only.
GRANTS: dict[str, frozenset[str]] = {
    PLATFORM: frozenset({PLATFORM, *STAFF_ROLES, CLIENT}),
    "admin": frozenset({*STAFF_ROLES, CLIENT}),
    "settings": frozenset({CLIENT}),
}
ROLE_TEXT = {
    VIEWER: "reads everything, changes nothing",
    "settings": "edits plans, caps, the gateway, the brand and domain",
    "billing": "adds credits, closes months, charges cards and refunds",
    "admin": "changes everything and manages users",
    CLIENT: "signs in to the portal for one client",
}


def grantable(inviter_role: str) -> tuple[str, ...]:
    """The roles `inviter_role` may invite, least privileged first (client last)."""
    allowed = GRANTS.get(inviter_role, frozenset())
    return tuple(r for r in (*STAFF_ROLES, CLIENT) if r in allowed)


def invite_refusal(inviter_role: str, role: str) -> str | None:
    """Why `inviter_role` may not invite someone as `role` (None when it may). Nobody grants
    a role that may change more than their own; a client never invites anyone."""
    if role not in (PLATFORM, *STAFF_ROLES, CLIENT):
        return f"{role!r} is not a role: choose one of {', '.join((*STAFF_ROLES, CLIENT))}"
    if role == PLATFORM and inviter_role != PLATFORM:
        return "platform users are invited from the platform console only"
    if role not in GRANTS.get(inviter_role, frozenset()):
        if role == CLIENT:
            return f"your role ({inviter_role}) may not add clients"
        return f"your role ({inviter_role}) may not invite staff: an admin does"
    assert inviter_role == PLATFORM or ROLE_WRITES.get(role, frozenset()) <= ROLE_WRITES.get(
        inviter_role, frozenset()
    ), "a grant above the inviter's own role"
    return None


@dataclass(frozen=True)
class Invitation:
    """One invitation into one agency: the role it grants and, for a client, its sub-account.
    The link's token is never kept, only its SHA-256."""

    id: str
    agency_id: str
    email: str
    role: str
    sub_account_id: str | None
    token_sha256: str
    state: str
    invited_by: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None
    user_id: str | None = None

    def state_at(self, now: datetime) -> str:
        if self.state == PENDING and now >= self.expires_at:
            return EXPIRED
        return self.state

    @property
    def for_client(self) -> bool:
        return self.role == CLIENT

    def may_resend(self, now: datetime) -> bool:
        """Sent again (a new link, this one dead): unless used or superseded already."""
        return self.state_at(now) in (PENDING, EXPIRED, UNSENT, REVOKED)

    def may_revoke(self, now: datetime) -> bool:
        return self.state_at(now) == PENDING
