"""``ConnectorConformance``: the same test suite for every connector, built-in or third-party.

A connector's test file subclasses it and sets a few attributes::

    class TestHubSpot(ConnectorConformance):
        connector = load_connector("hubspot")
        settings = {"access_token": "test-token"}
        fixtures = "tests/connectors/fixtures/hubspot"
        mapping = "mappings/hubspot.toml"
        empty_streams = frozenset()

The class generates its tests per stream, cursor stream, mapped stream and push fixture (its
own ``pytest_generate_tests``, so it works with or without the ``smarketing_sync`` pytest plugin);
each test id names what it checks, e.g. ``test_pull_replays_fixture[contacts]``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from smarketing_sync import Capability, Http, RawRecord, generic_pull, get_path
from smarketing_sync.testing.conformance_base import ConformanceBase, run
from smarketing_sync.testing.conformance_http import CheckCalls, DeclarationChecks, HttpErrorChecks
from smarketing_sync.testing.conformance_mapping import MappingChecks
from smarketing_sync.testing.conformance_pull import CursorChecks, PullChecks
from smarketing_sync.testing.conformance_push import PushChecks
from smarketing_sync.testing.conformance_support import make_http
from smarketing_sync.testing.fixtures import iter_fixture_files

PUSH_PREFIX = "push_"
FIELDS_PREFIX = "ensure_fields"


def _skipped(reason: str) -> list[Any]:
    return [pytest.param(None, id="none", marks=pytest.mark.skip(reason=reason))]


class LiveChecks(ConformanceBase):
    """Against the real vendor: opt-in with ``SMARKETING_LIVE=1`` and ``live_settings``."""

    def _live_http(self) -> Http:
        assert self.live_settings, (
            f"{type(self).__name__}.live_settings is not set: give it real settings "
            "(e.g. settings_from_env('SMARKETING_LIVE_<TOOL>_')) to run live tests"
        )
        return make_http(self.connector, dict(self.live_settings))

    @pytest.mark.live
    def test_live_check(self) -> None:
        async def check() -> int:
            async with self._live_http() as http:
                return (await http.get(self.connector.check_path)).status_code

        assert run(check()) < 400

    @pytest.mark.live
    def test_live_first_page(self, stream: str) -> None:
        endpoint = self.connector.streams[stream]

        async def first_page() -> list[RawRecord]:
            async with self._live_http() as http:
                connector: Any = self.connector()
                custom = getattr(connector, "pull", None)
                pages: Any
                if custom is None:
                    pages = generic_pull(http, endpoint, None)
                else:
                    pages = custom(http, stream, None)
                try:
                    async for page in pages:
                        return list(page.records)
                finally:
                    await pages.aclose()
            return []

        records = run(first_page())
        ids = [get_path(r, endpoint.id_field) for r in records]
        assert all(i is not None for i in ids), f"records without {endpoint.id_field!r}"
        assert len(set(map(str, ids))) == len(ids), "ids repeat within one page"


class ConnectorConformance(  # bases in reverse: pytest lists the last base's tests first
    LiveChecks,
    PushChecks,
    MappingChecks,
    CursorChecks,
    PullChecks,
    HttpErrorChecks,
    CheckCalls,
    DeclarationChecks,
):
    """The conformance suite; subclass it as ``Test<Tool>`` and set the attributes below.

    See ``ConformanceBase`` for the attributes and ``docs/connectors.md`` for the fixtures.
    """

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Parametrize the per-stream, per-cursor, per-mapping and per-push-fixture checks."""
        cls = metafunc.cls
        if cls is None or not hasattr(cls, "connector"):
            return
        connector = cls.connector
        streams = list(connector.streams)
        names = metafunc.fixturenames
        rootpath = metafunc.config.rootpath
        test_dir = metafunc.definition.path.parent
        fixtures = self.resolve_path(cls.fixtures, rootpath, test_dir) if cls.fixtures else Path()
        if "stream" in names:
            metafunc.parametrize("stream", streams, ids=str)
        if "cursor_stream" in names:
            cursored = [s for s in streams if connector.streams[s].cursor is not None]
            metafunc.parametrize(
                "cursor_stream", cursored or _skipped("no stream declares a cursor"), ids=str
            )
        if "mapped_stream" in names:
            mapped = _mapped_streams(cls.mapping, rootpath, test_dir)
            in_mapping = [s for s in streams if mapped is None or s in mapped]
            metafunc.parametrize(
                "mapped_stream", in_mapping or _skipped("the mapping maps no stream"), ids=str
            )
        if "push_case" in names:
            cases = [p.stem for p in iter_fixture_files(fixtures, PUSH_PREFIX)]
            if Capability.PUSH_FIELDS not in connector.capabilities:
                params = _skipped("the connector does not declare push:fields")
            else:
                params = cases or [pytest.param(None, id="missing")]
            metafunc.parametrize("push_case", params, ids=str)
        if "fields_case" in names:
            cases = [p.stem for p in iter_fixture_files(fixtures, FIELDS_PREFIX)]
            if Capability.CREATE_FIELDS not in connector.capabilities:
                params = _skipped("the connector does not declare create:fields")
            else:
                params = cases or _skipped(f"no {FIELDS_PREFIX}*.json fixture")
            metafunc.parametrize("fields_case", params, ids=str)
        if "rate_header" in names:
            header = connector.rate_limit.remaining_header
            metafunc.parametrize(
                "rate_header",
                [header] if header else _skipped("the connector declares no remaining header"),
                ids=str,
            )

    def test_fixture_files_are_known(self) -> None:
        """Every fixture file belongs to a declared stream or a push/fields case (no typos)."""
        folder = self.fixture_dir()
        assert folder.is_dir(), f"fixture folder {folder} does not exist"
        streams = set(self.connector.streams)
        stray = [
            p.name
            for p in iter_fixture_files(folder)
            if p.stem not in streams and not p.stem.startswith((PUSH_PREFIX, FIELDS_PREFIX))
        ]
        assert not stray, f"{folder}: files that match no stream {sorted(streams)}: {stray}"


def _mapped_streams(mapping: str | None, rootpath: Path, test_dir: Path) -> set[str] | None:
    """Streams with a ``[pull.<stream>]`` section; None when the file cannot be read yet.

    Read with tomllib at collection time so that a broken mapping fails its tests instead of
    breaking collection.
    """
    if not mapping:
        return None
    path = ConformanceBase.resolve_path(mapping, rootpath, test_dir)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None
    pull = data.get("pull")
    return set(pull) if isinstance(pull, dict) else None
