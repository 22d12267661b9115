"""Invitations (issue 15): an agency's admin invites staff with a role, whoever adds clients
invites a client's contact, the platform's operator invites an agency's first owner. Each
invitation is e-mailed, in the agency's brand, as a link that works once and for seven days;
opening it asks the person for their own password, and using it creates their sign-in with
the invited role and scope. Only the SHA-256 of the link's token is stored.

Walls: an inviter invites into its own agency only (another agency's id is NotFoundError), and
only roles `domain.invitation.invite_refusal` lets it grant (ForbiddenFieldError otherwise).
Sends are capped per agency and per address over a sliding day (`LimitReachedError`).
Invitations, resends, revocations and acceptances are written to the agency's audit log."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from rebill.domain.account import Brand
from rebill.domain.errors import (
    ConflictError,
    FieldError,
    ForbiddenFieldError,
    NotFoundError,
    ValidationError,
)
from rebill.domain.invitation import (
    ACCEPTED,
    CLIENT,
    EMAIL_ADDRESS,
    PENDING,
    PLATFORM,
    REPLACED,
    REVOKED,
    ROLE_TEXT,
    UNSENT,
    Invitation,
    email_length_max,
    invitation_lifetime,
    invite_refusal,
    pending_per_agency_max,
    send_window,
    sends_per_address_max,
    sends_per_agency_max,
)
from rebill.services.access.passwords import PasswordHasher
from rebill.services.access.users import (
    WebUser,
    password_length_max,
    password_length_min,
)
from rebill.services.accounts.tenant import open_agency
from rebill.services.payments.gateway import agency_public_url
from rebill.services.ports import (
    AgencyView,
    AuditEntry,
    Mailer,
    UnitOfWorkFactory,
    WebUserRecord,
)

UNKNOWN = "unknown"  # a link that names no invitation
invitations_listed_max = 100
logger = logging.getLogger("rebill.invitations")


class LimitReachedError(ConflictError):
    """Too many invitations sent lately (per agency or per address): wait, then send again."""

    code = "limit_reached"


class InvitationClosedError(ConflictError):
    """The link cannot be used: `state` is expired, accepted, revoked, replaced, unsent or
    unknown."""

    code = "invitation_closed"

    def __init__(self, state: str) -> None:
        super().__init__(f"this invitation is {state}")
        self.state = state


@dataclass(frozen=True)
class Inviter:
    """Who sends an invitation: `actor` as the audit log names them, their role, and their
    agency (None: the platform's operator, who may invite into any agency)."""

    actor: str
    role: str
    agency_id: str | None


@dataclass(frozen=True)
class Sent:
    """An invitation made; `error` is the mail server's refusal when the e-mail did not leave
    (the invitation is then `unsent`: its link was never known to anyone)."""

    invitation_id: str
    email: str
    error: str | None = None


@dataclass(frozen=True)
class Opened:
    """What a link's page shows: the invitation's state (`unknown` when the link names none),
    and when it names one, the invitation, its agency's brand and the client's name."""

    state: str
    invitation: Invitation | None = None
    brand: Brand | None = None
    sub_account_name: str | None = None


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_invitation(
    uow_factory: UnitOfWorkFactory,
    mailer: Mailer | None,
    inviter: Inviter,
    agency_id: str,
    email: str,
    role: str,
    now: datetime,
    email_field: str = "email",
) -> str:
    """Whether `inviter` may invite `email` as `role` now (its sub-account is checked when
    the invitation is made: the new-client form checks before the client exists). Returns
    the address as stored (trimmed, lower-case); raises what `invite` would."""
    address = _address(email, email_field)
    _may_grant(inviter, agency_id, role)
    _mail_ready(mailer)
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        _room_for(tenant, address, now, email_field)
    return address


def check_address(mailer: Mailer | None, email: str, email_field: str = "email") -> str:
    """The address as stored, when it is one and e-mail can be sent (before the agency an
    owner is invited into exists); raises ValidationError or ConflictError."""
    address = _address(email, email_field)
    _mail_ready(mailer)
    return address


def invite(
    uow_factory: UnitOfWorkFactory,
    mailer: Mailer | None,
    public_url: str,
    inviter: Inviter,
    agency_id: str,
    email: str,
    role: str,
    sub_account_id: str | None,
    now: datetime,
    email_field: str = "email",
) -> Sent:
    """Invite `email` into the agency as `role` (a client: of `sub_account_id`) and e-mail
    the link. A pending invitation to the same address in this agency is replaced (its link
    stops working)."""
    address = _address(email, email_field)
    _may_grant(inviter, agency_id, role)
    _mail_ready(mailer)
    assert mailer is not None
    sub = (sub_account_id or None) if role == CLIENT else None
    if role == CLIENT and not sub:
        raise ValidationError([FieldError("sub_account", "choose the client", "sub_account")])
    if role != CLIENT and sub_account_id:
        message = "only a client's contact has a client; leave it empty for staff"
        raise ValidationError([FieldError("sub_account", message, "sub_account")])
    return _issue(
        uow_factory, mailer, public_url, inviter, agency_id, address, role, sub, now, email_field
    )


def resend(
    uow_factory: UnitOfWorkFactory,
    mailer: Mailer | None,
    public_url: str,
    inviter: Inviter,
    agency_id: str,
    invitation_id: str,
    now: datetime,
) -> Sent:
    """A new link for the same address, role and scope; the old link stops working."""
    old = _own_invitation(uow_factory, inviter, agency_id, invitation_id)
    if not old.may_resend(now):
        raise ConflictError(f"an invitation {old.state_at(now)} cannot be sent again")
    _mail_ready(mailer)
    assert mailer is not None
    return _issue(
        uow_factory,
        mailer,
        public_url,
        inviter,
        agency_id,
        old.email,
        old.role,
        old.sub_account_id,
        now,
        "email",
        old,
    )


def revoke(
    uow_factory: UnitOfWorkFactory,
    inviter: Inviter,
    agency_id: str,
    invitation_id: str,
    now: datetime,
) -> None:
    """Withdraw a pending invitation: its link stops working at once."""
    old = _own_invitation(uow_factory, inviter, agency_id, invitation_id)
    with uow_factory() as uow:
        tenant = uow.for_agency(agency_id)
        current = tenant.invitations.get(invitation_id)
        assert current is not None
        if not current.may_revoke(now):
            raise ConflictError(f"an invitation {current.state_at(now)} cannot be revoked")
        tenant.invitations.end(old.id, REVOKED, now)
        _audit(tenant, now, inviter.actor, old.email, "revoked", PENDING, REVOKED)
        uow.commit()


def list_invitations(
    uow_factory: UnitOfWorkFactory, agency_id: str, now: datetime
) -> list[dict[str, Any]]:
    """The agency's invitations, newest first (superseded ones left out), with their state."""
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        found = tenant.invitations.latest(invitations_listed_max)
    return [
        {
            "id": i.id,
            "email": i.email,
            "role": i.role,
            "sub_account_id": i.sub_account_id,
            "state": i.state_at(now),
            "created_at": i.created_at,
            "expires_at": i.expires_at,
            "ended_at": i.ended_at,
            "invited_by": i.invited_by,
            "may_resend": i.may_resend(now),
            "may_revoke": i.may_revoke(now),
        }
        for i in found
    ]


def open_invitation(uow_factory: UnitOfWorkFactory, token: str, now: datetime) -> Opened:
    """The invitation a link names, and whether it can be used; never raises for a link that
    names nothing (state `unknown`)."""
    if not token or len(token) > 200:
        return Opened(UNKNOWN)
    with uow_factory() as uow:
        found = uow.platform.invitations.by_token(token_sha256(token))
        if found is None:
            return Opened(UNKNOWN)
        tenant = uow.for_agency(found.agency_id)
        brand = tenant.brand.get()
        sub = tenant.sub_accounts.get(found.sub_account_id) if found.sub_account_id else None
    state = found.state_at(now)
    if state == UNSENT:  # never delivered: nobody should hold this link
        return Opened(UNKNOWN)
    if found.for_client and sub is None:  # its client was removed since
        return Opened(REVOKED, found, brand)
    return Opened(state, found, brand, sub.name if sub else None)


def accept_invitation(
    uow_factory: UnitOfWorkFactory,
    passwords: PasswordHasher,
    token: str,
    password: str,
    password_again: str,
    now: datetime,
) -> WebUser:
    """Use the link: the invited person's sign-in, with the password they chose, made once.
    Raises InvitationClosedError when the link cannot be used (a second use included),
    ValidationError for the password (fields `password`, `password_again`), ConflictError
    when the address has a sign-in already, BusyError when the hashing queue is full."""
    opened = open_invitation(uow_factory, token, now)
    if opened.state != PENDING or opened.invitation is None:
        raise InvitationClosedError(opened.state)
    invitation = opened.invitation
    _password_problems(password, password_again, invitation.email)
    password_hash = passwords.hash(password)
    user_id = "usr_" + secrets.token_hex(12)
    with uow_factory() as uow:
        users = uow.platform.web_users
        if users.by_email(invitation.email) is not None:
            raise ConflictError(f"{invitation.email} has a sign-in already")
        if not uow.platform.invitations.claim(token_sha256(token), user_id, now):
            again = uow.platform.invitations.by_token(token_sha256(token))
            raise InvitationClosedError(again.state_at(now) if again else UNKNOWN)
        agency_id, role, sub = invitation.agency_id, invitation.role, invitation.sub_account_id
        users.add(
            WebUserRecord(user_id, invitation.email, password_hash, role, agency_id, sub, now)
        )
        tenant = uow.for_agency(agency_id)
        _audit(tenant, now, invitation.email, invitation.email, "accepted", PENDING, ACCEPTED)
        uow.commit()
    return WebUser(user_id, invitation.email, role, agency_id, sub)


def invitation_link(public_url: str, invitation: Invitation, token: str, domain: str | None) -> str:
    """Where the link leads: a client's to its portal (on the agency's custom domain when it
    has one, where the portal's session cookie lives), staff's to the panel's host."""
    if invitation.for_client:
        if domain:
            return f"{agency_public_url(public_url, domain)}/client/invitations/{token}"
        return f"{public_url}/portal/{quote(invitation.agency_id)}/invitations/{token}"
    return f"{public_url}/invitations/{token}"


def letter(brand: Brand, invitation: Invitation, link: str) -> tuple[str, str]:
    """The invitation e-mail's subject and body, in the agency's brand."""
    name = " ".join(brand.display_name.split())  # one line: it goes into the subject
    expires = invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    if invitation.for_client:
        subject = f"[{name}] Your {name} account: set your password"
        what = (
            f"{name} has opened an account for you on its billing portal, where you see your "
            "usage, invoices and credits, and pay them."
        )
    else:
        subject = f"[{name}] You are invited to {name}'s billing panel"
        what = (
            f"{name} has invited you to its billing panel as {invitation.role} "
            f"({ROLE_TEXT.get(invitation.role, invitation.role)})."
        )
    help_line = f"\nQuestions: {brand.support_email}" if brand.support_email else ""
    body = (
        f"Hello,\n\n{what}\n\n"
        f"Choose your password and sign in here (the link works once, until {expires}):\n"
        f"{link}\n\n"
        f"If you did not expect this e-mail, ignore it: nothing happens unless the link is "
        f"used.\n\n-- {name}{help_line}\n"
    )
    return subject, body


def _issue(
    uow_factory: UnitOfWorkFactory,
    mailer: Mailer,
    public_url: str,
    inviter: Inviter,
    agency_id: str,
    email: str,
    role: str,
    sub_account_id: str | None,
    now: datetime,
    email_field: str,
    replacing: Invitation | None = None,
) -> Sent:
    """Store a new invitation (the pending ones to the address replaced), then e-mail it
    outside the transaction (a slow mail server holds no lock); a refused e-mail leaves it
    `unsent`."""
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        id="inv_" + secrets.token_hex(12),
        agency_id=agency_id,
        email=email,
        role=role,
        sub_account_id=sub_account_id,
        token_sha256=token_sha256(token),
        state=PENDING,
        invited_by=inviter.actor,
        created_at=now,
        expires_at=now + invitation_lifetime,
    )
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        _room_for(tenant, email, now, email_field)
        if sub_account_id and tenant.sub_accounts.get(sub_account_id) is None:
            message = f"no client {sub_account_id!r} in your agency"
            raise ValidationError([FieldError("sub_account", message, "sub_account")])
        ended = {i.id for i in tenant.invitations.pending_to(email)}
        if replacing is not None:
            ended.add(replacing.id)
        for old_id in sorted(ended):
            tenant.invitations.end(old_id, REPLACED, now)
        tenant.invitations.add(invitation)
        scope = f"{role} of {sub_account_id}" if sub_account_id else role
        field = "resent" if replacing else "invited"
        _audit(
            tenant,
            now,
            inviter.actor,
            email,
            field,
            replacing.state_at(now) if replacing else "",
            scope,
        )
        brand = tenant.brand.get()
        uow.commit()
    subject, body = letter(
        brand, invitation, invitation_link(public_url, invitation, token, brand.domain)
    )
    try:
        mailer.send([email], subject, body)
    except OSError as error:  # smtplib's errors are OSErrors
        logger.warning("invitation %s to %s not sent: %s", invitation.id, email, error)
        with uow_factory() as uow:
            tenant = uow.for_agency(agency_id)
            tenant.invitations.end(invitation.id, UNSENT, now)
            _audit(tenant, now, "mail", email, "unsent", PENDING, str(error) or "refused")
            uow.commit()
        return Sent(invitation.id, email, str(error) or type(error).__name__)
    return Sent(invitation.id, email)


