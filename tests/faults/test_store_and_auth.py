"""A locked or full store gives a clear error and no corruption; refused credentials stop one
connector with a clear message while the other goes on, and it resumes once they work."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smarketing_sync.cli import main
from smarketing_sync.errors import StoreError
from smarketing_sync.flow.runtime import build_runtime
from smarketing_sync.store import state
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import dead_letters

from .test_injection import converge, no_duplicates, snapshot
from .world import CRM, MA, fault_world


def _letter(conn: Any, store: Store, payload: Any = None) -> None:
    state.dead_letter(
        conn, connector="x", stage="map", reason="test", now=store.now(), payload=payload
    )


def _count(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(dead_letters)).scalar_one())


def _write_many(store: Store, n: int) -> None:
    with store.begin() as conn:
        for _ in range(n):
            _letter(conn, store, payload={"blob": "x" * 20_000})


def _integrity(path: Path) -> str:
    with sqlite3.connect(path) as raw:
        return str(raw.execute("PRAGMA integrity_check").fetchone()[0])


def test_a_locked_store_is_a_clear_error_for_daemon_and_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "data" / "smarketing.db"
    store = Store.open(f"sqlite:///{path}", busy_timeout_s=0.2)
    with store.begin() as conn:
        _letter(conn, store)
    other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock (a long resync, say)
    try:
        with pytest.raises(StoreError, match="locked by another process"), store.begin() as conn:
            _letter(conn, store)
        # readers are not blocked by a writer (WAL)
        assert _count(store) == 1
        config = tmp_path / "config.toml"
        config.write_text(f'data_dir = "{tmp_path / "data"}"\n[store]\nbusy_timeout_s = 0.2\n')
        capsys.readouterr()
        assert main(["--config", str(config), "dlq", "drop", "--all"]) == 3
        assert "store error: the store is locked" in capsys.readouterr().err
    finally:
        other.execute("ROLLBACK")
        other.close()
    with store.begin() as conn:
        _letter(conn, store)
    assert _count(store) == 2
    store.dispose()
    assert _integrity(path) == "ok"


def test_a_full_store_writes_nothing_of_the_failed_transaction(tmp_path: Path) -> None:
    path = tmp_path / "data" / "smarketing.db"
    store = Store.open(f"sqlite:///{path}")
    with store.begin() as conn:
        _letter(conn, store)
        pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())

    # The disk is "full" from now on: SQLite may not grow the file past its current size.
    @sa.event.listens_for(store.engine, "connect")
    def _cap(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 2}")

    store.engine.dispose()  # new connections get the cap
    with pytest.raises(StoreError, match="disk is full"):
        _write_many(store, 50)
    assert _count(store) == 1  # the whole transaction was rolled back
    store.dispose()
    assert _integrity(path) == "ok"
    reopened = Store.open(f"sqlite:///{path}")
    with reopened.begin() as conn:
        _letter(conn, reopened)
    assert _count(reopened) == 2
    reopened.dispose()


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_stop_one_connector_and_it_resumes(
    tmp_path: Path, status: int
) -> None:
    with fault_world(tmp_path / "clean", people=30) as clean:
        await converge(clean)
        expected = snapshot(clean)
    with fault_world(tmp_path / "auth", people=30) as w:
        good = w.runtimes[CRM]
        if status == 401:  # the token expired
            w.runtimes[CRM] = build_runtime(
                CRM,
                w.settings,
                overrides={
                    **w.sandboxes[CRM].connector_settings(w.urls[CRM]),
                    "api_token": "expired-token",
                },
            )
        else:  # the account lost a permission
            w.sandboxes[CRM].inject("GET", "/api/v2/persons", 403)
        reports = await w.cycle()
        error = reports[CRM].error or ""
        assert error.startswith("credentials refused:") and f"answered {status}" in error
        assert "check the token and its scopes" in error
        # The other connector went on: HubSpot was read and got nothing half-baked.
        assert reports[MA].error is None and reports[MA].pull is not None
        assert reports[MA].pull.records > 0
        w.runtimes[CRM] = good
        await converge(w)
        no_duplicates(w)
        assert snapshot(w) == expected
