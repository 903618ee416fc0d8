"""``smarketing-sync handoffs``: hand-offs with their SLA clocks."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from smarketing_sync.handoff.clocks import Clock, HandoffView, load_views
from smarketing_sync.settings import Settings
from smarketing_sync.store.db import Store


def _local(view: HandoffView, settings: Settings, value: Any) -> str:
    if value is None:
        return "-"
    zone = ZoneInfo(settings.sla.team(view.team).timezone)
    return str(value.astimezone(zone).strftime("%Y-%m-%d %H:%M"))


def _clock_text(clock: Clock, settings: Settings, view: HandoffView) -> str:
    if clock.closed_without:
        return "missed (closed without it)"
    if clock.stopped_at is not None:
        mark = "LATE" if clock.breached else "met"
        return f"{mark} {clock.used_bh:.1f} bh"
    if clock.breached:
        return f"BREACHED due {_local(view, settings, clock.due_at)}"
    return f"due {_local(view, settings, clock.due_at)} ({clock.used_bh:.1f} bh used)"


def run_handoffs(settings: Settings, store: Store, args: Any) -> int:
    states = list(args.state or [])
    if "open" in states:
        states = [s for s in states if s != "open"] + ["handed_over", "accepted"]
    views = load_views(store, settings, states=states or None, owner=args.owner)
    if args.breached:
        views = [v for v in views if v.breached]
    if args.limit:
        views = views[: args.limit]
    if args.json:
        print(json.dumps([v.as_dict() for v in views], indent=2))
        return 0
    if not views:
        print("no hand-offs match" if (states or args.owner or args.breached) else "no hand-offs")
        return 0
    for view in views:
        owner = view.owner_name or view.owner_id or "unassigned"
        if view.owner_source == "crm":
            owner += " (set in CRM)"
        reason = f" — {view.reason}" if view.reason else ""
        print(
            f"#{view.id} {view.state}{reason}  {view.email or view.customer_id}  owner {owner}  "
            f"handed over {_local(view, settings, view.handed_over_at)}"
        )
        print(
            f"    decision: {_clock_text(view.decision, settings, view)}   "
            f"first touch: {_clock_text(view.touch, settings, view)}"
        )
        if view.create_status != "done":
            detail = f": {view.last_error}" if view.last_error else ""
            print(f"    CRM: {view.create_status}{detail}")
    return 0
