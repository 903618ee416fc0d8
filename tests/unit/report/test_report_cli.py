"""``report --facts FILE``: an independent fixture is checked without a database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smarketing_sync.cli import main

FIXTURE = Path(__file__).with_name("fixture_handcomputed.json")


def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text('data_dir = "nowhere"\n[report]\ncurrency = "USD"\n', encoding="utf-8")
    return path


def test_report_from_a_facts_file_uses_its_config_range_and_as_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "--config",
                str(config(tmp_path)),
                "report",
                "--facts",
                str(FIXTURE),
                "--format",
                "json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["months"] == ["2024-12", "2025-01", "2025-02"]
    assert out["currency"] == "EUR"  # the file's [report] wins over config.toml
    assert out["as_of"].startswith("2025-03-10T12:00")
    assert out["data"]["range"]["handoffs"] == 10
    assert not (tmp_path / "nowhere").exists()  # no store was opened


def test_flags_win_over_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--config", str(config(tmp_path)), "report", "--facts", str(FIXTURE)]
    assert main([*argv, "--from", "2025-02", "--to", "2025-02", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["months"] == ["2025-02"]
    assert out["data"]["range"]["handoffs"] == 3
    assert main([*argv, "--explain", "handoffs", "--month", "2025-01"]) == 0
    assert "2 rows" in capsys.readouterr().out


def test_a_broken_facts_file_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "facts.json"
    broken.write_text('{"as_of": "yesterday"}', encoding="utf-8")
    assert main(["--config", str(config(tmp_path)), "report", "--facts", str(broken)]) == 2
    assert "facts.json" in capsys.readouterr().err
