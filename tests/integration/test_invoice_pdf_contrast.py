"""Every piece of text in an invoice PDF reaches WCAG AA 4.5:1 against what it is drawn on,
whatever the issuer's brand colour (issue #15): read back from the PDF's own drawing
operators, the band and the table's headings in the brand colour included."""

from __future__ import annotations

import io
from dataclasses import dataclass, replace

import pypdf
import pytest
from pypdf.generic import ContentStream

from rebill.adapters.pdf import render_invoice_pdf
from rebill.adapters.pdf.invoice import ink_on
from rebill.domain.contrast import contrast_ratio, to_hex
from tests.integration.test_invoice_pdf import AGENCY, CLIENT, worked_month

# Light and mid-tone brands on which white text fails (the band used to pick white below a
# luminance of 0.4: 3.4:1 on #2f9e44), and dark ones on which it reads.
BRANDS = ["#f5c518", "#7fdbff", "#2f9e44", "#ff8c00", "#808080", "#c2410c", "#1f6feb", "#000000"]


@dataclass(frozen=True)
class Box:
    left: float
    bottom: float
    right: float
    top: float
    colour: str

    def holds(self, x: float, y: float) -> bool:
        return self.left <= x <= self.right and self.bottom <= y <= self.top


@dataclass(frozen=True)
class Run:
    text: str
    colour: str
    background: str


def _colour(operands: list[float]) -> str:
    if len(operands) == 1:  # grey
        operands = [operands[0]] * 3
    return to_hex(tuple(round(float(v) * 255) for v in operands))  # type: ignore[arg-type]


def text_runs(pdf: bytes) -> list[Run]:
    """Each text run of each page with its fill colour and the colour of the last filled
    rectangle under its start (white paper when none)."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    runs = []
    for page in reader.pages:
        colour, saved = "#000000", []
        boxes: list[Box] = []
        path: tuple[float, float, float, float] | None = None
        x = y = 0.0
        for operands, op in ContentStream(page.get_contents(), reader).operations:
            if op in (b"rg", b"g"):
                colour = _colour(operands)
            elif op == b"q":
                saved.append(colour)
            elif op == b"Q":
                colour = saved.pop()
            elif op == b"re":
                left, bottom, width, height = (float(v) for v in operands)
                path = (
                    min(left, left + width),
                    min(bottom, bottom + height),
                    max(left, left + width),
                    max(bottom, bottom + height),
                )
            elif op in (b"f", b"F", b"f*", b"B", b"B*") and path is not None:
                boxes.append(Box(*path, colour))
                path = None
            elif op == b"n":
                path = None
            elif op == b"BT":
                x = y = 0.0
            elif op in (b"Td", b"TD"):
                x, y = x + float(operands[0]), y + float(operands[1])
            elif op == b"Tm":
                x, y = float(operands[4]), float(operands[5])
            elif op in (b"Tj", b"TJ"):
                text = (
                    operands[0]
                    if op == b"Tj"
                    else "".join(str(part) for part in operands[0] if isinstance(part, str))
                )
                if not str(text).strip():
                    continue
                under = [b for b in boxes if b.holds(x + 0.5, y + 1.0)]
                runs.append(Run(str(text), colour, under[-1].colour if under else "#ffffff"))
    return runs


@pytest.mark.parametrize("brand", BRANDS)
def test_every_text_run_reaches_4_5_on_what_it_is_drawn_on(brand: str) -> None:
    issuer = replace(AGENCY, colour=brand)
    runs = text_runs(render_invoice_pdf(worked_month(), issuer, CLIENT, False, pay_url=None))
    on_brand = [r for r in runs if r.background == brand]
    assert {r.text for r in on_brand} >= {"Acme Voice", "INVOICE", "Description", "Amount"}
    poor = [r for r in runs if contrast_ratio(r.colour, r.background) < 4.5]
    assert poor == []
    assert len(runs) > 30  # the parties, the lines, the totals: all of them were read


def test_a_paid_receipt_and_the_pay_link_read_too() -> None:
    paid = worked_month(status="paid")
    for invoice, url in ((paid, None), (worked_month(), "https://pay.example/i/ACME-000007")):
        runs = text_runs(render_invoice_pdf(invoice, AGENCY, CLIENT, False, pay_url=url))
        assert [r for r in runs if contrast_ratio(r.colour, r.background) < 4.5] == []


@pytest.mark.parametrize("brand", BRANDS)
def test_the_ink_on_the_brand_is_white_when_white_reads_else_black(brand: str) -> None:
    rgb = (int(brand[1:3], 16), int(brand[3:5], 16), int(brand[5:7], 16))
    ink = to_hex(ink_on(rgb))
    assert contrast_ratio(ink, brand) >= 4.5
    assert ink == ("#ffffff" if contrast_ratio("#ffffff", brand) >= 4.5 else "#000000")
