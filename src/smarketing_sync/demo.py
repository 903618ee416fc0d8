"""`smarketing-sync demo`: both sandboxes on loopback, the real daemon code, no accounts.

It seeds a marketing tool (HubSpot sandbox) and a CRM (Pipedrive sandbox) with overlapping
synthetic people, runs full sync cycles on a fresh embedded SQLite store and tells in plain words
what happened; then it edits a person in one tool and shows the change arriving in the other.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smarketing_sync import registry
from smarketing_sync.demo_handoff import handoff_settings, handoff_story, sla_settings
from smarketing_sync.demo_report import report_settings, report_story
from smarketing_sync.flow.cycle import ConnectorReport, Syncer
from smarketing_sync.flow.runtime import Runtime, build_runtime
from smarketing_sync.sdk.http import HttpSettings
from smarketing_sync.settings import ApiSettings, ResolveSettings, Settings, SyncSettings
from smarketing_sync.store.db import Store
from smarketing_sync.testing.population import Population
from smarketing_sync.testing.sandbox import Sandbox, SandboxServer
from smarketing_sync.testing.webhooks import WebhookReceiver

MARKETING, CRM = "hubspot", "pipedrive"
TIME_SCALE = 20.0  # vendor rate limits run 20x faster in the sandboxes (and in our limiter)


class Printer:
    """Plain-words output; progress lines overwrite themselves on a terminal."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self._last = 0.0

    def say(self, text: str = "") -> None:
        if self.tty:
            sys.stdout.write("\r\033[K")
        print(text, flush=True)

    def progress(self, connector: str, stream: str, count: int) -> None:
        now = time.monotonic()
        if self.tty:
            sys.stdout.write(f"\r\033[K  reading {connector} {stream}: {count:,} records")
            sys.stdout.flush()
        elif now - self._last > 2.0:
            print(f"  reading {connector} {stream}: {count:,} records", flush=True)
            self._last = now


@dataclass
class DemoWorld:
    settings: Settings
    store: Store
    sandboxes: dict[str, Sandbox]
    runtimes: dict[str, Runtime]


def _settings(data_dir: Path, hook_url: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        handoff=handoff_settings(),
        report=report_settings(data_dir),
        sla=sla_settings(hook_url),
        mappings_dir=Path("mappings"),
        connectors={MARKETING: {"enabled": True}, CRM: {"enabled": True}},
        resolve=ResolveSettings(default="most_recent", default_order=[CRM, MARKETING]),
        http=HttpSettings(rate_limit_scale=TIME_SCALE, max_backoff_s=5.0),
        sync=SyncSettings(interval_s=10.0),
        api=ApiSettings(enabled=False),
    )


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def _summary(reports: dict[str, ConnectorReport], out: Printer, label: str) -> int:
    writes = 0
    out.say(f"{label}:")
    for name, report in reports.items():
        pull, push = report.pull, report.push
        if report.error:
            out.say(f"  {name}: FAILED — {report.error}")
            continue
        if pull is not None:
            r = pull.resolve
            out.say(
                f"  {name}: read {_n(pull.contacts, 'person', 'people')}, "
                f"{_n(pull.activities, 'activity', 'activities')}, {_n(pull.deals, 'deal')}"
                + (
                    f" (+{pull.duplicates:,} re-read in the lookback window, already applied)"
                    if pull.duplicates
                    else ""
                )
            )
            if r.matched:
                out.say(
                    f"    matched {r.matched:,} of them to people already known from the other "
                    "tool (same person, email written differently)"
                )
            if r.created:
                out.say(f"    {r.created:,} people seen for the first time")
            if r.echoes:
                out.say(
                    f"    {_n(r.echoes, 'value')} read back were our own earlier writes (ignored)"
                )
            if pull.dead_lettered:
                out.say(f"    {pull.dead_lettered:,} records could not be mapped (see `dlq`)")
        if push is not None:
            writes += push.created + push.updated
            out.say(
                f"    wrote to {name}: created {push.created:,} people, updated {push.updated:,}"
                + (f", {push.dead_lettered:,} rejected" if push.dead_lettered else "")
                + (
                    f", created fields {', '.join(report.created_fields)}"
                    if report.created_fields
                    else ""
                )
            )
        out.say(
            f"    {sum(report.api_calls.values()):,} API calls, {report.throttled} answered 429"
        )
    return writes


def _pick_shared_person(world: DemoWorld) -> tuple[dict[str, Any], dict[str, Any]]:
    marketing, crm = world.sandboxes[MARKETING], world.sandboxes[CRM]
    for person in marketing.people():
        other = crm.person_by_email(person["email"])
        if other is not None:
            return person, other
    raise RuntimeError("the demo population has no person in both tools")


async def _story(
    world: DemoWorld, out: Printer, once: bool, serve: bool, receiver: WebhookReceiver
) -> int:
    syncer = Syncer(world.settings, world.store, world.runtimes, progress=out.progress)
    started = time.monotonic()
    reports = await syncer.run_once(trigger="demo")
    _summary(reports, out, f"First cycle ({time.monotonic() - started:.1f} s)")
    if any(r.error for r in reports.values()):
        return 1
    if once:
        return 0
    out.say()
    reports = await syncer.run_once(trigger="demo")
    writes = _summary(reports, out, "Second cycle, nothing changed in either tool")
    out.say(f"  => {writes} writes: the two tools agree and nothing ping-pongs.")

    out.say()
    person, crm_person = _pick_shared_person(world)
    new_title = "VP Revenue Operations"
    out.say(
        f"Now a marketer edits {person['first_name']} {person['last_name']} in HubSpot: "
        f"job title {person.get('job_title')!r} -> {new_title!r}."
    )
    world.sandboxes[MARKETING].edit_person(person["id"], job_title=new_title)
    reports = await syncer.run_once(trigger="demo")
    _summary(reports, out, "Third cycle")
    after = world.sandboxes[CRM].person_by_email(crm_person["email"]) or {}
    seen = after.get("job_title") or after.get("fields", {}).get("job_title")
    out.say(
        f"  => in Pipedrive, {after.get('first_name')} {after.get('last_name')} now has job "
        f"title {seen!r}."
    )
    out.say()
    mqls = await _scoring_story(world, syncer, out)
    if mqls:
        await handoff_story(world, syncer, out, mqls, receiver, _summary)
    report_story(world, out, world.settings.data_dir)
    if serve:
        return await _serve(world, out)
    return 0


