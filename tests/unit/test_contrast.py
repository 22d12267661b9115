"""The brand colour as rendered reaches WCAG AA 4.5:1 (issue #15): relative luminance and
contrast ratio per WCAG 2.1, and the smallest darkening (or lightening) that reaches it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rebill.domain.contrast import (
    contrast_ratio,
    parse_hex,
    readable,
    relative_luminance,
    text_on,
)
from rebill.entrypoints.web.common import DEFAULT_BRAND, PAGE_BACKGROUND, brand_colour


@pytest.mark.parametrize(
    ("colour", "luminance"),
    [("#000000", 0.0), ("#ffffff", 1.0), ("#808080", 0.2158605), ("#ff0000", 0.2126)],
)
def test_relative_luminance_follows_wcag_2_1(colour: str, luminance: float) -> None:
    assert relative_luminance(colour) == pytest.approx(luminance, abs=1e-6)


@pytest.mark.parametrize(
    ("first", "second", "ratio"),
    [("#000000", "#ffffff", 21.0), ("#ffffff", "#000000", 21.0), ("#777777", "#ffffff", 4.478)],
)
def test_contrast_ratio_is_symmetric_and_matches_known_values(
    first: str, second: str, ratio: float
) -> None:
    assert contrast_ratio(first, second) == pytest.approx(ratio, abs=1e-3)


@pytest.mark.parametrize(
    ("colour", "background", "expected"),
    [
        ("#facc15", "#ffffff", None),  # light yellow: darkened
        ("#1f6feb", "#f5f7fa", None),  # 4.32:1 blue: darkened a little
        ("#ffffff", "#f5f7fa", None),  # white on near white: grey
        ("#c2410c", "#f5f7fa", "#c2410c"),  # already 4.83:1: kept
        ("#1e293b", "#ffffff", "#1e293b"),  # dark slate: kept
        ("#000", "#ffffff", "#000000"),  # short form, normalised
        ("#1e293b", "#111111", None),  # dark on dark: lightened
    ],
)
def test_readable_reaches_4_5_and_keeps_colours_that_already_do(
    colour: str, background: str, expected: str | None
) -> None:
    rendered = readable(colour, background)
    assert contrast_ratio(rendered, background) >= 4.5
    if expected is not None:
        assert rendered == expected
    else:
        assert contrast_ratio(colour, background) < 4.5
        assert rendered != colour
        assert contrast_ratio(rendered, background) < 5.0  # the smallest change, not black


def test_a_light_yellow_keeps_its_hue_while_darkened() -> None:
    r, g, b = parse_hex(readable("#facc15", "#ffffff"))
    assert r > g > b  # still a yellow-brown, not grey
    assert contrast_ratio(readable("#facc15", "#ffffff"), "#ffffff") < 5.0  # not overshot


def test_the_rendered_brand_reads_as_text_on_the_page_and_under_white_text() -> None:
    for stored in ("#facc15", "#7dd3fc", "#c2410c", "#ffffff", "#1f6feb"):
        rendered = brand_colour(stored)
        assert contrast_ratio(rendered, PAGE_BACKGROUND) >= 4.5
        assert contrast_ratio(rendered, "#ffffff") >= 4.5
    assert brand_colour(None) == DEFAULT_BRAND
    assert brand_colour("not a colour") == DEFAULT_BRAND


def test_a_colour_that_is_not_hex_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'blue'"):
        parse_hex("blue")


@given(st.integers(min_value=0, max_value=0xFFFFFF))
def test_text_on_any_colour_reaches_4_5_white_first(value: int) -> None:
    background = f"#{value:06x}"
    ink = text_on(background)
    assert contrast_ratio(ink, background) >= 4.5
    assert ink == ("#ffffff" if contrast_ratio("#ffffff", background) >= 4.5 else "#000000")


@pytest.mark.parametrize(
    ("background", "ink"),
    [
        ("#f5c518", "#000000"),
        ("#7fdbff", "#000000"),
        ("#2f9e44", "#000000"),
        ("#c2410c", "#ffffff"),
        ("#1f6feb", "#ffffff"),  # 4.6:1 on white, 4.3 on the page
        ("#1e293b", "#ffffff"),
    ],
)
def test_text_on_known_brands(background: str, ink: str) -> None:
    assert text_on(background) == ink


def test_text_on_above_what_black_or_white_reach_gives_the_better_one() -> None:
    assert text_on("#777777", minimum=7.0) == "#000000"  # white 4.48, black 4.69: neither is 7
