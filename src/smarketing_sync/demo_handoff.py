"""The demo's hand-off chapter: new MQLs land in Pipedrive with an owner and a follow-up task,
sales accepts one and rejects one (the reason reaches HubSpot), one is left untouched until the
SLA breaches (the alert arrives at a local webhook), and a won deal makes a customer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from smarketing_sync.flow.cycle import ConnectorReport, Syncer
from smarketing_sync.settings import HandoffSettings, SlaSettings
from smarketing_sync.store.schema import customers, handoffs
from smarketing_sync.testing.webhooks import WebhookReceiver

if TYPE_CHECKING:
    from smarketing_sync.demo import DemoWorld, Printer

MARKETING, CRM = "hubspot", "pipedrive"
TEAM_ZONE = "Europe/Berlin"


def handoff_settings() -> HandoffSettings:
    return HandoffSettings.model_validate(
        {
            "enabled": True,
            "crm": CRM,
            "object": "lead",
            "integration_user": "1",  # the sandbox token's user
            "reasons": ["No budget", "Wrong person", "Not now"],
            "owners": [
                {"id": "2", "name": "Sam Seller", "pools": ["default"]},
                {"id": "3", "name": "Riley Rep", "pools": ["default"]},
            ],
        }
    )


def sla_settings(hook_url: str) -> SlaSettings:
    return SlaSettings.model_validate(
        {
            "decision_within_h": 8,
            "first_touch_within_h": 4,
            "teams": {
                "sales": {
                    "timezone": TEAM_ZONE,
                    "holiday_country": "DE",
                    "holiday_subdiv": "BY",
                }
            },
            "alerts": {
                "targets": [{"url": f"{hook_url}/hooks/sales-chat", "format": "chat"}],
                "escalate_to": [{"url": f"{hook_url}/hooks/revops", "format": "json"}],
                "backoff_s": 0,
            },
        }
    )


def _handoffs(world: DemoWorld, emails: Sequence[str]) -> dict[str, Any]:
    with world.store.read() as conn:
        rows = conn.execute(
            sa.select(handoffs, customers.c.email)
            .join(customers, customers.c.id == handoffs.c.customer_id)
            .where(customers.c.email.in_(list(emails)))
            .order_by(handoffs.c.id)
        ).all()
    return {row.email: row for row in rows}


def _local(at: datetime) -> str:
    return at.astimezone(ZoneInfo(TEAM_ZONE)).strftime("%a %d %b %H:%M")


async def handoff_story(
    world: DemoWorld,
    syncer: Syncer,
    out: Printer,
    mqls: Sequence[str],
    receiver: WebhookReceiver,
    summary: Callable[[dict[str, ConnectorReport], Printer, str], int],
) -> None:
    crm: Any = world.sandboxes[CRM]  # the Pipedrive sandbox's seller helpers
    marketing = world.sandboxes[MARKETING]
    names = {o.id: o.name for o in world.settings.handoff.owners}
    rows = _handoffs(world, mqls)
    if len(rows) < 3:
        out.say("  (fewer than three hand-offs were opened; the hand-off chapter is skipped)")
        return
    out.say(
        "\nHand-off: each new MQL went to a named seller in Pipedrive, as a lead with a "
        "follow-up call due at the SLA time (decide within 8 business hours, Berlin hours, "
        "Bavarian holidays):"
    )
    for email, row in rows.items():
        out.say(
            f"  {email} -> {names.get(row.owner_id or '', row.owner_id)} ({row.owner_source}), "
            f"lead {row.crm_object_id}, decide by {_local(row.decision_due_at)}"
        )
    accepted, rejected, untouched = list(rows)[:3]
    crm.label_lead(rows[accepted].crm_object_id, "Accepted")
    crm.label_lead(rows[rejected].crm_object_id, "No budget")
    crm.archive_lead(rows[rejected].crm_object_id)
    out.say(
        f"\nIn Pipedrive, sales labels {accepted}'s lead 'Accepted', and archives "
        f"{rejected}'s with the label 'No budget'. {untouched} is left untouched."
    )
    summary(await syncer.run_once(trigger="demo"), out, "Fifth cycle")
    summary(await syncer.run_once(trigger="demo"), out, "Sixth cycle")
    after = _handoffs(world, mqls)
    for email in (accepted, rejected):
        fields = (marketing.person_by_email(email) or {}).get("fields", {})
        out.say(
            f"  {email}: hand-off {after[email].state}"
            + (f" ({after[email].reason})" if after[email].reason else "")
            + f"; HubSpot shows status {fields.get('smarketing_handoff_status')!r}"
            + (
                f", reason {fields['smarketing_handoff_reason']!r}"
                if fields.get("smarketing_handoff_reason")
                else ""
            )
            + f", stage {fields.get('smarketing_stage')!r}"
        )
    out.say("  => marketing sees why sales said no, and nurtures the recycled lead.")

    real_now = world.store.now
    shift = timedelta(days=3)
    world.store.now = lambda: real_now() + shift
    out.say(
        f"\nThree days later (the demo moves the store's clock), nobody has acted on {untouched}."
    )
    summary(await syncer.run_once(trigger="demo"), out, "Seventh cycle")
    alerts = [r for r in receiver.received if r.path == "/hooks/sales-chat"]
    for alert in alerts:
        out.say(f"  webhook /hooks/sales-chat received: {alert.body.get('text', '')}")
    out.say(
        f"  => {len(alerts)} alert(s) posted once each; a further run sends nothing again, "
        "and an escalation follows if it stays open."
    )

    person = crm.person_by_email(accepted)
    if person is not None:
        deal = crm.add_deal(person["id"], "Annual licence", 24000.0, "EUR")
        crm.set_deal_status(deal, "won")
        out.say(f"\nSales wins a 24,000 EUR deal with {accepted}.")
        summary(await syncer.run_once(trigger="demo"), out, "Eighth cycle")
        contact = marketing.person_by_email(accepted) or {}
        final = _handoffs(world, [accepted])[accepted]
        out.say(
            f"  {accepted}: hand-off {final.state}; HubSpot lifecycle stage "
            f"{contact.get('lifecycle')!r}, smarketing stage "
            f"{contact.get('fields', {}).get('smarketing_stage')!r}"
        )
    out.say("  => `smarketing-sync handoffs` lists every hand-off with its clocks.")
