"""Stripe's test payment methods: `pm_card_*` ids, `tok_*` tokens and test card numbers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TestCard:
    brand: str
    last4: str
    outcome: str  # "succeed" | "decline" | "authenticate"
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None
    attach_fails: bool = False
    country: str = "US"


DECLINED = "Your card was declined."
CARDS: dict[str, TestCard] = {
    "pm_card_visa": TestCard("visa", "4242", "succeed"),
    "pm_card_visa_debit": TestCard("visa", "5556", "succeed"),
    "pm_card_mastercard": TestCard("mastercard", "4444", "succeed"),
    "pm_card_amex": TestCard("amex", "8431", "succeed"),
    "pm_card_de": TestCard("visa", "0016", "succeed", country="DE"),
    "pm_card_fr": TestCard("visa", "0003", "succeed", country="FR"),
    "pm_card_gb": TestCard("visa", "0007", "succeed", country="GB"),
    "pm_card_chargeDeclined": TestCard(
        "visa", "0002", "decline", "card_declined", "generic_decline", DECLINED, True
    ),
    "pm_card_chargeDeclinedInsufficientFunds": TestCard(
        "visa",
        "9995",
        "decline",
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
        True,
    ),
    "pm_card_chargeDeclinedExpiredCard": TestCard(
        "visa", "0069", "decline", "expired_card", "expired_card", "Your card has expired.", True
    ),
    "pm_card_chargeCustomerFail": TestCard(
        "visa", "0341", "decline", "card_declined", "generic_decline", DECLINED, False
    ),
    "pm_card_threeDSecure2Required": TestCard("visa", "3220", "authenticate"),
    "pm_card_threeDSecureRequired": TestCard("visa", "3063", "authenticate"),
    "pm_card_authenticationRequired": TestCard("visa", "3184", "authenticate"),
}
NUMBERS: dict[str, str] = {
    "4242424242424242": "pm_card_visa",
    "4000056655665556": "pm_card_visa_debit",
    "5555555555554444": "pm_card_mastercard",
    "378282246310005": "pm_card_amex",
    "4000002760000016": "pm_card_de",
    "4000002500000003": "pm_card_fr",
    "4000008260000000": "pm_card_gb",
    "4000000000000002": "pm_card_chargeDeclined",
    "4000000000009995": "pm_card_chargeDeclinedInsufficientFunds",
    "4000000000000069": "pm_card_chargeDeclinedExpiredCard",
    "4000000000000341": "pm_card_chargeCustomerFail",
    "4000000000003220": "pm_card_threeDSecure2Required",
    "4000000000003063": "pm_card_threeDSecureRequired",
    "4000002760003184": "pm_card_authenticationRequired",
}


def lookup(reference: str) -> TestCard | None:
    """The test card behind a `pm_card_*` id, a `tok_*` token or a test card number."""
    if reference in CARDS:
        return CARDS[reference]
    if reference.startswith("tok_"):
        return CARDS.get("pm_card_" + reference[4:])
    digits = reference.replace(" ", "")
    if digits in NUMBERS:
        return CARDS[NUMBERS[digits]]
    return None
