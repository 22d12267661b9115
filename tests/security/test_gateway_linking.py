"""Linking a Stripe account, and the return URLs around payments, against someone who tries
(issue 10, item 10 and two low items). Each test makes the attempt, asserts the refusal and
that nothing changed (the link, the Stripe calls made, the wallet), then shows the genuine
path still works, so a refusal cannot pass for a broken route.

The world is `tests/e2e/test_gateway.py`'s (catalog, CLI driver, Stripe test server), with
agency `gamma` (tax mode none) given a custom domain and three panel sign-ins: a `settings`
user and an admin of gamma, and an admin of acme. Panel sessions are separate FastAPI
TestClients (separate cookie jars); OAuth is approved on the test server's authorize page,
which creates a fresh Standard account per approval.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from rebill.adapters.db.engine import normalize_url
from rebill.bootstrap import App, build
from rebill.config import Settings
from rebill.domain.link_state import (
    PURPOSE_OAUTH,
    PURPOSE_ONBOARD_RETURN,
    LinkState,
    sign_state,
)
from rebill.entrypoints.api.app import create_app
from rebill.services.access.users import create_user
from rebill.services.payments.link_state import issue_state
from stripe_test_server import StripeTestServer
from tests.browser.conftest import csrf_of
from tests.e2e import test_gateway as world
from tests.e2e.test_gateway import KEY, SUB, Agency, Rebill

# The fixtures of the gateway world, used here under the same names.
server, sdk, stripe_env, agency = world.server, world.sdk, world.stripe_env, world.agency

NOW = datetime(2026, 12, 15, 12, tzinfo=UTC)  # REBILL_NOW of the test run
DOMAIN = "portal.gamma.example"
PASSWORD = "correct horse battery"
USERS = {
    "settings": ("settings@gamma.example", "settings", "gamma", None),
    "admin": ("admin@gamma.example", "admin", "gamma", None),
    "acme": ("admin@acme.example", "admin", "acme", None),
    "client": ("owner@bright-dental.example", "client", "gamma", SUB),
}


class Browser:
    """One browser: a cookie jar on the app, signed in as one user (or no one)."""

    def __init__(self, app: App) -> None:
        self.client = TestClient(create_app(app))

    def sign_in(self, user: str, path: str = "/sign-in", host: str | None = None) -> None:
        headers = {"host": host} if host else {}
        token = csrf_of(self.client.get(path, headers=headers).text)
        answer = self.client.post(
            path,
            data={"email": USERS[user][0], "password": PASSWORD, "csrf_token": token},
            headers=headers,
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text

    @property
    def session_sha256(self) -> str:
        return hashlib.sha256(self.client.cookies["rebill_session"].encode()).hexdigest()

    def post(self, path: str, page: str, host: str | None = None, **form: str) -> Any:
        """POST a form the way the page at `page` would (with its CSRF token)."""
        headers = {"host": host} if host else {}
        token = csrf_of(self.client.get(page, headers=headers).text)
        return self.client.post(
            path, data={**form, "csrf_token": token}, headers=headers, follow_redirects=False
        )

    def back(self, url: str) -> Any:
        """Follow a redirect from Stripe back to rebill (path and query of `url`)."""
        parts = urlparse(url)
        return self.client.get(f"{parts.path}?{parts.query}", follow_redirects=False)


class Linking:
    """The world of this file: rebill's CLI and database, its app, and browsers on it."""

    def __init__(self, rebill: Rebill, server: StripeTestServer) -> None:
        self.rebill, self.server = rebill, server
        self.app = build(Settings.from_env(rebill.db))
        self.browsers: list[Browser] = []

    def browser(self, user: str | None = None) -> Browser:
        opened = Browser(self.app)
        self.browsers.append(opened)
        if user:
            opened.sign_in(user)
        return opened

    def status(self) -> dict[str, Any]:
        return self.rebill.status("gamma")

    def links(self) -> list[tuple[Any, ...]]:
        """Every gateway link, straight from the table."""
        engine = create_engine(normalize_url(self.rebill.db))
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT * FROM gateway_links ORDER BY agency_id"))
            found = [tuple(r) for r in rows]
        engine.dispose()
        return found

    def exchanges(self) -> int:
        """OAuth codes Stripe was asked to exchange."""
        return sum(1 for r in self.server.requests if r["path"] == "/oauth/token")

    def close(self) -> None:
        for opened in self.browsers:
            opened.client.close()
        self.app.dispose()


