"""Removing a webhook endpoint (DELETE /v1/webhook_endpoints/{id}): the agency's own, with
a key that may change settings; anyone else is refused and nothing changes. Once removed,
nothing more is sent to it: its unsent deliveries fail ("endpoint removed"), stay listed, and
cannot be replayed."""

from __future__ import annotations

from tests.e2e.api_fixtures import World


def _endpoints(world: World) -> list[str]:
    answer = world.client.get("/v1/webhook_endpoints", headers=world.headers("beta_admin"))
    assert answer.status_code == 200, answer.text
    return [e["id"] for e in answer.json()["data"]]


def test_only_the_agencys_settings_keys_remove_its_endpoint(world: World) -> None:
    (endpoint,) = world.beta_endpoints
    path = f"/v1/webhook_endpoints/{endpoint}"
    # Another agency's keys: not found (its endpoints are out of their sight); a platform key
    # must name the agency.
    for who, status in (("admin", 404), ("settings", 404), ("sub", 403), ("platform", 422)):
        refused = world.client.delete(path, headers=world.headers(who))
        assert refused.status_code == status, (who, refused.text)
    assert _endpoints(world) == [endpoint]

    removed = world.client.delete(path, headers=world.headers("beta_admin"))
    assert removed.status_code == 200, removed.text
    assert removed.json() == {"id": endpoint, "deleted": True}
    assert _endpoints(world) == []
    deliveries = world.client.get(
        "/v1/webhook_deliveries", headers=world.headers("beta_admin")
    ).json()["data"]
    assert deliveries and {d["status"] for d in deliveries} == {"failed"}
    assert {d["last_error"] for d in deliveries} == {"endpoint removed"}
    replay = world.client.post(
        f"/v1/webhook_deliveries/{deliveries[0]['id']}/replay",
        headers=world.headers("beta_admin"),
    )
    assert replay.status_code == 409, replay.text
    assert "was removed" in replay.json()["detail"]
    again = world.client.delete(path, headers=world.headers("beta_admin"))
    assert again.status_code == 404, again.text


def test_a_key_that_may_not_change_settings_is_refused(world: World) -> None:
    """acme's billing key on acme's own endpoint: 403, the endpoint stays."""
    created = world.client.post(
        "/v1/webhook_endpoints",
        json={"url": "https://hooks.acme.example/in", "events": []},
        headers=world.headers("admin"),
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()["id"]
    path = f"/v1/webhook_endpoints/{endpoint}"
    for who in ("billing", "sub"):
        refused = world.client.delete(path, headers=world.headers(who))
        assert refused.status_code == 403, (who, refused.text)
    listed = world.client.get("/v1/webhook_endpoints", headers=world.headers("admin")).json()
    assert endpoint in [e["id"] for e in listed["data"]]
    assert world.client.delete(path, headers=world.headers("settings")).status_code == 200
