"""Read-then-write races that SQLite cannot have (BEGIN IMMEDIATE serializes writers) but
PostgreSQL can (READ COMMITTED): the lease and the revision sequence must stay exclusive.

Each test holds a row lock in a first transaction so that two contenders both read the old
row and queue up behind it, then lets them go: the worst interleaving, every time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import locks, meta
from smarketing_sync.store.state import next_rev, try_lease

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
TTL = timedelta(minutes=5)
R = TypeVar("R")


@pytest.fixture
def store(pg_url: str) -> Iterator[Store]:
    s = Store.open(pg_url, now=lambda: T0)
    yield s
    s.dispose()


def _waiting(store: Store) -> int:
    with store.read() as conn:
        return int(
            conn.execute(
                sa.text(
                    "select count(*) from pg_stat_activity "
                    "where datname = current_database() and wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def contend(
    store: Store, hold: str, work: Callable[[Connection, int], R], *, rollback: bool = False
) -> list[R]:
    """Run ``work`` in two transactions at once while ``hold`` (a write) keeps its row locked;
    end that transaction once both are blocked (commit, or roll back: as if ``hold`` never
    happened); the results in thread order."""
    results: dict[int, R] = {}
    errors: list[BaseException] = []

    def contender(n: int) -> None:
        try:
            with store.begin() as conn:
                results[n] = work(conn, n)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    with store.engine.connect() as blocker:
        blocker.execute(sa.text(hold))
        threads = [threading.Thread(target=contender, args=(n,)) for n in (1, 2)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while _waiting(store) < 2:
            assert time.monotonic() < deadline, "the contenders never queued behind the lock"
            assert not errors, errors
            time.sleep(0.01)
        if rollback:
            blocker.rollback()
        else:
            blocker.commit()
    for thread in threads:
        thread.join(10)
    assert not errors, errors
    return [results[1], results[2]]


def test_an_expired_lease_is_taken_over_by_one_contender_only(store: Store) -> None:
    with store.begin() as conn:
        assert try_lease(conn, "sync:hubspot", "crashed", TTL, T0 - 2 * TTL)
    won = contend(
        store,
        "update locks set holder = holder where name = 'sync:hubspot'",
        lambda conn, n: try_lease(conn, "sync:hubspot", f"replica-{n}", TTL, T0),
    )
    assert sorted(won) == [False, True]
    with store.read() as conn:
        holder = conn.execute(sa.select(locks.c.holder)).scalar_one()
    assert holder == f"replica-{won.index(True) + 1}"


def test_a_new_lease_is_taken_by_one_contender_without_an_error(store: Store) -> None:
    # Nobody holds it yet: both find no row and insert; the loser must get False, not a
    # unique violation. The held (then rolled back) insert makes both queue on the key.
    won = contend(
        store,
        "insert into locks (name, holder, expires_at) values ('sync:pipedrive', 'x', now())",
        lambda conn, n: try_lease(conn, "sync:pipedrive", f"replica-{n}", TTL, T0),
        rollback=True,
    )
    assert sorted(won) == [False, True]


def test_the_revision_sequence_never_hands_out_a_value_twice(store: Store) -> None:
    with store.begin() as conn:
        assert next_rev(conn) == 1
    revs = contend(
        store, "update meta set value = value where key = 'rev'", lambda c, _n: next_rev(c)
    )
    assert sorted(revs) == [2, 3]
    with store.read() as conn:
        assert conn.execute(sa.select(meta.c.value).where(meta.c.key == "rev")).scalar() == 3
