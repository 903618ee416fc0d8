"""The hand-computed fixture written into a real SQLite store through the schema tables gives the
same report data as the fixture file: this proves the store loader (store_facts.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from smarketing_sync.cli import main
from smarketing_sync.handoff.calendar import BusinessCalendar
from smarketing_sync.report.build import build_report
from smarketing_sync.report.facts import Facts, facts_from_file, load_facts
from smarketing_sync.report.kpis.months import months_between
from smarketing_sync.report.options import ReportOptions, settings_from_config
from smarketing_sync.store.db import Store
from smarketing_sync.store.schema import (
    activities,
    campaign_costs,
    customers,
    deals,
    handoff_events,
    handoffs,
    person_sources,
    stage_history,
)

FIXTURE = Path(__file__).parents[1] / "unit" / "report" / "fixture_handcomputed.json"
NOW = datetime(2025, 3, 20, tzinfo=UTC)  # the store is read later than as_of: as_of must cut


def _at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def _options(facts: Facts) -> ReportOptions:
    report, sla = settings_from_config(facts.config)
    span = facts.config["range"]
    return ReportOptions.from_settings(
        report, sla, months=months_between(span["from"], span["to"]), as_of=facts.as_of
    )


def write_store(path: Path, raw: dict[str, Any], options: ReportOptions) -> Store:
    """What the daemon would have stored for the fixture's story, in a SQLite file."""
    return fill_store(Store.open(f"sqlite:///{path}", now=lambda: NOW), raw, options)


