"""Who gets a hand-off: the human owner the CRM already has, else a pool picked by territory,
then round robin among the pool's owners who are present and under their cap.

Pure: the caller passes the open hand-off count per owner and the round-robin pointers, and
stores the pointer this returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from smarketing_sync.scoring.model import as_number, text_key
from smarketing_sync.settings import HandoffSettings, Owner, Territory

DEFAULT_POOL = "default"


@dataclass(frozen=True, slots=True)
class Assignment:
    owner_id: str | None
    source: str  # crm (a human owns the record) | assigned | none
    pool: str | None
    team: str | None
    why: str


def matches(expected: Any, value: Any) -> bool:
    """A territory test: a value, a list of values (any), or ``{min, max}`` (both inclusive)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return False
    if isinstance(expected, Mapping):
        number = as_number(value)
        if number is None:
            return False
        low, high = expected.get("min"), expected.get("max")
        return (low is None or number >= float(low)) and (high is None or number <= float(high))
    options = expected if isinstance(expected, list | tuple) else [expected]
    return any(text_key(option) == text_key(value) for option in options)


def territory_pool(territories: Sequence[Territory], values: Mapping[str, Any]) -> str | None:
    for territory in territories:
        if all(matches(exp, values.get(name)) for name, exp in territory.when.items()):
            return territory.pool
    return None


def is_away(owner: Owner, today: date) -> bool:
    return owner.away or (owner.away_until is not None and today <= owner.away_until)


def human_owner(crm_owner: str | None, settings: HandoffSettings) -> str | None:
    """The CRM owner when a person (not our integration user) set it."""
    if crm_owner is None or not str(crm_owner).strip():
        return None
    owner = str(crm_owner).strip()
    if settings.integration_user is not None and owner == settings.integration_user:
        return None
    return owner


def _round_robin(candidates: Sequence[Owner], last: str | None) -> Owner:
    ids = [o.id for o in candidates]
    if last in ids:
        return candidates[(ids.index(last) + 1) % len(candidates)]
    return candidates[0]


def assign(
    settings: HandoffSettings,
    values: Mapping[str, Any],
    *,
    crm_owner: str | None,
    open_counts: Mapping[str, int],
    pointers: Mapping[str, str],
    today: date,
) -> Assignment:
    """Pick the owner of a new hand-off (``pointers``: pool -> owner id assigned last)."""
    known = {o.id: o for o in settings.owners}
    human = human_owner(crm_owner, settings)
    if human is not None:
        owner = known.get(human)
        return Assignment(
            human,
            "crm",
            None,
            owner.team if owner else None,
            "owner set in the CRM by a person; never overwritten",
        )
    if not settings.owners:
        return Assignment(None, "none", None, None, "no owners configured ([[handoff.owners]])")
    pool = territory_pool(settings.territories, values)
    tried: list[str] = []
    for name in [p for p in (pool, DEFAULT_POOL) if p is not None]:
        if name in tried:
            continue
        tried.append(name)
        members = [o for o in settings.owners if name in o.pools]
        present = [o for o in members if not is_away(o, today)]
        free = [o for o in present if o.cap is None or open_counts.get(o.id, 0) < o.cap]
        if free:
            owner = _round_robin(free, pointers.get(name))
            where = f"territory pool {name!r}" if name == pool else f"pool {name!r}"
            return Assignment(owner.id, "assigned", name, owner.team, f"round robin in {where}")
    reason = "; ".join(f"pool {name!r}: every owner is away or at their cap" for name in tried)
    return Assignment(None, "none", pool or DEFAULT_POOL, None, reason or "no pool")
