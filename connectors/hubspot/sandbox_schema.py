"""The sandbox portal's property definitions and how HubSpot validates a property value.

Written from the CRM reference, independently of the connector's own property lists so that a
typo on either side shows up as a failing test rather than agreeing with itself. Property types
(``string``, ``number``, ``datetime``, ``enumeration``, ``bool``, ...) and the ``Property`` shape
follow the properties API OpenAPI spec; the lifecycle stage internal values follow the contacts
guide (https://developers.hubspot.com/docs/api-reference/latest/crm/objects/contacts/guide).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

PORTAL_ID = 48_151_623

LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
LEAD_STATUSES = (
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
)
ENGAGEMENT_TYPES = ("meetings", "calls", "notes", "emails")
#: HubSpot-defined association type ids from an engagement to a contact (associations v4 guide,
#: "Association type ID values").
CONTACT_ASSOCIATION_TYPE = {"meetings": 200, "calls": 194, "notes": 202, "emails": 198}
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_MAX_STRING = 65_536


@dataclass(slots=True)
class PropertyDef:
    name: str
    label: str
    type: str  # string | number | datetime | date | enumeration | bool | phone_number
    field_type: str
    group_name: str
    options: list[dict[str, Any]] = field(default_factory=list)
    read_only: bool = False
    hubspot_defined: bool = True
    description: str = ""
    created_at: str = "2019-08-06T02:41:52.606Z"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": self.options,
            "displayOrder": -1,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.name == "email",
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "formField": not self.read_only,
            "createdAt": self.created_at,
            "updatedAt": self.created_at,
            "archived": False,
        }


@dataclass(frozen=True, slots=True)
class InvalidValue:
    """One invalid property value, in the shape HubSpot lists inside its error message."""

    name: str
    error: str  # PROPERTY_DOESNT_EXIST, INVALID_EMAIL, INVALID_OPTION, READ_ONLY_VALUE, ...
    message: str

    def as_json(self) -> dict[str, Any]:
        return {
            "isValid": False,
            "message": self.message,
            "error": self.error,
            "name": self.name,
            "localizedErrorMessage": self.message,
            "portalId": PORTAL_ID,
        }


def _options(values: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {"label": v.replace("_", " ").title(), "value": v, "displayOrder": i, "hidden": False}
        for i, v in enumerate(values)
    ]


#: Internal values of the Original Source property (HubSpot KB, "Understand HubSpot's traffic
#: sources"); OFFLINE covers imports, integrations and records created by hand or in the CRM.
ORIGINAL_SOURCES = (
    "ORGANIC_SEARCH",
    "PAID_SEARCH",
    "EMAIL_MARKETING",
    "SOCIAL_MEDIA",
    "REFERRALS",
    "OTHER_CAMPAIGNS",
    "DIRECT_TRAFFIC",
    "OFFLINE",
    "PAID_SOCIAL",
)


def _text(name: str, label: str, group: str = "contactinformation") -> PropertyDef:
    return PropertyDef(name, label, "string", "text", group)


def _analytics(name: str, label: str, kind: str) -> PropertyDef:
    field_type = "date" if kind == "datetime" else "text"
    group = "conversioninformation" if "conversion" in name else "analyticsinformation"
    return PropertyDef(name, label, kind, field_type, group, read_only=True)


def contact_properties() -> dict[str, PropertyDef]:
    defs = [
        _text("email", "Email"),
        _text("firstname", "First Name"),
        _text("lastname", "Last Name"),
        _text("company", "Company Name"),
        _text("jobtitle", "Job Title"),
        PropertyDef("phone", "Phone Number", "string", "phonenumber", "contactinformation"),
        _text("mobilephone", "Mobile Phone Number"),
        _text("country", "Country/Region"),
        _text("state", "State/Region"),
        _text("city", "City"),
        _text("zip", "Postal Code"),
        _text("website", "Website URL"),
        _text("industry", "Industry"),
        PropertyDef(
            "lifecyclestage",
            "Lifecycle Stage",
            "enumeration",
            "radio",
            "contactinformation",
            _options(LIFECYCLE_STAGES),
        ),
        PropertyDef(
            "hs_lead_status",
            "Lead Status",
            "enumeration",
            "radio",
            "sales_properties",
            _options(LEAD_STATUSES),
        ),
        PropertyDef(
            "hubspot_owner_id", "Contact owner", "enumeration", "select", "contactinformation"
        ),
        PropertyDef(
            "hs_email_optout",
            "Unsubscribed from all email",
            "enumeration",
            "booleancheckbox",
            "emailinformation",
            _options(("true", "false")),
            read_only=True,
        ),
        PropertyDef(
            "hs_analytics_source",
            "Original Source",
            "enumeration",
            "select",
            "analyticsinformation",
            _options(ORIGINAL_SOURCES),
            read_only=True,
        ),
        # Set by HubSpot's analytics and form tracking, read-only through the API.
        _analytics("hs_analytics_source_data_1", "Original Source Drill-Down 1", "string"),
        _analytics("hs_analytics_first_timestamp", "Time First Seen", "datetime"),
        _analytics("first_conversion_date", "First Conversion Date", "datetime"),
        _analytics("first_conversion_event_name", "First Conversion", "string"),
        _analytics("recent_conversion_date", "Recent Conversion Date", "datetime"),
        _analytics("recent_conversion_event_name", "Recent Conversion", "string"),
        PropertyDef(
            "createdate", "Create Date", "datetime", "date", "contactinformation", read_only=True
        ),
        PropertyDef(
            "lastmodifieddate",
            "Last Modified Date",
            "datetime",
            "date",
            "contactinformation",
            read_only=True,
        ),
        PropertyDef(
            "hs_object_id", "Record ID", "number", "number", "contactinformation", read_only=True
        ),
    ]
    return {d.name: d for d in defs}


def engagement_properties(object_type: str) -> dict[str, PropertyDef]:
    group = f"{object_type[:-1]}information"
    defs = [
        PropertyDef("hs_timestamp", "Activity date", "datetime", "date", group),
        PropertyDef("hubspot_owner_id", "Activity assigned to", "enumeration", "select", group),
        PropertyDef("hs_createdate", "Create date", "datetime", "date", group, read_only=True),
        PropertyDef(
            "hs_lastmodifieddate", "Last modified date", "datetime", "date", group, read_only=True
        ),
        PropertyDef("hs_object_id", "Record ID", "number", "number", group, read_only=True),
    ]
    specific = {
        "meetings": [
            ("hs_meeting_title", "string"),
            ("hs_meeting_body", "string"),
            ("hs_meeting_start_time", "datetime"),
            ("hs_meeting_end_time", "datetime"),
            ("hs_meeting_outcome", "string"),
        ],
        "calls": [
            ("hs_call_title", "string"),
            ("hs_call_body", "string"),
            ("hs_call_direction", "string"),
            ("hs_call_duration", "number"),
            ("hs_call_status", "string"),
        ],
        "notes": [("hs_note_body", "string")],
        "emails": [
            ("hs_email_subject", "string"),
            ("hs_email_text", "string"),
            ("hs_email_direction", "string"),
            ("hs_email_status", "string"),
        ],
    }[object_type]
    for name, kind in specific:
        field_type = {"string": "text", "number": "number", "datetime": "date"}[kind]
        defs.append(PropertyDef(name, name, kind, field_type, group))
    return {d.name: d for d in defs}


def default_groups() -> dict[str, dict[str, Any]]:
    names = {
        "contactinformation": "Contact information",
        "emailinformation": "Email information",
        "sales_properties": "Sales properties",
    }
    return {
        name: {"name": name, "label": label, "displayOrder": i, "archived": False}
        for i, (name, label) in enumerate(names.items())
    }


def parse_datetime_ms(value: Any) -> int | None:
    """Epoch milliseconds from epoch ms (int or digits) or an ISO 8601 string; None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def iso_ms(ms: int) -> str:
    """HubSpot's datetime rendering: ISO 8601 UTC with milliseconds and ``Z``."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def check_value(definition: PropertyDef | None, name: str, value: Any) -> InvalidValue | None:
    """Why HubSpot would refuse ``value`` for property ``name``, or None when it is fine."""
    if definition is None:
        return InvalidValue(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
    if definition.read_only:
        return InvalidValue(
            name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.'
        )
    if value is None or value == "":
        return None  # an empty value clears the property
    text = str(value)
    if definition.type == "number":
        try:
            float(text)
        except ValueError:
            return InvalidValue(name, "INVALID_INTEGER", f"{text} was not a valid number")
    elif definition.type in ("datetime", "date"):
        if parse_datetime_ms(text) is None:
            return InvalidValue(name, "INVALID_DATE", f"{text} was not a valid date")
    elif definition.type == "enumeration" and definition.options:
        allowed = [o["value"] for o in definition.options]
        if text not in allowed:
            return InvalidValue(
                name,
                "INVALID_OPTION",
                f"{text} was not one of the allowed options: [{', '.join(allowed)}]",
            )
    elif name == "email":
        try:
            validate_email(text, check_deliverability=False)
        except EmailNotValidError:
            return InvalidValue(name, "INVALID_EMAIL", f"Email address {text} is invalid")
    elif len(text) > _MAX_STRING:
        return InvalidValue(name, "INVALID_LONG_STRING", f"{name} is longer than {_MAX_STRING}")
    return None


def stored_value(definition: PropertyDef, value: Any) -> str | None:
    """What the portal keeps for an accepted value (HubSpot stores every value as a string)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if definition.name == "email":
        return text.strip().lower()
    if definition.type in ("datetime", "date"):
        ms = parse_datetime_ms(text)
        return iso_ms(ms) if ms is not None else text
    return text
