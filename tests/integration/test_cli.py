"""The command line a revenue-operations engineer uses: check, connectors list, status, resync."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from smarketing_sync.cli import main
from smarketing_sync.testing.population import Population
from smarketing_sync.testing.sandbox import SandboxServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARKETING_CONNECTORS__HUBSPOT__ACCESS_TOKEN", "test-hubspot-token")
    monkeypatch.setenv("SMARKETING_CONNECTORS__PIPEDRIVE__API_TOKEN", "test-pipedrive-token")


def config(tmp_path: Path, extra: str = "", mappings: Path | None = None) -> Path:
    mappings_dir = mappings or ROOT / "mappings"
    path = tmp_path / "config.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\nmappings_dir = "{mappings_dir}"\n'
        "[connectors.hubspot]\nenabled = true\n"
        '[connectors.pipedrive]\ncompany_domain = "acme"\n' + extra,
        encoding="utf-8",
    )
    return path


def mappings_copy(tmp_path: Path) -> Path:
    target = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", target)
    return target


def test_check_passes_on_the_shipped_mappings(
    tmp_path: Path, secrets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config(tmp_path)), "check"]) == 0
    out = capsys.readouterr().out
    assert "ok   hubspot" in out and "ok   pipedrive" in out


def test_check_missing_secret_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SMARKETING_CONNECTORS__HUBSPOT__ACCESS_TOKEN", "x")
    assert main(["--config", str(config(tmp_path)), "check"]) == 2
    err = capsys.readouterr().err
    assert "connectors.pipedrive.api_token" in err
    assert "SMARKETING_CONNECTORS__PIPEDRIVE__API_TOKEN" in err


def test_check_unknown_connector(
    tmp_path: Path, secrets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path, "[connectors.hubsopt]\nenabled = true\n")
    assert main(["--config", str(path), "check"]) == 2
    err = capsys.readouterr().err
    assert "unknown connector 'hubsopt'" in err and "hubspot" in err


def test_check_mapping_path_typo_names_file_key_and_suggestion(
    tmp_path: Path, secrets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    mappings = mappings_copy(tmp_path)
    hubspot = mappings / "hubspot.toml"
    hubspot.write_text(
        hubspot.read_text().replace('"properties.firstname"', '"properties.frstname"')
    )
    assert main(["--config", str(config(tmp_path, mappings=mappings)), "check"]) == 2
    err = capsys.readouterr().err
    assert "hubspot.toml" in err
    assert "pull.contacts.fields.first_name" in err
    assert "properties.frstname" in err and "properties.firstname" in err


def test_check_unknown_converter(
    tmp_path: Path, secrets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    mappings = mappings_copy(tmp_path)
    pipedrive = mappings / "pipedrive.toml"
    text = pipedrive.read_text()
    assert 'as = "email"' in text
    pipedrive.write_text(text.replace('as = "email"', 'as = "emial"', 1))
    assert main(["--config", str(config(tmp_path, mappings=mappings)), "check"]) == 2
    err = capsys.readouterr().err
    assert "pipedrive.toml" in err and "emial" in err and "email" in err


def test_check_secret_in_config_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = (
        config(tmp_path)
        .read_text()
        .replace("[connectors.hubspot]\n", '[connectors.hubspot]\naccess_token = "pat-leaked"\n')
    )
    (tmp_path / "c2.toml").write_text(path)
    assert main(["--config", str(tmp_path / "c2.toml"), "check"]) == 2
    err = capsys.readouterr().err
    assert "SMARKETING_CONNECTORS__HUBSPOT__ACCESS_TOKEN" in err and "pat-leaked" not in err


def test_connectors_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connectors", "list"]) == 0
    out = capsys.readouterr().out
    assert "hubspot\n  origin: folder:" in out
    assert "pipedrive\n  origin: folder:" in out
    assert "push:fields" in out and "stream persons: contact" in out


def test_status_on_an_empty_store(
    tmp_path: Path, secrets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config(tmp_path)), "status"]) == 0
    assert "customers 0" in capsys.readouterr().out


def test_resync_against_the_sandbox_then_status(
    tmp_path: Path, secrets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from smarketing_sync import registry

    population = Population.generate(("hubspot", "pipedrive"), n_per_tool=20)
    module = registry.sandbox_module(registry.load_connector("hubspot"))
    sandbox = module.create_sandbox(population.for_tool("hubspot"), token="test-hubspot-token")
    with SandboxServer(sandbox.app()) as server:
        path = tmp_path / "config.toml"
        path.write_text(
            f'data_dir = "{tmp_path / "data"}"\nmappings_dir = "{ROOT / "mappings"}"\n'
            f'[connectors.hubspot]\nbase_url = "{server.url}"\n'
        )
        assert main(["--config", str(path), "resync", "hubspot"]) == 0
        assert main(["--config", str(path), "resync", "hubspot", "--full"]) == 0
        out = capsys.readouterr().out
        assert "reset" in out and "pull_contacts=20" in out
        assert main(["--config", str(path), "status"]) == 0
        out = capsys.readouterr().out
        assert "customers 20" in out and "hubspot" in out and "cursor" in out


def test_resync_waits_for_a_running_sync(
    tmp_path: Path, secrets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime, timedelta

    from smarketing_sync.store import state
    from smarketing_sync.store.db import Store

    path = config(tmp_path)
    store = Store.open(f"sqlite:///{tmp_path / 'data' / 'smarketing.db'}")
    with store.begin() as conn:
        state.try_lease(
            conn, "sync:pipedrive", "daemon-on-host-a", timedelta(minutes=5), datetime.now(UTC)
        )
    store.dispose()
    assert main(["--config", str(path), "resync", "pipedrive", "--wait", "0.6"]) == 1
    err = capsys.readouterr().err
    assert "pipedrive is being synced by daemon-on-host-a" in err
