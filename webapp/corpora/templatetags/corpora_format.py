"""Numbers with their units, as the corpus pages show them (decimal units: 1 MB = 10⁶ bytes).

>>> format_bytes(12_345_678)
'12.3 MB'
"""

from __future__ import annotations

from django import template

register = template.Library()

_UNITS = ("bytes", "kB", "MB", "GB", "TB")


@register.filter(name="bytes_si")
def format_bytes(n: int | float | None) -> str:
    if not isinstance(n, int | float):
        return "–"
    value, unit = float(n), 0
    while value >= 999.5 and unit < len(_UNITS) - 1:
        value, unit = value / 1000, unit + 1
    if unit == 0:
        return f"{int(value):,} {'byte' if int(value) == 1 else 'bytes'}"
    return f"{value:.3g} {_UNITS[unit]}" if value < 100 else f"{value:.0f} {_UNITS[unit]}"


@register.filter(name="thousands")
def format_count(n: int | float | None) -> str:
    return f"{n:,}" if isinstance(n, int | float) else "–"  # a missing statistic shows a dash


@register.filter(name="percent")
def format_percent(fraction: float | None, digits: int = 1) -> str:
    return f"{fraction * 100:.{digits}f} %" if isinstance(fraction, int | float) else "–"