def _address(email: str, field: str) -> str:
    address = email.strip().lower()
    if not address:
        raise ValidationError([FieldError(field, "required: the person's e-mail address", field)])
    if len(address) > email_length_max or not EMAIL_ADDRESS.match(address):
        message = f"{email.strip()!r} is not an e-mail address (like name@example.com)"
        raise ValidationError([FieldError(field, message, field)])
    return address


def _may_grant(inviter: Inviter, agency_id: str, role: str) -> None:
    if inviter.agency_id is not None and inviter.agency_id != agency_id:
        raise NotFoundError(f"agency {agency_id!r} does not exist")
    reason = invite_refusal(inviter.role, role)
    if reason is not None:
        raise ForbiddenFieldError("role", reason)
    if role == PLATFORM:  # an invitation is into an agency; the platform's own users are not
        message = "a platform user belongs to no agency: `rebill users create --platform`"
        raise ValidationError([FieldError("role", message, "role")])


def _mail_ready(mailer: Mailer | None) -> None:
    if mailer is None:
        raise ConflictError(
            "e-mail is not set up on this platform (REBILL_SMTP_HOST), so no invitation can "
            "be sent; ask the platform's operator"
        )


def _room_for(tenant: AgencyView, email: str, now: datetime, field: str) -> None:
    """Refuse a send beyond the day's limits, or an address that signs in here already."""
    invitations = tenant.invitations
    since = now - send_window
    if invitations.sends_since(since) >= sends_per_agency_max:
        raise LimitReachedError(
            f"{sends_per_agency_max} invitations were sent in the last 24 hours, the most an "
            "agency sends in a day; try again later"
        )
    if invitations.sends_since(since, email) >= sends_per_address_max:
        raise LimitReachedError(
            f"{email} was sent {sends_per_address_max} invitations in the last 24 hours; "
            "wait a day before sending another"
        )
    if invitations.pending_count(now) >= pending_per_agency_max:
        raise LimitReachedError(
            f"{pending_per_agency_max} invitations are waiting to be used; revoke some first"
        )
    if any(u.email == email for u in tenant.users.all()):
        message = f"{email} signs in to your agency already"
        raise ValidationError([FieldError(field, message, field)])


def _own_invitation(
    uow_factory: UnitOfWorkFactory, inviter: Inviter, agency_id: str, invitation_id: str
) -> Invitation:
    """The agency's invitation, one the inviter could have sent (404 for any other)."""
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        found = tenant.invitations.get(invitation_id)
    if found is None:
        raise NotFoundError(f"invitation {invitation_id!r} does not exist")
    _may_grant(inviter, agency_id, found.role)
    return found


def _password_problems(password: str, password_again: str, email: str) -> None:
    errors: list[FieldError] = []
    if not password_length_min <= len(password) <= password_length_max:
        message = f"a password has {password_length_min} to {password_length_max} characters"
        errors.append(FieldError("password", message, "password"))
    elif password.strip().lower() == email:
        errors.append(
            FieldError("password", "choose a password other than your e-mail", "password")
        )
    if not errors and password != password_again:
        errors.append(FieldError("password_again", "the two passwords differ", "password_again"))
    if errors:
        raise ValidationError(errors, "the password was not set")


def _audit(
    tenant: AgencyView, now: datetime, actor: str, email: str, field: str, old: str, new: str
) -> None:
    tenant.audit.add(AuditEntry(now, actor, f"invitation {email}", field, old, new))
