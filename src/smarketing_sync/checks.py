"""``smarketing-sync check``: configuration, connectors, mappings, scoring and hand-off settings
validated together, and with ``--live`` each tool's check endpoint called."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from smarketing_sync.errors import ConfigError, SyncError
from smarketing_sync.settings import Settings


def scoring_model(settings: Settings) -> Any:
    from smarketing_sync.scoring import find_scoring_file, load_model

    return load_model(
        find_scoring_file(settings.scoring_file), extra_fields=settings.customer.extra_fields
    )


def run_check(settings: Settings, *, live: bool, where: str) -> int:
    """``check``: every problem of the configuration, one line each; exit code 2 if any."""
    from smarketing_sync.flow.runtime import build_runtime

    problems: list[str] = []
    built = {}
    names = settings.enabled_connectors()
    if not names:
        problems.append(f"{where} [connectors]: no connector is configured")
    for name in names:
        try:
            built[name] = build_runtime(name, settings, where=where)
            print(f"ok   {name}: settings and mapping {built[name].mapping.path}")
        except ConfigError as exc:
            problems.append(str(exc))
    try:
        model = scoring_model(settings)
        print(f"ok   scoring: {model.path} (model {model.version})")
    except ConfigError as exc:
        problems.append(str(exc))
    problems.extend(_check_handoff(settings, built, where))
    if live and built:
        problems.extend(asyncio.run(_live_checks(settings, built)))
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    return 2 if problems else 0


def _check_handoff(settings: Settings, built: dict[str, Any], where: str) -> list[str]:
    """Hand-off settings that only make sense with the connectors: capability, calendars."""
    from smarketing_sync.errors import ConfigError as CalendarError
    from smarketing_sync.handoff.calendar import BusinessCalendar
    from smarketing_sync.handoff.context import default_rules
    from smarketing_sync.sdk.declarations import Capability

    problems: list[str] = []
    for name, team in settings.sla.teams.items():
        try:
            BusinessCalendar.from_settings(team, where=f"sla.teams.{name}")
        except CalendarError as exc:
            problems.append(f"{where} {exc}")
    config = settings.handoff
    if not config.enabled:
        return problems
    crm = built.get(config.crm or "")
    if crm is None:
        return problems  # the connector's own problem is reported already
    if Capability.HANDOFF not in crm.cls.capabilities:
        problems.append(
            f"{where} [handoff] crm: connector {crm.name!r} cannot create hand-offs "
            f"(no {Capability.HANDOFF.value} capability); pick a CRM connector that has it"
        )
        return problems
    if not config.states and not default_rules(crm):
        problems.append(
            f"{where} [handoff]: {crm.name!r} declares no default hand-off rules; add "
            "[[handoff.states]] rules, or hand-offs never leave 'handed_over'"
        )
    if not config.owners:
        print("warn handoff: no [[handoff.owners]]: hand-offs keep the CRM's owner or none")
    if not settings.sla.alerts.targets:
        print("warn sla: no [sla.alerts] targets: breaches are counted but nobody is told")
    print(
        f"ok   handoff: {config.object} in {crm.name}, {len(config.owners)} owners, "
        f"{len(settings.sla.teams)} SLA calendar(s)"
    )
    return problems


async def _live_checks(settings: Settings, built: dict[str, Any]) -> list[str]:
    problems = []
    for name, rt in built.items():
        async with rt.http(settings.http) as http:
            try:
                await http.get(rt.cls.check_path)
                print(f"ok   {name}: {rt.base_url}{rt.cls.check_path} answered")
            except SyncError as exc:
                problems.append(f"{name}: live check failed: {exc}")
    return problems
