"""Migrations on PostgreSQL (and their SQLite twin): head once, a second run changes nothing,
and the migrated schema is exactly ``schema.metadata``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from smarketing_sync.store.db import Store
from smarketing_sync.store.engine import MIGRATIONS, migrate
from smarketing_sync.store.schema import metadata

_DDL = ("create", "alter", "drop", "insert", "update", "delete")


def _head() -> str:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def _writes_during(engine: sa.Engine, action: Any) -> list[str]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip().lower().startswith(_DDL):
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return statements


def _check_migrations(url: str) -> None:
    store = Store.open(url)
    try:
        with store.read() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == _head()
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, metadata) == []
            tables = set(sa.inspect(conn).get_table_names())
        assert tables == set(metadata.tables) | {"alembic_version"}
        assert _writes_during(store.engine, lambda: migrate(store.engine)) == []
        with store.read() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == _head()
    finally:
        store.dispose()


def test_postgres_migrates_to_head_once_and_matches_the_schema(pg_url: str) -> None:
    _check_migrations(pg_url)


def test_sqlite_migrates_to_head_once_and_matches_the_schema(tmp_path: Path) -> None:
    _check_migrations(f"sqlite:///{tmp_path / 'store.db'}")


@pytest.mark.parametrize("table", ["customers", "outbox", "handoffs", "sla_alerts"])
def test_autoincrement_ids_are_database_generated(pg_url: str, table: str) -> None:
    # SQLite's INTEGER PRIMARY KEY is a rowid; PostgreSQL needs an identity/serial default.
    engine = sa.create_engine(pg_url)
    Store.open(pg_url).dispose()
    try:
        with engine.connect() as conn:
            default = conn.execute(
                sa.text(
                    "select column_default, is_identity from information_schema.columns "
                    "where table_name = :t and column_name = 'id'"
                ),
                {"t": table},
            ).one()
        assert default.is_identity == "YES" or "nextval" in (default.column_default or "")
    finally:
        engine.dispose()
