"""Resolve: mapped contacts become customers (identity), claims (per tool) and golden values."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from smarketing_sync.flow.survivorship import NEVER, Claim, Survivorship, is_blank
from smarketing_sync.mapping.model import MappedContact
from smarketing_sync.store.schema import claims, customers, identities, links, pushed
from smarketing_sync.store.state import next_rev

log = structlog.get_logger("smarketing_sync.resolve")

_CHUNK = 500  # SQLite's host-parameter limit is far above this; it keeps IN lists modest


@dataclass(slots=True)
class ResolveStats:
    created: int = 0  # customers created
    matched: int = 0  # linked to an existing customer by identity (the same person in two tools)
    linked: int = 0  # already linked records seen again
    updated: int = 0  # customers whose golden record changed
    echoes: int = 0  # values we had pushed, read back (not a change)
    conflicts: int = 0  # an identity already owned by another customer
    deleted: int = 0  # tombstones received

    def add(self, other: ResolveStats) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(slots=True)
class _Customer:
    id: int
    golden: dict[str, Any]
    provenance: dict[str, Any]
    claims: dict[str, dict[str, Claim]] = field(default_factory=dict)
    dirty_fields: set[str] = field(default_factory=set)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def json_value(value: Any) -> Any:
    """Claims are stored as JSON: dates travel as ISO strings, so equal values compare equal."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def apply_contacts(
    conn: Connection,
    connector: str,
    contacts: Sequence[MappedContact],
    survivorship: Survivorship,
    now: datetime,
) -> ResolveStats:
    """Apply one page of mapped contacts of ``connector`` in the caller's transaction."""
    stats = ResolveStats()
    if not contacts:
        return stats
    ext_ids = [c.external_id for c in contacts]
    linked: dict[str, int] = {}
    for chunk in _chunks(ext_ids):
        rows = conn.execute(
            sa.select(links.c.external_id, links.c.customer_id).where(
                links.c.connector == connector, links.c.external_id.in_(chunk)
            )
        )
        linked.update({ext: cid for ext, cid in rows})
    emails = sorted({c.identity["email"] for c in contacts if c.identity.get("email")})
    owners: dict[str, int] = {}
    for chunk in _chunks(emails):
        rows = conn.execute(
            sa.select(identities.c.value, identities.c.customer_id).where(
                identities.c.kind == "email", identities.c.value.in_(chunk)
            )
        )
        owners.update({value: cid for value, cid in rows})

    rev = next_rev(conn)
    touched: dict[int, MappedContact] = {}
    for record in contacts:
        email = record.identity.get("email")
        cid = linked.get(record.external_id)
        if cid is not None:
            stats.linked += 1
        elif email and email in owners:
            cid = owners[email]
            stats.matched += 1
            conn.execute(
                links.insert().values(
                    connector=connector, external_id=record.external_id, customer_id=cid
                )
            )
            linked[record.external_id] = cid
        else:
            result = conn.execute(
                customers.insert().values(
                    email=email, golden={}, provenance={}, rev=rev, created_at=now, updated_at=now
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            cid = int(key[0])
            stats.created += 1
            conn.execute(
                links.insert().values(
                    connector=connector, external_id=record.external_id, customer_id=cid
                )
            )
            linked[record.external_id] = cid
        if email:
            owner = owners.get(email)
            if owner is None:
                conn.execute(identities.insert().values(kind="email", value=email, customer_id=cid))
                owners[email] = cid
            elif owner != cid:
                stats.conflicts += 1
                log.warning(
                    "resolve.identity_conflict",
                    connector=connector,
                    external_id=record.external_id,
                    customer_id=cid,
                    owner_id=owner,
                    reason="email already belongs to another customer; not reassigned",
                )
        if record.deleted:
            stats.deleted += 1
            conn.execute(
                links.update()
                .where(links.c.connector == connector, links.c.external_id == record.external_id)
                .values(deleted_at=now)
            )
            continue
        touched[cid] = record  # a later copy of the same person on this page wins

    loaded = _load(conn, connector, list(touched))
    for cid, record in touched.items():
        customer = loaded.customers[cid]
        stats.echoes += _claim(conn, connector, customer, record, loaded.echo.get(cid, {}), now)
        value_changed, provenance_changed = _settle(customer, survivorship)
        if value_changed or provenance_changed:
            values: dict[str, Any] = {
                "golden": customer.golden,
                "provenance": customer.provenance,
                "email": customer.golden.get("email"),
            }
            if value_changed:
                stats.updated += 1
                values.update(rev=rev, updated_at=now)
            conn.execute(customers.update().where(customers.c.id == cid).values(**values))
    return stats


@dataclass(slots=True)
class _Loaded:
    customers: dict[int, _Customer]
    echo: dict[int, dict[str, tuple[Any, datetime]]]  # cid -> customer field -> (value, changed_at)


def _load(conn: Connection, connector: str, ids: list[int]) -> _Loaded:
    loaded = _Loaded({}, defaultdict(dict))
    for chunk in _chunks(ids):
        for row in conn.execute(
            sa.select(customers.c.id, customers.c.golden, customers.c.provenance).where(
                customers.c.id.in_(chunk)
            )
        ):
            loaded.customers[row.id] = _Customer(row.id, dict(row.golden), dict(row.provenance))
        for row in conn.execute(sa.select(claims).where(claims.c.customer_id.in_(chunk))):
            by_field = loaded.customers[row.customer_id].claims.setdefault(row.field, {})
            by_field[row.connector] = Claim(row.connector, row.value, row.changed_at)
        for marker in conn.execute(
            sa.select(
                pushed.c.customer_id,
                pushed.c.source,
                pushed.c.source_value,
                pushed.c.source_changed_at,
            ).where(pushed.c.connector == connector, pushed.c.customer_id.in_(chunk))
        ):
            loaded.echo[marker.customer_id][marker.source] = (
                marker.source_value,
                marker.source_changed_at,
            )
    return loaded


def _claim(
    conn: Connection,
    connector: str,
    customer: _Customer,
    record: MappedContact,
    echo: dict[str, tuple[Any, datetime]],
    now: datetime,
) -> int:
    """Record what ``connector`` now says about each mapped field; return the echoes seen."""
    echoes = 0
    for name, raw_value in record.fields.items():
        value = json_value(raw_value)
        old = customer.claims.get(name, {}).get(connector)
        if old is not None and old.value == value:
            continue
        pushed_value = echo.get(name)
        if pushed_value is not None and pushed_value[0] == value:
            # Our own write read back: it carries the time of the change we propagated, so it
            # can never look newer than that change (no ping-pong between tools).
            changed_at = pushed_value[1]
            echoes += 1
        else:
            changed_at = (
                NEVER
                if is_blank(value) and (old is None or is_blank(old.value))
                else record.updated_at
            )
            if pushed_value is not None:
                # Someone changed the field in the tool after our write: what we last wrote is
                # no longer what the tool holds, so it must not suppress the next push.
                conn.execute(
                    pushed.delete().where(
                        pushed.c.connector == connector,
                        pushed.c.customer_id == customer.id,
                        pushed.c.source == name,
                    )
                )
                echo.pop(name, None)
        claim = Claim(connector, value, changed_at)
        customer.claims.setdefault(name, {})[connector] = claim
        customer.dirty_fields.add(name)
        if old is None:
            conn.execute(
                claims.insert().values(
                    customer_id=customer.id,
                    field=name,
                    connector=connector,
                    value=value,
                    changed_at=changed_at,
                    observed_at=now,
                )
            )
        else:
            conn.execute(
                claims.update()
                .where(
                    claims.c.customer_id == customer.id,
                    claims.c.field == name,
                    claims.c.connector == connector,
                )
                .values(value=value, changed_at=changed_at, observed_at=now)
            )
    return echoes


def _settle(customer: _Customer, survivorship: Survivorship) -> tuple[bool, bool]:
    """Recompute the golden value of every field whose claims changed.

    Returns (a value changed, only the winning tool or its time changed).
    """
    value_changed = provenance_changed = False
    for name in sorted(customer.dirty_fields):
        winner = survivorship.choose(name, customer.claims.get(name, {}))
        value = None if winner is None else winner.value
        provenance = None if winner is None else [winner.connector, winner.changed_at.isoformat()]
        if customer.golden.get(name) != value:
            value_changed = True
        customer.golden[name] = value
        if customer.provenance.get(name) != provenance:
            provenance_changed = True
            customer.provenance[name] = provenance
    customer.dirty_fields.clear()
    return value_changed, provenance_changed
