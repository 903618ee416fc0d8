"""What `status` prints and the admin API serves: per connector runs, cursors, queues, errors."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from smarketing_sync import quota
from smarketing_sync.handoff.clocks import compliance
from smarketing_sync.settings import Settings
from smarketing_sync.store import state
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import activities, customers, deals, links, outbox


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _budget(store: Store, connector: str) -> dict[str, Any] | None:
    window = quota.usage(store, connector)
    if window is None:
        return None
    return {
        "used": window.used,
        "budget": window.budget,
        "window_end": window.window_end.isoformat(),
        "exhausted": window.exhausted_at is not None,
    }


def collect_status(store: Store, settings: Settings | None = None) -> dict[str, Any]:
    """Everything ``status`` shows; with ``settings`` and hand-offs enabled, SLA compliance of
    the last 30 days too."""
    status = _collect(store)
    if settings is not None and settings.handoff.enabled:
        status["sla"] = compliance(store, settings, days=30)
    return status


def _collect(store: Store) -> dict[str, Any]:
    with store.read() as conn:
        runs = state.last_runs(conn)
        dead = state.dead_letter_counts(conn)
        pending: dict[str, int] = dict(
            conn.execute(
                sa.select(outbox.c.connector, sa.func.count())
                .where(outbox.c.status.in_(["pending", "sending"]))
                .group_by(outbox.c.connector)
            ).all()
        )
        linked: dict[str, int] = dict(
            conn.execute(
                sa.select(links.c.connector, sa.func.count()).group_by(links.c.connector)
            ).all()
        )
        names = sorted(set(runs) | set(dead) | set(pending) | set(linked))
        connectors: dict[str, Any] = {}
        for name in names:
            run = runs.get(name)
            connectors[name] = {
                "last_run": {k: _iso(v) for k, v in run.items()} if run else {},
                "cursors": {k: _iso(v) for k, v in state.all_cursors(conn, name).items()},
                "people_linked": int(linked.get(name, 0)),
                "outbox_pending": int(pending.get(name, 0)),
                "dead_letters": int(dead.get(name, 0)),
                "api_budget": _budget(store, name),
            }
        return {
            "customers": int(
                conn.execute(sa.select(sa.func.count()).select_from(customers)).scalar_one()
            ),
            "activities": int(
                conn.execute(sa.select(sa.func.count()).select_from(activities)).scalar_one()
            ),
            "deals": int(conn.execute(sa.select(sa.func.count()).select_from(deals)).scalar_one()),
            "connectors": connectors,
        }
