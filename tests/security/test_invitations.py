"""Invitations (issue 15) over HTTP and through the service, on SQLite and PostgreSQL, with the
e-mails delivered over real SMTP to a local server (aiosmtpd): a link works once and for
seven days; only its token's SHA-256 is stored; sending again kills the old link; a revoked,
expired, used, replaced or unknown link answers a page that says so; the walls (own agency
only, no role above one's own, clients never staff, platform roles never from a panel) refuse
and change nothing; sends are capped; everything is in the audit log."""

from __future__ import annotations

import hashlib
import html
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import Message
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, select

from rebill.bootstrap import App, build
from rebill.config import Settings
from rebill.demo.data import AGENCY, TIMEZONE, demo_catalog
from rebill.domain.access import ROLE_WRITES, STAFF_ROLES
from rebill.domain.errors import ConflictError, ForbiddenFieldError, NotFoundError
from rebill.domain.invitation import (
    GRANTS,
    grantable,
    invite_refusal,
    sends_per_address_max,
    sends_per_agency_max,
)
from rebill.domain.period import Period
from rebill.entrypoints.api.app import create_app
from rebill.services.access import invitations
from rebill.services.access.invitations import (
    InvitationClosedError,
    Inviter,
    LimitReachedError,
    accept_invitation,
)
from rebill.services.access.users import create_user
from rebill.services.catalog.apply import apply_catalog
from tests.browser.conftest import csrf_of, zenith_entry
from tests.conftest import TEST_SCRYPT_N
from tests.integration.test_alerts import Inbox, free_port
from tests.security.test_sign_in import NOW, MovableClock

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new staple"
PUBLIC_URL = "http://billing.example.test"
BRAND = "Acme Voice"
ADMIN = "admin@acme.example"
USERS = [
    (ADMIN, "admin", AGENCY, None),
    ("settings@acme.example", "settings", AGENCY, None),
    ("billing@acme.example", "billing", AGENCY, None),
    ("viewer@acme.example", "viewer", AGENCY, None),
    ("owner@bright-dental.example", "client", AGENCY, "bright-dental"),
    ("admin@zenith.example", "admin", "zenith", None),
    ("ops@platform.example", "platform", None, None),
]
# What an invitation could change: compared before and after a refusal.
WATCHED = ("invitations", "web_users", "web_sessions", "audit_log")
LINK = re.compile(r"(https?://\S+/invitations/[A-Za-z0-9_-]+)")


