"""Numbers with their units, as the corpus pages show them: `bytes_si` (webapp/web/sizes.py), counts
and percentages."""

from __future__ import annotations

from django import template

from webapp.web.sizes import format_bytes

register = template.Library()
register.filter("bytes_si", format_bytes)


def plural(n: int, word: str) -> str:
    """'1 line', '2 lines', '1,000 lines' (regular plurals only)."""
    if not isinstance(n, int):
        return "–"  # a missing statistic
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


@register.filter(name="thousands")
def format_count(n: int | float | None) -> str:
    return f"{n:,}" if isinstance(n, int | float) else "–"  # a missing statistic shows a dash


@register.filter(name="percent")
def format_percent(fraction: float | None, digits: int = 1) -> str:
    return f"{fraction * 100:.{digits}f} %" if isinstance(fraction, int | float) else "–"