def _stages(world: DemoWorld, emails: list[str]) -> dict[str, Any]:
    import sqlalchemy as sa

    from smarketing_sync.store.schema import customers, scores

    with world.store.read() as conn:
        rows = conn.execute(
            sa.select(customers.c.email, scores.c.value, scores.c.band, scores.c.stage)
            .join(scores, scores.c.customer_id == customers.c.id)
            .where(customers.c.email.in_(emails))
        ).all()
    return {row.email: row for row in rows}


async def _scoring_story(world: DemoWorld, syncer: Syncer, out: Printer) -> list[str]:
    """Three leads engage in HubSpot, cross the MQL threshold, and both tools show it."""
    marketing, crm = world.sandboxes[MARKETING], world.sandboxes[CRM]
    shared = [
        p["email"].strip().lower()
        for p in marketing.people()
        if p.get("email") and crm.person_by_email(p["email"]) is not None
    ]
    leads = [e for e, row in _stages(world, shared).items() if row.stage == "lead"][:3]
    if syncer.scoring is None or not leads:
        return []
    threshold = syncer.scoring.lifecycle.mql_min_score
    out.say(
        f"Lead scoring: MQL at score ≥ {threshold:g} (scoring.toml). Three leads now engage in "
        "HubSpot: each is a Head of Marketing, has two meetings and two calls."
    )
    for email in leads:
        contact = marketing.person_by_email(email)
        assert contact is not None
        marketing.edit_person(contact["id"], job_title="Head of Marketing", company="Acme GmbH")
        for kind in ("meeting", "meeting", "call", "call"):
            marketing.add_activity(contact["id"], kind, f"{kind} about pricing")
    before = _stages(world, leads)
    reports = await syncer.run_once(trigger="demo")
    _summary(reports, out, "Fourth cycle")
    after = _stages(world, leads)
    for email in leads:
        in_ma = (marketing.person_by_email(email) or {}).get("fields", {})
        in_crm = (crm.person_by_email(email) or {}).get("fields", {})
        out.say(
            f"  {email}: score {before[email].value} -> {after[email].value}, stage "
            f"{before[email].stage} -> {after[email].stage}; HubSpot shows "
            f"{in_ma.get('smarketing_score')}/{in_ma.get('smarketing_stage')}, Pipedrive shows "
            f"{in_crm.get('smarketing score')}/{in_crm.get('smarketing stage')}"
        )
    out.say(f"  => `smarketing-sync explain {leads[0]}` tells why, rule by rule.")
    return [email for email in leads if after[email].stage == "mql"]


async def _serve(world: DemoWorld, out: Printer) -> int:
    from smarketing_sync.daemon import Daemon

    out.say("\nThe daemon keeps running against the sandboxes (every 10 s); Ctrl-C to stop.")
    for name, sandbox in world.sandboxes.items():
        out.say(f"  {name} sandbox: {world.runtimes[name].base_url} (token {sandbox.token!r})")
    return await Daemon(world.settings, world.store, world.runtimes).run()


def run_demo(*, people: int, once: bool, serve: bool, data_dir: Path) -> int:
    out = Printer()
    out.say(
        "smarketing-sync demo — HubSpot (marketing) and Pipedrive (CRM) sandboxes on "
        "127.0.0.1, no accounts, no network."
    )
    if data_dir.exists():
        shutil.rmtree(data_dir)  # every demo starts from an empty store
    receiver = WebhookReceiver()
    out.say(f"Generating {people:,} synthetic people per tool, half of them in both ...")
    population = Population.generate((MARKETING, CRM), n_per_tool=people, overlap=0.5)
    with ExitStack() as stack:
        hooks = stack.enter_context(SandboxServer(receiver.app()))
        settings = _settings(data_dir, hooks.url)
        sandboxes: dict[str, Sandbox] = {}
        runtimes: dict[str, Runtime] = {}
        for name in (MARKETING, CRM):
            cls = registry.load_connector(name)
            module = registry.sandbox_module(cls)
            sandbox: Sandbox = module.create_sandbox(
                population.for_tool(name), time_scale=TIME_SCALE
            )
            server = stack.enter_context(SandboxServer(sandbox.app()))
            sandboxes[name] = sandbox
            runtimes[name] = build_runtime(
                name, settings, overrides=sandbox.connector_settings(server.url), where="demo"
            )
            data = population.for_tool(name)
            out.say(
                f"  {name} sandbox on {server.url}: {len(data.people):,} people, "
                f"{len(data.activities):,} activities, {len(data.deals):,} deals"
            )
        store = Store.open(settings.store_url)
        out.say(f"Store: {settings.store_url}\n")
        world = DemoWorld(settings, store, sandboxes, runtimes)
        try:
            return asyncio.run(_story(world, out, once, serve, receiver))
        finally:
            store.dispose()
