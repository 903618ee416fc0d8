"""What every group of conformance checks shares: the class attributes a connector's test sets,
path resolution, fixture loading and the replayed pull."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Collection, Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import pytest

from smarketing_sync import Connector, ConnectorSettings, Http, RawRecord
from smarketing_sync.testing.conformance_replay import GroupReplay, Replay
from smarketing_sync.testing.conformance_support import (
    FakeTime,
    base_url_of,
    make_http,
    pull_pages,
    validated_settings,
)
from smarketing_sync.testing.fixtures import (
    PushFixture,
    StreamFixture,
    load_push_fixture,
    load_stream_fixture,
)

if TYPE_CHECKING:
    from smarketing_sync.sdk.http import HttpSettings

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one check's coroutine on a fresh event loop (no pytest-asyncio mode needed)."""
    return asyncio.run(coroutine)


def settings_from_env(prefix: str) -> dict[str, str] | None:
    """Connector settings from ``<prefix><SETTING>`` environment variables, for live tests.

    ``settings_from_env("SMARKETING_LIVE_HUBSPOT_")`` turns ``SMARKETING_LIVE_HUBSPOT_ACCESS_TOKEN``
    into ``{"access_token": ...}``. Read it at class definition (import time): test set-ups
    commonly clear ``SMARKETING_*`` variables before each test. None when nothing is set.
    """
    found = {
        key[len(prefix) :].lower(): value
        for key, value in os.environ.items()
        if key.startswith(prefix) and len(key) > len(prefix)
    }
    return found or None


class ConformanceBase:
    """Attributes a connector's conformance test sets, and the plumbing the checks share.

    Attributes:
        connector: the connector class (``load_connector("hubspot")``).
        settings: settings that validate (fake credentials; the kit never calls the vendor).
        fixtures: folder of ``<stream>.json`` and ``push_*.json`` files; a relative path is
            resolved against pytest's rootdir, then against the test file's folder.
        mapping: the connector's mapping file, resolved the same way.
        empty_streams: streams whose fixture may hold no record.
        live_settings: real settings for the ``live`` tests (see ``settings_from_env``).
    """

    connector: ClassVar[type[Connector]]
    settings: ClassVar[Mapping[str, Any]] = {}
    fixtures: ClassVar[str] = ""
    mapping: ClassVar[str | None] = None
    empty_streams: ClassVar[Collection[str]] = frozenset()
    live_settings: ClassVar[Mapping[str, Any] | None] = None

    _rootpath: Path = Path()
    _test_dir: Path = Path()

    @pytest.fixture(autouse=True)
    def _conformance_paths(self, request: pytest.FixtureRequest) -> None:
        self._rootpath = request.config.rootpath
        self._test_dir = request.path.parent

    # --- paths and fixtures -------------------------------------------------------------------

    @staticmethod
    def resolve_path(value: str, rootpath: Path, test_dir: Path) -> Path:
        path = Path(value)
        if path.is_absolute():
            return path
        for base in (rootpath, test_dir):
            if (base / path).exists():
                return base / path
        return rootpath / path

    def path_of(self, value: str) -> Path:
        return self.resolve_path(value, self._rootpath, self._test_dir)

    def fixture_dir(self) -> Path:
        if not self.fixtures:
            raise AssertionError(f"{type(self).__name__}: set fixtures = '<folder of JSON files>'")
        return self.path_of(self.fixtures)

    def stream_fixture(self, stream: str) -> StreamFixture:
        path = self.fixture_dir() / f"{stream}.json"
        if not path.is_file():
            raise AssertionError(
                f"stream {stream!r} of {self.connector.name} has no fixture: write {path} "
                "(the requests of one pull, the vendor's answers and what must come out)"
            )
        return load_stream_fixture(path)

    def push_fixture(self, name: str) -> PushFixture:
        return load_push_fixture(self.fixture_dir() / f"{name}.json")

    # --- connector plumbing -------------------------------------------------------------------

    def validated(self) -> ConnectorSettings:
        return validated_settings(self.connector, self.settings)

    def base_url(self) -> str:
        return base_url_of(self.connector, self.validated())

    def http(
        self,
        replay: Replay | GroupReplay,
        fake_time: FakeTime | None = None,
        http_settings: HttpSettings | None = None,
    ) -> Http:
        """An Http for the connector whose requests go to ``replay`` (never to the network)."""
        return make_http(
            self.connector,
            self.validated(),
            http_settings=http_settings,
            transport=replay.transport,
            fake_time=fake_time or FakeTime(),
        )

    def secrets(self) -> list[str]:
        """The secret values in the test settings (to prove they never leak)."""
        settings = self.validated()
        values = []
        for name in type(settings).model_fields:
            value = getattr(settings, name)
            reveal = getattr(value, "get_secret_value", None)
            if reveal is not None and reveal():
                values.append(str(reveal()))
        return values

    def replayed_records(
        self, stream: str, fixture: StreamFixture | None = None
    ) -> list[RawRecord]:
        """Pull ``stream`` against its fixture, in order; every recorded request must be used."""
        fixture = fixture or self.stream_fixture(stream)

        async def pull() -> list[RawRecord]:
            with Replay(self.base_url(), fixture.requests) as replay:
                async with self.http(replay) as http:
                    pages = await pull_pages(
                        self.connector,
                        http,
                        stream,
                        fixture.since,
                        max_pages=len(fixture.requests) + 1,
                    )
            return [record for page in pages for record in page.records]

        return run(pull())
