"""Sign-in under attack (issue 10, item 8): failures are throttled per account and per client
address with a growing wait (429 and Retry-After, the right password refused too and no hash
computed meanwhile), the count lives in the database (every process sees it), password hashes
go through a bounded pool (503 beyond its queue), old hash costs are renewed on sign-in, and the
CLI never takes a password on its command line. Backed by a small catalog (no calls), on SQLite
and, with REBILL_TEST_POSTGRES_URL, on PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from rebill.adapters.db.door_rows import SignInThrottleRow
from rebill.adapters.db.rows import WebSessionRow, WebUserRow
from rebill.bootstrap import App, build
from rebill.config import Settings
from rebill.demo.data import AGENCY, TIMEZONE, demo_catalog
from rebill.domain.backoff import Backoff
from rebill.domain.errors import BusyError, TooManyAttemptsError
from rebill.domain.period import Period
from rebill.entrypoints.api.app import create_app
from rebill.entrypoints.cli.app import app as cli
from rebill.services.access.passwords import SCRYPT_N, SCRYPT_P, SCRYPT_R, PasswordHasher
from rebill.services.access.sign_in_throttle import ACCOUNT, ADDRESS
from rebill.services.access.users import authenticate, create_user
from rebill.services.catalog.apply import apply_catalog
from tests.browser.conftest import csrf_of
from tests.conftest import TEST_SCRYPT_N

NOW = datetime.fromisoformat("2026-11-14T18:00:00+00:00")
PASSWORD = "correct horse battery"
ADMIN = "admin@acme.example"
CLIENT = "owner@bright-dental.example"
PORTAL = f"/portal/{AGENCY}/sign-in"


class MovableClock:
    """The injected clock, moved by hand between attempts."""

    def __init__(self, instant: datetime) -> None:
        self.instant = instant

    def now(self) -> datetime:
        return self.instant

    def advance(self, seconds: float) -> None:
        self.instant += timedelta(seconds=seconds)


@dataclass
class World:
    app: App
    clock: MovableClock
    client: TestClient

    def other_client(self, host: str) -> TestClient:
        """A browser at another address (on the same app)."""
        return TestClient(create_app(self.app), client=(host, 50000))


def build_app(db_url: str) -> App:
    app = build(Settings(database_url=db_url, now=NOW, scrypt_n=TEST_SCRYPT_N))
    app.clock = MovableClock(NOW)
    return app


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    app = build_app(db_url)
    last_month = Period.containing(NOW, ZoneInfo(TIMEZONE)).previous()
    apply_catalog(app.uow, demo_catalog(last_month), "catalog", NOW)
    for email, role, agency, sub in [
        (ADMIN, "admin", AGENCY, None),
        ("ops@platform.example", "platform", None, None),
        (CLIENT, "client", AGENCY, "bright-dental"),
    ]:
        create_user(app.uow, app.passwords, email, PASSWORD, role, agency, sub, NOW)
    assert isinstance(app.clock, MovableClock)
    with TestClient(create_app(app), client=("203.0.113.7", 50000)) as client:
        yield World(app, app.clock, client)
    app.dispose()


def attempt(client: TestClient, email: str, password: str, path: str = "/sign-in") -> int:
    return post(client, email, password, path).status_code


def post(client: TestClient, email: str, password: str, path: str = "/sign-in") -> httpx.Response:
    token = csrf_of(client.get(path).text)
    return client.post(
        path,
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def fail(client: TestClient, email: str, times: int, path: str = "/sign-in") -> None:
    for _ in range(times):
        assert attempt(client, email, "not the password", path) == 401


def sessions(app: App) -> int:
    with app.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(WebSessionRow)).scalar())


def throttles(app: App) -> dict[str, int]:
    with app.engine.connect() as connection:
        rows = connection.execute(select(SignInThrottleRow.kind, SignInThrottleRow.failures))
        return {kind: failures for kind, failures in rows}


def stored_hash(app: App, email: str) -> str:
    with app.engine.connect() as connection:
        query = select(WebUserRow.password_hash).where(WebUserRow.email == email)
        return str(connection.execute(query).scalar_one())


# -- the rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "delay_seconds"),
    [(0, 0), (4, 0), (5, 1), (6, 2), (7, 4), (10, 32), (14, 512), (15, 900), (500, 900)],
)
def test_account_backoff_doubles_up_to_its_ceiling(failures: int, delay_seconds: int) -> None:
    assert ACCOUNT.delay_seconds(failures) == delay_seconds


def test_backoff_waits_are_rounded_up_and_forgotten_after_a_quiet_spell() -> None:
    rule = Backoff(failures_max=2, delay_seconds_first=3, delay_seconds_max=60, forget_seconds=120)
    assert rule.retry_after_seconds(2, NOW, NOW) == 3
    assert rule.retry_after_seconds(2, NOW, NOW + timedelta(seconds=0.5)) == 3
    assert rule.retry_after_seconds(2, NOW, NOW + timedelta(seconds=2.5)) == 1
    assert rule.retry_after_seconds(2, NOW, NOW + timedelta(seconds=3)) == 0
    assert rule.retry_after_seconds(9, NOW, NOW + timedelta(seconds=59)) == 1
    assert rule.current_failures(9, NOW, NOW + timedelta(seconds=119)) == 9
    assert rule.current_failures(9, NOW, NOW + timedelta(seconds=120)) == 0
    assert ADDRESS.failures_max > ACCOUNT.failures_max


# -- throttling over HTTP ------------------------------------------------------------------


def test_failures_beyond_the_limit_answer_429_with_retry_after(world: World) -> None:
    fail(world.client, ADMIN, ACCOUNT.failures_max)
    refused = post(world.client, ADMIN, "not the password")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert "Too many sign-in attempts" in refused.text


def test_the_right_password_is_refused_while_throttled_and_nothing_changes(
    world: World,
) -> None:
    fail(world.client, ADMIN, ACCOUNT.failures_max)
    before = (
        throttles(world.app),
        world.app.passwords.computed_total,
        stored_hash(world.app, ADMIN),
    )
    refused = post(world.client, ADMIN, PASSWORD)
    assert refused.status_code == 429
    assert "rebill_session" not in refused.headers.get("set-cookie", "")
    assert sessions(world.app) == 0
    after = (
        throttles(world.app),
        world.app.passwords.computed_total,
        stored_hash(world.app, ADMIN),
    )
    assert after == before  # no hash computed, no count moved
    assert world.client.get("/panel", follow_redirects=False).status_code == 303  # to sign-in


def test_the_portal_sign_in_is_throttled_too(world: World) -> None:
    fail(world.client, CLIENT, ACCOUNT.failures_max, PORTAL)
    refused = post(world.client, CLIENT, PASSWORD, PORTAL)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert sessions(world.app) == 0


def test_an_address_is_throttled_across_accounts(world: World) -> None:
    for index in range(ADDRESS.failures_max):
        assert attempt(world.client, f"guess{index}@acme.example", "not the password") == 401
    # No account has failed more than once, yet this address now waits, even with a right
    # password ...
    refused = post(world.client, ADMIN, PASSWORD)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    # ... while another address signs in to the same account.
    with world.other_client("198.51.100.9") as elsewhere:
        assert attempt(elsewhere, ADMIN, PASSWORD) == 303


def test_the_wait_grows_with_each_failure(world: World) -> None:
    fail(world.client, ADMIN, ACCOUNT.failures_max)
    waits = []
    for _ in range(5):
        refused = post(world.client, ADMIN, "not the password")
        assert refused.status_code == 429
        wait = int(refused.headers["Retry-After"])
        waits.append(wait)
        world.clock.advance(wait - 0.5)  # not quite long enough
        assert attempt(world.client, ADMIN, PASSWORD) == 429
        world.clock.advance(0.5)
        assert attempt(world.client, ADMIN, "not the password") == 401
    assert waits == [1, 2, 4, 8, 16]


def test_success_after_the_wait_resets_the_account_counter(world: World) -> None:
    fail(world.client, ADMIN, ACCOUNT.failures_max)
    assert attempt(world.client, ADMIN, PASSWORD) == 429
    world.clock.advance(1)
    assert attempt(world.client, ADMIN, PASSWORD) == 303
    assert sessions(world.app) == 1
    # The account starts over; the address keeps its failures but got the success back.
    assert throttles(world.app) == {"address": ACCOUNT.failures_max}
    fail(world.client, ADMIN, ACCOUNT.failures_max - 1)
    assert attempt(world.client, ADMIN, PASSWORD) == 303


def test_failures_are_forgotten_after_a_quiet_spell(world: World) -> None:
    fail(world.client, ADMIN, ACCOUNT.failures_max)
    world.clock.advance(ACCOUNT.forget_seconds)
    fail(world.client, ADMIN, ACCOUNT.failures_max)  # a fresh count: all free again
    assert attempt(world.client, ADMIN, PASSWORD) == 429


def test_the_count_is_shared_by_every_process(world: World, db_url: str) -> None:
    """A second app on the same database (another worker process) sees the same count."""
    fail(world.client, ADMIN, ACCOUNT.failures_max)
    other = build_app(db_url)
    try:
        with pytest.raises(TooManyAttemptsError) as refused:
            authenticate(other.uow, other.passwords, ADMIN, PASSWORD, "192.0.2.1", NOW)
        assert refused.value.retry_after_seconds == 1
        assert other.passwords.computed_total == 0
    finally:
        other.dispose()


def test_parallel_guesses_cannot_slip_past_the_count(world: World) -> None:
    """Each attempt is counted before its hash: of 12 at once, 5 are checked."""
    app = world.app
    outcomes: list[str] = []
    start = threading.Barrier(12)

    def guess(index: int) -> None:
        start.wait()
        try:
            user = authenticate(app.uow, app.passwords, ADMIN, f"guess {index}", "192.0.2.1", NOW)
            outcomes.append("wrong" if user is None else "right")
        except TooManyAttemptsError:
            outcomes.append("throttled")

    computed = app.passwords.computed_total
    threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["throttled"] * 7 + ["wrong"] * 5
    assert app.passwords.computed_total - computed == ACCOUNT.failures_max


def test_unknown_e_mails_are_counted_and_cost_one_hash(world: World) -> None:
    computed = world.app.passwords.computed_total
    fail(world.client, "nobody@acme.example", ACCOUNT.failures_max)
    assert world.app.passwords.computed_total - computed == ACCOUNT.failures_max
    assert attempt(world.client, "nobody@acme.example", PASSWORD) == 429


# -- the hashing pool ----------------------------------------------------------------------


def test_a_full_hashing_queue_answers_503_and_counts_nothing(world: World) -> None:
    world.app.passwords = PasswordHasher(TEST_SCRYPT_N, workers=1, waiting_max=0)
    with world.app.passwords.slot():  # the only slot is busy and nothing may queue
        busy = post(world.client, ADMIN, PASSWORD)
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "1"
    assert throttles(world.app) == {}  # the attempt was given back
    assert attempt(world.client, ADMIN, PASSWORD) == 303


def test_a_queued_hash_gives_up_after_its_wait() -> None:
    hasher = PasswordHasher(TEST_SCRYPT_N, workers=1, waiting_max=1, wait_seconds_max=0.05)
    with hasher.slot(), pytest.raises(BusyError):
        hasher.hash(PASSWORD)  # queued behind the held slot, then refused
    assert hasher.computed_total == 0
    assert hasher.verify(PASSWORD, hasher.hash(PASSWORD)).matches


# -- the cost and its renewal --------------------------------------------------------------


def test_the_standard_cost_is_owasps() -> None:
    assert (SCRYPT_N, SCRYPT_R, SCRYPT_P) == (2**17, 8, 1)
    assert PasswordHasher().cost.memory_bytes >= 128 * 2**20
    assert Settings.from_env().scrypt_n == TEST_SCRYPT_N  # REBILL_SCRYPT_N, tests only
    with pytest.raises(ValueError, match="power of two"):
        PasswordHasher(1000)


def test_an_old_cost_is_renewed_on_the_next_sign_in(world: World) -> None:
    old = PasswordHasher(TEST_SCRYPT_N // 2)
    with world.app.uow() as uow:
        users = uow.platform.web_users
        user = users.by_email(ADMIN)
        assert user is not None
        users.set_password(user.id, old.hash(PASSWORD))
        uow.commit()
    assert stored_hash(world.app, ADMIN).startswith(f"scrypt${TEST_SCRYPT_N // 2}$8$1$")
    assert attempt(world.client, ADMIN, "not the password") == 401
    assert stored_hash(world.app, ADMIN).startswith(f"scrypt${TEST_SCRYPT_N // 2}$")
    assert attempt(world.client, ADMIN, PASSWORD) == 303
    renewed = stored_hash(world.app, ADMIN)
    assert renewed.startswith(f"scrypt${TEST_SCRYPT_N}$8$1$")
    world.client.cookies.clear()
    assert attempt(world.client, ADMIN, PASSWORD) == 303
    assert stored_hash(world.app, ADMIN) == renewed  # already current: left alone


def test_a_hash_from_before_still_verifies_and_is_outdated() -> None:
    """The format the previous code stored (N=2^14)."""
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    salt_text, digest_text = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    stored = f"scrypt$16384$8$1${salt_text}${digest_text}"
    verdict = PasswordHasher(2**15).verify(PASSWORD, stored)
    assert verdict.matches and verdict.outdated
    hasher = PasswordHasher(2**14)
    assert not hasher.verify(PASSWORD, stored).outdated
    assert not hasher.verify("not the password", stored).matches
    assert not hasher.verify(PASSWORD, "scrypt$1073741824$8$1$AAAA$AAAA").matches  # too costly


# -- the CLI -------------------------------------------------------------------------------


def cli_db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def signs_in(db: str, email: str, password: str) -> bool:
    app = build_app(db)
    try:
        return authenticate(app.uow, app.passwords, email, password, "192.0.2.1", NOW) is not None
    finally:
        app.dispose()


def test_the_cli_reads_the_password_from_stdin(tmp_path: Path) -> None:
    db = cli_db(tmp_path)
    made = CliRunner().invoke(
        cli,
        ["users", "create", "--email", "ops@platform.example", "--platform", "--password-stdin"],
        input=f"{PASSWORD}\n",
        env={"REBILL_DATABASE_URL": db},
    )
    assert made.exit_code == 0, made.output
    assert PASSWORD not in made.output
    assert signs_in(db, "ops@platform.example", PASSWORD)


def test_the_cli_prompts_for_the_password_twice_and_hidden(tmp_path: Path) -> None:
    db = cli_db(tmp_path)
    made = CliRunner().invoke(
        cli,
        ["users", "create", "--email", "ops@platform.example", "--platform"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
        env={"REBILL_DATABASE_URL": db},
    )
    assert made.exit_code == 0, made.output
    assert "Repeat for confirmation" in made.output
    assert PASSWORD not in made.output  # hidden: not echoed
    assert signs_in(db, "ops@platform.example", PASSWORD)


def test_the_cli_refuses_a_password_on_its_command_line(tmp_path: Path) -> None:
    db = cli_db(tmp_path)
    argv = ["users", "create", "--email", "ops@platform.example", "--platform"]
    refused = CliRunner().invoke(
        cli, [*argv, "--password", PASSWORD], env={"REBILL_DATABASE_URL": db}
    )
    assert refused.exit_code == 2
    assert "--password-stdin" in refused.output
    assert not (tmp_path / "cli.db").exists()  # refused before anything was opened
    shown = CliRunner().invoke(cli, ["users", "create", "--help"])
    assert "--password-stdin" in shown.output
    assert "--password " not in shown.output and "--password\n" not in shown.output
