"""How figures read: money with the currency, percentages, days and business hours."""

from __future__ import annotations

SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF "}


def money(value: float | None, currency: str, unconverted: dict[str, float] | None = None) -> str:
    if value is None:
        return "–"
    symbol = SYMBOLS.get(currency, f"{currency} ")
    text = f"-{symbol}{-value:,.0f}" if value < 0 else f"{symbol}{value:,.0f}"
    for code, amount in sorted((unconverted or {}).items()):
        text += f" + {code} {amount:,.0f} (no rate)"
    return text


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def days(value: float | None, *, not_reached_after: float | None = None) -> str:
    if value is None:
        if not_reached_after is not None:
            return f"not reached (> {not_reached_after:.0f} d)"
        return "–"
    return f"{value:.2f} d"


def hours(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} bh"


def count(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def change(current: float | None, previous: float | None, month: str) -> str | None:
    if current is None or previous is None:
        return None
    if previous == 0:
        return None if current == 0 else f"new vs {month}"
    return f"{(current - previous) / previous * 100:+.0f} % vs {month}"
