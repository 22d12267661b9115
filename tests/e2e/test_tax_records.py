"""Stripe Tax as the record (issue 14), on SQLite and PostgreSQL, in the world of
`test_payments.py`: agency `acme` in `stripe` tax mode on an account registered in DE (19 %,
exclusive). The close's retail invoice `ACME-000001` (49.00 + 9.31 = 58.31) and an auto top-up's
receipt (20.00 + 3.80) become tax transactions on the agency's account, referenced by their
numbers; each refund's credit note becomes a reversal of them, in full or in part."""

from __future__ import annotations

from typing import Any

from tests.e2e import test_payments as payments
from tests.e2e.test_gateway import Agency, Rebill

server, sdk, stripe_env = payments.server, payments.sdk, payments.stripe_env
rebill, agency, ready = payments.rebill, payments.agency, payments.ready
RETAIL = "ACME-000001"


def totals(transaction: dict[str, Any]) -> tuple[int, int]:
    lines = transaction["line_items"]["data"]
    return sum(li["amount"] for li in lines), sum(li["amount_tax"] for li in lines)


def records(rebill: Rebill, account: str) -> list[tuple[str, str, tuple[int, int]]]:
    return [(t["type"], t["reference"], totals(t)) for t in rebill.server.tax_transactions(account)]


def test_a_stripe_close_is_recorded_once_and_refunds_reverse_it(
    rebill: Rebill, ready: Agency
) -> None:
    (retail,) = payments.close_acme(rebill)["agencies"][0]["retail_invoices"]
    assert (retail["number"], retail["tax"], retail["total"]) == (RETAIL, "9.31", "58.31")
    assert records(rebill, ready.id) == [("transaction", RETAIL, (4900, 931))]
    (made,) = ready.requests("POST", "/v1/tax/transactions/create_from_calculation")
    assert made["idempotency_key"] == f"rebill:acme:tax:{RETAIL}"
    # Recorded from the very calculation that taxed the invoice: no second one.
    (calculated,) = rebill.server.state.data(ready.id).of_type("tax.calculation")
    assert made["params"]["calculation"] == calculated["id"]
    payments.close_acme(rebill)  # read back: nothing recorded twice
    assert len(rebill.server.tax_transactions(ready.id)) == 1

    payments.save_card(rebill, "pm_card_visa", agency="acme")
    assert payments.charge(rebill, RETAIL, agency="acme")["status"] == "paid"
    first = payments.refund(rebill, RETAIL, "--amount", "20.00", agency="acme")
    rest = payments.refund(rebill, RETAIL, agency="acme")

    (original,) = rebill.server.tax_transactions(ready.id)[:1]
    reversals = rebill.server.tax_transactions(ready.id)[1:]
    assert [(r["type"], r["reference"]) for r in reversals] == [
        ("reversal", first["credit_note"]),
        ("reversal", rest["credit_note"]),
    ]
    assert all(r["reversal"] == {"original_transaction": original["id"]} for r in reversals)
    # 20.00 of 58.31 holds 3.19 of tax (16.81 net); what is left reverses the rest exactly.
    assert totals(reversals[0]) == (-1681, -319)
    assert totals(reversals[1]) == (-(4900 - 1681), -(931 - 319))
    modes = [
        r["params"]["mode"] for r in ready.requests("POST", "/v1/tax/transactions/create_reversal")
    ]
    assert modes == ["partial", "partial"]


def test_a_full_refund_is_a_full_reversal(rebill: Rebill, ready: Agency) -> None:
    payments.close_acme(rebill)
    payments.save_card(rebill, "pm_card_visa", agency="acme")
    payments.charge(rebill, RETAIL, agency="acme")
    note = payments.refund(rebill, RETAIL, agency="acme")["credit_note"]
    (asked,) = ready.requests("POST", "/v1/tax/transactions/create_reversal")
    assert asked["params"]["mode"] == "full"
    assert "flat_amount" not in asked["params"]
    assert records(rebill, ready.id)[1] == ("reversal", note, (-4900, -931))


def test_an_auto_top_up_in_stripe_mode_is_recorded_with_its_receipt_number(
    rebill: Rebill, ready: Agency
) -> None:
    payments.with_top_up(rebill, "acme")
    payments.save_card(rebill, "pm_card_visa", agency="acme")
    payments.spend(rebill, "acme", "long-call", 101 * 60)
    (done,) = rebill.json("credits", "top-ups", "--agency", "acme")["data"]
    assert done["status"] == "succeeded"
    receipt = payments.invoice(rebill, done["receipt"], "acme")
    assert (receipt["subtotal"], receipt["tax"]) == ("20.00", "3.80")
    assert records(rebill, ready.id) == [("transaction", done["receipt"], (2000, 380))]
    (calculated,) = rebill.server.state.data(ready.id).of_type("tax.calculation")
    (made,) = ready.requests("POST", "/v1/tax/transactions/create_from_calculation")
    assert made["params"]["calculation"] == calculated["id"]


def test_the_test_server_refuses_a_reused_reference_and_an_over_reversal(
    rebill: Rebill, ready: Agency, sdk: Any
) -> None:
    payments.close_acme(rebill)
    (original,) = rebill.server.tax_transactions(ready.id)
    options = {"stripe_account": ready.id}
    calculation = sdk.v1.tax.calculations.create(
        params={
            "currency": "usd",
            "line_items": [{"amount": 100, "reference": "x"}],
            "customer_details": {"address": {"country": "DE"}, "address_source": "billing"},
        },
        options=options,
    )
    import stripe

    try:
        sdk.v1.tax.transactions.create_from_calculation(
            params={"calculation": calculation.id, "reference": RETAIL}, options=options
        )
    except stripe.InvalidRequestError as error:
        assert error.param == "reference"
    else:
        raise AssertionError("a reference is unique")
    try:
        sdk.v1.tax.transactions.create_reversal(
            params={
                "mode": "partial",
                "original_transaction": original["id"],
                "reference": "too-much",
                "flat_amount": -6000,
            },
            options=options,
        )
    except stripe.InvalidRequestError as error:
        assert error.param == "flat_amount"
    else:
        raise AssertionError("a reversal takes back at most what is left")
    fetched = sdk.v1.tax.transactions.retrieve(original["id"], options=options)
    assert (fetched.reference, fetched.type, fetched.line_items) == (RETAIL, "transaction", None)


