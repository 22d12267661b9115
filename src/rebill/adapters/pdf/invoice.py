"""The invoice PDF, drawn with fpdf2 in the issuer's brand: a colour band with the logo and
name, the parties, the lines with their tax, the totals, the usage summary and the payment
status. Only the issuer's brand appears: the document names nobody else (its metadata
included), so a client's invoice shows its agency and never the platform.

Text uses the PDF core fonts (Helvetica, WinAnsi/cp1252): no font file is needed, and text
outside cp1252 is transliterated (accents dropped, a few symbols spelled out, '?' otherwise).
"""

from __future__ import annotations

import io
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace

from rebill.adapters.pdf import facturx_xml
from rebill.adapters.pdf.brand import IssuerBrand, Party
from rebill.adapters.pdf.errors import InvoiceDocumentError
from rebill.domain.contrast import parse_hex, text_on, to_hex
from rebill.domain.money import format_minor
from rebill.domain.tax_decision import legal_mention
from rebill.services.ports import StoredInvoice

FONT = "Helvetica"
ENCODING = "cp1252"
PAGE_MARGIN = 15.0
BAND_HEIGHT = 30.0
LOGO_HEIGHT = 18.0
GREY = (90, 90, 90)
LIGHT = (244, 246, 248)
PAID_GREEN = (26, 127, 55)
DUE_RED = (207, 34, 46)
STATUS_LABELS = {"paid": "PAID", "open": "DUE", "void": "VOID", "refunded": "REFUNDED"}
# The document's title by invoice kind (retail and wholesale invoices are "INVOICE").
TITLES = {"receipt": "RECEIPT", "credit_note": "CREDIT NOTE"}
# Lines whose amount is a monthly price prorated by the time held (domain/charges.py,
# services/invoicing/close.py): the PDF explains how quantity x unit price became the amount.
PRORATED_CODES = frozenset(
    {"plan.proration", "number.local", "number.toll_free"}
    | {"number.rental.local", "number.rental.toll_free"}
)
LINK_BLUE = (9, 105, 218)
CODE_COLUMN = (24.0, 60.0)  # the code column's width bounds (mm): codes never wrap below 60
OTHER_COLUMNS = (20, 22, 22, 20)  # quantity, unit price, amount, tax
USAGE_LABELS = (
    ("billable_minutes", "Minutes used"),
    ("included_minutes_used", "Included minutes used"),
    ("credit_minutes", "Minutes paid from credits"),
    ("postpaid_minutes", "Postpaid minutes"),
    ("numbers", "Phone numbers"),
    ("campaigns", "Campaigns"),
)
_REPLACEMENTS = {
    "\u2212": "-",
    "\u2010": "-",
    "\u2011": "-",
    "\u00a0": " ",
    "\u202f": " ",
    "\u2009": " ",
    "\u2192": "->",
    "\u2190": "<-",
    "\u2264": "<=",
    "\u2265": ">=",
    "\u00d7": "x",
    "\u0141": "L",
    "\u0142": "l",
    "\u0110": "D",
    "\u0111": "d",
    "\u00df": "ss",
    "\u0131": "i",
}


def safe_text(text: str) -> str:
    """Text the core fonts can show: cp1252 kept as is, the rest transliterated."""
    out = []
    for char in text:
        try:
            char.encode(ENCODING)
            out.append(char)
            continue
        except UnicodeEncodeError:
            pass
        if char in _REPLACEMENTS:
            out.append(_REPLACEMENTS[char])
            continue
        decomposed = unicodedata.normalize("NFKD", char)
        kept = "".join(c for c in decomposed if not unicodedata.combining(c))
        try:
            kept.encode(ENCODING)
            out.append(kept if kept else "?")
        except UnicodeEncodeError:
            out.append("?")
    return "".join(out)


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, safe_text(status.upper()))


def settled(invoice: StoredInvoice) -> bool:
    """Nothing is left to pay: a paid document, or a credit note (its refund is made when it
    is issued, docs/dunning.md)."""
    return invoice.status == "paid" or invoice.kind == "credit_note"


def document_title(kind: str) -> str:
    """RECEIPT, CREDIT NOTE or INVOICE."""
    return TITLES.get(kind, "INVOICE")


def due_text(invoice: StoredInvoice) -> str | None:
    """When the document is due (docs/billing-model.md, "Due dates"): invoices are due on
    receipt (BILLING_MODEL section 9), so a paid document shows its issue date and an open one
    says "Due on receipt" with that date; a credit note or a void document is due never."""
    if invoice.kind == "credit_note" or invoice.status == "void":
        return None
    issued = invoice.issued_at.date().isoformat()
    return issued if invoice.status == "paid" else f"On receipt ({issued})"


def _decimal(text: str | None) -> Decimal | None:
    try:
        return Decimal(text) if text is not None else None
    except InvalidOperation:
        return None