@pytest.fixture
def rebill(
    db_url: str,
    tmp_path: Path,
    server: StripeTestServer,
    stripe_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Rebill]:
    monkeypatch.setenv("REBILL_STRIPE_CLIENT_ID", "ca_rebill_test")
    driver = Rebill(db_url, tmp_path, server)
    document = world.catalog()
    for entry in document["agencies"]:
        if entry["id"] == "gamma":
            entry["brand"] = {"display_name": "Gamma Voice", "domain": DOMAIN}
    driver.apply(document)
    # The catalog's own receipts (November's plan fees) are not this file's business.
    driver.baseline = {
        i["number"] for i in driver.json("invoices", "list")["data"] if i["kind"] == "receipt"
    }
    app = build(Settings.from_env(db_url))
    for email, role, agency_id, sub in USERS.values():
        create_user(app.uow, app.passwords, email, PASSWORD, role, agency_id, sub, NOW)
    app.dispose()
    yield driver
    driver.close()


@pytest.fixture
def linking(rebill: Rebill, server: StripeTestServer) -> Iterator[Linking]:
    opened = Linking(rebill, server)
    yield opened
    opened.close()


def start_oauth(browser: Browser) -> str:
    """The Stripe authorize URL the panel sends the agency to."""
    answer = browser.post("/panel/gateway/oauth", "/panel/gateway")
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def approve(authorize_url: str) -> str:
    """The agency approves on Stripe: the callback URL Stripe redirects to (a fresh code)."""
    answer = httpx.get(authorize_url, follow_redirects=False)
    assert answer.status_code in (302, 303)
    return str(answer.headers["location"])


def query(url: str, name: str) -> str:
    return parse_qs(urlparse(url).query)[name][0]


def callback(state: str, code: str) -> str:
    return f"http://rebill.test/connect/oauth/callback?state={state}&code={code}"


# ---------------------------------------------------------------------------------------------
# linking an account by its id is the platform's
# ---------------------------------------------------------------------------------------------


def test_an_agency_user_cannot_link_an_account_by_its_id(linking: Linking, agency: Agency) -> None:
    """`agency` is an onboarded account of the platform that nobody has linked."""
    for user in ("settings", "admin"):
        browser = linking.browser(user)
        page = browser.client.get("/panel/gateway").text
        assert 'name="account"' not in page and "acct_" not in page
        links, asked = linking.links(), len(linking.server.requests)
        for form in (
            {"provider": "stripe", "account": agency.id},
            {"provider": "stripe", "account": ""},
            {"provider": "manual", "account": agency.id},
            {"account": agency.id},
        ):
            answer = browser.post("/panel/gateway", "/panel/gateway", **form)
            assert answer.status_code == 403, (user, form, answer.text)
            assert "platform" in answer.text
        assert linking.links() == links == []
        assert len(linking.server.requests) == asked  # Stripe was not even asked
    assert linking.status()["provider"] is None

    # The platform's operator still links it; an agency may still choose the manual gateway.
    assert linking.rebill.link("gamma", agency.id)["account"] == agency.id
    chosen = linking.browsers[0].post("/panel/gateway", "/panel/gateway", provider="manual")
    assert chosen.status_code == 303
    assert linking.status()["provider"] == "manual"


# ---------------------------------------------------------------------------------------------
# the state of onboarding and OAuth return URLs
# ---------------------------------------------------------------------------------------------


