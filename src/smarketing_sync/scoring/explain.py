"""``smarketing-sync explain``: every rule behind one person's score, their stage history, and
what would move their stage next."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from smarketing_sync.errors import ConfigError
from smarketing_sync.scoring.compute import Contribution, score
from smarketing_sync.scoring.lifecycle import Facts, what_next
from smarketing_sync.scoring.model import GOLDEN_KEY, ScoringModel
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import (
    activities,
    customers,
    deals,
    identities,
    scores,
    stage_history,
)


def _find(conn: Any, who: str) -> Any:
    query = sa.select(customers).where(customers.c.deleted_at.is_(None))
    if who.isdigit():
        row = conn.execute(query.where(customers.c.id == int(who))).first()
    else:
        email = who.strip().lower()
        owner = conn.execute(
            sa.select(identities.c.customer_id).where(
                identities.c.kind == "email", identities.c.value == email
            )
        ).scalar()
        condition = customers.c.id == owner if owner is not None else customers.c.email == email
        row = conn.execute(query.where(condition)).first()
    if row is None:
        raise ConfigError(
            f"no customer {who!r} in the store",
            key="explain",
            expected="an email address or a customer id",
        )
    return row


def _date(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")


def _line(c: Contribution) -> str:
    if c.kind == "fit":
        return f"  {c.points:+7.2f}  fit        {c.label} ({c.rule})"
    if c.kind == "disqualify":
        return f"  {'—':>7}  disqualify {c.label} ({c.rule})"
    if c.kind == "inactivity":
        return f"  {c.points:+7.2f}  inactivity {c.label} (last engaged {_date(c.at)})"
    note = f" × decay {c.decay:.3f}" if c.decay != 1.0 else ""
    capped = " (capped)" if abs(c.points - c.base * c.decay) > 1e-9 else ""
    return f"  {c.points:+7.2f}  {c.rule:<10} {_date(c.at)}  {c.base:+g}{note}{capped}"


def explain(store: Store, model: ScoringModel, who: str) -> str:
    """A readable account of one customer's score and stage, computed now with ``model``."""
    now = store.now()
    with store.read() as conn:
        person = _find(conn, who)
        acts = conn.execute(
            sa.select(activities.c.type, activities.c.occurred_at).where(
                activities.c.customer_id == person.id, activities.c.deleted.is_(False)
            )
        ).all()
        person_deals = conn.execute(
            sa.select(deals.c.status).where(
                deals.c.customer_id == person.id, deals.c.deleted.is_(False)
            )
        ).all()
        stored = conn.execute(sa.select(scores).where(scores.c.customer_id == person.id)).first()
        history = conn.execute(
            sa.select(stage_history)
            .where(stage_history.c.customer_id == person.id)
            .order_by(stage_history.c.id)
        ).all()
    values = {k: v for k, v in person.golden.items() if k != GOLDEN_KEY}
    result = score(
        model,
        values,
        [(a.type, a.occurred_at.timestamp()) for a in acts],
        now.timestamp(),
        first_seen=person.created_at.timestamp(),
        detail=True,
    )
    statuses = {d.status for d in person_deals}
    facts = Facts(result, values, "open" in statuses, "won" in statuses)
    stage = stored.stage if stored is not None else None
    since = stored.stage_since.timestamp() if stored is not None else None
    name = " ".join(str(values[k]) for k in ("first_name", "last_name") if values.get(k))
    out = [
        f"customer {person.id}  {person.email or '(no email)'}  {name}".rstrip(),
        f"score {result.value}  band {result.band}  (fit {result.fit:g}, engagement "
        f"{result.engagement:.2f}; model {model.version}, computed {now:%Y-%m-%d %H:%M} UTC)",
        f"reason: {result.reason}",
    ]
    if stored is not None and (stored.value, stored.model_version) != (
        result.value,
        model.version,
    ):
        out.append(
            f"stored: score {stored.value} band {stored.band} by model {stored.model_version} "
            f"at {stored.computed_at:%Y-%m-%d %H:%M}; the next cycle updates it"
        )
    out.append("\ncontributions (points, rule, date, base × decay):")
    out.extend(_line(c) for c in result.contributions)
    if not result.contributions:
        out.append("  none")
    ignored = sorted({a.type for a in acts} - set(model.engagement))
    if ignored:
        out.append(f"  activity types the model does not score: {', '.join(ignored)}")
    entered = f" since {stored.stage_since:%Y-%m-%d %H:%M}" if stored is not None else ""
    out.append(f"\nstage: {stage or 'not scored yet'}{entered}")
    out.append("history:")
    for h in history:
        out.append(
            f"  {h.entered_at:%Y-%m-%d %H:%M}  {h.previous or '—':>12} → {h.stage:<12} "
            f"{h.rule}: {h.cause}  (score {h.score}, model {h.model_version})"
        )
    if not history:
        out.append("  none yet")
    out.append("next:")
    out.extend(f"  {line}" for line in what_next(model, stage, since, facts, now.timestamp()))
    return "\n".join(out)
