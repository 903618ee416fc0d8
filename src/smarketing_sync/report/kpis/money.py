"""Amounts in the report currency; a currency without a rate is kept apart (KPIS §1.6)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Money:
    """A sum in the report currency plus, per currency, what could not be converted."""

    total: float = 0.0
    count: int = 0
    unconverted: dict[str, float] = field(default_factory=dict)

    def as_data(self) -> dict[str, object]:
        return {
            "amount": round(self.total, 2),
            "count": self.count,
            "unconverted": {k: round(v, 2) for k, v in sorted(self.unconverted.items())},
        }


class Converter:
    def __init__(self, currency: str, rates: dict[str, float]) -> None:
        self.currency = currency.upper()
        self.rates = {k.upper(): v for k, v in rates.items()}

    def convert(self, amount: float | None, currency: str | None) -> float | None:
        """The amount in report currency, or None when there is no rate for its currency."""
        if amount is None:
            return 0.0
        code = (currency or self.currency).upper()
        if code == self.currency:
            return amount
        rate = self.rates.get(code)
        return None if rate is None else amount * rate

    def total(self, items: Iterable[tuple[float | None, str | None]]) -> Money:
        money = Money()
        for amount, currency in items:
            value = self.convert(amount, currency)
            money.count += 1
            if value is None:
                code = (currency or "?").upper()
                money.unconverted[code] = money.unconverted.get(code, 0.0) + (amount or 0.0)
            else:
                money.total += value
        return money
