"""Scoring in the whole cycle: people cross the MQL threshold through activities, and their
score and stage appear in both tools; unchanged scores are not pushed again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smarketing_sync.cli import main
from smarketing_sync.scoring.explain import explain
from smarketing_sync.store.schema import customers, scores, stage_history

from .harness import World, norm, world, writes


def shared_people(w: World, n: int) -> list[str]:
    crm = {norm(p["email"]) for p in w.crm.people()}
    return [norm(p["email"]) for p in w.ma.people() if norm(p["email"]) in crm][:n]


def stored(w: World, email: str) -> Any:
    with w.store.read() as conn:
        return conn.execute(
            sa.select(scores)
            .join(customers, customers.c.id == scores.c.customer_id)
            .where(customers.c.email == email)
        ).one()


async def test_people_cross_mql_through_activities_and_both_tools_show_it(
    tmp_path: Path,
) -> None:
    with world(tmp_path, people=40) as w:
        await w.cycle()
        candidates = shared_people(w, 12)
        for email in candidates:
            contact = w.ma.person_by_email(email)
            assert contact is not None
            w.ma.edit_person(
                contact["id"],
                jobtitle="Head of Marketing",
                company="Acme GmbH",
                hs_lead_status="NEW",  # not yet accepted by sales
            )
        await w.cycle()
        # People without a deal (a deal would make them an opportunity already).
        ripe = [e for e in candidates if stored(w, e).stage in ("subscriber", "lead")][:3]
        assert len(ripe) == 3
        for email in ripe:
            contact = w.ma.person_by_email(email)
            assert contact is not None
            for kind in ("meeting", "meeting", "call", "call"):
                w.ma.add_activity(contact["id"], kind, f"{kind} about pricing")
        reports = await w.cycle()
        assert writes(reports) >= 2 * len(ripe)  # score and stage into both tools
        for email in ripe:
            after = stored(w, email)
            assert after.stage == "mql", (email, after.stage, after.reason)
            assert after.value >= 60 and after.fit >= 20
            in_ma = w.ma.person_by_email(email)
            in_crm = w.crm.person_by_email(email)
            assert in_ma is not None and in_crm is not None
            assert in_ma["fields"]["smarketing_stage"] == "mql"
            assert float(in_ma["fields"]["smarketing_score"]) == after.value
            assert in_ma["fields"]["smarketing_score_reason"] == after.reason
            assert in_crm["fields"]["smarketing stage"] == "mql"
            assert float(in_crm["fields"]["smarketing score"]) == after.value
            assert in_crm["fields"]["smarketing score band"] == after.band
        with w.store.read() as conn:
            mqls = conn.execute(
                sa.select(stage_history.c.rule, stage_history.c.cause).where(
                    stage_history.c.stage == "mql"
                )
            ).all()
        assert len(mqls) >= len(ripe)
        assert all(rule == "lifecycle.mql" and "met with us" in cause for rule, cause in mqls)
        # Nothing changed since: no rescore writes, no pushes.
        assert writes(await w.cycle()) == 0
        text = explain(w.store, w.syncer().scoring, ripe[0])  # type: ignore[arg-type]
        assert "stage: mql" in text and "lifecycle.mql" in text and "meeting" in text
        assert "sql when lead_status in" in text


def _config(tmp_path: Path, extra: str = "") -> Path:
    root = Path(__file__).resolve().parents[2]
    path = tmp_path / "config.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\nmappings_dir = "{root / "mappings"}"\n{extra}'
        "[connectors.hubspot]\nenabled = true\n"
        '[connectors.pipedrive]\ncompany_domain = "acme"\n',
        encoding="utf-8",
    )
    return path


def test_check_validates_the_scoring_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SMARKETING_CONNECTORS__HUBSPOT__ACCESS_TOKEN", "t")
    monkeypatch.setenv("SMARKETING_CONNECTORS__PIPEDRIVE__API_TOKEN", "t")
    assert main(["--config", str(_config(tmp_path)), "check"]) == 0
    assert "ok   scoring: scoring.toml (model m" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    root = Path(__file__).resolve().parents[2]
    bad.write_text(
        (root / "scoring.toml")
        .read_text(encoding="utf-8")
        .replace("[engagement.page_view]", "[engagement.pageview]"),
        encoding="utf-8",
    )
    config = _config(tmp_path, f'scoring_file = "{bad}"\n')
    assert main(["--config", str(config), "check"]) == 2
    err = capsys.readouterr().err
    assert f"FAIL {bad} [engagement.pageview]: unknown activity type 'pageview'" in err
    assert "did you mean 'page_view'" in err


async def test_explain_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with world(tmp_path, people=10) as w:
        await w.cycle()
        email = norm(w.ma.people()[0]["email"])
    config = _config(tmp_path)
    assert main(["--config", str(config), "explain", email.upper()]) == 0
    out = capsys.readouterr().out
    assert email in out and "history:" in out and "→ " in out and "next:" in out
    assert main(["--config", str(config), "explain", "nobody@nowhere.example"]) == 2
    assert "no customer 'nobody@nowhere.example'" in capsys.readouterr().err
