"""Outbound webhooks against an agency that points them at the platform's own network, and
against one agency's dead endpoints holding up everyone's deliveries (docs/security.md).

Every address attack is refused twice: at registration (nothing stored) and at delivery, for an
endpoint stored before these rules and for a host name that resolved to a public address when
it was registered (nothing sent: no connection is even attempted). Resolvers are injected, so a
host name can answer one address at registration and another at delivery (DNS rebinding).
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rebill.adapters.webhooks.http import NO_RESPONSE, HttpWebhookSender
from rebill.bootstrap import App, build
from rebill.config import Settings
from rebill.domain.destination import is_public_address
from rebill.domain.errors import ConflictError, ValidationError
from rebill.domain.webhook import new_secret
from rebill.entrypoints.api.app import create_app
from rebill.entrypoints.cli.app import app as cli
from rebill.services.access.keys import create_key
from rebill.services.catalog.apply import apply_catalog
from rebill.services.notifications import webhooks
from rebill.services.views.webhooks import delivery_documents, endpoint_documents
from tests.e2e.api_fixtures import catalog

NOW = datetime.fromisoformat("2026-12-15T12:00:00+00:00")
PUBLIC = "93.184.216.34"  # a global address; nothing here ever connects to it
HOOK_HOST = "hooks.example.test"  # resolved only by the injected resolvers
GUARD_SECONDS = 10.0  # how long a test waits for something that should happen at once


def answers(*addresses: str) -> Callable[[str], list[str]]:
    return lambda host: list(addresses)


class Receiver:
    """A local HTTP(S) receiver that answers 204 and keeps each request's headers."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[dict[str, str]] = []
        self.received = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                receiver.requests.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(204)
                self.end_headers()
                receiver.received.set()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ScriptedSender:
    """A sender that answers from a script (then `default`) and keeps the URLs it was given."""

    def __init__(self, script: list[str | None] | None = None, default: str | None = None):
        self.script = list(script or [])
        self.default = default
        self.urls: list[str] = []

    def post(self, url: str, headers: dict[str, str], body: str) -> str | None:
        self.urls.append(url)
        return self.script.pop(0) if self.script else self.default


