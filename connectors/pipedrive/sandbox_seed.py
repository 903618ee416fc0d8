"""Seeding the Pipedrive sandbox from the synthetic population, deterministically.

People become persons (primary email and phone, an organization per company, the job title in
the ``Job title`` custom field, a ``Lead source`` option); their activities become done
activities of the matching Pipedrive type due when they happened; their deals keep status,
value, currency and times.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from smarketing_sync.testing.population import SeedDeal, SeedPerson, ToolData

from .sandbox_fields import FieldDef
from .sandbox_model import USER_IDS, Deal, Person

if TYPE_CHECKING:
    from .sandbox import PipedriveSandbox


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def seed(sandbox: PipedriveSandbox, data: ToolData) -> None:
    from .sandbox import DEAL_TYPE, JOB_TITLE, LEAD_SOURCE, NEUTRAL_ACTIVITY

    with sandbox.lock:
        job = sandbox.person_fields.by_name(JOB_TITLE)
        source = sandbox.person_fields.by_name(LEAD_SOURCE)
        deal_type = sandbox.deal_fields.by_name(DEAL_TYPE)
        if job is None or source is None or deal_type is None:
            raise RuntimeError("the sandbox's seeded custom fields are missing")
        by_key: dict[int, Person] = {}
        newest = 0
        for person_seed in data.people:
            person = _person(sandbox, person_seed, job, source)
            by_key[person_seed.key] = sandbox.persons.insert(person)
            newest = max(newest, person.update_time)
        for item in data.activities:
            owner = by_key.get(item.person_key)
            if owner is None:
                continue
            kind = NEUTRAL_ACTIVITY.get(item.type, "task")
            activity = sandbox.activity_for(owner, kind, item.subject, epoch(item.occurred_at))
            activity.done = item.done
            sandbox.activities_table.insert(activity)
            newest = max(newest, activity.update_time)
        for deal_seed in data.deals:
            owner = by_key.get(deal_seed.person_key)
            if owner is None:
                continue
            deal = _deal(sandbox, deal_seed, owner, deal_type)
            sandbox.deals_table.insert(deal)
            newest = max(newest, deal.update_time)
        sandbox.start_clock_after(newest)


def _person(sandbox: PipedriveSandbox, seed: SeedPerson, job: FieldDef, source: FieldDef) -> Person:
    return Person(
        id=sandbox.persons.new_id(),
        add_time=epoch(seed.created_at),
        update_time=epoch(seed.updated_at),
        name=f"{seed.first_name} {seed.last_name}",
        first_name=seed.first_name,
        last_name=seed.last_name,
        owner_id=USER_IDS[seed.key % len(USER_IDS)],
        org_id=sandbox.org_for(seed.company),
        emails=[{"value": seed.email, "primary": True, "label": "work"}],
        phones=[{"value": seed.phone, "primary": True, "label": "work"}],
        custom={
            job.code: seed.job_title,
            source.code: _lead_source(seed, source),
        },
        city=seed.city,
        country=seed.country,
    )


def _lead_source(seed: SeedPerson, source: FieldDef) -> int:
    """The ``Lead source`` option a rep would pick, consistent with where the person came from."""
    if seed.origin.marketing:
        label = "Event" if seed.origin.campaign == "C-WEBINAR" else "Website"
    else:
        label = "Referral" if seed.key % 3 == 0 else "Outbound"
    option = source.option_by_label(label) or source.options[seed.key % len(source.options)]
    return option.id


def _deal(sandbox: PipedriveSandbox, seed: SeedDeal, owner: Person, deal_type: FieldDef) -> Deal:
    from .sandbox import STAGES

    created = epoch(seed.created_at)
    closed = epoch(seed.closed_at) if seed.closed_at else None
    stage = STAGES[-1] if seed.status == "won" else STAGES[seed.key % len(STAGES)]
    return Deal(
        id=sandbox.deals_table.new_id(),
        add_time=created,
        update_time=closed or created,
        title=seed.title,
        value=seed.value,
        currency=seed.currency,
        person_id=owner.id,
        org_id=owner.org_id,
        owner_id=owner.owner_id,
        stage_id=stage,
        stage_change_time=created,
        status=seed.status,
        lost_reason=seed.lost_reason,
        close_time=closed,
        won_time=closed if seed.status == "won" else None,
        lost_time=closed if seed.status == "lost" else None,
        custom={deal_type.code: deal_type.options[seed.key % len(deal_type.options)].id},
    )
