"""The facts file (docs/kpis.md, "Facts file"): the KPIs' facts as JSON, read and written."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smarketing_sync.errors import ConfigError
from smarketing_sync.report.facts import (
    SOURCES,
    Cost,
    Deal,
    Facts,
    Handoff,
    Person,
    Touch,
    at_as_of,
)


def read_facts_file(path: Path) -> Facts:
    """Read a facts file (docs/kpis.md, "Facts file"); errors name the file, the record and key."""
    where = str(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("facts file not found", file=where) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc}", file=where) from None
    if not isinstance(raw, dict):
        raise ConfigError("top level must be an object", file=where, found=type(raw).__name__)
    reader = _Reader(where)
    as_of = reader.time(raw, "as_of", required=True)
    assert as_of is not None
    people: dict[int, Person] = {}
    for i, item in enumerate(reader.items(raw, "people")):
        key = f"people[{i}]"
        pid = reader.integer(item, "id", key)
        source = item.get("source", "unknown")
        if source not in SOURCES:
            raise ConfigError(
                "unknown source",
                file=where,
                key=f"{key}.source",
                expected=str(SOURCES),
                found=source,
            )
        stages = []
        for j, entry in enumerate(item.get("stages", [])):
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
                raise ConfigError(
                    "a stage entry is [stage, time]",
                    file=where,
                    key=f"{key}.stages[{j}]",
                    found=entry,
                )
            stages.append((entry[0], reader.parse(entry[1], f"{key}.stages[{j}]")))
        people[pid] = Person(
            id=pid,
            email=item.get("email"),
            source=source,
            first_seen=reader.time(item, "first_seen", key),
            lead_at=reader.time(item, "lead_at", key),
            stages=stages,
        )
    handoffs = [
        Handoff(
            id=reader.integer(item, "id", f"handoffs[{i}]"),
            person_id=reader.person(item, f"handoffs[{i}]", people),
            handed_over_at=reader.required(item, "handed_over_at", f"handoffs[{i}]"),
            owner_id=item.get("owner"),
            team=item.get("team"),
            decision=reader.choice(item, "decision", ("accepted", "rejected"), f"handoffs[{i}]"),
            decided_at=reader.time(item, "decided_at", f"handoffs[{i}]"),
            reason=item.get("reason"),
            outcome=reader.choice(item, "outcome", ("converted", "recycled"), f"handoffs[{i}]"),
            outcome_at=reader.time(item, "outcome_at", f"handoffs[{i}]"),
            first_touch_at=reader.time(item, "first_touch_at", f"handoffs[{i}]"),
            decision_due_at=reader.time(item, "decision_due_at", f"handoffs[{i}]"),
            touch_due_at=reader.time(item, "touch_due_at", f"handoffs[{i}]"),
            model_version=item.get("model_version"),
        )
        for i, item in enumerate(reader.items(raw, "handoffs"))
    ]
    deals = [
        Deal(
            id=str(item.get("id", i)),
            person_id=reader.person(item, f"deals[{i}]", people, optional=True),
            status=reader.choice(item, "status", ("open", "won", "lost"), f"deals[{i}]") or "open",
            amount=None if item.get("amount") is None else float(item["amount"]),
            currency=item.get("currency"),
            created_at=reader.time(item, "created_at", f"deals[{i}]"),
            won_at=reader.time(item, "won_at", f"deals[{i}]"),
            lost_at=reader.time(item, "lost_at", f"deals[{i}]"),
            lost_reason=item.get("lost_reason"),
            owner=item.get("owner"),
        )
        for i, item in enumerate(reader.items(raw, "deals"))
    ]
    touches: dict[int, list[Touch]] = {}
    for i, item in enumerate(reader.items(raw, "touches")):
        key = f"touches[{i}]"
        touches.setdefault(reader.person(item, key, people), []).append(
            Touch(
                at=reader.required(item, "at", key),
                type=item.get("type", "page_view"),
                campaign=item.get("campaign"),
                channel=item.get("channel"),
            )
        )
    costs = [
        Cost(
            campaign=str(item["campaign"]),
            month=str(item["month"]),
            amount=float(item["amount"]),
            currency=str(item.get("currency", "EUR")),
            channel=item.get("channel"),
        )
        for item in reader.items(raw, "costs")
    ]
    config = raw.get("config", {})
    if not isinstance(config, dict):
        raise ConfigError("config must be an object", file=where, key="config")
    return at_as_of(Facts(as_of, people, handoffs, deals, touches, costs, config))


def write_facts_json(facts: Facts) -> dict[str, Any]:
    """The facts file form of ``facts`` (what ``facts_from_file`` reads back)."""

    def iso(at: datetime | None) -> str | None:
        return None if at is None else at.astimezone(UTC).isoformat().replace("+00:00", "Z")

    return {
        "as_of": iso(facts.as_of),
        "config": facts.config,
        "people": [
            {
                "id": p.id,
                "email": p.email,
                "source": p.source,
                "first_seen": iso(p.first_seen),
                "lead_at": iso(p.lead_at),
                "stages": [[s, iso(at)] for s, at in p.stages],
            }
            for p in facts.people.values()
        ],
        "handoffs": [
            {
                "id": h.id,
                "person": h.person_id,
                "handed_over_at": iso(h.handed_over_at),
                "owner": h.owner_id,
                "team": h.team,
                "decision": h.decision,
                "decided_at": iso(h.decided_at),
                "reason": h.reason,
                "outcome": h.outcome,
                "outcome_at": iso(h.outcome_at),
                "first_touch_at": iso(h.first_touch_at),
                "decision_due_at": iso(h.decision_due_at),
                "touch_due_at": iso(h.touch_due_at),
                "model_version": h.model_version,
            }
            for h in facts.handoffs
        ],
        "deals": [
            {
                "id": d.id,
                "person": d.person_id,
                "status": d.status,
                "amount": d.amount,
                "currency": d.currency,
                "created_at": iso(d.created_at),
                "won_at": iso(d.won_at),
                "lost_at": iso(d.lost_at),
                "lost_reason": d.lost_reason,
                "owner": d.owner,
            }
            for d in facts.deals
        ],
        "touches": [
            {
                "person": pid,
                "at": iso(t.at),
                "type": t.type,
                "campaign": t.campaign,
                "channel": t.channel,
            }
            for pid, items in facts.touches.items()
            for t in items
        ],
        "costs": [
            {
                "campaign": c.campaign,
                "month": c.month,
                "amount": c.amount,
                "currency": c.currency,
                "channel": c.channel,
            }
            for c in facts.costs
        ],
    }


class _Reader:
    def __init__(self, where: str) -> None:
        self.where = where

    def items(self, raw: dict[str, Any], key: str) -> Iterable[dict[str, Any]]:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ConfigError("must be a list of objects", file=self.where, key=key)
        return value

    def parse(self, value: Any, key: str) -> datetime:
        try:
            at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            at = None
        if at is None or at.tzinfo is None:
            raise ConfigError(
                "not a time with a zone",
                file=self.where,
                key=key,
                expected="ISO 8601 with offset, e.g. 2025-01-31T23:30:00Z",
                found=value,
            )
        return at.astimezone(UTC)

    def time(
        self, item: dict[str, Any], name: str, key: str = "", *, required: bool = False
    ) -> datetime | None:
        value = item.get(name)
        if value is None:
            if required:
                raise ConfigError("missing", file=self.where, key=f"{key}.{name}".strip("."))
            return None
        return self.parse(value, f"{key}.{name}".strip("."))

    def required(self, item: dict[str, Any], name: str, key: str) -> datetime:
        at = self.time(item, name, key, required=True)
        assert at is not None
        return at

    def integer(self, item: dict[str, Any], name: str, key: str) -> int:
        value = item.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(
                "must be an integer", file=self.where, key=f"{key}.{name}", found=value
            )
        return value

    def person(
        self, item: dict[str, Any], key: str, people: dict[int, Person], *, optional: bool = False
    ) -> Any:
        value = item.get("person")
        if value is None and optional:
            return None
        if value not in people:
            raise ConfigError(
                "names no person of the file",
                file=self.where,
                key=f"{key}.person",
                expected="an id listed in people",
                found=value,
            )
        return value

    def choice(
        self, item: dict[str, Any], name: str, allowed: tuple[str, ...], key: str
    ) -> str | None:
        value = item.get(name)
        if value is not None and value not in allowed:
            raise ConfigError(
                "unknown value",
                file=self.where,
                key=f"{key}.{name}",
                expected=" or ".join(allowed),
                found=value,
            )
        return value
