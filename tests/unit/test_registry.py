"""Connector discovery and declaration checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from smarketing_sync import registry
from smarketing_sync.errors import ConfigError

GOOD = """
from __future__ import annotations
from pydantic import SecretStr
from smarketing_sync import Capability, ConnectorSettings, Cursor, Endpoint, Offset, RateLimit

class AcmeSettings(ConnectorSettings):
    api_key: SecretStr

class Acme:
    name = "acme"
    settings = AcmeSettings
    capabilities = frozenset({Capability.PULL_CONTACTS})
    base_url = "https://api.acme.example"
    check_path = "/me"
    rate_limit = RateLimit()
    push_batch_size = 0
    streams = {"contacts": Endpoint("/contacts", kind="contact", records="data",
                                    paginate=Offset(limit=100), cursor=Cursor("updated"))}
    def headers(self, settings):
        return {"x-key": settings.api_key.get_secret_value()}
"""


def make(tmp_path: Path, name: str, source: str) -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(source)
    return tmp_path


def test_folder_connector_is_found_and_loaded(tmp_path: Path) -> None:
    root = make(tmp_path, "acme", GOOD)
    found = registry.discover([root])
    assert found["acme"].origin.startswith("folder:")
    cls = registry.load_connector("acme", [root])
    assert cls.name == "acme"


def test_unknown_connector_lists_the_known_ones(tmp_path: Path) -> None:
    root = make(tmp_path, "acme", GOOD)
    with pytest.raises(ConfigError, match=r"unknown connector 'acmee'.*acme"):
        registry.load_connector("acmee", [root])


def test_import_failure_is_a_clear_error(tmp_path: Path) -> None:
    root = make(tmp_path, "broken", "import not_a_module_anywhere\n")
    with pytest.raises(ConfigError, match=r"'broken'.*failed to import.*not_a_module_anywhere"):
        registry.load_connector("broken", [root])


def test_secret_setting_must_be_secretstr(tmp_path: Path) -> None:
    root = make(
        tmp_path,
        "leaky",
        GOOD.replace("api_key: SecretStr", "api_key: str").replace('"acme"', '"leaky"'),
    )
    with pytest.raises(ConfigError, match=r"api_key.*SecretStr"):
        registry.load_connector("leaky", [root])


def test_capability_without_stream_is_rejected(tmp_path: Path) -> None:
    source = GOOD.replace(
        "frozenset({Capability.PULL_CONTACTS})",
        "frozenset({Capability.PULL_CONTACTS, Capability.PULL_DEALS})",
    )
    root = make(tmp_path, "acme", source)
    with pytest.raises(ConfigError, match="pull:deals"):
        registry.load_connector("acme", [root])


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        registry.discover([tmp_path / "nope"])


def test_a_source_checkout_is_found_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smarketing_sync.mapping.locate import find_mapping

    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(tmp_path)
    assert root / "connectors" in registry.default_dirs()
    assert registry.load_connector("hubspot").name == "hubspot"
    assert find_mapping("pipedrive", tmp_path / "mappings") == root / "mappings" / "pipedrive.toml"
