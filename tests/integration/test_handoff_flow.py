"""Hand-off in the whole cycle, against both sandboxes: MQLs land with a named owner in
Pipedrive as a lead with a follow-up task; sales accepts one, rejects one with a reason (which
reaches HubSpot), leaves one untouched (one breach alert, then one escalation), and a won deal
makes the person a customer on both sides."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smarketing_sync.cli import main
from smarketing_sync.handoff.clocks import compliance, load_views
from smarketing_sync.store.schema import customers, handoff_events, handoffs, sla_alerts
from smarketing_sync.testing.sandbox import SandboxServer
from smarketing_sync.testing.webhooks import WebhookReceiver

from .harness import World, norm, world

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def handoff_settings(hook_url: str) -> dict[str, Any]:
    return {
        "handoff": {
            "enabled": True,
            "crm": "pipedrive",
            "object": "lead",
            "integration_user": "1",
            "reasons": ["No budget", "Wrong person", "Not now"],
            "owners": [
                {"id": "2", "name": "Sam Seller", "pools": ["default"]},
                {"id": "3", "name": "Riley Rep", "pools": ["default"]},
            ],
        },
        "sla": {
            "decision_within_h": 8,
            "first_touch_within_h": 4,
            "teams": {"sales": {"timezone": "Europe/Berlin"}},
            "alerts": {
                "targets": [
                    {"url": f"{hook_url}/alerts", "format": "json"},
                    {"url": f"{hook_url}/chat/T000/B000/secretpath", "format": "chat"},
                ],
                "escalate_to": [{"url": f"{hook_url}/escalation", "format": "json"}],
                "escalate_after_h": 4,
                "backoff_s": 0,
            },
        },
    }


@contextmanager
def handoff_world(tmp_path: Path) -> Iterator[tuple[World, WebhookReceiver, list[timedelta]]]:
    receiver = WebhookReceiver()
    with (
        SandboxServer(receiver.app()) as hooks,
        world(tmp_path, people=40, extra=handoff_settings(hooks.url)) as w,
    ):
        # The store's clock runs ahead by an offset we control: the SLA clock must be tested
        # across days without waiting, and time still passes between cycles.
        shift = [timedelta(0)]
        real_now = w.store.now
        w.store.now = lambda: real_now() + shift[0]
        yield w, receiver, shift


def shared_people(w: World) -> list[str]:
    crm = {norm(p["email"]) for p in w.crm.people()}
    return [norm(p["email"]) for p in w.ma.people() if norm(p["email"]) in crm]


async def make_mqls(w: World, n: int) -> list[str]:
    """Turn n people (in both tools, no deal yet) into MQLs through fit and meetings."""
    await w.cycle()
    with w.store.read() as conn:
        staged = dict(
            conn.execute(
                sa.text(
                    "select c.email, s.stage from customers c join scores s on s.customer_id = c.id"
                )
            ).all()
        )
    ripe = [e for e in shared_people(w) if staged.get(e) in ("subscriber", "lead")][:n]
    assert len(ripe) == n
    for email in ripe:
        contact = w.ma.person_by_email(email)
        assert contact is not None
        w.ma.edit_person(
            contact["id"], jobtitle="Head of Marketing", company="Acme GmbH", hs_lead_status="NEW"
        )
        for kind in ("meeting", "meeting", "call", "call"):
            w.ma.add_activity(contact["id"], kind, f"{kind} about pricing")
    await w.cycle()
    return ripe


def handoff_of(w: World, email: str) -> Any:
    with w.store.read() as conn:
        return conn.execute(
            sa.select(handoffs)
            .join(customers, customers.c.id == handoffs.c.customer_id)
            .where(customers.c.email == email)
            .order_by(handoffs.c.id.desc())
        ).first()


def lead_of(w: World, email: str) -> dict[str, Any]:
    row = handoff_of(w, email)
    assert row is not None and row.crm_object_id is not None, row
    return w.crm.lead(row.crm_object_id)  # type: ignore[attr-defined, no-any-return]


async def test_handoff_accept_reject_breach_and_won(tmp_path: Path) -> None:
    with handoff_world(tmp_path) as (w, receiver, clock):
        accepted, rejected, untouched = await make_mqls(w, 3)

        # -- handed over: one lead + one follow-up task each, owners round robin ----------
        leads = w.crm.leads()  # type: ignore[attr-defined]
        assert len(leads) == 3
        rows = {email: handoff_of(w, email) for email in (accepted, rejected, untouched)}
        for email, row in rows.items():
            assert row.state == "handed_over"
            assert row.create_status == "done", row.last_error
            assert row.owner_id in ("2", "3")
            lead = lead_of(w, email)
            assert str(lead["owner_id"]) == row.owner_id
            person = w.crm.person_by_email(email)
            assert person is not None
            assert str(lead["person_id"]) == str(person["id"])
            tasks = [t for t in w.crm.tasks(person["id"]) if t.get("lead_id") == lead["id"]]  # type: ignore[attr-defined]
            assert len(tasks) == 1 and str(tasks[0]["owner_id"]) == row.owner_id
            in_ma = w.ma.person_by_email(email)
            assert in_ma is not None
            assert in_ma["fields"]["smarketing_handoff_status"] == "handed_over"
        # A person a seller (not the integration user) owns in Pipedrive keeps that seller;
        # the others go round robin through the configured owners.
        assigned = []
        for email, row in sorted(rows.items(), key=lambda item: item[1].id):
            person = w.crm.person_by_email(email)
            assert person is not None
            if str(person.get("owner_id")) not in ("1", "None"):
                assert (row.owner_source, row.owner_id) == ("crm", str(person["owner_id"]))
            else:
                assert row.owner_source == "assigned"
                assigned.append(row.owner_id)
        assert assigned == ["2", "3", "2"][: len(assigned)]

        # -- re-runs create nothing twice -----------------------------------------------
        await w.cycle()
        await w.cycle()
        assert len(w.crm.leads()) == 3  # type: ignore[attr-defined]
        assert len([t for t in w.crm.tasks() if t.get("lead_id")]) == 3  # type: ignore[attr-defined]

        # -- sales decides ---------------------------------------------------------------
        w.crm.label_lead(lead_of(w, accepted)["id"], "Accepted")  # type: ignore[attr-defined]
        rejected_lead = lead_of(w, rejected)["id"]
        w.crm.label_lead(rejected_lead, "No budget")  # type: ignore[attr-defined]
        w.crm.archive_lead(rejected_lead)  # type: ignore[attr-defined]
        await w.cycle()
        assert handoff_of(w, accepted).state == "accepted"
        # `handoffs --json` shows the CRM facts behind each state
        view = next(v for v in load_views(w.store, w.settings) if v.email == accepted)
        assert "Accepted" in view.crm_facts["lead.label"]
        after = handoff_of(w, rejected)
        assert (after.state, after.reason) == ("recycled", "No budget")
        await w.cycle()  # the feedback is pushed in the cycle after the decision at the latest
        in_ma = w.ma.person_by_email(rejected)
        assert in_ma is not None
        assert in_ma["fields"]["smarketing_handoff_status"] == "recycled"
        assert in_ma["fields"]["smarketing_handoff_reason"] == "No budget"
        assert in_ma["fields"]["smarketing_stage"] == "recycled"
        in_ma = w.ma.person_by_email(accepted)
        assert in_ma is not None and in_ma["fields"]["smarketing_handoff_status"] == "accepted"
        with w.store.read() as conn:
            events = conn.execute(
                sa.select(handoff_events.c.state, handoff_events.c.source, handoff_events.c.reason)
                .where(handoff_events.c.handoff_id == after.id)
                .order_by(handoff_events.c.id)
            ).all()
        assert [e.state for e in events] == ["handed_over", "rejected", "recycled"]
        assert "lead.label=No budget" in events[1].source and events[1].reason == "No budget"
        assert receiver.received == []  # nothing is due yet

        # -- the untouched one breaches: one alert per target, once ----------------------
        clock[0] += timedelta(days=4)  # whatever weekday: > 8 business hours later
        await w.cycle()
        await w.cycle()
        alerts = receiver.bodies("/alerts")
        decision = [a for a in alerts if a["clock"] == "decision"]
        assert len(decision) == 1, alerts
        assert decision[0]["event"] == "sla.breach"
        assert decision[0]["customer"]["email"] == untouched
        assert decision[0]["owner"]["id"] == rows[untouched].owner_id
        chat = receiver.bodies("/chat/T000/B000/secretpath")
        assert any(untouched in body["text"] for body in chat)
        # the accepted one was decided in time but nobody called: a first-touch breach
        assert any(
            a["clock"] == "first_touch" and a["customer"]["email"] == accepted for a in alerts
        )
        assert not any(a["customer"]["email"] == rejected for a in alerts)

        # -- escalation after a further delay, also once -----------------------------------
        clock[0] += timedelta(days=3)
        await w.cycle()
        await w.cycle()
        escalations = [b for b in receiver.bodies("/escalation") if b["clock"] == "decision"]
        assert len(escalations) == 1 and escalations[0]["event"] == "sla.escalation"
        assert len([a for a in receiver.bodies("/alerts") if a["clock"] == "decision"]) == 1
        with w.store.read() as conn:
            statuses = {s for (s,) in conn.execute(sa.select(sla_alerts.c.status))}
        assert statuses == {"sent"}

        # -- a won deal makes the accepted person a customer on both sides -----------------
        person = w.crm.person_by_email(accepted)
        assert person is not None
        deal = w.crm.add_deal(person["id"], "Acme licence", 12000.0, "EUR")
        w.crm.set_deal_status(deal, "won")
        await w.cycle()
        await w.cycle()
        assert handoff_of(w, accepted).state == "converted"
        in_ma = w.ma.person_by_email(accepted)
        in_crm = w.crm.person_by_email(accepted)
        assert in_ma is not None and in_crm is not None
        assert in_ma["fields"]["smarketing_stage"] == "customer"
        assert in_ma["lifecycle"] == "customer"
        assert in_crm["fields"]["smarketing stage"] == "customer"
        assert in_ma["fields"]["smarketing_handoff_status"] == "converted"


async def test_handoffs_command_and_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with handoff_world(tmp_path) as (w, _receiver, clock):
        emails = await make_mqls(w, 2)
        config = tmp_path / "config.toml"
        config.write_text(_config_toml(w, tmp_path))
        assert main(["--config", str(config), "handoffs"]) == 0
        out = capsys.readouterr().out
        assert all(e in out for e in emails)
        assert "handed_over" in out and "decision: due" in out
        assert main(["--config", str(config), "handoffs", "--breached"]) == 0
        assert "no hand-offs match" in capsys.readouterr().out
        assert main(["--config", str(config), "handoffs", "--owner", "Sam Seller", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        sams = [v.key for v in load_views(w.store, w.settings) if v.owner_id == "2"]
        assert sams  # the first round-robin pick, or the seeded persons' seller
        assert [h["key"] for h in listed] == sams
        assert main(["--config", str(config), "status"]) == 0
        out = capsys.readouterr().out
        assert "SLA, hand-offs of the last 30 days: 2" in out
        assert "pending      2 not yet due" in out

        clock[0] += timedelta(days=4)
        views = load_views(w.store, w.settings)
        assert len(views) == 2 and all(v.breached and v.decision.running for v in views)
        sla = compliance(w.store, w.settings)
        assert sla["decision"] == {"evaluable": 2, "met": 0, "rate": 0.0, "within_h": 8.0}
        assert sla["open_breaches"] == 2
        accepted = lead_of(w, emails[0])["id"]
        w.crm.label_lead(accepted, "Accepted")  # type: ignore[attr-defined]
        await w.cycle()
        sla = compliance(w.store, w.settings)
        # decided, but four days late: evaluable and not met
        assert sla["decision"]["met"] == 0 and sla["open_breaches"] == 2  # touch clocks run


def _config_toml(w: World, tmp_path: Path) -> str:
    return f"""
data_dir = "{tmp_path / "data"}"
[store]
url = "{w.settings.store_url}"
[handoff]
enabled = true
crm = "pipedrive"
owners = [{{ id = "2", name = "Sam Seller" }}, {{ id = "3", name = "Riley Rep" }}]
[sla.teams.sales]
timezone = "Europe/Berlin"
[connectors.pipedrive]
enabled = true
company_domain = "sandbox"
[connectors.hubspot]
enabled = true
"""
