"""The few HTML pages of the test server: hosted checkout, its result, 3-D Secure, receipts."""

from __future__ import annotations

from html import escape
from typing import Any

from stripe_test_server.values import ZERO_DECIMAL

STYLE = """
body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#1a1f36}
h1{font-size:1.3rem}table{width:100%;border-collapse:collapse;margin:1rem 0}
td{padding:.35rem 0;border-bottom:1px solid #e3e8ee}td.n{text-align:right}
tr.total td{font-weight:600;border-bottom:none}button{background:#635bff;color:#fff;border:0;
padding:.7rem 1.4rem;border-radius:6px;font-size:1rem;cursor:pointer}
label{display:block;margin:.6rem 0 .2rem}select,input{width:100%;padding:.4rem;font-size:1rem}
.note{color:#697386;font-size:.85rem}.error{color:#df1b41}.ok{color:#0a7c42}
"""

TEST_CARDS = [
    ("pm_card_visa", "Visa 4242 — succeeds"),
    ("pm_card_mastercard", "Mastercard 4444 — succeeds"),
    ("pm_card_threeDSecure2Required", "Visa 3220 — 3-D Secure challenge, passed"),
    ("pm_card_chargeDeclined", "Visa 0002 — declined (card_declined)"),
    ("pm_card_chargeDeclinedInsufficientFunds", "Visa 9995 — declined (insufficient_funds)"),
]


def money(amount: int, currency: str) -> str:
    if currency in ZERO_DECIMAL:
        return f"{amount} {currency.upper()}"
    return f"{amount / 100:,.2f} {currency.upper()}"


def page(title: str, body: str) -> bytes:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}<p class='note'>Stripe test server (rebill) — test mode only.</p>"
        "</body></html>"
    ).encode()


def checkout_page(session: dict[str, Any], items: list[dict[str, Any]], country: str) -> bytes:
    currency = session["currency"]
    rows = "".join(
        f"<tr><td>{escape(str(item['description']))} × {item['quantity']}</td>"
        f"<td class='n'>{money(item['amount_subtotal'], currency)}</td></tr>"
        for item in items
    )
    tax = session["total_details"]["amount_tax"] if session.get("total_details") else 0
    tax_row = ""
    if session["automatic_tax"]["enabled"]:
        tax_row = f"<tr><td>Tax</td><td class='n'>{money(tax, currency)}</td></tr>"
    total_row = (
        f"<tr class='total'><td>Total</td>"
        f"<td class='n'>{money(session['amount_total'], currency)}</td></tr>"
    )
    options = "".join(
        f"<option value='{value}'>{escape(label)}</option>" for value, label in TEST_CARDS
    )
    if session["status"] != "open":
        form = f"<p class='ok'>This Checkout Session is {escape(session['status'])}.</p>"
    else:
        cancel = (
            f"<p><a href='{escape(session['cancel_url'])}'>Cancel and go back</a></p>"
            if session.get("cancel_url")
            else ""
        )
        form = (
            f"<form method='post' action='/_test/checkout/{escape(session['id'])}/complete'>"
            f"<label for='pm'>Test card</label><select id='pm' name='payment_method'>{options}"
            "</select><label for='country'>Billing country (for tax)</label>"
            f"<input id='country' name='country' maxlength='2' value='{escape(country)}'>"
            "<label for='state'>State (US only)</label><input id='state' name='state'>"
            "<label for='email'>Email</label>"
            f"<input id='email' name='email' value='{escape(session.get('customer_email') or '')}'>"
            "<p><button type='submit'>Pay</button></p></form>"
            f"{cancel}"
        )
    return page(
        "Checkout",
        f"<h1>Checkout</h1><table>{rows}{tax_row}{total_row}</table>{form}",
    )


def result_page(title: str, message: str, ok: bool, link: str | None = None) -> bytes:
    css = "ok" if ok else "error"
    back = f"<p><a href='{escape(link)}'>Continue</a></p>" if link else ""
    return page(title, f"<h1>{escape(title)}</h1><p class='{css}'>{escape(message)}</p>{back}")


def three_d_secure_page(pi: dict[str, Any]) -> bytes:
    pi_id = escape(pi["id"])
    return page(
        "3-D Secure",
        "<h1>3-D Secure test challenge</h1>"
        f"<p>Authenticate the payment of {money(pi['amount'], pi['currency'])}?</p>"
        f"<form method='post' action='/_test/3ds/{pi_id}'>"
        "<button name='result' value='succeed'>Complete authentication</button> "
        "<button name='result' value='fail' style='background:#697386'>Fail authentication"
        "</button></form>",
    )


def receipt_page(pi: dict[str, Any], charge: dict[str, Any] | None) -> bytes:
    refunded = charge["amount_refunded"] if charge else 0
    lines = (
        f"<tr><td>Amount paid</td><td class='n'>{money(pi['amount_received'], pi['currency'])}"
        "</td></tr>"
    )
    if refunded:
        lines += f"<tr><td>Refunded</td><td class='n'>{money(refunded, pi['currency'])}</td></tr>"
    return page(
        "Receipt",
        f"<h1>Receipt</h1><p>Payment {escape(pi['id'])} — {escape(pi['status'])}</p>"
        f"<table>{lines}</table>",
    )