def test_a_state_signed_with_the_stripe_key_is_refused(linking: Linking) -> None:
    browser = linking.browser("settings")
    genuine = query(start_oauth(browser), "state")
    agency_id, purpose, binding, expires, nonce, _ = genuine.split(".")
    # What rebill used to make (the agency signed with the Stripe key), and the new form of
    # state, same fields and session, signed with the Stripe key instead of rebill's secret.
    digest = hmac.new(KEY.encode(), f"connect:gamma:{expires}".encode(), hashlib.sha256)
    old_form = f"gamma.{expires}.{digest.hexdigest()[:32]}"
    state = LinkState(agency_id, purpose, True, datetime.fromtimestamp(int(expires), UTC), nonce)
    new_form = sign_state(KEY, state, browser.session_sha256)
    assert binding == "s" and new_form != genuine
    exchanges = linking.exchanges()
    for forged in (old_form, new_form):
        code = linking.server.create_oauth_code()
        answer = browser.back(callback(forged, code))
        assert answer.status_code == 422, answer.text
        assert "not one rebill made" in answer.json()["detail"]
        assert linking.links() == []
        assert linking.exchanges() == exchanges

    # The genuine state, from the same session, still links (the refusals did not use it).
    answer = browser.back(callback(genuine, linking.server.create_oauth_code()))
    assert answer.status_code == 303, answer.text
    assert linking.status()["account"].startswith("acct_")


def test_a_state_for_another_purpose_is_refused(linking: Linking) -> None:
    browser = linking.browser("settings")
    oauth_back = approve(start_oauth(browser))
    oauth_state = query(oauth_back, "state")
    # Onboarding from the panel: a new Express account, and off to Stripe.
    started = browser.post("/panel/gateway/onboard", "/panel/gateway", country="DE")
    assert started.status_code == 303, started.text
    onboard_back = approve(started.headers["location"])  # onboarding completes on Stripe
    assert urlparse(onboard_back).path == "/connect/return"
    before, exchanges = linking.links(), linking.exchanges()
    assert [row[2:5] for row in before] == [(before[0][2], 0, 0)]  # not onboarded yet

    for path in ("/connect/return", "/connect/refresh"):
        answer = browser.back(f"http://rebill.test{path}?state={oauth_state}")
        assert answer.status_code == 422, answer.text
        assert "is for oauth" in answer.json()["detail"]
    onboard_state = query(onboard_back, "state")
    code = query(oauth_back, "code")
    answer = browser.back(callback(onboard_state, code))
    assert answer.status_code == 422, answer.text
    assert "is for onboard-return, not oauth" in answer.json()["detail"]
    assert linking.links() == before
    assert linking.exchanges() == exchanges

    # The onboarding state still works where it belongs.
    assert browser.back(onboard_back).headers["location"] == "/panel/gateway?saved=onboarded"
    assert linking.status()["charges_enabled"] is True


def test_a_state_is_used_once(linking: Linking) -> None:
    browser = linking.browser("settings")
    back = approve(start_oauth(browser))
    answer = browser.back(back)
    assert answer.headers["location"] == "/panel/gateway?saved=connected"
    linked, exchanges = linking.links(), linking.exchanges()

    # The same state again: with the same code, and with the code of another account.
    state = query(back, "state")
    for code in (query(back, "code"), linking.server.create_oauth_code()):
        replay = browser.back(callback(state, code))
        assert replay.status_code == 409, replay.text
        assert "used already" in replay.json()["detail"]
        assert linking.links() == linked
        assert linking.exchanges() == exchanges


def test_an_onboarding_links_refresh_and_return_urls_work_once_between_them(
    linking: Linking,
) -> None:
    browser = linking.browser("settings")
    started = browser.post("/panel/gateway/onboard", "/panel/gateway", country="DE")
    link_url = started.headers["location"]
    returned = approve(link_url)
    refresh = approve(link_url)  # the link is used: Stripe sends the agency to refresh
    assert urlparse(refresh).path == "/connect/refresh"
    assert browser.back(returned).status_code == 303
    after, asked = linking.links(), len(linking.server.requests)

    for url in (returned, refresh):
        again = browser.back(url)
        assert again.status_code == 409, again.text
        assert "used already" in again.json()["detail"]
    assert linking.links() == after
    assert len(linking.server.requests) == asked  # no new Account Link was asked for


