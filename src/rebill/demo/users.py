"""The demo's sign-ins: a platform operator, the demo agency's admin and two of its clients."""

from __future__ import annotations

import secrets
from datetime import datetime

from rebill.demo.data import AGENCY
from rebill.services.access.passwords import PasswordHasher
from rebill.services.access.users import create_user
from rebill.services.ports import UnitOfWorkFactory

DEMO_PASSWORD_BYTES = 9


def create_demo_users(
    uow_factory: UnitOfWorkFactory,
    passwords: PasswordHasher,
    now: datetime,
    base_url: str = "http://127.0.0.1:8000",
) -> list[tuple[str, str, str, str]]:
    """The demo's sign-ins: a platform operator, the acme agency's admin, and two clients
    (each sees only its own portal). Returns (role, e-mail, password, URL to open); the
    passwords are random per demo run."""
    base = base_url.rstrip("/")
    wanted = [
        ("platform", "ops@platform.example", None, None, f"{base}/console"),
        ("admin", "admin@acme.example", AGENCY, None, f"{base}/panel"),
        ("client", "owner@bright-dental.example", AGENCY, "bright-dental", f"{base}/portal/acme"),
        ("client", "owner@harbor-realty.example", AGENCY, "harbor-realty", f"{base}/portal/acme"),
    ]
    made = []
    for role, email, agency, sub, url in wanted:
        password = secrets.token_urlsafe(DEMO_PASSWORD_BYTES)
        create_user(uow_factory, passwords, email, password, role, agency, sub, now)
        made.append((role, email, password, url))
    return made
