"""A stateful local fake of the Pipedrive API subset the connector uses.

``create_sandbox(data)`` seeds persons, activities and deals from a ``population.ToolData``;
``app()`` serves them over the v2 endpoints (see ``sandbox_api``) with Pipedrive's envelopes,
cursor paging, validation errors, 401s, burst windows and a daily token budget.

What the sandbox models, and why:

- An account **without contact sync**: v2 then omits ``job_title``, ``postal_address``,
  ``notes``, ``birthday`` and ``ims`` (Persons reference: "only included if contact sync is
  enabled"), so the job title lives in a ``Job title`` custom field, a common setup.
- Timestamps have second precision. Every write moves the record's ``update_time`` forward by
  at least one second, so an incremental reader can always tell a second write from the first.
- The clock starts after the newest seeded timestamp, so writes never look older than seeds.
- Activity types are Pipedrive's defaults (call, meeting, task, deadline, email, lunch); a
  seeded "note" becomes a ``task`` because Pipedrive keeps notes outside activities.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp

from smarketing_sync.testing.faults import FaultInjector
from smarketing_sync.testing.population import ToolData
from smarketing_sync.testing.sandbox import CallLog, RateWindow

from . import sandbox_ui
from .connector import PLAN_BURST, PLAN_MULTIPLIER
from .sandbox_fields import DEAL_SYSTEM_FIELDS, PERSON_SYSTEM_FIELDS, FieldDef, FieldSet
from .sandbox_leads import Lead, LeadLabel, seed_labels
from .sandbox_model import Activity, Deal, Person, primary
from .sandbox_state import Table

#: Burst limits per plan for api_token requests, per rolling 2-second window
#: (https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting).
# Burst limit per plan and daily token multiplier: the connector's own table (one source).
SEARCH_BURST = 10  # the Search API's own limit, every plan
BURST_WINDOW_S = 2.0
ACTIVITY_TYPES = ("call", "meeting", "task", "deadline", "email", "lunch")
NEUTRAL_ACTIVITY = {"meeting": "meeting", "call": "call", "email": "email", "note": "task"}
STAGES = (1, 2, 3, 4, 5)  # one pipeline; stage 5 is the last before won
#: Pipeline id -> its stage ids in order. Pipeline 2 lets tests put a hand-off deal elsewhere.
PIPELINES = {1: STAGES, 2: (6, 7, 8)}
JOB_TITLE = "Job title"
LEAD_SOURCE = "Lead source"
LEAD_SOURCES = ("Website", "Referral", "Event", "Outbound")
DEAL_TYPE = "Deal type"
DEAL_TYPES = ("New business", "Upsell")


class PipedriveSandbox:
    """Pipedrive for tests, the demo and benchmarks. Thread-safe: the server runs elsewhere."""

    name = "pipedrive"

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        token: str = "sandbox-token",  # noqa: S107 - the sandbox's fake credential
        plan: str = "lite",
        seats: int = 10,
    ) -> None:
        if plan not in PLAN_BURST:
            raise ValueError(f"unknown plan {plan!r}; expected one of {sorted(PLAN_BURST)}")
        self.token = token
        self.time_scale = time_scale
        self.plan = plan
        self.seats = seats
        self.calls = CallLog()
        self.lock = threading.RLock()
        self.persons: Table[Person] = Table()
        self.activities_table: Table[Activity] = Table()
        self.deals_table: Table[Deal] = Table()
        self.leads_table: dict[str, Lead] = {}  # lead ids are UUIDs, so no sorted int table
        self.lead_labels: dict[str, LeadLabel] = {}
        self.person_fields = FieldSet("person", PERSON_SYSTEM_FIELDS)
        self.deal_fields = FieldSet("deal", DEAL_SYSTEM_FIELDS)
        self.orgs: dict[int, str] = {}
        self._org_ids: dict[str, int] = {}
        self.burst = RateWindow(PLAN_BURST[plan], BURST_WINDOW_S, time_scale)
        self.search_burst = RateWindow(SEARCH_BURST, BURST_WINDOW_S, time_scale)
        self.token_budget = 30_000 * PLAN_MULTIPLIER[plan] * seats
        self.tokens_used = 0
        self.writes_today = 0
        self._day_started = time.monotonic()
        self.token_in_query = 0  # requests authenticated with ?api_token= (ends up in logs)
        self.ignored_params: set[str] = set()  # query parameters Pipedrive would ignore
        self.faults: dict[str, list[int]] = {}  # "PATCH /api/v2/persons/7" -> statuses to answer
        self.fault_injector: FaultInjector | None = None  # set by app()
        # Cursor bugs served by GET /api/v2/persons: "repeat" | "skip", one page each, in order.
        self.page_faults: list[str] = []
        self.page_faults_served: Counter[str] = Counter()
        self.page_cap: int | None = None  # largest page served, whatever limit was asked
        self._clock_offset = 0
        self._last_stamp = 0
        self.person_fields.add(JOB_TITLE, "varchar")
        self.person_fields.add(LEAD_SOURCE, "enum", LEAD_SOURCES)
        self.deal_fields.add(DEAL_TYPE, "enum", DEAL_TYPES)
        seed_labels(self)

    # -- clock and budgets ----------------------------------------------------------------

    def now(self) -> int:
        """Epoch seconds, never earlier than anything seeded or written before."""
        with self.lock:
            self._last_stamp = max(self._last_stamp, int(time.time()) + self._clock_offset)
            return self._last_stamp

    def start_clock_after(self, newest: int) -> None:
        """Seeds may lie in the future of the wall clock: make every later write newer."""
        with self.lock:
            self._clock_offset = max(0, newest + 1 - int(time.time()))

    def write_time(self, current: int) -> int:
        """The ``update_time`` of a write: now, but always later than ``current``."""
        with self.lock:
            stamp = max(self.now(), current + 1)
            self._last_stamp = stamp
            return stamp

    def spend(self, cost: int, *, write: bool) -> bool:
        """Charge ``cost`` tokens to today's budget; False when the budget is exhausted."""
        with self.lock:
            day = 86_400 / self.time_scale
            if time.monotonic() - self._day_started >= day:
                self._day_started = time.monotonic()
                self.tokens_used = 0
                self.writes_today = 0
            if self.tokens_used + cost > self.token_budget:
                return False
            self.tokens_used += cost
            if write:
                self.writes_today += 1
            return True

    def inject(self, method: str, path: str, *statuses: int) -> None:
        """Fault injection: the next requests to ``method path`` answer ``statuses`` in turn."""
        with self.lock:
            self.faults.setdefault(f"{method.upper()} {path}", []).extend(statuses)

    def take_fault(self, method: str, path: str) -> int | None:
        with self.lock:
            queued = self.faults.get(f"{method.upper()} {path}")
            return queued.pop(0) if queued else None

    # -- the Sandbox protocol ----------------------------------------------------------------

    def app(self) -> ASGIApp:
        from .sandbox_api import build_app  # the HTTP layer imports this module

        # Generic faults on demand (testing/faults.py, off by default) around the vendor's own.
        self.fault_injector = FaultInjector(build_app(self))
        return self.fault_injector

    def connector_settings(self, base_url: str) -> dict[str, Any]:
        return {
            "api_token": self.token,
            "company_domain": "sandbox",
            "base_url": base_url,
            "plan": self.plan,
            # the daily budget the connector keeps to (quota.py) follows the seats too
            "seats": self.seats,
        }

    def people(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self._neutral(p) for p in self.persons.records.values() if not p.is_deleted]

    def person_by_email(self, email: str) -> dict[str, Any] | None:
        wanted = email.strip().lower()
        with self.lock:
            for person in self.persons.records.values():
                if person.is_deleted:
                    continue
                if any(str(e.get("value", "")).strip().lower() == wanted for e in person.emails):
                    return self._neutral(person)
        return None

    def edit_person(self, person_id: str, **changes: Any) -> None:
        with self.lock:
            person = self._person(person_id)
            for key, value in changes.items():
                self._apply_neutral(person, key, value)
            person.name = f"{person.first_name} {person.last_name}".strip() or person.name
            self.persons.touch(person, self.write_time(person.update_time))

    def add_person(self, email: str, **fields: Any) -> str:
        with self.lock:
            stamp = self.write_time(0)
            person = Person(
                id=self.persons.new_id(),
                add_time=stamp,
                update_time=stamp,
                emails=[{"value": email, "primary": True, "label": "work"}],
            )
            for key, value in fields.items():
                self._apply_neutral(person, key, value)
            person.name = f"{person.first_name} {person.last_name}".strip() or email.strip()
            self.persons.insert(person)
            return str(person.id)

    def add_activity(self, person_id: str, type: str, subject: str) -> str:
        kind = NEUTRAL_ACTIVITY.get(type, type)
        if kind not in ACTIVITY_TYPES:
            raise ValueError(f"unknown activity type {type!r}")
        with self.lock:
            person = self._person(person_id)
            stamp = self.write_time(0)
            activity = self.activity_for(person, kind, subject, stamp)
            self.activities_table.insert(activity)
            return str(activity.id)

    def activities(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {
                    "id": str(a.id),
                    "type": a.type,
                    "subject": a.subject,
                    "person_ids": [str(p["person_id"]) for p in a.participants],
                    "occurred_at": _due(a),
                }
                for a in self.activities_table.records.values()
                if not a.is_deleted
            ]

    def custom_field(self, name: str, entity: str = "person") -> FieldDef | None:
        fields = self.person_fields if entity == "person" else self.deal_fields
        with self.lock:
            return fields.by_name(name)

    # -- deals and hand-offs: what a seller does in the UI (sandbox_ui.py) ---------------------

    add_deal = sandbox_ui.add_deal
    set_deal_status = sandbox_ui.set_deal_status
    deal = sandbox_ui.deal
    leads = sandbox_ui.leads
    lead = sandbox_ui.lead
    label_lead = sandbox_ui.label_lead
    archive_lead = sandbox_ui.archive_lead
    reassign_lead = sandbox_ui.reassign_lead
    delete_lead = sandbox_ui.delete_lead
    convert_lead = sandbox_ui.convert_lead
    tasks = sandbox_ui.tasks
    complete_task = sandbox_ui.complete_task
    delete_task = sandbox_ui.delete_task
    set_deal_stage = sandbox_ui.set_deal_stage
    delete_person = sandbox_ui.delete_person

    # -- internals ------------------------------------------------------------------------

    def _person(self, person_id: str | int) -> Person:
        person = self.persons.live(int(person_id))
        if person is None:
            raise KeyError(f"no person {person_id}")
        return person

    def org_for(self, company: str | None) -> int | None:
        """The id of the organization named ``company``, created on first use."""
        if not company:
            return None
        org_id = self._org_ids.get(company)
        if org_id is None:
            org_id = len(self.orgs) + 1
            self.orgs[org_id] = company
            self._org_ids[company] = org_id
        return org_id

    def _apply_neutral(self, person: Person, key: str, value: Any) -> None:
        if key in ("first_name", "last_name"):
            setattr(person, key, value or "")
        elif key == "email":
            _set_primary(person.emails, value)
        elif key == "phone":
            _set_primary(person.phones, value)
        elif key == "company":
            person.org_id = self.org_for(value)
        elif key in ("city", "country"):
            setattr(person, key, value)
        else:
            name = JOB_TITLE if key == "job_title" else key
            definition = self.person_fields.by_name(name)
            if definition is None:
                raise KeyError(f"the sandbox has no person field {key!r}")
            if definition.type == "enum" and isinstance(value, str):
                option = definition.option_by_label(value)
                if option is None:
                    raise ValueError(f"{value!r} is not an option of {definition.name!r}")
                value = option.id
            person.custom[definition.code] = value

    def _neutral(self, person: Person) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for definition in self.person_fields.custom():
            value = person.custom.get(definition.code)
            if definition.type == "enum" and value is not None:
                value = next((o.label for o in definition.options if o.id == value), value)
            fields[definition.name] = value
        return {
            "id": str(person.id),
            "email": primary(person.emails),
            "first_name": person.first_name,
            "last_name": person.last_name,
            "company": self.orgs.get(person.org_id) if person.org_id else None,
            "job_title": fields.get(JOB_TITLE),
            "phone": primary(person.phones),
            "country": person.country,
            "city": person.city,
            "updated_at": datetime.fromtimestamp(person.update_time, UTC),
            "owner_id": str(person.owner_id) if person.owner_id is not None else None,
            "fields": fields,
        }

    def seed(self, data: ToolData) -> None:
        """Persons, their activities and deals from the synthetic population (deterministic)."""
        from .sandbox_seed import seed  # seeding reads this module's constants

        seed(self, data)

    def activity_for(self, person: Person, kind: str, subject: str, when: int) -> Activity:
        """A done activity of ``person`` due at ``when`` (epoch seconds)."""
        moment = datetime.fromtimestamp(when, UTC)
        return Activity(
            id=self.activities_table.new_id(),
            add_time=when,
            update_time=when,
            subject=subject,
            type=kind,
            owner_id=person.owner_id,
            person_id=person.id,
            participants=[{"person_id": person.id, "primary": True}],
            org_id=person.org_id,
            due_date=moment.strftime("%Y-%m-%d"),
            due_time=moment.strftime("%H:%M:%S"),
            duration="00:30:00",
            done=True,
            marked_as_done_time=when,
        )


