"""People (issue 15): an agency admin changes a staff member's role and disables or enables a
user, over HTTP (the panel's forms) and through the service and the CLI, on SQLite and
PostgreSQL. Disabling ends the person's sessions at once and refuses their sign-in with a
message that says so (only with the right password); enabling restores it. The walls (only an
agency admin; only its own agency's users, 404 otherwise; the last active admin is neither
demoted nor disabled; a client's contact keeps its client and is never staff) refuse and
change nothing. Every change is in the agency's audit log."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rebill.demo.data import AGENCY
from rebill.domain.errors import ForbiddenFieldError, NotFoundError, ValidationError
from rebill.entrypoints.api.app import create_app
from rebill.entrypoints.cli.app import app as cli
from rebill.services.access import people
from rebill.services.access.invitations import Inviter
from rebill.services.access.people import LastAdminError
from rebill.services.access.users import create_user
from tests.browser.conftest import csrf_of
from tests.integration.test_alerts import Inbox
from tests.security.test_invitations import ADMIN, PASSWORD, World, make_app, seed
from tests.security.test_sign_in import NOW

BILLING = "billing@acme.example"
CLIENT = "owner@bright-dental.example"
ZENITH_ADMIN = "admin@zenith.example"
OPERATOR = Inviter("operator (test)", "platform", None)


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    app = make_app(db_url, None)
    seed(app)
    with TestClient(create_app(app)) as client:
        yield World(app, app.clock, Inbox(), client)  # type: ignore[arg-type]
    app.dispose()


def user_id(world: World, email: str) -> str:
    [found] = [r for r in world.rows("web_users") if r["email"] == email]
    return str(found["id"])


def user_row(world: World, email: str) -> dict[str, Any]:
    [found] = [r for r in world.rows("web_users") if r["email"] == email]
    return found


def sessions_of(world: World, email: str) -> int:
    uid = user_id(world, email)
    return sum(1 for r in world.rows("web_sessions") if r["user_id"] == uid)


def post(world: World, path: str, **data: str) -> Any:
    token = csrf_of(world.client.get("/panel/users").text)
    return world.client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


def browser_of(world: World, email: str, path: str = "/sign-in") -> TestClient:
    """Another person's browser, signed in as `email`."""
    other = TestClient(create_app(world.app))
    token = csrf_of(other.get(path).text)
    answer = other.post(
        path,
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return other


def sign_in_answer(
    world: World, email: str, password: str = PASSWORD, path: str = "/sign-in"
) -> Any:
    fresh = TestClient(create_app(world.app))
    token = csrf_of(fresh.get(path).text)
    return fresh.post(
        path,
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def audit(world: World) -> list[tuple[str, str, str, str, str]]:
    return [
        (r["actor"], r["target"], r["field"], r["old_value"], r["new_value"])
        for r in sorted(world.rows("audit_log"), key=lambda r: r["id"])
        if r["target"].startswith("user ")
    ]


# -- roles ---------------------------------------------------------------------------------


def test_an_admin_changes_a_staff_members_role_and_it_is_audited(world: World) -> None:
    billing = browser_of(world, BILLING)
    world.sign_in(ADMIN)
    page = world.client.get("/panel/users").text
    uid = user_id(world, BILLING)
    assert f'action="/panel/users/{uid}/role"' in page and 'id="role-' in page
    answer = post(world, f"/panel/users/{uid}/role", role="viewer")
    assert answer.status_code == 303 and answer.headers["location"].endswith("saved=role")
    assert user_row(world, BILLING)["role"] == "viewer"
    assert audit(world) == [(f"{ADMIN} (admin)", f"user {BILLING}", "role", "billing", "viewer")]
    # The new role applies from the person's next request, without signing in again.
    assert "· viewer" in billing.get("/panel").text
    # The same role again changes nothing and logs nothing.
    again = post(world, f"/panel/users/{uid}/role", role="viewer")
    assert again.headers["location"].endswith("saved=unchanged") and len(audit(world)) == 1


@pytest.mark.parametrize("who", ["settings@acme.example", BILLING, "viewer@acme.example"])
def test_only_an_admin_changes_roles_or_access_and_nothing_changes(world: World, who: str) -> None:
    world.sign_in(who)
    page = world.client.get("/panel/users").text
    assert "/disable" not in page and "Change role" not in page  # not offered
    uid = user_id(world, "viewer@acme.example")
    before = world.snapshot()
    for path, data in (
        (f"/panel/users/{uid}/role", {"role": "admin"}),
        (f"/panel/users/{uid}/disable", {"confirm": "yes"}),
        (f"/panel/users/{uid}/enable", {}),
    ):
        assert post(world, path, **data).status_code == 403
    assert world.snapshot() == before


def test_a_client_signed_in_cannot_reach_the_user_actions(world: World) -> None:
    world.sign_in(CLIENT, "/portal/acme/sign-in")
    uid = user_id(world, BILLING)
    before = world.snapshot()
    token = csrf_of(world.client.get("/portal/acme/").text)
    for action in ("role", "disable", "enable"):
        answer = world.client.post(
            f"/panel/users/{uid}/{action}",
            data={"role": "admin", "confirm": "yes", "csrf_token": token},
            follow_redirects=False,
        )
        assert answer.status_code in (303, 404) and "saved=" not in answer.headers.get(
            "location", ""
        )
    assert world.snapshot() == before


@pytest.mark.parametrize("target", [ZENITH_ADMIN, "ops@platform.example", "usr_nobody"])
def test_another_agencys_user_is_not_found_and_unchanged(world: World, target: str) -> None:
    world.sign_in(ADMIN)
    uid = target if target.startswith("usr_") else user_id(world, target)
    before = world.snapshot()
    for path, data in (
        (f"/panel/users/{uid}/role", {"role": "viewer"}),
        (f"/panel/users/{uid}/disable", {}),  # not even its confirmation page
        (f"/panel/users/{uid}/disable", {"confirm": "yes"}),
        (f"/panel/users/{uid}/enable", {}),
    ):
        assert post(world, path, **data).status_code == 404, path
    assert world.snapshot() == before
    acme = Inviter(f"{ADMIN} (admin)", "admin", AGENCY)
    with pytest.raises(NotFoundError):  # naming the other agency is no way round
        people.set_disabled(world.app.uow, acme, "zenith", uid, True, NOW)
    assert world.snapshot() == before


def test_the_last_active_admin_is_neither_demoted_nor_disabled(world: World) -> None:
    world.sign_in(ADMIN)
    uid = user_id(world, ADMIN)
    before = world.snapshot()
    demoted = post(world, f"/panel/users/{uid}/role", role="viewer")
    assert demoted.status_code == 409
    assert "last active admin" in demoted.text and f'id="user-error-{uid}"' in demoted.text
    disabled = post(world, f"/panel/users/{uid}/disable", confirm="yes")
    assert disabled.status_code == 409 and "last active admin" in disabled.text
    assert world.snapshot() == before
    # Not from the CLI or the platform either: an agency always keeps an admin.
    with pytest.raises(LastAdminError):
        people.set_disabled(world.app.uow, OPERATOR, AGENCY, uid, True, NOW)
    with pytest.raises(LastAdminError):
        people.set_role(world.app.uow, OPERATOR, AGENCY, uid, "billing", NOW)
    assert world.snapshot() == before


def test_the_last_active_admins_row_offers_no_role_or_access_change(world: World) -> None:
    world.sign_in(ADMIN)
    uid = user_id(world, ADMIN)
    page = world.client.get("/panel/users").text
    assert f'id="last-admin-{uid}"' in page
    assert f"/panel/users/{uid}/disable" not in page and f"/panel/users/{uid}/role" not in page
    create_user(
        world.app.uow, world.app.passwords, "co@acme.example", PASSWORD, "admin", AGENCY, None, NOW
    )
    page = world.client.get("/panel/users").text  # two admins: both rows offer both
    assert f'id="last-admin-{uid}"' not in page and f"/panel/users/{uid}/disable" in page


def test_with_a_second_admin_an_admin_may_step_down(world: World) -> None:
    create_user(
        world.app.uow, world.app.passwords, "co@acme.example", PASSWORD, "admin", AGENCY, None, NOW
    )
    world.sign_in(ADMIN)
    uid = user_id(world, ADMIN)
    assert post(world, f"/panel/users/{uid}/role", role="settings").status_code == 303
    assert user_row(world, ADMIN)["role"] == "settings"
    assert world.client.get("/panel/users").status_code == 200  # still signed in, as settings
    # The other admin is now the last one.
    other = user_id(world, "co@acme.example")
    with pytest.raises(LastAdminError):
        people.set_disabled(world.app.uow, OPERATOR, AGENCY, other, True, NOW)
    # A disabled admin does not count: enabling the first admin back needs no other change.
    people.set_role(world.app.uow, OPERATOR, AGENCY, uid, "admin", NOW)
    people.set_disabled(world.app.uow, OPERATOR, AGENCY, other, True, NOW)
    with pytest.raises(LastAdminError):
        people.set_role(world.app.uow, OPERATOR, AGENCY, uid, "viewer", NOW)


def test_two_admins_demoting_each_other_at_once_leave_one_admin(world: World) -> None:
    create_user(
        world.app.uow, world.app.passwords, "co@acme.example", PASSWORD, "admin", AGENCY, None, NOW
    )
    ids = [user_id(world, ADMIN), user_id(world, "co@acme.example")]
    for _ in range(5):
        start = threading.Barrier(2)
        outcomes: list[str] = []

        def demote(uid: str, start: threading.Barrier, outcomes: list[str]) -> None:
            start.wait()
            try:
                people.set_role(world.app.uow, OPERATOR, AGENCY, uid, "viewer", NOW)
                outcomes.append("demoted")
            except LastAdminError:
                outcomes.append("refused")

        threads = [threading.Thread(target=demote, args=(uid, start, outcomes)) for uid in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        admins = [
            r for r in world.rows("web_users") if r["role"] == "admin" and r["agency_id"] == AGENCY
        ]
        assert sorted(outcomes) == ["demoted", "refused"] and len(admins) == 1
        for uid in ids:  # both admins again for the next round
            people.set_role(world.app.uow, OPERATOR, AGENCY, uid, "admin", NOW)


@pytest.mark.parametrize(
    ("target", "role", "says"),
    [
        (CLIENT, "viewer", "keeps it"),
        (CLIENT, "admin", "keeps it"),
        (BILLING, "client", "invite the client's contact"),
        (BILLING, "platform", "is not a staff role"),
        (BILLING, "owner", "is not a staff role"),
    ],
)
def test_a_client_is_never_staff_nor_staff_a_client(
    world: World, target: str, role: str, says: str
) -> None:
    world.sign_in(ADMIN)
    uid = user_id(world, target)
    before = world.snapshot()
    answer = post(world, f"/panel/users/{uid}/role", role=role)
    assert answer.status_code == 422 and says in answer.text.replace("&#39;", "'")
    assert f'id="user-error-{uid}"' in answer.text
    assert world.snapshot() == before
    with pytest.raises(ValidationError):
        people.set_role(world.app.uow, OPERATOR, AGENCY, uid, role, NOW)
    assert world.snapshot() == before


def test_the_client_row_offers_access_but_no_role(world: World) -> None:
    world.sign_in(ADMIN)
    page = world.client.get("/panel/users").text
    uid = user_id(world, CLIENT)
    assert f"/panel/users/{uid}/disable" in page and f"/panel/users/{uid}/role" not in page


def test_a_staff_role_never_exceeds_the_granters(world: World) -> None:
    settings = Inviter("s", "settings", AGENCY)
    before = world.snapshot()
    with pytest.raises(ForbiddenFieldError):
        people.set_role(world.app.uow, settings, AGENCY, user_id(world, BILLING), "viewer", NOW)
    with pytest.raises(ForbiddenFieldError):
        people.set_disabled(world.app.uow, settings, AGENCY, user_id(world, BILLING), True, NOW)
    assert world.snapshot() == before


# -- access ----------------------------------------------------------------------------------


def test_disabling_asks_first_then_signs_the_person_out_at_once(world: World) -> None:
    billing = browser_of(world, BILLING)
    assert billing.get("/panel").status_code == 200
    world.sign_in(ADMIN)
    uid = user_id(world, BILLING)
    before = world.snapshot()
    asked = post(world, f"/panel/users/{uid}/disable")
    assert asked.status_code == 200 and f"Disable {BILLING}?" in asked.text
    assert 'name="confirm" value="yes"' in asked.text and 'href="/panel/users">Cancel' in asked.text
    assert world.snapshot() == before  # asking changes nothing
    done = post(world, f"/panel/users/{uid}/disable", confirm="yes")
    assert done.status_code == 303 and done.headers["location"].endswith("saved=disabled")
    assert user_row(world, BILLING)["disabled_at"] is not None
    assert sessions_of(world, BILLING) == 0
    # Their open browser is signed out on its next request.
    next_request = billing.get("/panel", follow_redirects=False)
    assert next_request.status_code == 303 and "/sign-in" in next_request.headers["location"]
    # The right password is told the account is disabled; a wrong one learns nothing.
    refused = sign_in_answer(world, BILLING)
    assert refused.status_code == 403 and "disabled by its agency" in refused.text
    assert sessions_of(world, BILLING) == 0
    wrong = sign_in_answer(world, BILLING, PASSWORD + "?")
    assert wrong.status_code == 401 and "disabled" not in wrong.text
    listed = world.client.get("/panel/users").text
    assert f'id="user-{uid}" data-access="disabled"' in listed
    assert f"/panel/users/{uid}/enable" in listed
    # Enabled again: the same password signs in.
    enabled = post(world, f"/panel/users/{uid}/enable")
    assert enabled.headers["location"].endswith("saved=enabled")
    assert sign_in_answer(world, BILLING).status_code == 303
    assert audit(world) == [
        (f"{ADMIN} (admin)", f"user {BILLING}", "access", "enabled", "disabled"),
        (f"{ADMIN} (admin)", f"user {BILLING}", "access", "disabled", "enabled"),
    ]


def test_a_disabled_client_keeps_its_sub_account_and_is_refused_at_its_portal(
    world: World,
) -> None:
    portal = browser_of(world, CLIENT, "/portal/acme/sign-in")
    assert portal.get("/portal/acme/", follow_redirects=False).status_code == 200
    world.sign_in(ADMIN)
    uid = user_id(world, CLIENT)
    assert post(world, f"/panel/users/{uid}/disable", confirm="yes").status_code == 303
    row = user_row(world, CLIENT)
    assert row["disabled_at"] is not None
    assert (row["role"], row["sub_account_id"]) == ("client", "bright-dental")
    assert portal.get("/portal/acme/", follow_redirects=False).status_code == 303
    refused = sign_in_answer(world, CLIENT, path="/portal/acme/sign-in")
    assert refused.status_code == 403 and "disabled by its agency" in refused.text
    assert post(world, f"/panel/users/{uid}/enable").status_code == 303
    assert sign_in_answer(world, CLIENT, path="/portal/acme/sign-in").status_code == 303


def test_an_admin_who_is_not_the_last_may_disable_themself_and_is_signed_out(
    world: World,
) -> None:
    create_user(
        world.app.uow, world.app.passwords, "co@acme.example", PASSWORD, "admin", AGENCY, None, NOW
    )
    world.sign_in(ADMIN)
    uid = user_id(world, ADMIN)
    asked = post(world, f"/panel/users/{uid}/disable")
    assert "This is you" in asked.text
    assert post(world, f"/panel/users/{uid}/disable", confirm="yes").status_code == 303
    assert world.client.get("/panel/users", follow_redirects=False).status_code == 303


def test_disabling_needs_the_forms_csrf_token(world: World) -> None:
    world.sign_in(ADMIN)
    uid = user_id(world, BILLING)
    before = world.snapshot()
    answer = world.client.post(
        f"/panel/users/{uid}/disable", data={"confirm": "yes"}, follow_redirects=False
    )
    assert answer.status_code == 403 and world.snapshot() == before


# -- the CLI ---------------------------------------------------------------------------------


def test_the_cli_sets_roles_disables_and_enables(world: World, db_url: str) -> None:
    def run(*argv: str) -> Any:
        return CliRunner().invoke(cli, [*argv, "--db", db_url])

    billing = browser_of(world, BILLING)
    made = run("users", "set-role", "--agency", AGENCY, "--user", BILLING, "--role", "settings")
    assert made.exit_code == 0, made.output
    assert "role billing -> settings" in made.output
    assert user_row(world, BILLING)["role"] == "settings"
    off = run("users", "disable", "--agency", AGENCY, "--user", user_id(world, BILLING))
    assert off.exit_code == 0 and "access enabled -> disabled; 1 session(s) ended" in off.output
    assert billing.get("/panel", follow_redirects=False).status_code == 303
    on = run("users", "enable", "--agency", AGENCY, "--user", BILLING)
    assert on.exit_code == 0 and "disabled -> enabled" in on.output
    assert [a[0] for a in audit(world)] == ["operator (cli)"] * 3
    same = run("users", "enable", "--agency", AGENCY, "--user", BILLING, "--json")
    assert same.exit_code == 0, same.output
    document = json.loads(same.output)
    assert document["changed"] is False and document["new"] == "enabled"
    assert document["email"] == BILLING and len(audit(world)) == 3
    before = world.snapshot()
    last = run("users", "disable", "--agency", AGENCY, "--user", ADMIN)
    assert last.exit_code != 0 and "last active admin" in last.output
    other = run("users", "disable", "--agency", AGENCY, "--user", ZENITH_ADMIN)
    assert other.exit_code != 0 and "no user" in other.output
    client = run("users", "set-role", "--agency", AGENCY, "--user", CLIENT, "--role", "viewer")
    assert client.exit_code != 0 and "keeps it" in client.output
    assert world.snapshot() == before
