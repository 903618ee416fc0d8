"""Opening the store: engine, SQLite pragmas for safe concurrent use, migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine
from sqlalchemy.pool import ConnectionPoolEntry

from smarketing_sync.errors import StoreError

MIGRATIONS = Path(__file__).with_name("migrations")


def _sqlite_pragmas(busy_timeout_s: float) -> Any:
    def on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # WAL lets the CLI read while the daemon writes; busy_timeout makes a second writer wait
        # for the lock instead of failing at once; foreign keys are off by default in SQLite.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return on_connect


def create_store_engine(url: str, *, busy_timeout_s: float = 30.0) -> Engine:
    """An engine for ``url``; a SQLite file's folder is created on first run."""
    sa_url = sa.make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        database = sa_url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            sa_url, connect_args={"timeout": busy_timeout_s}, pool_pre_ping=False
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_s))
        return engine
    return sa.create_engine(sa_url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; safe on every start)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except sa.exc.OperationalError as exc:
        raise StoreError(f"cannot migrate the store at {engine.url!r}: {exc.orig}") from exc
