"""How durations and ratios are written in the reports."""

from __future__ import annotations


def fmt_ms(seconds: float) -> str:
    """A duration in milliseconds with three significant digits."""
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:,.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def fmt_s(seconds: float) -> str:
    """A duration in seconds."""
    return f"{seconds:.2f} s"


def fmt_ratio(r: float) -> str:
    """A speed ratio such as ``123x`` or ``1.4x``."""
    return f"{r:,.0f}x" if r >= 10 else f"{r:.2f}x"


def fmt_ratio2(r: float) -> str:
    """A ratio with two decimals below 10 (jit / hand-written), whole numbers above."""
    return f"{r:.2f}x" if r < 10 else fmt_ratio(r)
