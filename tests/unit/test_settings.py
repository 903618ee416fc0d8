"""Configuration: TOML + environment + secrets directory, and errors that say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from smarketing_sync.errors import ConfigError
from smarketing_sync.settings import load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_environment_overrides_toml_and_nests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path, '[sync]\ninterval_s = 60\n[connectors.pipedrive]\ncompany_domain = "acme"\n'
    )
    monkeypatch.setenv("SMARKETING_SYNC__INTERVAL_S", "15")
    monkeypatch.setenv("SMARKETING_CONNECTORS__PIPEDRIVE__API_TOKEN", "tok-env")
    settings = load_settings(path)
    assert settings.sync.interval_s == 15
    assert settings.connectors["pipedrive"]["company_domain"] == "acme"
    assert settings.connectors["pipedrive"]["api_token"].get_secret_value() == "tok-env"


def test_secrets_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "SMARKETING_CONNECTORS__HUBSPOT__ACCESS_TOKEN").write_text("tok-file")
    monkeypatch.setenv("SMARKETING_SECRETS_DIR", str(secrets))
    settings = load_settings(write(tmp_path, "[connectors.hubspot]\nenabled = true\n"))
    assert settings.connectors["hubspot"]["access_token"].get_secret_value() == "tok-file"


def test_secrets_never_show_in_repr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARKETING_CONNECTORS__HUBSPOT__ACCESS_TOKEN", "pat-na1-very-secret")
    settings = load_settings(write(tmp_path, "[connectors.hubspot]\n"))
    assert "very-secret" not in repr(settings)
    assert "very-secret" not in str(settings.model_dump())


def test_secret_in_the_file_is_refused_with_the_env_name(tmp_path: Path) -> None:
    path = write(tmp_path, '[connectors.hubspot]\naccess_token = "pat-123"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert "SMARKETING_CONNECTORS__HUBSPOT__ACCESS_TOKEN" in message
    assert "connectors.hubspot.access_token" in message
    assert "pat-123" not in message


def test_unknown_key_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, "[sync]\nintervall_s = 5\n"))
    assert "sync.intervall_s" in str(info.value)
    assert str(tmp_path / "config.toml") in str(info.value)


def test_wrong_type_names_key_and_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, '[sync]\ninterval_s = "often"\n'))
    assert "sync.interval_s" in str(info.value) and "often" in str(info.value)


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, "[sync\ninterval_s = 5\n"))
    assert "config.toml" in str(info.value) and "line 1" in str(info.value)


def test_unknown_resolve_rule(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, '[resolve.fields.email]\nrule = "newest"\n'))
    assert "resolve.fields.email.rule" in str(info.value)


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None)
    assert settings.store_url.endswith("data/smarketing.db")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[handoff]\nenabled = true\n", "no CRM connector is named"),
        ('[handoff]\nenabled = true\ncrm = "salesforce"\n', "'salesforce' is not a configured"),
        (
            '[connectors.pipedrive]\ncompany_domain = "a"\n[handoff]\ncrm = "pipedrive"\n'
            '[[handoff.owners]]\nid = "2"\nteam = "emea"\n',
            "team 'emea', which has no [sla.teams.emea]",
        ),
        ('[sla.teams.sales]\ntimezone = "Europe/Berlín"\n', "unknown time zone"),
        ('[sla.teams.sales]\nopens = "09:00:00"\nclosez = "17:00:00"\n', "closez"),
        ('[[handoff.owners]]\nid = 7\n[[handoff.owners]]\nid = "7"\n', "listed twice"),
    ],
)
def test_handoff_and_sla_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    assert message in str(caught.value)


def test_the_example_config_is_valid() -> None:
    settings = load_settings(Path(__file__).resolve().parents[2] / "config.example.toml")
    assert settings.handoff.owners[0].id == "2"
    assert settings.sla.team(None).timezone == "Europe/Berlin"
