"""Byte counts as people read them (decimal units: 1 MB = 10⁶ bytes), for every page and message.

A size that is a whole number of MiB (the configured limits: 8 MiB chunks, a 1 GiB upload
limit) is written in binary units, exactly, instead of as a rounded decimal ("1.07 GB").

>>> format_bytes(12_345_678), format_bytes(2**30)
('12.3 MB', '1 GiB')
"""

from __future__ import annotations

_UNITS = ("bytes", "kB", "MB", "GB", "TB")
_BINARY = ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"))


def format_bytes(n: int | float | None) -> str:
    if not isinstance(n, int | float):
        return "–"
    for size, name in _BINARY:
        if n >= size and n % 2**20 == 0 and (n / size) * 10 % 1 == 0:
            return f"{n / size:g} {name}"  # 1 GiB, 1.5 GiB, 8 MiB: exact
    value, unit = float(n), 0
    while value >= 999.5 and unit < len(_UNITS) - 1:
        value, unit = value / 1000, unit + 1
    if unit == 0:
        return f"{int(value):,} {'byte' if int(value) == 1 else 'bytes'}"
    return f"{value:.3g} {_UNITS[unit]}" if value < 100 else f"{value:.0f} {_UNITS[unit]}"


def format_sizes(*sizes: int) -> list[str]:
    """Sizes for one sentence: exact byte counts when two would read the same rounded.

    Example: format_sizes(50_000_001, 50_000_000) = ['50,000,001 bytes', '50,000,000 bytes'].
    """
    shown = [format_bytes(n) for n in sizes]
    if len(set(shown)) < len(set(sizes)):
        return [f"{n:,} {'byte' if n == 1 else 'bytes'}" for n in sizes]
    return shown
