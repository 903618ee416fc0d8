"""A stateful local HubSpot for the demo, the tests and the benchmarks.

``create_sandbox(data)`` seeds one portal from a ``population.ToolData``: people become contacts
(with a lifecycle stage, lead status and owner), activities become meetings, calls, notes and
emails associated with their contact. The app serves exactly the endpoints the connector uses,
with HubSpot's payloads, limits and errors (see the ``sandbox_*`` modules); the methods below are
the tool-neutral view the ``Sandbox`` protocol asks for.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp

from smarketing_sync.testing.faults import FaultInjector
from smarketing_sync.testing.population import SeedActivity, SeedPerson, ToolData
from smarketing_sync.testing.sandbox import CallLog

from .sandbox_app import SandboxApi
from .sandbox_handoff import HandoffViews
from .sandbox_handoff_schema import OWNERS
from .sandbox_schema import check_value, iso_ms, parse_datetime_ms
from .sandbox_store import CrmObject, Portal

#: Tool-neutral person fields -> HubSpot contact properties.
NEUTRAL = {
    "email": "email",
    "first_name": "firstname",
    "last_name": "lastname",
    "company": "company",
    "job_title": "jobtitle",
    "phone": "phone",
    "country": "country",
    "city": "city",
    "website": "website",
    "lifecycle": "lifecyclestage",
}
#: Activity type -> (object type, the property holding its subject).
ACTIVITY_OBJECTS = {
    "meeting": ("meetings", "hs_meeting_title"),
    "call": ("calls", "hs_call_title"),
    "note": ("notes", "hs_note_body"),
    "email": ("emails", "hs_email_subject"),
}
# People type their country in full in HubSpot's free-text country property.
_COUNTRY_NAMES = {
    "US": "United States",
    "DE": "Germany",
    "FR": "France",
    "ES": "Spain",
    "PL": "Poland",
    "SE": "Sweden",
}
_LIFECYCLE_MIX = (
    "subscriber",
    "subscriber",
    "lead",
    "lead",
    "lead",
    "marketingqualifiedlead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
)
_LEAD_STATUS_MIX = ("NEW", "OPEN", "IN_PROGRESS", "ATTEMPTED_TO_CONTACT", "CONNECTED")
_OWNERS = tuple(owner.id for owner in OWNERS[:3])
#: The credential the sandbox accepts by default; a fake, never a real HubSpot token.
SANDBOX_TOKEN = "sandbox-token"  # noqa: S105


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _contact_values(person: SeedPerson) -> dict[str, Any]:
    domain = person.email.strip().lower().rsplit("@", 1)[-1]
    return {
        "email": person.email,
        "firstname": person.first_name,
        "lastname": person.last_name,
        "company": person.company,
        "jobtitle": person.job_title,
        "phone": person.phone,
        "country": _COUNTRY_NAMES.get(person.country, person.country),
        "city": person.city,
        "website": f"https://www.{domain}",
        "lifecyclestage": _LIFECYCLE_MIX[person.key % len(_LIFECYCLE_MIX)],
        "hs_lead_status": _LEAD_STATUS_MIX[person.key % len(_LEAD_STATUS_MIX)],
        "hubspot_owner_id": _OWNERS[person.key % len(_OWNERS)],
        "hs_email_optout": "false",
        **_analytics_values(person),
    }


def _analytics_values(person: SeedPerson) -> dict[str, Any]:
    """Original source, first visit and conversions as HubSpot's tracking would have set them."""
    origin = person.origin
    values: dict[str, Any] = {"hs_analytics_source": origin.source}
    if origin.campaign:
        values["hs_analytics_source_data_1"] = origin.campaign
    if origin.first_visit is not None:
        values["hs_analytics_first_timestamp"] = iso_ms(_ms(origin.first_visit))
    if origin.conversions:
        (first_at, first_name), (recent_at, recent_name) = (
            origin.conversions[0],
            origin.conversions[-1],
        )
        values["first_conversion_date"] = iso_ms(_ms(first_at))
        values["first_conversion_event_name"] = first_name
        values["recent_conversion_date"] = iso_ms(_ms(recent_at))
        values["recent_conversion_event_name"] = recent_name
    return values


def _activity_values(activity: SeedActivity, subject_property: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        subject_property: activity.subject,
        "hs_timestamp": iso_ms(_ms(activity.occurred_at)),
        "hubspot_owner_id": _OWNERS[activity.key % len(_OWNERS)],
    }
    if activity.type == "meeting":
        values["hs_meeting_start_time"] = values["hs_timestamp"]
        values["hs_meeting_end_time"] = iso_ms(_ms(activity.occurred_at) + 30 * 60_000)
    elif activity.type == "call":
        values["hs_call_direction"] = "OUTBOUND"
        values["hs_call_status"] = "COMPLETED"
    elif activity.type == "email":
        values["hs_email_direction"] = "EMAIL"
        values["hs_email_status"] = "SENT"
    return values


