"""Money that moves without a person (item 2), server files through logos (item 3) and
invoice prefixes (item 9): refused with a clear error, nothing changed, nothing read."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from rebill.domain.errors import ValidationError
from rebill.domain.logo import LogoError, checked, logo_bytes_max
from rebill.services.catalog.apply import apply_catalog
from rebill.services.usage.import_file import ingest_calls
from tests.e2e.api_fixtures import ACME_S1, NOW, World
from tests.security.conftest import snapshot


def png(width: int = 4, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x10\x20\x30" * width for _ in range(height)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def data_url(data: bytes, kind: str = "png") -> str:
    return f"data:image/{kind};base64,{base64.b64encode(data).decode()}"


def post_catalog(world: World, who: str, document: Any) -> Any:
    return world.client.post("/v1/catalog", json=document, headers=world.headers(who))


def top_up(amount: str, threshold: str = "10.00") -> dict[str, Any]:
    return {
        "agencies": [
            {
                "id": "acme",
                "sub_accounts": [
                    {"id": ACME_S1, "auto_top_up": {"threshold": threshold, "amount": amount}}
                ],
            }
        ]
    }


# -- auto top-ups --------------------------------------------------------------------------
def test_a_settings_key_cannot_start_off_session_charges(world: World) -> None:
    before = snapshot(world)
    answer = post_catalog(world, "settings", top_up("20.00"))
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "forbidden_field"
    assert answer.json()["param"] == "agencies[0].sub_accounts[0].auto_top_up"
    route = world.client.post(
        f"/v1/sub_accounts/{ACME_S1}/auto_top_up",
        json={"threshold": "10.00", "amount": "20.00"},
        headers=world.headers("settings"),
    )
    assert route.status_code == 403
    assert snapshot(world) == before


@pytest.mark.parametrize(
    ("amount", "threshold"), [("999999.99", "10.00"), ("20.00", "1000000"), ("1.00", "10.00")]
)
def test_an_auto_top_up_is_bounded_like_a_checkout(
    world: World, amount: str, threshold: str
) -> None:
    before = snapshot(world)
    for who in ("admin", "billing"):
        answer = world.client.post(
            f"/v1/sub_accounts/{ACME_S1}/auto_top_up",
            json={"threshold": threshold, "amount": amount},
            headers=world.headers(who),
        )
        assert answer.status_code == 422, answer.text
        assert "auto_top_up" in answer.json()["param"]
    assert snapshot(world) == before


def test_billing_sets_a_bounded_top_up_and_at_most_three_are_asked_a_day(world: World) -> None:
    answer = world.client.post(
        f"/v1/sub_accounts/{ACME_S1}/auto_top_up",
        json={"threshold": "1000.00", "amount": "20.00"},
        headers=world.headers("billing"),
    )
    assert answer.status_code == 200, answer.text
    # Every call spends prepaid credits below the threshold: a top-up would be asked each time.
    apply_catalog(
        world.rebill.uow,
        {
            "agencies": [
                {
                    "id": "acme",
                    "plans": [{"id": "starter", "overage": "prepaid", "included_minutes": 0}],
                }
            ]
        },
        "operator",
        NOW,
    )
    world.client.post(
        f"/v1/sub_accounts/{ACME_S1}/credits",
        json={"amount": "500.00", "reference": "wire-1"},
        headers=world.headers("billing"),
    )
    for n in range(8):
        call = {
            "call_id": f"topup-{n}",
            "sub_account": ACME_S1,
            "started_at": "2026-12-15T10:00:00Z",
            "duration_seconds": 120,
            "direction": "outbound",
        }
        ingest_calls(world.rebill.uow, "acme", [call], NOW)
        with world.rebill.uow() as uow:  # the pending one is charged (or fails) in between
            top_ups = uow.for_agency("acme").top_ups
            for request in top_ups.all():
                if request.status == "pending":
                    top_ups.update(ACME_S1, request.trigger_key, "failed", None, None, "test")
            uow.commit()
    with world.rebill.uow() as uow:
        asked = [r for r in uow.for_agency("acme").top_ups.all() if r.sub_account_id == ACME_S1]
    assert len(asked) == 3


# -- logos ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/etc/shadow", "/root/.ssh/id_rsa", "/dev/zero", "logo.png"])
def test_a_logo_is_never_a_server_path_over_the_api(world: World, path: str) -> None:
    before = snapshot(world)
    answer = post_catalog(world, "admin", {"agencies": [{"id": "acme", "brand": {"logo": path}}]})
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["param"] == "agencies[0].brand.logo"
    assert "data URL" in answer.text
    assert snapshot(world) == before


def test_a_logo_sent_as_bytes_is_checked_and_served(world: World) -> None:
    answer = post_catalog(
        world, "admin", {"agencies": [{"id": "acme", "brand": {"logo": data_url(png())}}]}
    )
    assert answer.status_code == 200, answer.text
    served = world.client.get("/portal/acme/logo.png")
    assert served.status_code == 200 and served.content == png()
    assert served.headers["content-type"] == "image/png"


@pytest.mark.parametrize(
    "logo",
    [
        data_url(b"GIF89a" + b"\x00" * 20),
        data_url(png(100_000, 2)),  # a decompression bomb's header
        data_url(b"\x89PNG\r\n\x1a\n" + b"\x00" * (logo_bytes_max + 1)),
        "data:image/png;base64,not base64!",
        "data:text/html;base64,PHNjcmlwdD4=",
    ],
)
def test_a_logo_that_is_not_a_small_png_or_jpeg_is_refused(world: World, logo: str) -> None:
    before = snapshot(world)
    answer = post_catalog(world, "admin", {"agencies": [{"id": "acme", "brand": {"logo": logo}}]})
    assert answer.status_code == 422, answer.text
    assert snapshot(world) == before


def test_the_cli_reads_a_logo_only_beside_the_catalog(world: World, tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "logo.png").write_bytes(png())
    (folder / "shadow.png").symlink_to("/etc/passwd")
    (folder / "zero.png").symlink_to("/dev/zero")
    outside = tmp_path / "outside.png"
    outside.write_bytes(png())
    for name in ("../outside.png", str(outside), "shadow.png", "zero.png", "missing.png"):
        document = {"agencies": [{"id": "acme", "brand": {"logo": name}}]}
        with pytest.raises(ValidationError) as refused:
            apply_catalog(world.rebill.uow, document, str(folder / "c.yaml"), NOW, base_dir=folder)
        assert refused.value.field_errors[0].field == "agencies[0].brand.logo"
    document = {"agencies": [{"id": "acme", "brand": {"logo": "logo.png"}}]}
    apply_catalog(world.rebill.uow, document, str(folder / "c.yaml"), NOW, base_dir=folder)
    with world.rebill.uow() as uow:
        assert uow.for_agency("acme").brand.get().logo_png == png()


def test_a_jpeg_logo_is_accepted_with_its_size_checked() -> None:
    jpeg = b"\xff\xd8\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
    jpeg += b"\xff\xc0" + struct.pack(">HBHH", 11, 8, 40, 120) + b"\x03" + b"\x00" * 6
    assert checked(jpeg) == jpeg
    huge = jpeg.replace(struct.pack(">HH", 40, 120), struct.pack(">HH", 60000, 60000))
    with pytest.raises(LogoError):
        checked(huge)


# -- invoice prefixes ----------------------------------------------------------------------
def test_invoice_prefixes_are_unique_across_the_platform_and_agencies(world: World) -> None:
    before = snapshot(world)
    for prefix in ("PLAT", "BETAX"):
        with pytest.raises(ValidationError) as refused:
            apply_catalog(
                world.rebill.uow,
                {"agencies": [{"id": "acme", "invoice_prefix": prefix}]},
                "operator",
                NOW,
            )
        assert "invoice_prefix" in str(refused.value)
    with pytest.raises(ValidationError):
        apply_catalog(
            world.rebill.uow,
            {"platform": {"invoice_prefix": "ACME"}},
            "operator",
            NOW,
        )
    assert snapshot(world) == before


def test_an_invoice_prefix_is_fixed_once_a_document_carries_it(world: World) -> None:
    world.client.post(
        f"/v1/sub_accounts/{ACME_S1}/credits",
        json={"amount": "20.00", "reference": "r-1"},
        headers=world.headers("billing"),
    )  # a receipt ACME-R-000001
    before = snapshot(world)
    with pytest.raises(ValidationError) as refused:
        apply_catalog(
            world.rebill.uow,
            {"agencies": [{"id": "acme", "invoice_prefix": "ACME2"}]},
            "operator",
            NOW,
        )
    assert "cannot change" in str(refused.value)
    assert snapshot(world) == before
    # nor may a new agency continue a series another one started
    with pytest.raises(ValidationError):
        apply_catalog(
            world.rebill.uow,
            {"agencies": [{"id": "gamma", "name": "Gamma", "invoice_prefix": "ACME"}]},
            "operator",
            NOW,
        )