def test_an_expired_state_is_refused(linking: Linking) -> None:
    browser = linking.browser("settings")
    app = linking.app

    def state_from(minutes_ago: int) -> str:
        issued = NOW - timedelta(minutes=minutes_ago)
        secret = app.gateway.signing_secret
        return issue_state(app.uow, secret, "gamma", PURPOSE_OAUTH, browser.session_sha256, issued)

    exchanges = linking.exchanges()
    for minutes_ago in (30, 31, 24 * 60):  # an OAuth state lasts 30 minutes
        answer = browser.back(callback(state_from(minutes_ago), linking.server.create_oauth_code()))
        assert answer.status_code == 422, answer.text
        assert "expired" in answer.json()["detail"]
        assert linking.links() == []
        assert linking.exchanges() == exchanges

    answer = browser.back(callback(state_from(29), linking.server.create_oauth_code()))
    assert answer.status_code == 303, answer.text
    assert linking.exchanges() == exchanges + 1


def test_a_state_from_another_session_is_refused(linking: Linking) -> None:
    owner = linking.browser("settings")
    back = approve(start_oauth(owner))
    exchanges = linking.exchanges()
    others = {
        "no session": linking.browser(),
        "another session of the same user": linking.browser("settings"),
        "another user of the agency": linking.browser("admin"),
        "another agency's admin": linking.browser("acme"),
    }
    for name, other in others.items():
        answer = other.back(back)
        assert answer.status_code == 422, (name, answer.text)
        detail = answer.json()["detail"]
        assert "session that started it" in detail, (name, detail)
        assert linking.links() == [], name
        assert linking.exchanges() == exchanges, name

    # Signed out, the session that started it is gone: the state goes with it.
    leaving = linking.browser("settings")
    gone = approve(start_oauth(leaving))
    token = csrf_of(leaving.client.get("/panel").text)
    leaving.client.post("/sign-out", data={"csrf_token": token}, follow_redirects=False)
    leaving.client.cookies.set("rebill_session", "stale")
    assert leaving.back(gone).status_code == 422
    assert linking.links() == [] and linking.exchanges() == exchanges

    assert owner.back(back).headers["location"] == "/panel/gateway?saved=connected"


