"""The PostgreSQL tier: every test gets a fresh, empty database on the server named by
``SMARKETING_TEST_PG_URL`` (``scripts/pg-start`` starts a local one and prints that URL).

Without the URL or the server the tier is skipped with the command to run, except under CI
(``CI=true``), where it fails: ``.ci/run`` starts PostgreSQL before the tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

PG_URL_ENV = "SMARKETING_TEST_PG_URL"
START = f'export {PG_URL_ENV}="$(scripts/pg-start)"'


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/postgres" in str(item.fspath):
            item.add_marker(pytest.mark.postgres)


def _unavailable(reason: str) -> None:
    message = f"PostgreSQL tier: {reason}; run `{START}` first"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[sa.Engine]:
    """An engine on the base database, in autocommit (CREATE/DROP DATABASE need it).

    Session-scoped so it reads the URL before the autouse fixture that hides SMARKETING_*
    variables from every test.
    """
    url = os.environ.get(PG_URL_ENV)
    if not url:
        _unavailable(f"{PG_URL_ENV} is not set")
    assert url is not None
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        _unavailable(f"cannot connect to {engine.url!r} ({PG_URL_ENV}): {exc.orig}")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_admin: sa.Engine) -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test (even with connections open)."""
    name = f"smarketing_t_{uuid.uuid4().hex[:16]}"
    with pg_admin.connect() as conn:
        try:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        except sa.exc.ProgrammingError as exc:
            pytest.fail(
                f"cannot create a test database as {pg_admin.url.username!r} on "
                f"{pg_admin.url.host}:{pg_admin.url.port}: {exc.orig}; the role needs CREATEDB "
                "(scripts/pg-start grants it)",
                pytrace=False,
            )
    yield pg_admin.url.set(database=name).render_as_string(hide_password=False)
    with pg_admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
