"""Hand-off states, and the configurable rules that read them from CRM facts.

``handed_over → accepted | rejected(reason) → converted | recycled``. A rule tests facts the
CRM connector reports (``lead.label``, ``deal.status``, ``contact.lead_status``, ...) and the
customer's own fields (``person.<field>``). States only move forward; the first matching rule
in config order wins among the states reachable from the current one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from smarketing_sync.scoring.model import text_key
from smarketing_sync.settings import HandoffSettings, StateRule

OPEN = ("handed_over", "accepted")
#: which states each state may move to
NEXT: Mapping[str, tuple[str, ...]] = {
    "handed_over": ("accepted", "rejected", "converted", "recycled"),
    "accepted": ("rejected", "converted", "recycled"),
    "rejected": ("recycled", "converted"),
    "converted": (),
    "recycled": (),
}


@dataclass(frozen=True, slots=True)
class Move:
    state: str
    source: str  # the facts that moved it, e.g. "pipedrive lead.label=Accepted"
    reason: str | None = None


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple | set | frozenset) else [value]


def _hits(expected: Any, value: Any) -> list[Any]:
    """The fact's values that the rule's expectation accepts (empty: no match)."""
    wanted = _values(expected)
    hits: list[Any] = []
    for item in _values(value):
        for option in wanted:
            if isinstance(option, bool) or isinstance(item, bool):
                if str(option).casefold() == text_key(item):
                    hits.append(item)
            elif text_key(option) == text_key(item):
                hits.append(item)
    return hits


def normalize_reason(reason: str | None, closed: Sequence[str]) -> str | None:
    """Map a reason onto the configured closed list (case-insensitive); unknown -> 'other: …'."""
    if reason is None or not str(reason).strip():
        return None
    text = str(reason).strip()
    if not closed:
        return text
    for item in closed:
        if text_key(item) == text_key(text):
            return item
    return f"other: {text}"[:500]


def _reason(raw: Sequence[Any], closed: Sequence[str]) -> str | None:
    """The reason from a fact's values: those on the closed list when some are (a lead's
    labels may be "Hot" and "No budget"), else all of them."""
    listed = [normalize_reason(str(v), closed) for v in raw]
    known = [r for r in listed if r is not None and not r.startswith("other: ")]
    if known:
        return ", ".join(known)
    return normalize_reason(", ".join(map(str, raw)), closed) if raw else None


def rule_matches(rule: StateRule, facts: Mapping[str, Any]) -> dict[str, list[Any]] | None:
    hits: dict[str, list[Any]] = {}
    for name, expected in rule.when.items():
        found = _hits(expected, facts.get(name))
        if not found:
            return None
        hits[name] = found
    return hits


def evaluate(
    settings: HandoffSettings,
    rules: Sequence[StateRule],
    current: str,
    facts: Mapping[str, Any],
    crm: str,
) -> Move | None:
    """The state the facts call for, or None when the hand-off stays where it is."""
    for rule in rules:
        if rule.state not in NEXT.get(current, ()):
            continue
        hits = rule_matches(rule, facts)
        if hits is None:
            continue
        source = f"{crm} " + ", ".join(
            f"{name}={'|'.join(map(str, found))}" for name, found in hits.items()
        )
        reason: str | None = None
        if rule.reason is not None:
            raw = hits.get(rule.reason) or _values(facts.get(rule.reason))
            reason = _reason(raw, settings.reasons)
            if rule.reason not in hits and raw:
                source += f", {rule.reason}={'|'.join(map(str, raw))}"
        return Move(rule.state, source[:500], reason)
    return None


def person_facts(values: Mapping[str, Any]) -> dict[str, Any]:
    return {f"person.{name}": value for name, value in values.items() if not name.startswith("_")}
