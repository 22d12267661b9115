"""Colour contrast per WCAG 2.1 (relative luminance, contrast ratio) and the brand colour as
rendered: the agency's colour darkened or lightened just enough to reach a ratio against the
background it is used on (issue #15). The stored colour never changes; only the rendered one.

Colours are "#rrggbb" (or "#rgb"). Luminance is a ratio of light, not money: floats are fine."""

from __future__ import annotations

AA_TEXT = 4.5  # WCAG 2.1 AA, normal text
_STEPS = 100  # the mix toward black or white moves in 1 % steps


def parse_hex(colour: str) -> tuple[int, int, int]:
    """(r, g, b) of "#rrggbb" or "#rgb"; ValueError naming the colour otherwise."""
    digits = colour.strip().removeprefix("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    if len(digits) != 6 or any(d not in "0123456789abcdefABCDEF" for d in digits):
        raise ValueError(f"colour {colour!r} is not #rrggbb")
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def to_hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _channel(value: int) -> float:
    s = value / 255
    return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance: 0 for black, 1 for white."""
    r, g, b = (_channel(v) for v in parse_hex(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2.1 contrast ratio, 1 (same) to 21 (black on white); order does not matter."""
    a, b = relative_luminance(first), relative_luminance(second)
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def _mix(rgb: tuple[int, int, int], target: int, step: int) -> tuple[int, int, int]:
    r, g, b = (round(v + (target - v) * step / _STEPS) for v in rgb)
    return r, g, b


def readable(colour: str, background: str, minimum: float = AA_TEXT) -> str:
    """`colour` as "#rrggbb" when it already reaches `minimum` against `background`; otherwise
    the smallest mix toward black (or white, on a dark background, or when black cannot reach
    it) that does, keeping the hue. Black or white when nothing short of them does."""
    rgb = parse_hex(colour)
    if contrast_ratio(colour, background) >= minimum:
        return to_hex(rgb)
    dark_background = relative_luminance(background) < 0.18
    targets = (255, 0) if dark_background else (0, 255)
    for target in targets:
        for step in range(1, _STEPS + 1):
            candidate = to_hex(_mix(rgb, target, step))
            if contrast_ratio(candidate, background) >= minimum:
                return candidate
    black_ratio = contrast_ratio("#000000", background)
    return "#000000" if black_ratio >= contrast_ratio("#ffffff", background) else "#ffffff"


def text_on(background: str, minimum: float = AA_TEXT) -> str:
    """The text colour for `background` (a brand-coloured band or heading): white when it
    reaches `minimum`, else black. At 4.5:1 one of them always does: the background on which
    both are worst (luminance 0.179) still gives 4.58:1."""
    if contrast_ratio("#ffffff", background) >= minimum:
        return "#ffffff"
    if contrast_ratio("#000000", background) >= minimum:
        return "#000000"
    return readable("#000000", background, minimum)  # a minimum above 4.58: the best there is
