"""Automatic top-ups with many runners (issue 13): four `rebill worker --once --job top_ups`
processes at once on one PostgreSQL database, against the in-repo Stripe test server, charge
each pending top-up once (one PaymentIntent) and credit the wallet once. Reuses the world of
`test_payments.py` (agency `beta`, manual VAT 20 % exclusive)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e import test_gateway as world
from tests.e2e import test_payments as payments
from tests.e2e.test_gateway import Agency, Rebill

server, sdk, stripe_env = world.server, world.sdk, world.stripe_env
rebill, agency = world.rebill, world.agency
REBILL = str(Path(sys.executable).parent / "rebill")


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_four_workers_charge_a_top_up_once(rebill: Rebill, agency: Agency) -> None:
    rebill.link("beta", agency.id)
    payments.with_top_up(rebill, "beta")
    payments.save_card(rebill, "pm_card_visa", agency="beta")
    payments.spend(rebill, "beta", "long-call", 101 * 60)  # the wallet falls below 0.80
    assert rebill.wallet("beta") == 750_000
    command = [REBILL, "worker", "--once", "--job", "top_ups", "--db", rebill.db]
    runners = [
        subprocess.Popen(command, env=dict(os.environ), stdout=subprocess.PIPE) for _ in range(4)
    ]
    for runner in runners:
        runner.communicate(timeout=120)
        assert runner.returncode == 0
    asked = agency.requests("POST", "/v1/payment_intents")
    # Runners that found it in flight asked again with the same key (Stripe answers the first
    # PaymentIntent again) or not at all: one charge.
    assert len(asked) >= 1
    assert len({r["idempotency_key"] for r in asked}) == 1
    assert rebill.wallet("beta") == 20_750_000  # credited once
    assert rebill.json("credits", "top-ups", "--agency", "beta")["data"] == []  # none pending