def _set_primary(entries: list[dict[str, Any]], value: str | None) -> None:
    """Replace the primary entry's value (add one when there is none, drop it for None)."""
    index = next((i for i, e in enumerate(entries) if e.get("primary")), 0 if entries else None)
    if value is None or value == "":
        if index is not None:
            del entries[index]
            if entries and not any(e.get("primary") for e in entries):
                entries[0]["primary"] = True
        return
    if index is None:
        entries.append({"value": value, "primary": True, "label": "work"})
    else:
        entries[index]["value"] = value


def _due(activity: Activity) -> datetime | None:
    if not activity.due_date:
        return None
    clock = activity.due_time or "00:00:00"
    return datetime.fromisoformat(f"{activity.due_date}T{clock}+00:00")


def create_sandbox(
    data: ToolData | None = None,
    *,
    time_scale: float = 1.0,
    token: str = "sandbox-token",  # noqa: S107 - the sandbox's fake credential
    plan: str = "lite",
    seats: int = 10,
) -> PipedriveSandbox:
    """A Pipedrive sandbox seeded from ``data``.

    Args:
        data: the people, activities and deals this tool holds; None for an empty account.
        time_scale: compresses the 2-second burst windows and the daily budget's day.
        token: the API token the sandbox accepts in the ``x-api-token`` header.
        plan: the subscription plan whose burst limit and token multiplier apply.
        seats: seats of the account; the daily token budget scales with them.
    """
    sandbox = PipedriveSandbox(time_scale=time_scale, token=token, plan=plan, seats=seats)
    if data is not None:
        sandbox.seed(data)
    return sandbox