@dataclass
class World:
    app: App
    clock: MovableClock
    inbox: Inbox
    client: TestClient

    def sign_in(self, email: str, path: str = "/sign-in") -> TestClient:
        self.client.cookies.clear()
        token = csrf_of(self.client.get(path).text)
        answer = self.client.post(
            path,
            data={"email": email, "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        return self.client

    def token(self) -> str:
        return csrf_of(self.client.get("/panel/users").text)

    def invite(self, email: str, role: str = "viewer", sub: str = "") -> Any:
        data = {"email": email, "role": role, "sub_account": sub, "csrf_token": self.token()}
        return self.client.post("/panel/invitations", data=data, follow_redirects=False)

    def links(self) -> list[str]:
        found = []
        for _, message in self.inbox.messages:
            match = LINK.search(body_of(message))
            assert match, "an invitation e-mail without its link"
            found.append(match.group(1))
        return found

    def path_of(self, link: str) -> str:
        return urlsplit(link).path

    def accept(self, link: str, password: str = NEW_PASSWORD, again: str | None = None) -> Any:
        path = self.path_of(link)
        self.client.cookies.clear()
        form = self.client.get(path).text
        if 'name="csrf_token"' not in form:  # a closed link's page: a form kept open before
            form = self.client.get("/sign-in").text
        data = {
            "password": password,
            "password_again": password if again is None else again,
            "csrf_token": csrf_of(form),
        }
        return self.client.post(path, data=data, follow_redirects=False)

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        metadata = MetaData()
        metadata.reflect(self.app.engine, only=list(WATCHED))
        with self.app.engine.connect() as connection:
            return {
                name: sorted(
                    (tuple(r) for r in connection.execute(select(metadata.tables[name]))),
                    key=repr,
                )
                for name in WATCHED
            }

    def rows(self, table: str) -> list[dict[str, Any]]:
        metadata = MetaData()
        metadata.reflect(self.app.engine, only=[table])
        with self.app.engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(select(metadata.tables[table]))]


def body_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def make_app(db_url: str, smtp_port: int | None) -> App:
    settings = Settings(
        database_url=db_url,
        now=NOW,
        scrypt_n=TEST_SCRYPT_N,
        public_url=PUBLIC_URL,
        smtp_host="127.0.0.1" if smtp_port else None,
        smtp_port=smtp_port or 25,
    )
    app = build(settings)
    app.clock = MovableClock(NOW)
    return app


def seed(app: App) -> None:
    catalog = demo_catalog(Period.containing(NOW, ZoneInfo(TIMEZONE)).previous())
    catalog["agencies"][0]["brand"] = {
        "display_name": BRAND,
        "colour": "#c2410c",
        "support_email": "help@acme.example",
    }
    catalog["agencies"].append(zenith_entry())
    apply_catalog(app.uow, catalog, "catalog", NOW)
    for email, role, agency, sub in USERS:
        create_user(app.uow, app.passwords, email, PASSWORD, role, agency, sub, NOW)


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box = Inbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def world(db_url: str, inbox: tuple[Inbox, int]) -> Iterator[World]:
    box, port = inbox
    app = make_app(db_url, port)
    seed(app)
    assert isinstance(app.clock, MovableClock)
    with TestClient(create_app(app)) as client:
        yield World(app, app.clock, box, client)
    app.dispose()


# -- the rule ------------------------------------------------------------------------------


def test_nobody_grants_a_role_that_may_change_more_than_their_own() -> None:
    for inviter, granted in GRANTS.items():
        for role in granted:
            if inviter != "platform":
                assert ROLE_WRITES.get(role, frozenset()) <= ROLE_WRITES[inviter], (inviter, role)
    assert grantable("admin") == ("viewer", "settings", "billing", "admin", "client")
    assert grantable("admin")[0] == STAFF_ROLES[0] == "viewer"  # least privileged first
    assert grantable("settings") == ("client",)
    for role in ("billing", "viewer", "client", "nobody"):
        assert grantable(role) == ()
    assert invite_refusal("admin", "platform") is not None
    assert invite_refusal("platform", "platform") is None
    assert invite_refusal("settings", "admin") is not None
    assert invite_refusal("client", "client") is not None
    assert invite_refusal("admin", "owner") is not None


# -- a link's life ---------------------------------------------------------------------------


def test_a_staff_invitation_is_e_mailed_in_the_agencys_brand_and_stores_only_a_hash(
    world: World,
) -> None:
    world.sign_in(ADMIN)
    page = world.client.get("/panel/users").text
    form = page[page.index('id="invite-form"') :]  # the users' own rows have role selects
    selected = re.search(r'<option value="(\w+)" selected>', form)
    assert selected and selected.group(1) == "viewer"  # the default: least privileged
    assert 'name="password"' not in page  # nobody types another person's password
    answer = world.invite("  New.Person@Example.COM ", "billing")
    assert answer.status_code == 303 and answer.headers["location"].endswith("saved=invited")
    [(recipients, message)] = world.inbox.messages
    assert recipients == ["new.person@example.com"]
    assert BRAND in str(message["Subject"])
    body = body_of(message)
    assert f"{BRAND} has invited you to its billing panel as billing" in body
    assert "help@acme.example" in body and "works once" in body
    [link] = world.links()
    assert link.startswith(f"{PUBLIC_URL}/invitations/")
    token = link.rsplit("/", 1)[1]
    [row] = world.rows("invitations")
    assert row["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert row["state"] == "pending" and row["role"] == "billing"
    assert row["expires_at"] - NOW.replace(tzinfo=None) == timedelta(days=7)
    stored = repr(world.snapshot())
    assert token not in stored  # not in the invitation, the audit log or anywhere watched
    listed = world.client.get("/panel/users").text
    assert 'data-state="pending"' in listed and "new.person@example.com" in listed


def test_the_link_sets_a_password_signs_in_and_works_once(world: World) -> None:
    world.sign_in(ADMIN)
    world.invite("new.person@example.com", "settings")
    [link] = world.links()
    opened = world.client.get(world.path_of(link))
    assert opened.status_code == 200
    assert "Welcome to Acme Voice" in opened.text and "new.person@example.com" in opened.text
    assert opened.headers["cache-control"] == "no-store"
    assert world.rows("invitations")[0]["state"] == "pending"  # opening it changes nothing
    used = world.accept(link)
    assert used.status_code == 303 and used.headers["location"] == "/panel"
    home = world.client.get("/panel")
    assert home.status_code == 200 and "new.person@example.com · settings" in home.text
    users = {u["email"]: u for u in world.rows("web_users")}
    made = users["new.person@example.com"]
    assert made["role"] == "settings" and made["agency_id"] == AGENCY
    assert made["sub_account_id"] is None and made["password_hash"].startswith("scrypt$")
    [row] = world.rows("invitations")
    assert row["state"] == "accepted" and row["user_id"] == made["id"]

    before = world.snapshot()
    again = world.accept(link, "another password here")
    assert again.status_code == 410 and "has been used" in again.text
    assert world.client.get(world.path_of(link)).status_code == 410
    assert world.snapshot() == before  # no second user, no new password


def test_a_wrong_password_keeps_the_link_and_says_why_beside_the_field(world: World) -> None:
    world.sign_in(ADMIN)
    world.invite("new.person@example.com")
    [link] = world.links()
    short = world.accept(link, "short")
    assert short.status_code == 422
    assert re.search(r'id="password-error">a password has 10 to 200 characters<', short.text)
    differ = world.accept(link, NEW_PASSWORD, "something else entirely")
    assert differ.status_code == 422 and 'id="password_again-error"' in differ.text
    assert NEW_PASSWORD not in differ.text  # a password is never echoed
    assert world.rows("invitations")[0]["state"] == "pending"
    assert world.accept(link).status_code == 303


def test_an_expired_link_is_refused_with_a_clear_page(world: World) -> None:
    world.sign_in(ADMIN)
    world.invite("late@example.com")
    [link] = world.links()
    world.clock.advance(timedelta(days=7).total_seconds())
    before = world.snapshot()
    page = world.client.get(world.path_of(link))
    assert page.status_code == 410 and "This invitation has expired" in page.text
    assert "Ask Acme Voice to send you a new invitation" in page.text
    assert world.accept(link).status_code == 410
    assert world.snapshot() == before
    listed = world.sign_in(ADMIN).get("/panel/users").text
    assert 'data-state="expired"' in listed


def test_sending_again_kills_the_old_link(world: World) -> None:
    world.sign_in(ADMIN)
    world.invite("again@example.com", "billing")
    [row] = world.rows("invitations")
    token = world.token()
    resent = world.client.post(
        f"/panel/invitations/{row['id']}/resend", data={"csrf_token": token}, follow_redirects=False
    )
    assert resent.status_code == 303
    old, new = world.links()
    assert old != new
    replaced = world.client.get(world.path_of(old))
    assert replaced.status_code == 410 and "A newer invitation was sent" in replaced.text
    states = sorted(r["state"] for r in world.rows("invitations"))
    assert states == ["pending", "replaced"]
    assert world.accept(old).status_code == 410
    assert world.accept(new).status_code == 303
    # Inviting the same address anew replaces a pending invitation the same way.
    world.sign_in(ADMIN)
    world.invite("twice@example.com")
    world.invite("twice@example.com", "settings")
    first, second = world.links()[2:]
    assert world.client.get(world.path_of(first)).status_code == 410
    assert world.client.get(world.path_of(second)).status_code == 200


def test_a_revoked_link_no_longer_works(world: World) -> None:
    world.sign_in(ADMIN)
    world.invite("gone@example.com")
    [row] = world.rows("invitations")
    token = world.token()
    answer = world.client.post(
        f"/panel/invitations/{row['id']}/revoke", data={"csrf_token": token}, follow_redirects=False
    )
    assert answer.headers["location"].endswith("saved=revoked")
    [link] = world.links()
    page = world.client.get(world.path_of(link))
    assert page.status_code == 410 and "withdrew this invitation" in page.text
    assert world.accept(link).status_code == 410
    assert "gone@example.com" not in {u["email"] for u in world.rows("web_users")}
    again = world.sign_in(ADMIN).post(
        f"/panel/invitations/{row['id']}/revoke", data={"csrf_token": world.token()}
    )
    assert again.status_code == 409  # a revoked invitation is not revoked twice


def test_an_unknown_link_answers_a_page_not_an_error(world: World) -> None:
    for path in (
        "/invitations/not-a-real-token",
        "/invitations/" + "x" * 500,
        f"/portal/{AGENCY}/invitations/nothing-here",
    ):
        page = world.client.get(path)
        assert page.status_code == 404, path
        assert "This invitation link is not valid" in page.text
    token = csrf_of(world.client.get("/sign-in").text)  # the signed-out forms' token
    posted = world.client.post(
        "/invitations/nothing",
        data={"password": NEW_PASSWORD, "password_again": NEW_PASSWORD, "csrf_token": token},
    )
    assert posted.status_code == 404


def test_a_client_invitation_opens_in_the_portal_of_its_agency_only(world: World) -> None:
    world.sign_in(ADMIN)
    answer = world.invite("contact@bright-dental.example", "client", "bright-dental")
    assert answer.status_code == 303
    [link] = world.links()
    assert link.startswith(f"{PUBLIC_URL}/portal/{AGENCY}/invitations/")
    token = link.rsplit("/", 1)[1]
    [(_, message)] = world.inbox.messages
    assert "billing portal" in body_of(message)
    # Elsewhere the link is unknown: another agency's portal; the staff path sends it home.
    assert world.client.get(f"/portal/zenith/invitations/{token}").status_code == 404
    moved = world.client.get(f"/invitations/{token}", follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == world.path_of(link)
    page = world.client.get(world.path_of(link))
    assert "Bright Dental" in page.text or "bright" in page.text.lower()
    used = world.accept(link)
    assert used.status_code == 303 and used.headers["location"] == f"/portal/{AGENCY}/"
    assert world.client.get(f"/portal/{AGENCY}/").status_code == 200
    assert world.client.get("/panel", follow_redirects=False).status_code == 404
    made = {u["email"]: u for u in world.rows("web_users")}["contact@bright-dental.example"]
    assert (made["role"], made["sub_account_id"]) == ("client", "bright-dental")


def test_a_staff_link_is_unknown_in_a_portal(world: World) -> None:
    world.sign_in(ADMIN)
    world.invite("staff@example.com", "admin")
    [link] = world.links()
    token = link.rsplit("/", 1)[1]
    before = world.snapshot()
    assert world.client.get(f"/portal/{AGENCY}/invitations/{token}").status_code == 404
    page = world.client.get("/sign-in")
    posted = world.client.post(
        f"/portal/{AGENCY}/invitations/{token}",
        data={
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
            "csrf_token": csrf_of(page.text),
        },
    )
    assert posted.status_code == 404
    assert world.snapshot() == before


# -- the walls -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "who", ["settings@acme.example", "billing@acme.example", "viewer@acme.example"]
)
def test_only_an_admin_invites_staff_and_nothing_changes(world: World, who: str) -> None:
    world.sign_in(who)
    before = world.snapshot()
    for role in ("viewer", "admin", "client"):
        answer = world.invite(
            "someone@example.com", role, "bright-dental" if role == "client" else ""
        )
        assert answer.status_code == 403
    assert world.snapshot() == before and world.inbox.messages == []


def test_an_admin_cannot_invite_a_platform_user_or_another_agencys_client(world: World) -> None:
    world.sign_in(ADMIN)
    before = world.snapshot()
    assert world.invite("ops2@example.com", "platform").status_code == 403
    refused = world.invite("x@orbit.example", "client", "orbit")  # zenith's client
    assert refused.status_code == 422
    assert "no client 'orbit' in your agency" in html.unescape(refused.text)
    staff_with_client = world.invite("y@example.com", "billing", "bright-dental")
    assert staff_with_client.status_code == 422
    no_client = world.invite("z@example.com", "client", "")
    assert no_client.status_code == 422 and 'id="sub_account-error"' in no_client.text
    assert world.snapshot() == before and world.inbox.messages == []


def test_another_agencys_invitation_is_out_of_reach(world: World) -> None:
    world.sign_in(ADMIN)
    world.invite("acme.staff@example.com")
    [row] = world.rows("invitations")
    world.sign_in("admin@zenith.example")
    before = world.snapshot()
    token = world.token()
    for action in ("resend", "revoke"):
        answer = world.client.post(
            f"/panel/invitations/{row['id']}/{action}", data={"csrf_token": token}
        )
        assert answer.status_code == 404
    assert "acme.staff@example.com" not in world.client.get("/panel/users").text
    assert world.snapshot() == before and len(world.inbox.messages) == 1
    zenith = Inviter("admin@zenith.example (admin)", "admin", "zenith")
    mailer, url, now = world.app.mailer, PUBLIC_URL, world.clock.now()
    with pytest.raises(NotFoundError):
        invitations.invite(
            world.app.uow, mailer, url, zenith, AGENCY, "a@b.example", "admin", None, now
        )
    with pytest.raises(NotFoundError):
        invitations.revoke(world.app.uow, zenith, AGENCY, row["id"], now)
    settings = Inviter("settings@acme.example (settings)", "settings", AGENCY)
    with pytest.raises(ForbiddenFieldError):
        invitations.invite(
            world.app.uow, mailer, url, settings, AGENCY, "a@b.example", "admin", None, now
        )
    assert world.snapshot() == before


def test_a_client_signed_in_cannot_reach_the_invitation_pages(world: World) -> None:
    world.sign_in("owner@bright-dental.example", f"/portal/{AGENCY}/sign-in")
    before = world.snapshot()
    assert world.client.get("/panel/users", follow_redirects=False).status_code == 404
    answer = world.client.post(
        "/panel/invitations",
        data={"email": "x@example.com", "role": "admin", "csrf_token": "whatever"},
        follow_redirects=False,
    )
    assert answer.status_code == 404
    assert world.snapshot() == before


# -- forms, limits and failures --------------------------------------------------------------


def test_a_bad_address_is_refused_beside_the_field_with_what_was_typed(world: World) -> None:
    world.sign_in(ADMIN)
    before = world.snapshot()
    refused = world.invite("not an address", "billing")
    assert refused.status_code == 422
    shown = html.unescape(refused.text)
    assert re.search(r'id="email-error">\'not an address\' is not an e-mail address', shown)
    assert 'value="not an address"' in refused.text
    assert re.search(r'<option value="billing" selected>', refused.text)
    two = world.invite("someone,victim@example.com", "billing")  # one header, two recipients
    assert two.status_code == 422 and 'id="email-error"' in two.text
    empty = world.invite("   ", "billing")
    assert empty.status_code == 422 and "required" in empty.text
    existing = world.invite("settings@acme.example", "billing")
    assert existing.status_code == 422 and "signs in to your agency already" in existing.text
    assert world.snapshot() == before and world.inbox.messages == []


def test_sends_to_one_address_are_capped_per_day(world: World) -> None:
    world.sign_in(ADMIN)
    for _ in range(sends_per_address_max):
        assert world.invite("often@example.com").status_code == 303
    before = world.snapshot()
    capped = world.invite("often@example.com")
    assert capped.status_code == 429 and "wait a day" in capped.text
    assert world.snapshot() == before
    assert len(world.inbox.messages) == sends_per_address_max
    world.clock.advance(timedelta(hours=24, seconds=1).total_seconds())
    assert world.invite("often@example.com").status_code == 303


def test_sends_per_agency_are_capped_per_day(world: World) -> None:
    sent: list[str] = []

    class Mailer:
        def send(self, recipients: Any, subject: str, body: str) -> None:
            sent.append(recipients[0])

    admin = Inviter(f"{ADMIN} (admin)", "admin", AGENCY)
    now = world.clock.now()
    for n in range(sends_per_agency_max):
        invitations.invite(
            world.app.uow,
            Mailer(),
            PUBLIC_URL,
            admin,
            AGENCY,
            f"p{n}@example.com",
            "viewer",
            None,
            now,
        )
    before = world.snapshot()
    with pytest.raises(LimitReachedError, match="most an agency sends in a day"):
        invitations.invite(
            world.app.uow,
            Mailer(),
            PUBLIC_URL,
            admin,
            AGENCY,
            "one.more@example.com",
            "viewer",
            None,
            now,
        )
    assert world.snapshot() == before and len(sent) == sends_per_agency_max
    zenith = Inviter("admin@zenith.example (admin)", "admin", "zenith")  # its own count
    invitations.invite(
        world.app.uow, Mailer(), PUBLIC_URL, zenith, "zenith", "z@example.com", "viewer", None, now
    )


def test_no_mail_server_means_no_invitation(db_url: str) -> None:
    app = make_app(db_url, None)
    seed(app)
    with TestClient(create_app(app)) as client:
        world = World(app, app.clock, Inbox(), client)  # type: ignore[arg-type]
        world.sign_in(ADMIN)
        before = world.snapshot()
        refused = world.invite("new@example.com")
        assert refused.status_code == 409 and "e-mail is not set up" in refused.text
        assert world.snapshot() == before
    app.dispose()


def test_a_refused_e_mail_leaves_an_unsent_invitation_to_send_again(db_url: str) -> None:
    app = make_app(db_url, free_port())  # nothing listens there
    seed(app)
    with TestClient(create_app(app)) as client:
        world = World(app, app.clock, Inbox(), client)  # type: ignore[arg-type]
        world.sign_in(ADMIN)
        answer = world.invite("lost@example.com")
        assert answer.headers["location"].endswith("saved=unsent")
        [row] = world.rows("invitations")
        assert row["state"] == "unsent"
        listed = world.client.get("/panel/users?saved=unsent").text
        assert "could not be sent" in listed and 'data-state="unsent"' in listed
        assert f"/panel/invitations/{row['id']}/resend" in listed
    app.dispose()


def test_an_address_that_signs_in_elsewhere_gets_no_second_sign_in(world: World) -> None:
    world.sign_in(ADMIN)
    assert world.invite("admin@zenith.example", "admin").status_code == 303  # nothing leaks
    [link] = world.links()
    before = world.snapshot()
    taken = world.accept(link)
    assert taken.status_code == 409 and "already has a sign-in" in taken.text
    assert world.snapshot() == before  # the zenith admin untouched, the invitation pending


def test_two_uses_of_one_link_at_once_make_one_sign_in(world: World) -> None:
    world.sign_in(ADMIN)
    world.invite("race@example.com", "billing")
    [link] = world.links()
    token = link.rsplit("/", 1)[1]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def use(password: str) -> None:
        barrier.wait()
        try:
            accept_invitation(
                world.app.uow, world.app.passwords, token, password, password, world.clock.now()
            )
            outcomes.append("made")
        except (InvitationClosedError, ConflictError) as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=use, args=(p,)) for p in (NEW_PASSWORD, PASSWORD + "!")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes)[-1] == "made" and outcomes.count("made") == 1, outcomes
    assert [u["email"] for u in world.rows("web_users")].count("race@example.com") == 1


def test_invitations_are_in_the_audit_log(world: World) -> None:
    world.sign_in(ADMIN)
    world.invite("audited@example.com", "billing")
    [row] = world.rows("invitations")
    world.client.post(f"/panel/invitations/{row['id']}/resend", data={"csrf_token": world.token()})
    _, link = world.links()
    world.accept(link)
    world.sign_in(ADMIN)
    world.invite("revoked@example.com")
    pending = [r for r in world.rows("invitations") if r["state"] == "pending"]
    world.client.post(
        f"/panel/invitations/{pending[0]['id']}/revoke", data={"csrf_token": world.token()}
    )
    log = world.client.get("/panel/audit").text
    for field in ("invited", "resent", "accepted", "revoked"):
        assert f"<td>{field}</td>" in log, field
    entries = [
        (r["actor"], r["field"])
        for r in world.rows("audit_log")
        if r["target"].startswith("invitation ")
    ]
    assert (f"{ADMIN} (admin)", "invited") in entries
    assert ("audited@example.com", "accepted") in entries