@pytest.fixture
def app(db_url: str) -> Iterator[App]:
    """The platform as deployed: private destinations not allowed."""
    rebill = build(Settings(database_url=db_url, now=NOW))
    apply_catalog(rebill.uow, catalog(), "catalog", NOW)
    yield rebill
    rebill.dispose()


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every TCP connection the sender tries to open (refused on the spot)."""
    tried: list[Any] = []

    def refuse(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        tried.append(address)
        raise ConnectionRefusedError("this test allows no connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return tried


def endpoints(app: App, agency: str = "acme") -> list[dict[str, Any]]:
    return endpoint_documents(app.uow, agency)


def deliveries(app: App, agency: str = "acme") -> list[dict[str, Any]]:
    return delivery_documents(app.uow, agency)


def queue_events(app: App, agency: str = "acme", count: int = 1, at: datetime = NOW) -> None:
    with app.uow() as uow:
        for n in range(count):
            webhooks.emit(uow.for_agency(agency).webhooks, "alert.fired", {"n": n}, at)
        uow.commit()


def assert_refused_everywhere(app: App, address: str, connections: list[Any]) -> None:
    literal = f"http://[{address}]/hook" if ":" in address else f"http://{address}/hook"
    named = f"https://{HOOK_HOST}/hook"
    # Registration: the address itself, and a name that resolves to it.
    for url in (literal, named):
        with pytest.raises(ValidationError, match="only to public addresses"):
            webhooks.add_endpoint(
                app.uow, "acme", url, [], allow_private=False, now=NOW, resolve=answers(address)
            )
    assert endpoints(app) == []
    # Delivery: an endpoint stored before these rules, and the name registered while it
    # resolved to a public address, now answering the attack address.
    with app.uow() as uow:
        uow.for_agency("acme").webhooks.add_endpoint("we_legacy", literal, new_secret(), [], NOW)
        uow.commit()
    webhooks.add_endpoint(app.uow, "acme", named, [], False, NOW, resolve=answers(PUBLIC))
    queue_events(app)
    sender = HttpWebhookSender(allow_private=False, resolve=answers(address))
    assert webhooks.deliver_due(app.uow, sender, NOW) == 0
    assert connections == []
    sent = deliveries(app)
    assert len(sent) == 2
    assert {(d["status"], d["attempts"], d["last_error"]) for d in sent} == {
        ("pending", 1, NO_RESPONSE)
    }


# -- one test per address attack ----------------------------------------------------------------
def test_cgnat_is_refused(app: App, connections: list[Any]) -> None:
    assert_refused_everywhere(app, "100.64.0.1", connections)


def test_cgnat_cloud_metadata_is_refused(app: App, connections: list[Any]) -> None:
    assert_refused_everywhere(app, "100.100.100.200", connections)  # Alibaba Cloud metadata


def test_6to4_of_loopback_is_refused(app: App, connections: list[Any]) -> None:
    assert_refused_everywhere(app, "2002:7f00:1::", connections)


def test_ipv4_mapped_loopback_is_refused(app: App, connections: list[Any]) -> None:
    assert_refused_everywhere(app, "::ffff:127.0.0.1", connections)


def test_nat64_of_loopback_is_refused(app: App, connections: list[Any]) -> None:
    assert_refused_everywhere(app, "64:ff9b::7f00:1", connections)


def test_cloud_metadata_is_refused(app: App, connections: list[Any]) -> None:
    assert_refused_everywhere(app, "169.254.169.254", connections)


def test_unspecified_address_is_refused(app: App, connections: list[Any]) -> None:
    assert_refused_everywhere(app, "0.0.0.0", connections)


def test_dns_rebinding_is_refused_at_delivery_without_connecting(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    """The name answers a public address at registration and 127.0.0.1 at delivery, where a
    real listener waits: nothing may reach it."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    url = f"http://{HOOK_HOST}:{listener.getsockname()[1]}/hook"
    webhooks.add_endpoint(app.uow, "acme", url, [], False, NOW, resolve=answers(PUBLIC))
    queue_events(app)
    sender = HttpWebhookSender(allow_private=False, resolve=answers("127.0.0.1"))
    with caplog.at_level("INFO", logger="rebill.webhooks"):
        assert webhooks.deliver_due(app.uow, sender, NOW) == 0
    with pytest.raises(BlockingIOError):
        listener.accept()  # no connection is waiting
    listener.close()
    (delivery,) = deliveries(app)
    assert (delivery["status"], delivery["last_error"]) == ("pending", NO_RESPONSE)
    assert "127.0.0.1, not a public address" in caplog.text


