"""The Store handle: an engine plus short write transactions that map lock errors to StoreError."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from smarketing_sync.errors import StoreError
from smarketing_sync.store.engine import create_store_engine, migrate


def utcnow() -> datetime:
    return datetime.now(UTC)


class Store:
    """Open with ``Store.open(url)``; every write happens inside ``with store.begin() as tx``."""

    def __init__(self, engine: Engine, *, now: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.now = now

    @classmethod
    def open(
        cls, url: str, *, busy_timeout_s: float = 30.0, now: Callable[[], datetime] = utcnow
    ) -> Store:
        engine = create_store_engine(url, busy_timeout_s=busy_timeout_s)
        migrate(engine)
        return cls(engine, now=now)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One write transaction. SQLite takes the write lock at once (no deadlock on upgrade)."""
        try:
            with self.engine.connect() as connection:
                if connection.dialect.name == "sqlite":
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                    try:
                        yield connection
                    except BaseException:
                        connection.rollback()
                        raise
                    connection.commit()
                else:
                    with connection.begin():
                        yield connection
        except sa.exc.OperationalError as exc:
            text = str(exc.orig).lower()
            if "locked" in text or "busy" in text:
                raise StoreError(
                    "the store is locked by another process for longer than the busy timeout "
                    f"({self.engine.url}); is a long resync running? ({exc.orig})"
                ) from exc
            if "full" in text or "disk" in text:
                raise StoreError(
                    f"the store's disk is full ({exc.orig}); nothing was written"
                ) from exc
            raise StoreError(f"store error: {exc.orig}") from exc

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()