def proration_note(
    code: str, quantity: str, unit_price: str | None, amount: str, period: str | None
) -> str | None:
    """How a prorated line's amount follows from its quantity and unit price, e.g.
    "3 × 2.15 × 16/30 days = 3.44" (days held, on average when several items are held), or
    "1 × 149.00 × 53.3 % of the month = 79.47" when the period's length is not known."""
    qty, unit, total = _decimal(quantity), _decimal(unit_price), _decimal(amount)
    if code not in PRORATED_CODES or qty is None or unit is None or total is None:
        return None
    full = qty * unit
    if full <= 0 or total == full:
        return None
    ratio = total / full
    dates = facturx_xml.period_dates(period)
    if dates is not None:
        days = dates[1].toordinal() - dates[0].toordinal() + 1
        held = (ratio * days).quantize(Decimal("0.1")).normalize()
        factor = f"{held:f}/{days} days"
    else:
        share = (ratio * 100).quantize(Decimal("0.1")).normalize()
        factor = f"{share:f} % of the month"
    return f"{quantity} \u00d7 {unit_price} \u00d7 {factor} = {amount}"


def ink_on(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """The text colour on the brand colour (the band, the table's headings): white when it
    reaches WCAG AA 4.5:1 there, else black (`domain.contrast.text_on`). The band keeps the
    agency's own colour; only the text on it is chosen."""
    return parse_hex(text_on(to_hex(rgb)))


class _InvoicePdf(FPDF):
    def __init__(self, issuer: IssuerBrand, number: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.core_fonts_encoding = ENCODING
        self.issuer = issuer
        self.number = number
        self.set_margins(PAGE_MARGIN, PAGE_MARGIN, PAGE_MARGIN)
        self.set_auto_page_break(auto=True, margin=20)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(FONT, size=8)
        self.set_text_color(*GREY)
        contact = f"{self.issuer.name} - {self.issuer.support_email}"
        self.cell(0, 5, safe_text(contact), align="L")
        self.set_x(PAGE_MARGIN)
        self.cell(0, 5, safe_text(f"{self.number} - page {self.page_no()}/{{nb}}"), align="R")


def _text(pdf: FPDF, text: str, size: float = 10, style: str = "", height: float = 5) -> None:
    pdf.set_font(FONT, style=style, size=size)
    pdf.multi_cell(0, height, safe_text(text), new_x="LMARGIN", new_y="NEXT")


def _band(pdf: _InvoicePdf, issuer: IssuerBrand, invoice_kind: str) -> None:
    rgb = issuer.rgb
    ink = ink_on(rgb)
    pdf.set_fill_color(*rgb)
    pdf.rect(0, 0, pdf.w, BAND_HEIGHT, style="F")
    x = PAGE_MARGIN
    if issuer.logo_png is not None:
        try:
            info = pdf.image(
                io.BytesIO(issuer.logo_png), x=x, y=(BAND_HEIGHT - LOGO_HEIGHT) / 2, h=LOGO_HEIGHT
            )
        except Exception as exc:  # fpdf2/Pillow raise various errors on a broken image
            raise InvoiceDocumentError(f"the brand logo cannot be drawn: {exc}") from exc
        x += float(info.rendered_width) + 5
    pdf.set_text_color(*ink)
    pdf.set_font(FONT, style="B", size=18)
    pdf.set_xy(x, 9)
    pdf.cell(pdf.w - x - PAGE_MARGIN - 40, 9, safe_text(issuer.name))
    pdf.set_font(FONT, style="B", size=14)
    pdf.set_xy(pdf.w - PAGE_MARGIN - 40, 9)
    pdf.cell(40, 9, document_title(invoice_kind), align="R")
    pdf.set_text_color(0, 0, 0)
    pdf.set_y(BAND_HEIGHT + 6)


def _parties(pdf: _InvoicePdf, invoice: StoredInvoice, issuer: IssuerBrand, to: Party) -> None:
    top = pdf.get_y()
    column = (pdf.w - 2 * PAGE_MARGIN) / 2
    # Left: the issuer, then the recipient.
    pdf.set_font(FONT, style="B", size=10)
    pdf.cell(column, 5, safe_text(issuer.name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=9)
    issuer_lines = [*issuer.address_lines, issuer.country, issuer.support_email]
    if issuer.tax_id:
        issuer_lines.append(f"Tax ID: {issuer.tax_id}")
    for line in issuer_lines:
        pdf.cell(column, 4.5, safe_text(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_text_color(*GREY)
    pdf.set_font(FONT, style="B", size=8)
    pdf.cell(column, 4.5, "BILL TO", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(FONT, style="B", size=10)
    pdf.cell(column, 5, safe_text(to.name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=9)
    recipient_lines = [*to.address_lines, to.country, to.email]
    if to.tax_id:
        recipient_lines.append(f"Tax ID: {to.tax_id}")
    for line in recipient_lines:
        pdf.cell(column, 4.5, safe_text(line), new_x="LMARGIN", new_y="NEXT")
    left_bottom = pdf.get_y()
    # Right: the invoice's facts and its payment status.
    facts = [
        (f"{document_title(invoice.kind).capitalize()} number", invoice.number),
        ("Issue date", invoice.issued_at.date().isoformat()),
    ]
    due = due_text(invoice)
    if due:
        facts.append(("Due date", due))
    if invoice.credit_of:
        facts.append(("Credit of", invoice.credit_of))
    facts += [("Period", invoice.period or "-"), ("Currency", invoice.currency)]
    x = PAGE_MARGIN + column
    pdf.set_xy(x, top)
    for label, value in facts:
        pdf.set_x(x)
        pdf.set_font(FONT, size=9)
        pdf.set_text_color(*GREY)
        pdf.cell(35, 5, label)
        pdf.set_text_color(0, 0, 0)
        pdf.set_font(FONT, style="B", size=10)
        pdf.cell(column - 35, 5, safe_text(value), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    label = status_label(invoice.status)
    colour = PAID_GREEN if settled(invoice) else DUE_RED
    pdf.set_x(x + column - 30)
    pdf.set_fill_color(*colour)
    pdf.set_text_color(255, 255, 255)
    pdf.set_font(FONT, style="B", size=12)
    pdf.cell(30, 8, label, align="C", fill=True, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_y(max(left_bottom, pdf.get_y()) + 6)


def _lines_table(pdf: _InvoicePdf, invoice: StoredInvoice, issuer: IssuerBrand) -> None:
    def money(minor: int) -> str:
        return format_minor(minor, invoice.currency)

    rgb = issuer.rgb
    headings = FontFace(emphasis="BOLD", color=ink_on(rgb), fill_color=rgb)
    pdf.set_font(FONT, size=8.5)
    pdf.set_draw_color(210, 214, 220)
    pdf.set_fill_color(*LIGHT)
    # The code column as wide as the longest code, so that codes never wrap mid-word.
    widest = max((pdf.get_string_width(safe_text(ln.code)) for ln in invoice.lines), default=0)
    code_width = min(max(widest + 4, CODE_COLUMN[0]), CODE_COLUMN[1])
    description_width = pdf.w - 2 * PAGE_MARGIN - code_width - sum(OTHER_COLUMNS)
    table: Any
    with pdf.table(
        col_widths=(description_width, code_width, *OTHER_COLUMNS),
        text_align=("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=headings,
        line_height=5,
        borders_layout="HORIZONTAL_LINES",
        cell_fill_color=LIGHT,
        cell_fill_mode="ROWS",
        padding=1.2,
    ) as table:
        heading = table.row()
        for title in ("Description", "Code", "Quantity", "Unit price", "Amount", "Tax"):
            heading.cell(title)
        for line in invoice.lines:
            row = table.row()
            amount = money(line.amount_minor)
            note = proration_note(line.code, line.quantity, line.unit_price, amount, invoice.period)
            row.cell(safe_text(f"{line.description}\n{note}" if note else line.description))
            row.cell(safe_text(line.code))
            row.cell(safe_text(line.quantity))
            row.cell(safe_text(line.unit_price) if line.unit_price is not None else "-")
            row.cell(amount)
            row.cell(money(line.tax_minor))
    if not invoice.lines:
        _text(pdf, "No charges this period.", size=9)


def _totals(pdf: _InvoicePdf, invoice: StoredInvoice, inclusive: bool, pay_url: str | None) -> None:
    def money(minor: int) -> str:
        return f"{format_minor(minor, invoice.currency)} {invoice.currency}"

    tax_label = invoice.tax_label or "Tax"
    rows = [
        ("Subtotal (tax included)" if inclusive else "Subtotal", money(invoice.subtotal_minor)),
        (f"of which {tax_label}" if inclusive else tax_label, money(invoice.tax_minor)),
    ]
    pdf.ln(4)
    x = pdf.w - PAGE_MARGIN - 90
    for label, value in rows:
        pdf.set_x(x)
        pdf.set_font(FONT, size=10)
        pdf.cell(55, 6, safe_text(label))
        pdf.cell(35, 6, value, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_draw_color(*GREY)
    pdf.line(x, pdf.get_y() + 0.5, pdf.w - PAGE_MARGIN, pdf.get_y() + 0.5)
    pdf.ln(1.5)
    pdf.set_x(x)
    pdf.set_font(FONT, style="B", size=12)
    pdf.cell(55, 8, f"Total ({invoice.currency})")
    pdf.cell(35, 8, money(invoice.total_minor), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(x)
    pdf.set_font(FONT, size=10)
    if invoice.kind == "credit_note":
        pdf.set_text_color(*PAID_GREEN)
        note = f"Refunded to you - credits {invoice.credit_of or 'an earlier document'}"
        pdf.cell(90, 6, safe_text(note), align="R", new_x="LMARGIN", new_y="NEXT")
    elif invoice.status == "paid":
        pdf.set_text_color(*PAID_GREEN)
        pdf.cell(90, 6, "PAID - thank you", align="R", new_x="LMARGIN", new_y="NEXT")
    else:
        pdf.set_text_color(*DUE_RED)
        pdf.cell(55, 6, f"Amount due ({status_label(invoice.status)})")
        pdf.cell(35, 6, money(invoice.total_minor), align="R", new_x="LMARGIN", new_y="NEXT")
        if pay_url:
            pdf.set_text_color(*LINK_BLUE)
            pdf.set_font(FONT, style="U", size=9)
            text = safe_text(f"Pay online: {pay_url}")
            pdf.cell(0, 6, text, align="R", link=pay_url, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)


def _legal_mention(pdf: _InvoicePdf, invoice: StoredInvoice, issuer: IssuerBrand) -> None:
    """The reason no tax is charged, when the tax decision says so (docs/tax.md)."""
    mention = legal_mention(invoice.tax_treatment, issuer.country)
    if mention:
        pdf.ln(3)
        _text(pdf, mention, size=9, style="B")


def _usage(pdf: _InvoicePdf, usage: dict[str, Any]) -> None:
    known = dict(USAGE_LABELS)
    rows = [(label, usage[key]) for key, label in USAGE_LABELS if key in usage]
    rows += [
        (key.replace("_", " ").capitalize(), value)
        for key, value in usage.items()
        if key not in known and isinstance(value, str | int)
    ]
    if not rows:
        return
    pdf.ln(6)
    _text(pdf, "Usage summary", size=11, style="B", height=6)
    pdf.set_font(FONT, size=9)
    width = (pdf.w - 2 * PAGE_MARGIN) / 2
    for label, value in rows:
        pdf.set_text_color(*GREY)
        pdf.cell(width * 0.6, 5, safe_text(label))
        pdf.set_text_color(0, 0, 0)
        pdf.cell(width * 0.4, 5, safe_text(str(value)), align="R", new_x="LMARGIN", new_y="NEXT")


def _draw(
    invoice: StoredInvoice,
    issuer: IssuerBrand,
    recipient: Party,
    inclusive: bool,
    pay_url: str | None = None,
) -> bytes:
    pdf = _InvoicePdf(issuer, invoice.number)
    kind = document_title(invoice.kind).capitalize()
    title = f"{issuer.name}: {kind} {invoice.number}"
    pdf.set_title(safe_text(title))
    pdf.set_author(safe_text(issuer.name))
    pdf.set_creator(safe_text(issuer.name))
    pdf.set_producer(safe_text(issuer.name))
    pdf.set_subject(safe_text(f"{kind} {invoice.number} to {recipient.name}"))
    pdf.set_lang("en")
    issued = invoice.issued_at
    pdf.set_creation_date(issued if issued.tzinfo else issued.astimezone())
    pdf.add_page()
    _band(pdf, issuer, invoice.kind)
    _parties(pdf, invoice, issuer, recipient)
    _lines_table(pdf, invoice, issuer)
    _totals(pdf, invoice, inclusive, pay_url)
    _legal_mention(pdf, invoice, issuer)
    if invoice.usage:
        _usage(pdf, invoice.usage)
    return bytes(pdf.output())


def render_invoice_pdf(
    invoice: StoredInvoice,
    issuer: IssuerBrand,
    recipient: Party,
    factur_x: bool,
    pay_url: str | None = None,
) -> bytes:
    """The invoice as PDF bytes in the issuer's brand. With `factur_x` and an issuer tax ID,
    the PDF carries a Factur-X EN 16931 XML (`factur-x.xml`), validated against its schema and
    the EN 16931 sum rules before it is embedded; an invalid XML raises InvoiceDocumentError.
    Without a tax ID the plain PDF is returned (EN 16931 needs the seller's VAT identifier).
    `pay_url`: the recipient's pay page, shown as a link on an open document."""
    inclusive = facturx_xml.tax_inclusive(invoice)
    pdf = _draw(invoice, issuer, recipient, inclusive, pay_url)
    if not (factur_x and issuer.tax_id):
        return pdf
    xml = facturx_xml.build_cii_xml(invoice, issuer, recipient)
    return facturx_xml.embed(
        pdf,
        xml,
        title=f"{issuer.name}: Invoice {invoice.number}",
        author=issuer.name,
        subject=f"Invoice {invoice.number} dated {invoice.issued_at.date().isoformat()} "
        f"issued by {issuer.name}",
        lang="en",
    )
