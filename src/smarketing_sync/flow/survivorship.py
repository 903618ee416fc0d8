"""Which tool wins when tools disagree about a customer field (the per-field rules of config)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smarketing_sync.settings import ResolveSettings

#: The changed_at of a claim that has been blank since we first saw it.
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Claim:
    """What one tool says about one field, and since when it says so."""

    connector: str
    value: Any
    changed_at: datetime


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class Survivorship:
    """``most_recent`` (newest change wins), ``precedence`` (first tool in order with a value
    wins) and ``prefer`` (one tool wins unless its value is blank, else the newest).

    Ties in ``most_recent`` go to the earlier tool in ``default_order``, then by name, so the
    outcome never depends on the order claims were read in.
    """

    def __init__(self, settings: ResolveSettings) -> None:
        self._settings = settings
        self._rank = {name: i for i, name in enumerate(settings.default_order)}

    def _tie_key(self, claim: Claim) -> tuple[datetime, int, str]:
        # max() picks the newest; among equal times the lowest rank (negated) wins.
        rank = self._rank.get(claim.connector, len(self._rank))
        return (claim.changed_at, -rank, _reverse(claim.connector))

    def _most_recent(self, claims: Sequence[Claim]) -> Claim | None:
        return max(claims, key=self._tie_key) if claims else None

    def choose(self, field: str, claims: Mapping[str, Claim]) -> Claim | None:
        """The winning claim for ``field`` (None when no tool has said anything)."""
        if not claims:
            return None
        rule = self._settings.fields.get(field)
        kind = rule.rule if rule else self._settings.default
        present = [c for c in claims.values() if not is_blank(c.value)]
        if kind == "precedence":
            order = rule.order if rule and rule.order else self._settings.default_order
            for connector in order:
                claim = claims.get(connector)
                if claim is not None and not is_blank(claim.value):
                    return claim
            rest = [c for c in present if c.connector not in order]
            return self._most_recent(rest) or self._most_recent(list(claims.values()))
        if kind == "prefer":
            preferred = claims.get(rule.prefer) if rule and rule.prefer else None
            if preferred is not None and not is_blank(preferred.value):
                return preferred
            return self._most_recent(present) or self._most_recent(list(claims.values()))
        # most_recent: a blank wins only as a real clearing: a claim that was blank from the
        # start carries NEVER as its time (see resolve), so it cannot beat any value.
        return self._most_recent(list(claims.values()))


def _reverse(name: str) -> str:
    # Sort helper: max() on the reversed code points prefers the alphabetically first name.
    return "".join(chr(0x10FFFF - ord(ch)) for ch in name)