def fill_store(store: Store, raw: dict[str, Any], options: ReportOptions) -> Store:
    """Writes the fixture's story into ``store`` (any dialect: tests/postgres reuses it)."""
    team = options.sla.team(None)
    calendar = BusinessCalendar.from_settings(team)
    activity_rows: list[dict[str, Any]] = []

    def activity(
        pid: int,
        at: datetime,
        kind: str,
        fields: dict[str, Any],
        deleted: bool = False,
        connector: str = "hubspot",
        external_id: str | None = None,
    ) -> None:
        activity_rows.append(
            {
                "connector": connector,
                "external_id": external_id or f"a{len(activity_rows)}",
                "customer_id": pid,
                "contact_ids": [],
                "type": kind,
                "occurred_at": at,
                "updated_at": at,
                "fields": fields,
                "deleted": deleted,
            }
        )

    with store.begin() as conn:
        for p in raw["people"]:
            conn.execute(
                customers.insert().values(
                    id=p["id"],
                    email=p["email"],
                    golden={},
                    provenance={},
                    rev=1,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            conn.execute(
                person_sources.insert().values(
                    customer_id=p["id"],
                    source=p["source"],
                    rule="origin_field",
                    first_seen=_at(p["first_seen"]),
                    lead_at=None,
                    decided_at=NOW,
                )
            )
            previous = None
            for stage, at in p["stages"]:
                conn.execute(
                    stage_history.insert().values(
                        customer_id=p["id"],
                        stage=stage,
                        previous=previous,
                        entered_at=_at(at),
                        cause="fixture",
                        rule="fixture",
                        score=0,
                        model_version="v1",
                    )
                )
                previous = stage
        for h in raw["handoffs"]:
            handed = _at(h["handed_over_at"])
            assert handed is not None
            state = h["outcome"] or h["decision"] or "handed_over"
            conn.execute(
                handoffs.insert().values(
                    id=h["id"],
                    key=f"h{h['id']}",
                    customer_id=h["person"],
                    crm="pipedrive",
                    state=state,
                    reason=h["reason"],
                    owner_id=h["owner"],
                    team=h["team"],
                    handed_over_at=handed,
                    decision_due_at=calendar.add(handed, options.sla.decision_within_h),
                    touch_due_at=calendar.add(handed, options.sla.first_touch_within_h),
                    decided_at=_at(h["decided_at"]),
                    outcome_at=_at(h["outcome_at"]),
                    first_touch_at=None,
                    score=60,
                    model_version=h["model_version"],
                    crm_object="lead",
                    crm_task_id=f"task{h['id']}",
                    create_status="done",
                    next_attempt_at=NOW,
                    facts={},
                    updated_at=NOW,
                )
            )
            events = [("handed_over", handed, None)]
            if h["decision"]:
                events.append((h["decision"], _at(h["decided_at"]), h["reason"]))
            if h["outcome"]:
                events.append((h["outcome"], _at(h["outcome_at"]), None))
            for state_, at, reason in events:
                conn.execute(
                    handoff_events.insert().values(
                        handoff_id=h["id"], state=state_, at=at, source="fixture", reason=reason
                    )
                )
            # the first touch lives in the activities: the loader must find it by owner
            if h["first_touch_at"]:
                touch = _at(h["first_touch_at"])
                assert touch is not None
                owner, crm = {"owner": h["owner"]}, "pipedrive"
                activity(h["person"], touch, "call", owner, connector=crm)
                # later calls by the owner and earlier ones by someone else do not count
                activity(h["person"], touch.replace(minute=59), "call", owner, connector=crm)
                activity(h["person"], handed, "call", {"owner": "someone-else"}, connector=crm)
                # nor the follow-up task the hand-off created, a call still planned, or a
                # call logged in the marketing tool
                activity(
                    h["person"], handed, "call", owner, connector=crm, external_id=f"task{h['id']}"
                )
                activity(h["person"], handed, "call", {**owner, "done": False}, connector=crm)
                activity(h["person"], handed, "call", owner)
        for d in raw["deals"]:
            conn.execute(
                deals.insert().values(
                    connector="pipedrive",
                    external_id=d["id"],
                    customer_id=d["person"],
                    contact_ids=[],
                    status=d["status"],
                    amount=d["amount"],
                    currency=d["currency"],
                    created_at=_at(d["created_at"]),
                    won_at=_at(d["won_at"]),
                    lost_at=_at(d["lost_at"]),
                    updated_at=NOW,
                    fields={"lost_reason": d["lost_reason"], "owner": d["owner"]},
                    deleted=False,
                )
            )
        for t in raw["touches"]:
            at = _at(t["at"])
            assert at is not None
            activity(
                t["person"], at, t["type"], {"campaign": t["campaign"], "channel": t["channel"]}
            )
            # an email open is not a touch, a deleted touch does not exist
            activity(t["person"], at, "email_open", {"campaign": "C-OPENS"})
            activity(t["person"], at, "page_view", {"campaign": "C-DELETED"}, deleted=True)
        conn.execute(activities.insert(), activity_rows)
        conn.execute(campaign_costs.insert(), raw["costs"])
    return store


@pytest.fixture
def raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text())
    return data


def test_store_and_file_give_the_same_report(raw: dict[str, Any], tmp_path: Path) -> None:
    from_file = facts_from_file(FIXTURE)
    options = _options(from_file)
    store = write_store(tmp_path / "store.db", raw, options)
    from_store = load_facts(store, from_file.as_of, sla_touch_types=options.sla.touch_types)
    store.dispose()
    # first touches found through the owner's activities equal the file's
    assert {h.id: h.first_touch_at for h in from_store.handoffs} == {
        h.id: h.first_touch_at for h in from_file.handoffs
    }
    expected = build_report(from_file, options).data
    got = build_report(from_store, options).data
    assert got == expected
    assert got["range"]["won_revenue_total"] == 36500.0  # the hand-computed figure
    assert "C-OPENS" not in got["campaigns"] and "C-DELETED" not in got["campaigns"]


def test_cli_report_json_from_the_store(
    raw: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    options = _options(facts_from_file(FIXTURE))
    write_store(tmp_path / "smarketing.db", raw, options).dispose()
    config = tmp_path / "config.toml"
    config.write_text(
        f'data_dir = "{tmp_path}"\n'
        "[report]\n"
        'currency = "EUR"\nmargin = 0.4\ncohort_window_days = 30\n'
        "[report.rates]\nUSD = 0.9\n"
        "[sla]\ndecision_within_h = 8\nfirst_touch_within_h = 4\n"
        '[sla.teams.sales]\ntimezone = "Europe/Berlin"\nholiday_country = "DE"\n'
        'holiday_subdiv = "BY"\n'
    )
    code = main(
        ["--config", str(config), "report", "--as-of", "2025-03-10T12:00:00Z", "--format", "json"]
    )
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    # zone defaults to the SLA team's, range to the last three full months before as_of
    assert document["timezone"] == "Europe/Berlin"
    assert document["months"] == ["2024-12", "2025-01", "2025-02"]
    assert [document["data"]["by_month"][m]["handoffs"] for m in document["months"]] == [5, 2, 3]
    assert document["data"]["range"]["handoff_to_customer_rate"] == 0.2857

    code = main(
        [
            "--config",
            str(config),
            "report",
            "--as-of",
            "2025-03-10T12:00:00Z",
            "--explain",
            "handoffs",
            "--month",
            "2025-02",
            "--format",
            "json",
        ]
    )
    assert code == 0
    rows = json.loads(capsys.readouterr().out)["data"]["rows"]
    assert sorted(r[0] for r in rows) == [5, 7, 8]

    html = tmp_path / "out" / "report.html"
    code = main(
        [
            "--config",
            str(config),
            "report",
            "--as-of",
            "2025-03-10T12:00:00Z",
            "--format",
            "html",
            "--output",
            str(html),
        ]
    )
    assert code == 0
    assert str(html) in capsys.readouterr().out
    assert "<svg" in html.read_text()