def test_one_private_answer_among_public_ones_is_refused(app: App, connections: list[Any]) -> None:
    mixed = answers(PUBLIC, "10.0.0.7")
    with pytest.raises(ValidationError):
        webhooks.add_endpoint(app.uow, "acme", f"https://{HOOK_HOST}/", [], False, NOW, mixed)
    assert endpoints(app) == []
    webhooks.add_endpoint(app.uow, "acme", f"https://{HOOK_HOST}/", [], False, NOW, answers(PUBLIC))
    queue_events(app)
    sender = HttpWebhookSender(allow_private=False, resolve=mixed)
    assert webhooks.deliver_due(app.uow, sender, NOW) == 0
    assert connections == []


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:4700:4700::1111", True),
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
        ("100.127.255.254", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("255.255.255.255", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("198.18.0.1", False),
        ("::", False),
        ("::1", False),
        ("fe80::1", False),
        ("fec0::1", False),
        ("fc00::1", False),
        ("fd00:ec2::254", False),  # AWS metadata over IPv6
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", False),  # mapped forms never leave the host as IPv6
        ("::127.0.0.1", False),
        ("::ffff:0:127.0.0.1", False),
        ("64:ff9b::7f00:1", False),
        ("64:ff9b::a00:1", False),
        ("64:ff9b:1::808:808", False),
        ("2002:7f00:1::", False),
        ("2002:a9fe:a9fe::1", False),  # 6to4 of 169.254.169.254
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
        ("fe80::1%eth0", False),
        ("not an address", False),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_delivery_connects_to_the_checked_address_with_the_original_host(app: App) -> None:
    """The name exists only in the injected resolver: the request arriving proves the sender
    connected to the address it checked, not to a second lookup; Host is the URL's."""
    receiver = Receiver()
    url = f"http://{HOOK_HOST}:{receiver.port}/hook"
    webhooks.add_endpoint(app.uow, "acme", url, [], allow_private=True, now=NOW)
    queue_events(app)
    sender = HttpWebhookSender(allow_private=True, resolve=answers("127.0.0.1"))
    assert webhooks.deliver_due(app.uow, sender, NOW) == 1
    receiver.close()
    assert [r["host"] for r in receiver.requests] == [f"{HOOK_HOST}:{receiver.port}"]


def test_tls_is_checked_against_the_urls_name_on_the_checked_address(tmp_path: Path) -> None:
    """Connected to the resolved address, the TLS handshake still names the URL's host (SNI)
    and the certificate is verified for that name."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    ca, cert, key = (tmp_path / n for n in ("ca.pem", "cert.pem", "key.pem"))
    openssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
    try:
        subprocess.run(
            [*openssl, "-keyout", tmp_path / "ca.key", "-out", ca, "-subj", "/CN=test CA"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *openssl,
                *("-CA", ca, "-CAkey", tmp_path / "ca.key", "-keyout", key, "-out", cert),
                *("-subj", f"/CN={HOOK_HOST}", "-addext", f"subjectAltName=DNS:{HOOK_HOST}"),
            ],
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as exc:  # `req -CA` needs OpenSSL 3
        pytest.skip(f"openssl could not make a test certificate: {exc.stderr!r}")
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    names: list[str | None] = []
    server_tls.sni_callback = lambda _socket, name, _context: names.append(name)
    receiver = Receiver(tls=server_tls)
    sender = HttpWebhookSender(
        allow_private=True,
        resolve=answers("127.0.0.1"),
        ssl_context=ssl.create_default_context(cafile=str(ca)),
    )
    try:
        assert sender.post(f"https://{HOOK_HOST}:{receiver.port}/", {}, "{}") is None
        # Another name on the same address: the certificate does not match, nothing is sent.
        assert sender.post(f"https://other.example.test:{receiver.port}/", {}, "{}") == NO_RESPONSE
    finally:
        receiver.close()
    assert names == [HOOK_HOST, "other.example.test"]
    assert [r["host"] for r in receiver.requests] == [f"{HOOK_HOST}:{receiver.port}"]


def test_only_the_platform_allows_private_destinations(sqlite_url: str) -> None:
    refused = build(Settings(database_url=sqlite_url, now=NOW))
    allowed = build(Settings(database_url=sqlite_url, now=NOW, webhooks_allow_private=True))
    try:
        assert isinstance(refused.webhook_sender, HttpWebhookSender)
        assert isinstance(allowed.webhook_sender, HttpWebhookSender)
        assert not refused.webhook_sender.allow_private
        assert allowed.webhook_sender.allow_private
    finally:
        refused.dispose()
        allowed.dispose()


# -- errors say nothing about the network -------------------------------------------------------
def test_refused_timed_out_and_unresolvable_read_the_same(app: App) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connection refused
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers

    def resolve(host: str) -> list[str]:
        if host == "nowhere.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return ["127.0.0.1"]

    urls = {
        "refused": f"http://refused.test:{closed_port}/",
        "timed out": f"http://silent.test:{silent.getsockname()[1]}/",
        "unresolvable": "http://nowhere.test/",
    }
    for url in urls.values():
        webhooks.add_endpoint(app.uow, "acme", url, [], allow_private=True, now=NOW)
    queue_events(app)
    sender = HttpWebhookSender(
        allow_private=True, resolve=resolve, connect_timeout_seconds=0.5, timeout_seconds=1.0
    )
    assert webhooks.deliver_due(app.uow, sender, NOW) == 0
    silent.close()
    sent = deliveries(app)
    assert len(sent) == 3
    assert {d["last_error"] for d in sent} == {NO_RESPONSE}


def test_a_trickling_server_cannot_hold_a_delivery() -> None:
    """Per-read timeouts alone would wait forever for a server sending a byte at a time."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = server.accept()
        with connection:
            connection.sendall(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.1):
                try:
                    connection.sendall(b"X")
                except OSError:
                    return

    threading.Thread(target=trickle, daemon=True).start()
    sender = HttpWebhookSender(allow_private=True, connect_timeout_seconds=0.5, timeout_seconds=1)
    errors: list[str | None] = []
    url = f"http://127.0.0.1:{server.getsockname()[1]}/"
    posting = threading.Thread(target=lambda: errors.append(sender.post(url, {}, "{}")))
    posting.start()
    posting.join(GUARD_SECONDS)
    stop.set()
    server.close()
    assert not posting.is_alive(), "the trickling server held the delivery"
    assert errors == [NO_RESPONSE]


# -- one agency cannot hold up the others -------------------------------------------------------
def test_endpoints_per_agency_are_capped(app: App) -> None:
    for n in range(webhooks.endpoints_per_agency_max):
        webhooks.add_endpoint(app.uow, "acme", f"https://{PUBLIC}/h{n}", [], False, NOW)
    with pytest.raises(ConflictError, match=f"most allowed is {webhooks.endpoints_per_agency_max}"):
        webhooks.add_endpoint(app.uow, "acme", f"https://{PUBLIC}/one-more", [], False, NOW)
    assert len(endpoints(app)) == webhooks.endpoints_per_agency_max
    # Another agency has its own allowance.
    webhooks.add_endpoint(app.uow, "beta", f"https://{PUBLIC}/beta", [], False, NOW)


def test_the_endpoint_cap_is_a_409_problem_in_the_api(app: App) -> None:
    key, _ = create_key(app.uow, "agency", "acme", None, "settings", NOW)
    client = TestClient(create_app(app))
    auth = {"Authorization": f"Bearer {key}"}
    for n in range(webhooks.endpoints_per_agency_max):
        body = {"url": f"https://{PUBLIC}/h{n}", "events": []}
        assert client.post("/v1/webhook_endpoints", json=body, headers=auth).status_code == 201
    body = {"url": f"https://{PUBLIC}/one-more", "events": []}
    answer = client.post("/v1/webhook_endpoints", json=body, headers=auth)
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "conflict"
    assert "most allowed is 10" in answer.json()["detail"]
    listed = client.get("/v1/webhook_endpoints", params={"limit": 100}, headers=auth).json()
    assert len(listed["data"]) == webhooks.endpoints_per_agency_max
    assert {e["disabled"] for e in listed["data"]} == {False}
    assert {e["consecutive_failures"] for e in listed["data"]} == {0}


def test_an_endpoint_failing_too_often_in_a_row_is_disabled_until_registered_again(
    app: App,
) -> None:
    url = f"https://{HOOK_HOST}/hook"
    first = webhooks.add_endpoint(app.uow, "acme", url, [], False, NOW, resolve=answers(PUBLIC))
    queue_events(app, count=3)
    sender = ScriptedSender(default="HTTP 500")
    moment = NOW
    for _ in range(webhooks.endpoint_failures_max + 3):
        moment += timedelta(days=1)  # every retry is due
        webhooks.deliver_due(app.uow, sender, moment)
    # One attempt per round (a failed endpoint is not tried again in the same round).
    assert len(sender.urls) == webhooks.endpoint_failures_max
    (endpoint,) = endpoints(app)
    assert endpoint["disabled"]
    assert endpoint["consecutive_failures"] == webhooks.endpoint_failures_max
    sent = deliveries(app)
    assert {d["status"] for d in sent} == {"failed"}
    assert webhooks.ENDPOINT_DISABLED in {d["last_error"] for d in sent}
    # A disabled endpoint is not queued for.
    queue_events(app)
    assert len(deliveries(app)) == 3
    # Registering the URL again enables the same endpoint, with a new secret.
    again = webhooks.add_endpoint(app.uow, "acme", url, [], False, NOW, resolve=answers(PUBLIC))
    assert again["id"] == first["id"] and again["secret"] != first["secret"]
    (endpoint,) = endpoints(app)
    assert (endpoint["disabled"], endpoint["consecutive_failures"]) == (False, 0)
    queue_events(app)
    assert webhooks.deliver_due(app.uow, ScriptedSender(), moment) == 1


def test_a_success_clears_the_failure_count(app: App) -> None:
    webhooks.add_endpoint(app.uow, "acme", f"https://{PUBLIC}/h", [], False, NOW)
    queue_events(app, count=3)
    script: list[str | None] = [*["HTTP 500"] * (webhooks.endpoint_failures_max - 1), None]
    sender = ScriptedSender(script, default="HTTP 503")
    moment = NOW
    for _ in range(webhooks.endpoint_failures_max + 1):
        moment += timedelta(days=1)
        webhooks.deliver_due(app.uow, sender, moment)
    (endpoint,) = endpoints(app)
    assert (endpoint["disabled"], endpoint["consecutive_failures"]) == (False, 1)


def test_a_round_takes_at_most_a_share_of_each_agency(app: App) -> None:
    webhooks.add_endpoint(app.uow, "acme", f"https://{PUBLIC}/acme", [], False, NOW)
    webhooks.add_endpoint(app.uow, "beta", f"https://{PUBLIC}/beta", [], False, NOW)
    queue_events(app, "acme", count=3 * webhooks.deliveries_per_agency_round_max)
    queue_events(app, "beta", at=NOW + timedelta(seconds=1))  # after all of acme's
    sender = ScriptedSender()
    assert webhooks.deliver_due(app.uow, sender, NOW + timedelta(minutes=1)) == (
        webhooks.deliveries_per_agency_round_max + 1
    )
    assert sender.urls.count(f"https://{PUBLIC}/beta") == 1


def test_a_dead_endpoint_of_one_agency_does_not_hold_another_agencys_delivery(app: App) -> None:
    """acme's endpoint accepts and never answers; beta's answers at once. Within one round
    beta's delivery is sent and recorded while acme's is still waiting."""
    dead = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    accepted = threading.Event()

    def hold() -> None:
        connection, _ = dead.accept()
        held.append(connection)
        accepted.set()

    threading.Thread(target=hold, daemon=True).start()
    receiver = Receiver()
    dead_url = f"http://127.0.0.1:{dead.getsockname()[1]}/hook"
    webhooks.add_endpoint(app.uow, "acme", dead_url, [], allow_private=True, now=NOW)
    webhooks.add_endpoint(
        app.uow, "beta", f"http://127.0.0.1:{receiver.port}/", [], allow_private=True, now=NOW
    )
    queue_events(app, "acme", at=NOW - timedelta(minutes=1))  # first in line
    queue_events(app, "beta")
    sender = HttpWebhookSender(allow_private=True, timeout_seconds=60)
    round_ = threading.Thread(target=webhooks.deliver_due, args=(app.uow, sender, NOW))
    round_.start()
    try:
        assert accepted.wait(GUARD_SECONDS)
        assert receiver.received.wait(GUARD_SECONDS)
        deadline = time.monotonic() + GUARD_SECONDS
        while deliveries(app, "beta")[0]["status"] != "delivered":
            assert time.monotonic() < deadline, "beta's delivery was not recorded"
            time.sleep(0.05)
        assert round_.is_alive()  # acme's delivery still waits for an answer
    finally:
        for connection in held:
            connection.close()  # acme's endpoint hangs up without answering
        round_.join(GUARD_SECONDS)
        dead.close()
        receiver.close()
    assert not round_.is_alive()
    (acme,) = deliveries(app, "acme")
    assert (acme["status"], acme["last_error"]) == ("pending", NO_RESPONSE)


def test_the_cli_lists_endpoint_state_and_enables_an_endpoint(sqlite_url: str) -> None:
    rebill = build(Settings(database_url=sqlite_url, now=NOW))
    apply_catalog(rebill.uow, catalog(), "catalog", NOW)
    created = webhooks.add_endpoint(rebill.uow, "acme", f"https://{PUBLIC}/h", [], False, NOW)
    with rebill.uow() as uow:
        uow.for_agency("acme").webhooks.disable_endpoint(created["id"], NOW, "test")
        uow.commit()
    rebill.dispose()
    runner = CliRunner()
    listing = ["webhooks", "list", "--agency", "acme", "--db", sqlite_url]
    shown = runner.invoke(cli, listing)
    assert shown.exit_code == 0, shown.output
    assert "disabled" in shown.output
    enabled = runner.invoke(
        cli, ["webhooks", "enable", created["id"], "--agency", "acme", "--db", sqlite_url]
    )
    assert enabled.exit_code == 0, enabled.output
    document = json.loads(runner.invoke(cli, [*listing, "--json"]).output)
    assert [(e["disabled"], e["consecutive_failures"]) for e in document["endpoints"]] == [
        (False, 0)
    ]
