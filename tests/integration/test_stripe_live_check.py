"""The opt-in check against Stripe's own test mode (`scripts/stripe_live_check.py`): the same
script, run here against the in-repo test server so that it cannot rot, and against Stripe
itself only when a maintainer sets `STRIPE_TEST_SECRET_KEY` (skipped otherwise)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stripe_test_server import StripeTestServer

SCRIPT = Path(__file__).parents[2] / "scripts" / "stripe_live_check.py"


def load_main() -> Callable[[], int]:
    spec = importlib.util.spec_from_file_location("stripe_live_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    main: Callable[[], int] = module.main
    return main


@pytest.fixture(scope="module")
def server() -> Iterator[StripeTestServer]:
    with StripeTestServer() as test_server:
        yield test_server


def test_every_step_passes_against_the_test_server(
    server: StripeTestServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STRIPE_TEST_SECRET_KEY", "sk_test_rebill_live_check")
    monkeypatch.setenv("STRIPE_API_BASE", server.url)
    assert load_main()() == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert all(line.startswith("PASS ") for line in lines), lines
    assert "inactive maps to tax_not_configured" in lines[2]


def test_a_failing_step_is_reported_and_counted(
    server: StripeTestServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STRIPE_TEST_SECRET_KEY", "sk_test_rebill_live_check")
    monkeypatch.setenv("STRIPE_API_BASE", server.url)
    server.inject_failures(500, 3, "/v1/customers")  # more than the SDK retries
    assert load_main()() == 1
    out = capsys.readouterr().out
    assert "FAIL off-session charge" in out


def test_without_a_key_it_skips(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STRIPE_TEST_SECRET_KEY", raising=False)
    assert load_main()() == 0
    assert capsys.readouterr().out.startswith("skipped:")


def test_a_live_key_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STRIPE_TEST_SECRET_KEY", "sk_live_not_here")
    assert load_main()() == 1
    assert "test-mode key" in capsys.readouterr().out


@pytest.mark.skipif(
    not os.environ.get("STRIPE_TEST_SECRET_KEY") or bool(os.environ.get("STRIPE_API_BASE")),
    reason="opt-in: set STRIPE_TEST_SECRET_KEY=sk_test_… to check against Stripe itself",
)
def test_against_stripe_test_mode() -> None:
    assert load_main()() == 0
