"""Text read from outside: whole numbers in ASCII digits only (`str.isdigit` also admits "²" and
"٣", which `int` refuses or reads as another script's digits), and text a database can store."""

from __future__ import annotations

# More digits than any count, amount or page rebill reads (int() refuses past 4,300 digits).
digits_max = 18


def is_digits(text: str, most: int = digits_max) -> bool:
    """`text` is 1 to `most` ASCII digits (0-9), nothing else."""
    return 0 < len(text) <= most and text.isascii() and text.isdigit()


def text_problem(text: str) -> str | None:
    """Why no database can store `text` (a NUL, a lone surrogate), or None."""
    if "\0" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not Unicode text (a lone surrogate)"
    return None
