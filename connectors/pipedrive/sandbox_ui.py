"""What a seller does in the Pipedrive UI, as sandbox helpers for tests and the demo.

Each function takes the sandbox first and is bound as a method of ``PipedriveSandbox``
(``sandbox.label_lead(lead_id, "Accepted")``). Every change moves the record's update time
forward, as the UI does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .sandbox_leads import Lead, add_label
from .sandbox_model import USERS, Activity, Deal

if TYPE_CHECKING:
    from .sandbox import PipedriveSandbox


def leads(sb: PipedriveSandbox) -> list[dict[str, Any]]:
    """Every lead that is not deleted (archived ones too), in the v1 API shape."""
    with sb.lock:
        return [lead.to_api() for lead in sb.leads_table.values() if not lead.is_deleted]


def lead(sb: PipedriveSandbox, lead_id: str) -> dict[str, Any]:
    with sb.lock:
        return _lead(sb, lead_id).to_api()


def label_lead(sb: PipedriveSandbox, lead_id: str, label_name: str) -> None:
    """Put the label named ``label_name`` on the lead (the label is created when missing)."""
    with sb.lock:
        lead = _lead(sb, lead_id)
        wanted = label_name.strip().casefold()
        label = next((lb for lb in sb.lead_labels.values() if lb.name.casefold() == wanted), None)
        if label is None:
            label = add_label(sb, label_name.strip())
        if label.id not in lead.label_ids:
            lead.label_ids.append(label.id)
        lead.update_time = sb.write_time(lead.update_time)


def archive_lead(sb: PipedriveSandbox, lead_id: str) -> None:
    with sb.lock:
        lead = _lead(sb, lead_id)
        lead.is_archived = True
        lead.update_time = sb.write_time(lead.update_time)


def reassign_lead(sb: PipedriveSandbox, lead_id: str, owner_id: int) -> None:
    if owner_id not in USERS:
        raise ValueError(f"no user {owner_id}; users are {sorted(USERS)}")
    with sb.lock:
        lead = _lead(sb, lead_id)
        lead.owner_id = owner_id
        lead.update_time = sb.write_time(lead.update_time)


def delete_lead(sb: PipedriveSandbox, lead_id: str) -> None:
    with sb.lock:
        lead = _lead(sb, lead_id)
        lead.is_deleted = True
        lead.update_time = sb.write_time(lead.update_time)


def convert_lead(sb: PipedriveSandbox, lead_id: str, stage_id: int | None = None) -> str:
    """Convert a lead to a deal like Pipedrive: the deal remembers the lead
    (``source_lead_id``), the lead's activities move to the deal, the lead is deleted."""
    from .sandbox import PIPELINES

    with sb.lock:
        lead = _lead(sb, lead_id)
        stage = stage_id if stage_id is not None else PIPELINES[min(PIPELINES)][0]
        pipeline = next((p for p, stages in PIPELINES.items() if stage in stages), None)
        if pipeline is None:
            raise ValueError(f"no stage {stage}")
        stamp = sb.write_time(lead.update_time)
        deal = Deal(
            id=sb.deals_table.new_id(),
            add_time=stamp,
            update_time=stamp,
            title=lead.title,
            owner_id=lead.owner_id,
            person_id=lead.person_id,
            org_id=lead.organization_id,
            pipeline_id=pipeline,
            stage_id=stage,
            stage_change_time=stamp,
            source_lead_id=lead.id,
        )
        sb.deals_table.insert(deal)
        for activity in sb.activities_table.records.values():
            if activity.lead_id == lead.id:
                activity.lead_id, activity.deal_id = None, deal.id
                sb.activities_table.touch(activity, sb.write_time(activity.update_time))
        lead.is_deleted = True
        lead.update_time = stamp
        return str(deal.id)


def tasks(sb: PipedriveSandbox, person_id: str | None = None) -> list[dict[str, Any]]:
    """Activities (v2 shape) that are not deleted, of one person or of everyone."""
    with sb.lock:
        return [
            a.to_api()
            for a in sb.activities_table.records.values()
            if not a.is_deleted and (person_id is None or str(a.person_id) == str(person_id))
        ]