def test_the_state_is_signed_with_rebills_own_secret(
    linking: Linking, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unset, the secret is generated once per database and shared by every process on it;
    set, REBILL_SECRET_KEY is used and a state from the generated one is refused."""
    browser = linking.browser("settings")
    first = build(Settings.from_env(linking.rebill.db))
    second = build(Settings.from_env(linking.rebill.db))
    made = issue_state(
        first.uow, "", "gamma", PURPOSE_ONBOARD_RETURN, browser.session_sha256, NOW, "n1"
    )
    again = issue_state(
        second.uow, "", "gamma", PURPOSE_ONBOARD_RETURN, browser.session_sha256, NOW, "n1"
    )
    assert made == again
    first.dispose()
    second.dispose()

    monkeypatch.setenv("REBILL_SECRET_KEY", "k" * 31)
    with pytest.raises(ValueError, match="at least 32"):
        Settings.from_env(linking.rebill.db)
    long_stripe_key = "sk_test_" + "x" * 32
    monkeypatch.setenv("REBILL_STRIPE_SECRET_KEY", long_stripe_key)
    monkeypatch.setenv("REBILL_SECRET_KEY", long_stripe_key)
    with pytest.raises(ValueError, match="not be the Stripe secret key"):
        Settings.from_env(linking.rebill.db)
    monkeypatch.setenv("REBILL_STRIPE_SECRET_KEY", KEY)
    monkeypatch.setenv("REBILL_SECRET_KEY", "a-dedicated-secret-of-the-platform-0123456789")
    configured = build(Settings.from_env(linking.rebill.db))
    client = TestClient(create_app(configured))
    client.cookies.set("rebill_session", browser.client.cookies["rebill_session"])
    code = linking.server.create_oauth_code()
    old = issue_state(linking.app.uow, "", "gamma", PURPOSE_OAUTH, browser.session_sha256, NOW)
    refused = client.get("/connect/oauth/callback", params={"state": old, "code": code})
    assert refused.status_code == 422 and linking.links() == []
    secret = configured.gateway.signing_secret
    fresh = issue_state(configured.uow, secret, "gamma", PURPOSE_OAUTH, browser.session_sha256, NOW)
    linked = client.get(
        "/connect/oauth/callback", params={"state": fresh, "code": code}, follow_redirects=False
    )
    assert linked.status_code == 303, linked.text
    client.close()
    configured.dispose()


# ---------------------------------------------------------------------------------------------
# webhooks signed for later
# ---------------------------------------------------------------------------------------------


def test_a_future_dated_webhook_signature_is_refused(
    linking: Linking, agency: Agency, server: StripeTestServer
) -> None:
    rebill = linking.rebill
    rebill.link("gamma", agency.id)
    session = rebill.checkout("credits", "--amount", "20.00", agency="gamma")
    server.complete_checkout(session["id"], account=agency.id)
    event = agency.completion(session["id"])
    body = json.dumps(event, indent=2).encode()

    for ahead_seconds in (330, 3600, 365 * 86400):  # beyond 300 s, with room for slow runs
        signature = server.sign(body, timestamp=int(time.time()) + ahead_seconds)
        answer = rebill.post_webhook(body, signature)
        assert answer.status_code == 400, (ahead_seconds, answer.text)
        assert "future" in answer.json()["detail"]
        assert rebill.wallet("gamma") == 0 and rebill.receipts("gamma") == []

    # A little clock skew is tolerated, and the refusals did not burn the event id.
    skewed = server.sign(body, timestamp=int(time.time()) + 60)
    answer = rebill.post_webhook(body, skewed)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "credits applied"
    assert rebill.wallet("gamma") == 20_000_000


# ---------------------------------------------------------------------------------------------
# checkout return URLs
# ---------------------------------------------------------------------------------------------


def test_checkout_urls_ignore_a_forged_host_header(linking: Linking, agency: Agency) -> None:
    linking.rebill.link("gamma", agency.id)
    browser = linking.browser()
    browser.sign_in("client", "/client/sign-in", host=DOMAIN)
    wallet = linking.rebill.wallet("gamma")
    forged_hosts = {
        # On the agency's domain (the host names it), with a forged port that is a userinfo.
        ("/client/checkout", "/client/", f"{DOMAIN}:1@evil.example"): f"http://{DOMAIN}/",
        ("/client/checkout", "/client/", f"{DOMAIN}:8443"): f"http://{DOMAIN}/",
        # By path: the public URL, whatever the host says.
        ("/portal/gamma/checkout", "/portal/gamma/", "evil.example"): "http://rebill.test/",
    }
    # Amounts differ: under the fixed clock the same purchase twice is one idempotent request.
    for amount, ((path, page, host), base) in enumerate(forged_hosts.items(), start=20):
        before = {s.id for s in agency.sessions()}
        answer = browser.post(path, page, host=host, action="credits", amount=f"{amount}.00")
        assert answer.status_code == 303, (host, answer.text)
        [created] = [s for s in agency.sessions() if s.id not in before]
        assert created.success_url.startswith(f"{base}checkout/done?session="), host
        assert created.cancel_url == f"{base}checkout/cancelled", host
        assert "evil" not in json.dumps(created.to_dict()), host
        assert linking.rebill.wallet("gamma") == wallet  # nothing is paid by opening one
