"""HubSpot against the connector conformance kit (fixtures: tests/connectors/fixtures/hubspot)."""

from __future__ import annotations

from typing import ClassVar

from smarketing_sync.testing import ConnectorConformance, load_connector, settings_from_env


class TestHubSpot(ConnectorConformance):
    connector = load_connector("hubspot")
    settings: ClassVar[dict[str, str]] = {"access_token": "test-token"}
    fixtures = "tests/connectors/fixtures/hubspot"
    mapping = "mappings/hubspot.toml"
    empty_streams = frozenset()
    live_settings = settings_from_env("SMARKETING_LIVE_HUBSPOT_")