def complete_task(sb: PipedriveSandbox, task_id: str) -> None:
    with sb.lock:
        activity = _activity(sb, task_id)
        stamp = sb.write_time(activity.update_time)
        activity.done, activity.marked_as_done_time = True, stamp
        sb.activities_table.touch(activity, stamp)


def delete_task(sb: PipedriveSandbox, task_id: str) -> None:
    with sb.lock:
        activity = _activity(sb, task_id)
        activity.is_deleted = True
        sb.activities_table.touch(activity, sb.write_time(activity.update_time))


def set_deal_stage(sb: PipedriveSandbox, deal_id: str, stage_id: int) -> None:
    from .sandbox import PIPELINES

    with sb.lock:
        deal = sb.deals_table.live(int(deal_id))
        if deal is None:
            raise KeyError(f"no deal {deal_id}")
        pipeline = next((p for p, stages in PIPELINES.items() if stage_id in stages), None)
        if pipeline is None:
            raise ValueError(f"no stage {stage_id}")
        stamp = sb.write_time(deal.update_time)
        deal.stage_id, deal.pipeline_id, deal.stage_change_time = stage_id, pipeline, stamp
        sb.deals_table.touch(deal, stamp)


def delete_person(sb: PipedriveSandbox, person_id: str) -> None:
    with sb.lock:
        person = sb._person(person_id)
        person.is_deleted = True
        sb.persons.touch(person, sb.write_time(person.update_time))


def _lead(sb: PipedriveSandbox, lead_id: str) -> Lead:
    lead = sb.leads_table.get(lead_id)
    if lead is None or lead.is_deleted:
        raise KeyError(f"no lead {lead_id}")
    return lead


def _activity(sb: PipedriveSandbox, task_id: str) -> Activity:
    activity = sb.activities_table.live(int(task_id))
    if activity is None:
        raise KeyError(f"no activity {task_id}")
    return activity


def add_deal(sb: PipedriveSandbox, person_id: str, title: str, value: float, currency: str) -> str:
    """A seller adds a deal for the person, in the first stage of the first pipeline."""
    from .sandbox import STAGES

    with sb.lock:
        person = sb._person(person_id)
        stamp = sb.write_time(0)
        deal = Deal(
            id=sb.deals_table.new_id(),
            add_time=stamp,
            update_time=stamp,
            title=title,
            value=float(value),
            currency=currency,
            person_id=person.id,
            org_id=person.org_id,
            owner_id=person.owner_id,
            stage_id=STAGES[0],
            stage_change_time=stamp,
        )
        sb.deals_table.insert(deal)
        return str(deal.id)


def set_deal_status(
    sb: PipedriveSandbox, deal_id: str, status: str, lost_reason: str | None = None
) -> None:
    """A seller marks the deal won or lost (or reopens it); won moves it to the last stage."""
    from .sandbox import STAGES

    if status not in ("open", "won", "lost"):
        raise ValueError(f"unknown deal status {status!r}")
    with sb.lock:
        deal = sb.deals_table.live(int(deal_id))
        if deal is None:
            raise KeyError(f"no deal {deal_id}")
        stamp = sb.write_time(deal.update_time)
        deal.status = status
        deal.won_time = stamp if status == "won" else None
        deal.lost_time = stamp if status == "lost" else None
        deal.close_time = None if status == "open" else stamp
        deal.lost_reason = lost_reason if status == "lost" else None
        if status == "won":
            deal.stage_id = STAGES[-1]
        sb.deals_table.touch(deal, stamp)


def deal(sb: PipedriveSandbox, deal_id: str) -> dict[str, Any]:
    """One deal in its v2 API shape."""
    with sb.lock:
        found = sb.deals_table.records[int(deal_id)]
        return found.to_api([f.code for f in sb.deal_fields.custom()])
