"""Pipedrive against the connector conformance kit (tests/connectors/fixtures/pipedrive)."""

from __future__ import annotations

from typing import ClassVar

from smarketing_sync.testing import ConnectorConformance, load_connector, settings_from_env


class TestPipedrive(ConnectorConformance):
    connector = load_connector("pipedrive")
    settings: ClassVar[dict[str, str]] = {"company_domain": "acme", "api_token": "test-token"}
    fixtures = "tests/connectors/fixtures/pipedrive"
    mapping = "mappings/pipedrive.toml"
    empty_streams = frozenset()
    live_settings = settings_from_env("SMARKETING_LIVE_PIPEDRIVE_")
