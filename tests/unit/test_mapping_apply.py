"""Applying mappings: raw records -> mapped records (pull), customer values -> tool (push)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from structlog.testing import capture_logs

from smarketing_sync import ConfigError
from smarketing_sync.mapping.apply import map_record, render_push
from smarketing_sync.mapping.load import load_mapping
from smarketing_sync.mapping.model import (
    MappedActivity,
    MappedContact,
    MappedDeal,
    MappingFailure,
)
from smarketing_sync.mapping.paths import compile_path, has_source_path
from smarketing_sync.mapping.spec import MappingSpec
from smarketing_sync.sdk.paths import MISSING

MAPPINGS = Path(__file__).parent / "mappings"
AT = datetime(2026, 3, 12, 10, 4, 17, 969000, tzinfo=UTC)


@pytest.fixture(scope="module")
def hubspot() -> MappingSpec:
    return load_mapping(MAPPINGS / "hubspot_like.toml")


@pytest.fixture(scope="module")
def pipedrive() -> MappingSpec:
    return load_mapping(MAPPINGS / "pipedrive_like.toml")


def contact(**properties: Any) -> dict[str, Any]:
    """A HubSpot CRM v3 contact object, shaped as in the contacts API reference."""
    base: dict[str, Any] = {
        "email": "bh@hubspot.com",
        "firstname": "Brian",
        "lastname": "Halligan",
        "lastmodifieddate": "2026-03-12T10:04:17.969Z",
    }
    base.update(properties)
    return {"id": "512", "properties": base, "archived": False}


def mapped_contact(spec: MappingSpec, raw: dict[str, Any], **kwargs: Any) -> MappedContact:
    result = map_record(spec, "contacts", raw, **kwargs)
    assert isinstance(result, MappedContact), result
    return result


def failure(spec: MappingSpec, stream: str, raw: Any) -> MappingFailure:
    result = map_record(spec, stream, raw)
    assert isinstance(result, MappingFailure), result
    assert result.reason
    return result


# --- contacts ----------------------------------------------------------------------------------
def test_contact_record(hubspot: MappingSpec) -> None:
    raw = contact(company="HubSpot", lifecyclestage="marketingqualifiedlead", country="Germany")
    result = mapped_contact(hubspot, raw)
    assert result.connector == "hubspot"
    assert result.stream == "contacts"
    assert result.external_id == "512"
    assert result.updated_at == AT
    assert result.identity == {"email": "bh@hubspot.com"}
    assert result.fields == {
        "email": "bh@hubspot.com",
        "first_name": "Brian",
        "last_name": "Halligan",
        "company": "HubSpot",
        "lifecycle": "mql",
        "country": "DE",
    }
    assert result.deleted is False
    assert result.warnings == ()


@pytest.mark.parametrize(
    ("written", "normalized"),
    [
        ("BH@HubSpot.COM", "bh@hubspot.com"),
        ("  bh@hubspot.com ", "bh@hubspot.com"),
        ("bh@hubspot.com\t", "bh@hubspot.com"),
        ("Jose\u0301@example.com", "jos\u00e9@example.com"),
        ("anna@Bücher.example", "anna@bücher.example"),
        ("anna@xn--bcher-kva.example", "anna@bücher.example"),
    ],
)
def test_email_is_normalized_for_field_and_identity(
    hubspot: MappingSpec, written: str, normalized: str
) -> None:
    result = mapped_contact(hubspot, contact(email=written))
    assert result.fields["email"] == normalized
    assert result.identity == {"email": normalized}


def test_invalid_email_on_identity_key_fails_the_record(hubspot: MappingSpec) -> None:
    raw = contact(email="brian at hubspot")
    result = failure(hubspot, "contacts", raw)
    assert result.field == "email"
    assert "'brian at hubspot' is not a valid email address" in result.reason
    assert result.external_id == "512"
    assert result.raw is raw
    assert (result.connector, result.stream) == ("hubspot", "contacts")


def test_invalid_email_outside_identity_drops_the_field(tmp_path: Path) -> None:
    text = (MAPPINGS / "hubspot_like.toml").read_text(encoding="utf-8")
    path = tmp_path / "hubspot.toml"
    path.write_text(text.replace('match_on = ["email"]', "match_on = []"), encoding="utf-8")
    result = mapped_contact(load_mapping(path), contact(email="brian at hubspot"))
    assert "email" not in result.fields
    assert result.identity == {}
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("email: 'brian at hubspot' is not a valid email address")


def test_blank_email_leaves_identity_empty(hubspot: MappingSpec) -> None:
    result = mapped_contact(hubspot, contact(email=""))
    assert result.fields["email"] is None
    assert result.identity == {}


def test_phone_uses_the_default_region(hubspot: MappingSpec) -> None:
    raw = contact(phone="030 1234567")
    assert mapped_contact(hubspot, raw, default_region="DE").fields["phone"] == "+49301234567"
    result = mapped_contact(hubspot, raw, default_region="US")
    assert "phone" not in result.fields
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("phone: '030 1234567' is not a valid phone number")
    assert result.warnings[0].endswith("(field dropped)")


def test_international_phone_ignores_the_region(hubspot: MappingSpec) -> None:
    result = mapped_contact(hubspot, contact(phone="+1 (201) 555-0123"), default_region="DE")
    assert result.fields["phone"] == "+12015550123"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-03-12T10:04:17.969Z", AT),
        ("2026-03-12T11:04:17.969+01:00", AT),
        ("2026-03-12T10:04:17.969", AT),
        ("2026-03-12 10:04:17", AT.replace(microsecond=0)),
        (1773309857969, AT),
        ("1773309857969", AT),
    ],
)
def test_updated_at_forms(hubspot: MappingSpec, written: object, expected: datetime) -> None:
    result = mapped_contact(hubspot, contact(lastmodifieddate=written))
    assert result.updated_at == expected
    assert result.updated_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("written", ["last tuesday", "", None, True])
def test_updated_at_unparsable_or_blank_fails(hubspot: MappingSpec, written: object) -> None:
    result = failure(hubspot, "contacts", contact(lastmodifieddate=written))
    assert result.field == "updated_at"
    assert result.external_id == "512"


def test_updated_at_missing_fails(hubspot: MappingSpec) -> None:
    raw = contact()
    del raw["properties"]["lastmodifieddate"]
    result = failure(hubspot, "contacts", raw)
    assert result.field == "updated_at"
    assert "'properties.lastmodifieddate' is missing" in result.reason


def test_scalars_bool_lower_string(hubspot: MappingSpec) -> None:
    raw = contact(hs_email_optout="true", website=" HubSpot.COM ", jobtitle=42)
    fields = mapped_contact(hubspot, raw).fields
    assert fields["opted_out"] is True
    assert fields["website"] == "hubspot.com"
    assert fields["job_title"] == "42"


def test_unknown_country_is_kept_with_a_warning(hubspot: MappingSpec) -> None:
    result = mapped_contact(hubspot, contact(country="Atlantis"))
    assert result.fields["country"] == "Atlantis"
    assert result.warnings == (
        "country: 'Atlantis' is not a known country code or English name (kept as written)",
    )


def test_unconvertible_value_drops_only_that_field(hubspot: MappingSpec) -> None:
    result = mapped_contact(hubspot, contact(hs_email_optout="sometimes", company="HubSpot"))
    assert "opted_out" not in result.fields
    assert result.fields["company"] == "HubSpot"
    assert result.warnings[0].startswith("opted_out: 'sometimes' is not a boolean")


@pytest.mark.parametrize(
    ("stage", "expected"),
    [("salesqualifiedlead", "sql"), ("evangelist", "lead"), ("", "lead"), (None, "lead")],
)
def test_value_map_with_default(hubspot: MappingSpec, stage: object, expected: str) -> None:
    result = mapped_contact(hubspot, contact(lifecyclestage=stage))
    assert result.fields["lifecycle"] == expected
    assert result.warnings == ()


def test_value_map_without_default_drops_unknown_values(hubspot: MappingSpec) -> None:
    raw = {"id": 9, "update_time": "2026-03-12 10:04:17", "status": "deleted"}
    result = map_record(hubspot, "deals", raw)
    assert isinstance(result, MappedDeal)
    assert "status" not in result.fields
    assert result.warnings == (
        "status: 'deleted' is not in the value map (known: lost, open, won) and there is no "
        "default (field dropped)",
    )


def test_missing_path_is_left_out_but_blank_is_none(hubspot: MappingSpec) -> None:
    raw = contact(company=None, city="", jobtitle="   ")
    fields = mapped_contact(hubspot, raw).fields
    assert fields["company"] is None  # blank in the tool
    assert fields["city"] is None
    assert fields["job_title"] is None
    assert "website" not in fields  # not in the record: the tool said nothing
    assert "phone" not in fields


def test_path_through_a_list_and_a_key_with_spaces(pipedrive: MappingSpec) -> None:
    raw = {
        "id": 7,
        "first_name": "Ana",
        "emails": [{"value": "Ana@Example.com", "primary": True}, {"value": "x@y.example"}],
        "phones": [],
        "update_time": "2026-03-12 10:04:17",
        "active_flag": True,
        "owner_id": 12,
        "custom_fields": {"Lead source": "Webinar"},
    }
    result = map_record(pipedrive, "persons", raw)
    assert isinstance(result, MappedContact)
    assert result.external_id == "7"
    assert result.identity == {"email": "ana@example.com"}
    assert result.fields["lead_source"] == "Webinar"
    assert result.fields["owner"] == "12"
    assert "phone" not in result.fields  # phones.0 does not exist
    assert result.deleted is False


def test_mapping_does_not_touch_the_raw_record(hubspot: MappingSpec) -> None:
    raw = contact(email="  BH@HubSpot.com ", lifecyclestage="lead")
    before = copy.deepcopy(raw)
    mapped_contact(hubspot, raw)
    assert raw == before


# --- identity, deletion, required --------------------------------------------------------------
@pytest.mark.parametrize(("written", "expected"), [(512, "512"), (" 512 ", "512"), (512.0, "512")])
def test_external_id_becomes_text(hubspot: MappingSpec, written: object, expected: str) -> None:
    raw = contact()
    raw["id"] = written
    assert mapped_contact(hubspot, raw).external_id == expected


@pytest.mark.parametrize("written", [None, "", {"id": 1}, True, 1.5])
def test_external_id_unusable_fails(hubspot: MappingSpec, written: object) -> None:
    raw = contact()
    raw["id"] = written
    result = failure(hubspot, "contacts", raw)
    assert (result.field, result.external_id) == ("external_id", None)


def test_external_id_missing_fails(hubspot: MappingSpec) -> None:
    raw = contact()
    del raw["id"]
    result = failure(hubspot, "contacts", raw)
    assert result.reason == "the record has no id at 'id'"


def test_deleted_flag(hubspot: MappingSpec, pipedrive: MappingSpec) -> None:
    raw = contact()
    raw["archived"] = True
    assert mapped_contact(hubspot, raw).deleted is True
    person = {"id": 1, "update_time": "2026-03-12 10:04:17", "active_flag": False, "emails": []}
    result = map_record(pipedrive, "persons", person)
    assert isinstance(result, MappedContact)
    assert result.deleted is True  # active_flag false, inverted by the value map


def test_deleted_record_gets_through_with_bad_fields(hubspot: MappingSpec) -> None:
    raw = contact(email="not an email")
    raw["archived"] = True
    result = mapped_contact(hubspot, raw)
    assert result.deleted is True
    assert result.identity == {}
    assert result.warnings[0].startswith("email: 'not an email' is not a valid email address")


def test_unreadable_deleted_flag_fails(hubspot: MappingSpec) -> None:
    raw = contact()
    raw["archived"] = "perhaps"
    assert failure(hubspot, "contacts", raw).field == "deleted"


def test_required_field(tmp_path: Path) -> None:
    text = (MAPPINGS / "hubspot_like.toml").read_text(encoding="utf-8")
    path = tmp_path / "hubspot.toml"
    path.write_text(
        text.replace(
            'company    = "properties.company"',
            'company = { from = "properties.company", required = true }',
        ),
        encoding="utf-8",
    )
    spec = load_mapping(path)
    assert mapped_contact(spec, contact(company="HubSpot")).fields["company"] == "HubSpot"
    missing = failure(spec, "contacts", contact())
    assert (missing.field, missing.reason) == (
        "company",
        "'properties.company' is missing from the record",
    )
    blank = failure(spec, "contacts", contact(company=" "))
    assert blank.field == "company"
    assert "blank" in blank.reason


def test_record_that_is_not_an_object_fails(hubspot: MappingSpec) -> None:
    result = failure(hubspot, "contacts", ["not", "a", "record"])
    assert result.reason == "the record is not a JSON object (found list)"
    assert result.raw == {"record": ["not", "a", "record"]}


def test_unknown_stream_is_a_caller_error(hubspot: MappingSpec) -> None:
    with pytest.raises(ConfigError, match="stream is not in the mapping"):
        map_record(hubspot, "companies", {})


# --- activities and deals ----------------------------------------------------------------------
def meeting(**extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": "3001",
        "properties": {
            "hs_timestamp": "2026-03-10T09:00:00Z",
            "hs_lastmodifieddate": "2026-03-12T10:04:17.969Z",
            "hs_meeting_title": "Intro call",
            "hs_meeting_duration": "1800",
        },
    }
    raw.update(extra)
    return raw


@pytest.mark.parametrize(
    ("contacts", "expected"),
    [
        (512, ("512",)),
        ("512", ("512",)),
        ([512, "513", 512], ("512", "513")),
        (["512", None, "", {"id": 1}], ("512",)),
    ],
)
def test_activity_contact_ids(
    hubspot: MappingSpec, contacts: object, expected: tuple[str, ...]
) -> None:
    result = map_record(hubspot, "meetings", meeting(associations={"contacts": contacts}))
    assert isinstance(result, MappedActivity)
    assert result.contact_ids == expected
    assert result.type == "meeting"
    assert result.occurred_at == datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    assert result.updated_at == AT
    assert result.fields == {"subject": "Intro call", "duration_s": 1800}


def test_activity_contact_item_that_is_not_an_id_is_warned(hubspot: MappingSpec) -> None:
    result = map_record(hubspot, "meetings", meeting(associations={"contacts": ["512", {"id": 1}]}))
    assert isinstance(result, MappedActivity)
    assert result.warnings == ("contact: {'id': 1} is not an id (skipped)",)


def test_activity_without_contact_is_kept_with_a_warning(hubspot: MappingSpec) -> None:
    result = map_record(hubspot, "meetings", meeting())
    assert isinstance(result, MappedActivity)
    assert result.contact_ids == ()
    assert "no contact id at 'associations.contacts'" in result.warnings[0]


def test_each_item_path_collects_ids(hubspot: MappingSpec) -> None:
    raw = {
        "id": 6,
        "properties": {
            "hs_timestamp": 1773309857969,
            "hs_lastmodifieddate": "2026-03-12T10:04:17.969Z",
            "hs_email_direction": "INCOMING_EMAIL",
        },
        "associations": {
            "contacts": {"results": [{"id": "7", "type": "email_to_contact"}, {"id": 8}]}
        },
    }
    result = map_record(hubspot, "emails", raw)
    assert isinstance(result, MappedActivity)
    assert result.contact_ids == ("7", "8")
    assert result.type == "email_received"
    assert result.occurred_at == AT


@pytest.mark.parametrize(
    ("direction", "expected"), [("EMAIL", "email_sent"), ("FORWARDED", "email"), (None, "email")]
)
def test_activity_type_from_a_rule(hubspot: MappingSpec, direction: object, expected: str) -> None:
    raw = meeting(associations={"contacts": [{"id": "1"}]})
    raw["properties"]["hs_email_direction"] = direction
    result = map_record(hubspot, "emails", raw)
    assert isinstance(result, MappedActivity)
    assert result.type == expected


def test_activity_without_occurred_at_fails(hubspot: MappingSpec) -> None:
    raw = meeting()
    raw["properties"]["hs_timestamp"] = "soon"
    result = failure(hubspot, "meetings", raw)
    assert (result.field, result.external_id) == ("occurred_at", "3001")


def test_deal_record(hubspot: MappingSpec) -> None:
    raw = {
        "id": 42,
        "person_id": 512,
        "title": "Pilot",
        "value": "12000",
        "currency": "eur",
        "status": "won",
        "won_time": "2026-03-11 16:00:00",
        "add_time": "2026-03-01 09:00:00",
        "update_time": "2026-03-12 10:04:17",
    }
    result = map_record(hubspot, "deals", raw)
    assert isinstance(result, MappedDeal)
    assert result.contact_ids == ("512",)
    assert result.fields == {
        "title": "Pilot",
        "amount": 12000.0,
        "currency": "EUR",
        "status": "won",
        "won_at": datetime(2026, 3, 11, 16, 0, tzinfo=UTC),
        "created_at": date(2026, 3, 1),
    }
    assert type(result.fields["created_at"]) is date
    assert result.warnings == ()


def test_deal_without_person_has_no_contacts(hubspot: MappingSpec) -> None:
    result = map_record(
        hubspot, "deals", {"id": 1, "update_time": "2026-03-12 10:04:17", "person_id": None}
    )
    assert isinstance(result, MappedDeal)
    assert (result.contact_ids, result.warnings) == ((), ())


_NESTED = {
    "a": "top",
    "p": {"email": "x@y.example", "none": None},
    "emails": [{"value": "first"}, {"value": "second"}],
    "codes": {"0": "zero-key"},
    "deep": MappingProxyType({"list": [[1, 2], [3]]}),
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a", "top"),
        ("p.email", "x@y.example"),
        ("p.none", None),
        ("emails.1.value", "second"),
        ("emails.0", {"value": "first"}),
        ("codes.0", "zero-key"),  # digits on an object are a key
        ("deep.list.0.1", 2),
        ("deep.list.1", [3]),
        ("missing", MISSING),
        ("p.missing", MISSING),
        ("a.b", MISSING),  # through a string
        ("emails.2.value", MISSING),
        ("emails.value", MISSING),  # a list needs an index
        ("p.email.x", MISSING),
        ("deep.list.9", MISSING),
    ],
)
def test_compiled_paths(path: str, expected: object) -> None:
    assert compile_path(path)(_NESTED) == expected


def test_compiled_path_on_a_non_object() -> None:
    for path in ("a", "a.b", "a.b.c"):
        assert compile_path(path)(["a"]) is MISSING
        assert compile_path(path)(None) is MISSING


def test_has_source_path() -> None:
    record = {"a": {"b": [{"id": 1}, {"id": 2}]}, "c": None}
    assert has_source_path(record, "a.b.1.id")
    assert has_source_path(record, "a.b.*.id")
    assert has_source_path(record, "c")
    assert not has_source_path(record, "a.b.2.id")
    assert not has_source_path(record, "a.x.*.id")


# --- push --------------------------------------------------------------------------------------
def test_render_push(hubspot: MappingSpec) -> None:
    push = hubspot.push["contacts"]
    values = {
        "first_name": "Brian",
        "score.value": 41.6,
        "stage": "mql",
        "handoff.status": "accepted",
        "opted_out": "false",
        "company": "HubSpot",  # not pushed by this mapping
    }
    assert render_push(push, values) == {
        "firstname": "Brian",
        "smarketing_score": 41.6,
        "smarketing_score_int": 42,
        "smarketing_stage": "MQL",
        "smarketing_handoff_at": "ACCEPTED",
        "hs_email_optout": False,
    }


def test_render_push_leaves_out_absent_sources(hubspot: MappingSpec) -> None:
    assert render_push(hubspot.push["contacts"], {"first_name": "Brian"}) == {"firstname": "Brian"}
    assert render_push(hubspot.push["contacts"], {}) == {}


def test_render_push_blank_and_unmapped_values(hubspot: MappingSpec) -> None:
    push = hubspot.push["contacts"]
    rendered = render_push(
        push, {"first_name": "", "stage": "customer", "handoff.status": None, "score.value": None}
    )
    assert rendered == {
        "firstname": None,  # blank: the flow decides whether a clear is needed
        "smarketing_score": None,
        "smarketing_score_int": None,
        "smarketing_handoff_at": "NONE",  # blank takes the default
    }
    assert "smarketing_stage" not in rendered  # the map does not say what 'customer' is


def test_render_push_value_that_does_not_fit_the_format_is_skipped_and_logged(
    hubspot: MappingSpec,
) -> None:
    with capture_logs() as logs:
        rendered = render_push(hubspot.push["contacts"], {"score.value": "high", "first_name": "B"})
    assert rendered == {"firstname": "B"}
    assert [entry["event"] for entry in logs] == ["mapping.push_value_skipped"] * 2
    assert logs[0]["field"] == "smarketing_score"
    assert logs[0]["format"] == "number"
