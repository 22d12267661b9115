"""People (issue 15): an agency's admin changes a staff member's role, and disables or enables
anyone who signs in to the agency (staff or a client's contact). Disabling ends the person's
sessions at once (their next request is signed out) and refuses their sign-in with a message
that says so; enabling restores it. The platform's operator may do the same in any agency
(`rebill users set-role|disable|enable`).

Walls, each refused with nothing changed: only an agency admin (or the platform) acts
(ForbiddenFieldError); only on users of its own agency (another agency's user, or one that does
not exist: NotFoundError); a client's contact keeps its client and is never given a staff role,
nor is staff made a client (ValidationError); no role above the actor's own is granted; and an
agency always keeps one active admin (`LastAdminError`: the last one cannot be demoted or
disabled, by themself or anyone). Every change is written to the agency's audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rebill.domain.access import STAFF_ROLES
from rebill.domain.errors import (
    ConflictError,
    FieldError,
    ForbiddenFieldError,
    NotFoundError,
    ValidationError,
)
from rebill.domain.invitation import CLIENT, PLATFORM, invite_refusal
from rebill.services.access.invitations import Inviter
from rebill.services.accounts.tenant import open_agency
from rebill.services.ports import AgencyView, AuditEntry, UnitOfWorkFactory, WebUserRecord

ADMIN = "admin"
ENABLED = "enabled"
DISABLED = "disabled"


class LastAdminError(ConflictError):
    """The change would leave the agency with no active admin."""

    code = "last_admin"


@dataclass(frozen=True)
class Changed:
    """What a change did: the user's e-mail, the field (role | access), before and after
    (equal when there was nothing to change), and how many sessions it ended."""

    user_id: str
    email: str
    field: str
    old: str
    new: str
    sessions_ended: int = 0

    @property
    def changed(self) -> bool:
        return self.old != self.new


def set_role(
    uow_factory: UnitOfWorkFactory,
    manager: Inviter,
    agency_id: str,
    user_id: str,
    role: str,
    now: datetime,
) -> Changed:
    """Give a staff member of the agency another staff role."""
    _may_manage(manager, agency_id)
    if role not in STAFF_ROLES:
        if role == CLIENT:
            message = "staff cannot be made a client's contact: invite the client's contact"
        else:
            message = f"{role!r} is not a staff role: choose one of {', '.join(STAFF_ROLES)}"
        raise ValidationError([FieldError("role", message, "role")], "the role was not changed")
    reason = invite_refusal(manager.role, role)
    if reason is not None:
        raise ForbiddenFieldError("role", reason)
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        user = _own_user(tenant, user_id)
        if user.role == CLIENT:
            message = (
                f"{user.email} signs in for the client {user.sub_account_id} and keeps it: a "
                "client's contact can only be enabled or disabled"
            )
            raise ValidationError([FieldError("role", message, "role")], "the role was not changed")
        if user.role == role:
            return Changed(user.id, user.email, "role", role, role)
        if user.role == ADMIN and not user.disabled:
            _keep_an_admin(tenant, user, "demoted")
        tenant.users.set_role(user.id, role)
        _audit(tenant, now, manager.actor, user.email, "role", user.role, role)
        uow.commit()
    return Changed(user.id, user.email, "role", user.role, role)


def set_disabled(
    uow_factory: UnitOfWorkFactory,
    manager: Inviter,
    agency_id: str,
    user_id: str,
    disabled: bool,
    now: datetime,
) -> Changed:
    """Disable the user (their sessions end now, their sign-in is refused) or enable them."""
    _may_manage(manager, agency_id)
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        user = _own_user(tenant, user_id)
        old = DISABLED if user.disabled else ENABLED
        new = DISABLED if disabled else ENABLED
        if old == new:
            return Changed(user.id, user.email, "access", old, new)
        ended = 0
        if disabled:
            if user.role == ADMIN:
                _keep_an_admin(tenant, user, "disabled")
            tenant.users.set_disabled(user.id, now)
            ended = uow.platform.web_sessions.delete_for_user(user.id)
        else:
            tenant.users.set_disabled(user.id, None)
        _audit(tenant, now, manager.actor, user.email, "access", old, new)
        uow.commit()
    return Changed(user.id, user.email, "access", old, new, ended)


def find_user(uow_factory: UnitOfWorkFactory, agency_id: str, email_or_id: str) -> str:
    """The id of the agency's user with this e-mail (or id); NotFoundError otherwise."""
    wanted = email_or_id.strip()
    with uow_factory() as uow:
        _, tenant = open_agency(uow, agency_id)
        found = tenant.users.get(wanted)
        if found is None:
            found = next((u for u in tenant.users.all() if u.email == wanted.lower()), None)
    if found is None:
        raise NotFoundError(f"no user {wanted!r} in agency {agency_id!r}")
    return found.id


def _may_manage(manager: Inviter, agency_id: str) -> None:
    if manager.role not in (ADMIN, PLATFORM):
        raise ForbiddenFieldError(
            "role", f"your role ({manager.role}) may not manage users: an agency admin does"
        )
    if manager.agency_id is not None and manager.agency_id != agency_id:
        raise NotFoundError(f"agency {agency_id!r} does not exist")


def _own_user(tenant: AgencyView, user_id: str) -> WebUserRecord:
    found = tenant.users.get(user_id)
    if found is None:
        raise NotFoundError(f"user {user_id!r} does not exist")
    return found


def _keep_an_admin(tenant: AgencyView, user: WebUserRecord, what: str) -> None:
    admins = tenant.users.active_admins()
    if admins == [user.id] or not admins:
        raise LastAdminError(
            f"{user.email} is the agency's last active admin and cannot be {what}: make "
            "someone else an admin first"
        )


def _audit(
    tenant: AgencyView, now: datetime, actor: str, email: str, field: str, old: str, new: str
) -> None:
    tenant.audit.add(AuditEntry(now, actor, f"user {email}", field, old, new))