class HubSpotSandbox(HandoffViews):
    """One seeded HubSpot portal and its loopback app (hand-off helpers: ``HandoffViews``)."""

    name = "hubspot"

    def __init__(
        self, data: ToolData | None = None, *, time_scale: float = 1.0, token: str = SANDBOX_TOKEN
    ) -> None:
        self.token = token
        self.calls = CallLog()
        self.portal = Portal()
        self.api = SandboxApi(self.portal, self.calls, token=token, time_scale=time_scale)
        self._app: ASGIApp | None = None
        self.fault_injector: FaultInjector | None = None  # set by app()
        self._seed(data or ToolData())

    # -- seeding --------------------------------------------------------------------------

    def _seed(self, data: ToolData) -> None:
        portal = self.portal
        contact_of: dict[int, int] = {}
        contacts: list[CrmObject] = []
        for person in data.people:
            obj = portal.build(
                "contacts",
                _contact_values(person),
                created_ms=_ms(person.created_at),
                modified_ms=_ms(person.updated_at),
            )
            email = obj.properties.get("email") or ""
            if email in portal.email_index:
                raise ValueError(f"two seed people share the email {email!r}")
            portal.index_email(obj)
            contact_of[person.key] = obj.id
            contacts.append(obj)
        portal.tables["contacts"].load(contacts)
        by_type: dict[str, list[CrmObject]] = {t: [] for t, _ in ACTIVITY_OBJECTS.values()}
        for activity in data.activities:
            object_type, subject_property = ACTIVITY_OBJECTS[activity.type]
            occurred = _ms(activity.occurred_at)
            contact = contact_of.get(activity.person_key)
            by_type[object_type].append(
                portal.build(
                    object_type,
                    _activity_values(activity, subject_property),
                    created_ms=occurred,
                    # Logged a few minutes after it happened, as people do.
                    modified_ms=occurred + (activity.key % 7 + 1) * 60_000,
                    contact_ids=[contact] if contact is not None else [],
                )
            )
        for object_type, objects in by_type.items():
            portal.tables[object_type].load(objects)

    # -- the Sandbox protocol ---------------------------------------------------------------

    def app(self) -> ASGIApp:
        if self._app is None:
            # Every sandbox can misbehave on demand: see testing/faults.py (off by default).
            self.fault_injector = FaultInjector(self.api.app())
            self._app = self.fault_injector
        return self._app

    def connector_settings(self, base_url: str) -> dict[str, Any]:
        return {"access_token": self.token, "base_url": base_url}

    def people(self) -> list[dict[str, Any]]:
        with self.portal.lock:
            return [self._view(obj) for obj in self.portal.tables["contacts"].live()]

    def person_by_email(self, email: str) -> dict[str, Any] | None:
        with self.portal.lock:
            obj = self.portal.contact_by_email(email)
            return None if obj is None or obj.archived else self._view(obj)

    def edit_person(self, person_id: str, **changes: Any) -> None:
        with self.portal.lock:
            obj = self.portal.tables["contacts"].objects.get(int(person_id))
            if obj is None or obj.archived:
                raise KeyError(f"no contact {person_id}")
            values = self._validated(changes, owner=obj)
            self.portal.write(obj, values)

    def add_person(self, email: str, **fields: Any) -> str:
        with self.portal.lock:
            values = self._validated({"email": email, **fields}, owner=None)
            return str(self.portal.create("contacts", values).id)

    def add_activity(self, person_id: str, type: str, subject: str) -> str:
        object_type, subject_property = ACTIVITY_OBJECTS[type]
        with self.portal.lock:
            contact = self.portal.tables["contacts"].objects.get(int(person_id))
            if contact is None:
                raise KeyError(f"no contact {person_id}")
            values = {subject_property: subject, "hs_timestamp": iso_ms(self.portal.clock.now_ms())}
            obj = self.portal.create(object_type, values, contact_ids=[contact.id])
            return str(obj.id)

    def activities(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        with self.portal.lock:
            for activity_type, (object_type, subject_property) in ACTIVITY_OBJECTS.items():
                for obj in self.portal.tables[object_type].live():
                    occurred = parse_datetime_ms(obj.properties.get("hs_timestamp") or "")
                    out.append(
                        {
                            "id": str(obj.id),
                            "type": activity_type,
                            "subject": obj.properties.get(subject_property),
                            "person_ids": [str(c) for c in obj.contact_ids],
                            "occurred_at": _datetime(occurred) if occurred is not None else None,
                        }
                    )
        return out

    # -- test hooks -------------------------------------------------------------------------

    def set_modified(self, object_type: str, object_id: str, at: datetime) -> None:
        """Put one record at an exact last-modified time (to build ties between records)."""
        with self.portal.lock:
            obj = self.portal.tables[object_type].objects[int(object_id)]
            self.portal.set_modified(obj, _ms(at))

    # -- helpers ----------------------------------------------------------------------------

    def _validated(self, changes: dict[str, Any], owner: CrmObject | None) -> dict[str, Any]:
        defs = self.portal.properties["contacts"]
        values = {NEUTRAL.get(name, name): value for name, value in changes.items()}
        for name, value in values.items():
            problem = check_value(defs.get(name), name, value)
            if problem is not None:
                raise ValueError(f"{problem.error}: {problem.message}")
        email = values.get("email")
        if email:
            other = self.portal.contact_by_email(str(email))
            if other is not None and (owner is None or other.id != owner.id):
                raise ValueError(f"Contact already exists. Existing ID: {other.id}")
        return values

    def _view(self, obj: CrmObject) -> dict[str, Any]:
        props = obj.properties
        defs = self.portal.properties["contacts"]
        view: dict[str, Any] = {"id": str(obj.id)}
        view.update({neutral: props.get(name) for neutral, name in NEUTRAL.items()})
        view["updated_at"] = _datetime(obj.modified_ms)
        view["owner_id"] = props.get("hubspot_owner_id")
        view["fields"] = {
            name: value
            for name, value in props.items()
            if name in defs and not defs[name].hubspot_defined
        }
        return view


def _datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def create_sandbox(
    data: ToolData | None = None, *, time_scale: float = 1.0, token: str = SANDBOX_TOKEN
) -> HubSpotSandbox:
    """A HubSpot portal seeded from ``data`` (empty when None); serve it with SandboxServer."""
    return HubSpotSandbox(data, time_scale=time_scale, token=token)
