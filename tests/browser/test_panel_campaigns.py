"""The panel's sub-account page shows the month's usage by campaign (docs/campaigns.md), the
same rows as `rebill usage summary --by campaign` (FastAPI TestClient, no browser)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from rebill.bootstrap import build
from rebill.config import Settings
from rebill.domain.period import Period
from rebill.entrypoints.api.app import create_app
from rebill.services.views.reports import usage_by_campaign
from tests.browser.conftest import NOW
from tests.browser.test_panel_access import sign_in
from tests.conftest import TEST_SCRYPT_N


@pytest.fixture
def client_and_rows(fresh_db: str) -> Iterator[tuple[TestClient, list[dict[str, object]]]]:
    app = build(Settings(database_url=fresh_db, now=NOW, scrypt_n=TEST_SCRYPT_N))
    report = usage_by_campaign(app.uow, "acme", Period(2026, 11))
    with TestClient(create_app(app)) as test_client:
        yield test_client, report["rows"]
    app.dispose()


def test_the_sub_account_page_shows_its_campaigns(
    client_and_rows: tuple[TestClient, list[dict[str, object]]],
) -> None:
    client, rows = client_and_rows
    assert sign_in(client, "admin@acme.example") == 303
    mine = [r for r in rows if r["sub_account"] == "bright-dental"]
    assert mine, "the demo month has campaign calls"
    html = client.get("/panel/sub-accounts/bright-dental").text
    section = html[html.index('id="campaigns"') :]
    section = section[: section.index("</section>")]
    cells = re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", section)
    for row in mine:
        campaign = row["campaign"] if row["campaign"] is not None else "(none)"
        assert campaign in cells
        assert row["retail_amount"] in cells and row["wholesale_cost"] in cells
    other = {r["campaign"] for r in rows if r["sub_account"] != "bright-dental"}
    assert not (other - {r["campaign"] for r in mine}) & set(cells)