# ---------------------------------------------------------------------------------------------
# refunds and disputes made in the Dashboard (`charge.refunded`, `charge.dispute.*`)
# ---------------------------------------------------------------------------------------------
GAMMA_RETAIL = payments.RETAIL  # bright-dental's 49.00, gamma collects no tax
linked = payments.linked


def credit_notes(rebill: Rebill, agency: str = "gamma") -> list[tuple[str, str, str]]:
    documents = rebill.json("invoices", "list", "--agency", agency)["data"]
    return [
        (d["number"], d["total"], d["lines"][0]["description"])
        for d in documents
        if d["kind"] == "credit_note"
    ]


def paid_intent(rebill: Rebill, linked: Agency) -> str:
    payments.save_card(rebill, "pm_card_visa")
    document = payments.charge(rebill, GAMMA_RETAIL)
    assert document["status"] == "paid"
    return str(document["attempts"][-1]["payment_intent"])


def test_dashboard_refunds_delivered_twice_and_out_of_order_give_one_credit_note_each(
    rebill: Rebill, linked: Agency, sdk: Any
) -> None:
    intent = paid_intent(rebill, linked)
    options = {"stripe_account": linked.id}
    # rebill's own refund first: its credit note is rebill's, never a second one.
    own = payments.refund(rebill, GAMMA_RETAIL, "--amount", "4.00")["credit_note"]
    first = sdk.v1.refunds.create(
        params={"payment_intent": intent, "amount": 1000}, options=options
    )
    second = sdk.v1.refunds.create(
        params={"payment_intent": intent, "amount": 500}, options=options
    )
    events = linked.events("charge.refunded")
    assert len(events) == 3
    # The newest first, then all of them again, the oldest last.
    for event in [events[-1], *events, events[-1]]:
        rebill.deliver(event)
    notes = credit_notes(rebill)
    assert [(n[0], n[1]) for n in notes] == [
        (own, "4.00"),
        ("GAMMA-CN-000002", "10.00"),
        ("GAMMA-CN-000003", "5.00"),
    ]
    assert first.id in notes[1][2] and second.id in notes[2][2]
    assert payments.invoice(rebill, GAMMA_RETAIL)["status"] == "paid"  # 19.00 of 49.00 back


def test_a_refund_of_everything_in_the_dashboard_refunds_the_invoice(
    rebill: Rebill, linked: Agency, sdk: Any
) -> None:
    intent = paid_intent(rebill, linked)
    sdk.v1.refunds.create(params={"payment_intent": intent}, options={"stripe_account": linked.id})
    (event,) = linked.events("charge.refunded")
    assert rebill.deliver(event).startswith("dashboard refund: GAMMA-CN-000001")
    assert rebill.deliver(event) == "refunds known"
    assert [(n[0], n[1]) for n in credit_notes(rebill)] == [("GAMMA-CN-000001", "49.00")]
    assert payments.invoice(rebill, GAMMA_RETAIL)["status"] == "refunded"


def dispute(template: dict[str, Any], kind: str, status: str, intent: str) -> dict[str, Any]:
    """A `charge.dispute.*` event on the connected account (what Stripe sends)."""
    return {
        **template,
        "id": f"evt_{kind}_{status}",
        "type": f"charge.dispute.{kind}",
        "data": {
            "object": {
                "id": "dp_test_1",
                "object": "dispute",
                "amount": 4900,
                "currency": "usd",
                "payment_intent": intent,
                "reason": "fraudulent",
                "status": status,
            }
        },
    }


def test_a_lost_dispute_is_one_credit_note_whatever_the_order(
    rebill: Rebill, linked: Agency
) -> None:
    intent = paid_intent(rebill, linked)
    (template,) = [
        e for e in linked.events("payment_intent.succeeded") if e["data"]["object"]["id"] == intent
    ]
    closed = dispute(template, "closed", "lost", intent)
    created = dispute(template, "created", "needs_response", intent)
    assert rebill.deliver(closed) == "dispute lost: GAMMA-CN-000001"
    assert rebill.deliver(created) == "dispute lost"  # older news: the dispute stays lost
    assert rebill.deliver(closed) == "replay ignored"
    assert [(n[0], n[1]) for n in credit_notes(rebill)] == [("GAMMA-CN-000001", "49.00")]
    assert payments.invoice(rebill, GAMMA_RETAIL)["status"] == "refunded"


def test_a_won_dispute_issues_nothing(rebill: Rebill, linked: Agency) -> None:
    intent = paid_intent(rebill, linked)
    (template,) = [
        e for e in linked.events("payment_intent.succeeded") if e["data"]["object"]["id"] == intent
    ]
    assert rebill.deliver(dispute(template, "created", "needs_response", intent)) == (
        "dispute needs_response"
    )
    assert rebill.deliver(dispute(template, "closed", "won", intent)) == "dispute won"
    assert credit_notes(rebill) == []
    assert payments.invoice(rebill, GAMMA_RETAIL)["status"] == "paid"
