"""The hand-off stage: MQLs go to a named sales owner, the CRM's answer comes back.

Runs inside a sync cycle (``cycle.py`` knows the order):

1. ``observe`` (after scoring): read the CRM side of open hand-offs and move their states by
   the configured rules (``handoff/states.py``); the first owner touch stops the touch clock;
   conversions and recycles follow the lifecycle stage (``handoff/observing.py``).
2. ``open``: every new MQL entry gets one hand-off row (its key is the MQL entry, so re-runs
   never open a second one), an owner (``handoff/assign.py``) and its SLA due times
   (``handoff/calendar.py``) — ``handoff/opening.py``.
3. ``send`` (after the CRM push, so the person exists there): create the lead/deal and the
   follow-up task. An attempt is counted before the call, so a crash mid-call makes the next
   attempt look up what the first created (``handoff/creating.py``).
4. ``check_sla`` + ``deliver``: queue each breach once, escalate later, post the alerts
   (``handoff/breaches.py``, ``handoff/alerts.py``).

The hand-off state, reason and owner become computed customer values (``handoff.*``) that the
push mappings write to both tools: marketing learns what sales decided and why.
"""

from __future__ import annotations

from collections.abc import Mapping

from smarketing_sync.flow.runtime import Runtime
from smarketing_sync.handoff import alerts, breaches, creating, observing, opening
from smarketing_sync.handoff.context import Context, HandoffStats, default_rules
from smarketing_sync.sdk.declarations import Capability
from smarketing_sync.sdk.http import Http
from smarketing_sync.settings import Settings
from smarketing_sync.store.db import Store

__all__ = ["HandoffStage", "HandoffStats", "build_stage"]


class HandoffStage:
    """The hand-off stage of sync cycles, for the configured CRM connector."""

    def __init__(self, settings: Settings, store: Store, crm: Runtime) -> None:
        rules = list(settings.handoff.states) or default_rules(crm)
        self.ctx = Context(settings, store, crm, rules)

    @property
    def crm(self) -> Runtime:
        return self.ctx.crm

    @property
    def stats(self) -> HandoffStats:
        return self.ctx.stats

    @stats.setter
    def stats(self, value: HandoffStats) -> None:
        self.ctx.stats = value

    async def observe(self, http: Http | None) -> int:
        return await observing.observe(self.ctx, http)

    def open(self) -> int:
        return opening.open_new(self.ctx)

    async def send(self, http: Http) -> int:
        return await creating.send(self.ctx, http)

    def check_sla(self) -> int:
        return breaches.check_sla(self.ctx)

    async def deliver(self) -> None:
        stats = await alerts.deliver_due(self.ctx.store, self.ctx.sla.alerts)
        self.ctx.stats.alerts_sent += stats.sent
        self.ctx.stats.alerts_failed += stats.failed + stats.dead


def build_stage(
    settings: Settings, store: Store, runtimes: Mapping[str, Runtime]
) -> HandoffStage | None:
    """The stage when hand-offs are enabled and the CRM connector can do them, else None."""
    config = settings.handoff
    if not config.enabled or config.crm is None:
        return None
    crm = runtimes.get(config.crm)
    if crm is None or Capability.HANDOFF not in crm.cls.capabilities:
        return None
    return HandoffStage(settings, store, crm)
