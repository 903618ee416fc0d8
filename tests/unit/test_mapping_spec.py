"""Loading and validating mapping files: every problem named with file, key, expected, found."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar, cast

import pytest

from smarketing_sync import (
    Capability,
    ConfigError,
    Connector,
    ConnectorSettings,
    Endpoint,
    RateLimit,
)
from smarketing_sync.mapping import locate
from smarketing_sync.mapping.check import check_mapping, path_is_documented
from smarketing_sync.mapping.load import load_mapping
from smarketing_sync.mapping.spec import (
    FieldRule,
    MappingErrors,
)
from smarketing_sync.sdk.declarations import FieldSpec

HUBSPOT_LIKE = Path(__file__).parent / "mappings" / "hubspot_like.toml"
PIPEDRIVE_LIKE = Path(__file__).parent / "mappings" / "pipedrive_like.toml"

BASE = """\
connector = "hubspot"
format = 1

[pull.contacts]
kind = "contact"
updated_at = { from = "properties.lastmodifieddate", as = "datetime" }

[pull.contacts.fields]
email = { from = "properties.email", as = "email" }
first_name = "properties.firstname"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hubspot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[ConfigError]:
    path = write(tmp_path, text)
    with pytest.raises(MappingErrors) as info:
        load_mapping(path)
    assert all(error.file == str(path) for error in info.value.errors)
    return info.value.errors


def only_problem(tmp_path: Path, text: str) -> ConfigError:
    found = problems(tmp_path, text)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


# --- files that load ---------------------------------------------------------------------------
def test_base_file_loads(tmp_path: Path) -> None:
    spec = load_mapping(write(tmp_path, BASE))
    assert spec.connector == "hubspot"
    assert spec.match_on == ("email",)
    assert spec.external_id == "id"
    contacts = spec.pull["contacts"]
    assert contacts.kind == "contact"
    assert contacts.external_id == "id"
    assert contacts.fields[0] == FieldRule("email", "properties.email", "email", None, None, False)
    assert contacts.updated_at is not None
    assert contacts.updated_at.converter == "datetime"
    assert spec.push == {}


def test_realistic_files_load() -> None:
    spec = load_mapping(HUBSPOT_LIKE)
    meetings = spec.pull["meetings"]
    assert (meetings.kind, meetings.activity_type, meetings.contact) == (
        "activity",
        "meeting",
        "associations.contacts",
    )
    emails_type = spec.pull["emails"].activity_type
    assert isinstance(emails_type, FieldRule)
    assert emails_type.default == "email"
    lifecycle = next(r for r in spec.pull["contacts"].fields if r.target == "lifecycle")
    assert lifecycle.value_map is not None
    assert lifecycle.value_map["marketingqualifiedlead"] == "mql"
    push = spec.push["contacts"]
    assert push.only_changed is True
    assert [r.target for r in push.fields][:2] == ["firstname", "smarketing_score"]
    assert push.create[1] == FieldSpec(
        "smarketing_stage", "smarketing stage", "enumeration", ("MQL", "SQL")
    )
    pipedrive = load_mapping(PIPEDRIVE_LIKE)
    assert pipedrive.pull["persons"].external_id == "id"
    assert pipedrive.pull["deals"].contact == "person_id"


def test_unquoted_string_updated_at_is_read_as_datetime(tmp_path: Path) -> None:
    text = BASE.replace(
        'updated_at = { from = "properties.lastmodifieddate", as = "datetime" }',
        'updated_at = "properties.lastmodifieddate"',
    )
    spec = load_mapping(write(tmp_path, text))
    assert spec.pull["contacts"].updated_at == FieldRule(
        "updated_at", "properties.lastmodifieddate", "datetime", None, None, False
    )


def test_extra_customer_fields_from_config_are_allowed(tmp_path: Path) -> None:
    text = BASE + 'partner_tier = "properties.partner_tier"\n'
    with pytest.raises(MappingErrors):
        load_mapping(write(tmp_path, text))
    spec = load_mapping(write(tmp_path, text), extra_customer_fields=["partner_tier"])
    assert [r.target for r in spec.pull["contacts"].fields][-1] == "partner_tier"


# --- one problem each --------------------------------------------------------------------------
def test_toml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        BASE.replace('first_name = "properties.firstname"', "first_name = properties.firstname"),
    )
    assert problem.key is None
    assert "line 10, column 14" in str(problem)
    assert problem.expected == "valid TOML"
    assert problem.found == "first_name = properties.firstname"
    assert str(problem).startswith(f"{tmp_path / 'hubspot.toml'}: not valid TOML")


def test_unknown_top_level_key_suggests_the_right_one(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, BASE.replace("format = 1", 'format = 1\nconector = "x"'))
    assert problem.key == "conector"
    assert "did you mean 'connector'?" in str(problem)
    assert problem.found == "conector"


def test_missing_connector(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, BASE.replace('connector = "hubspot"\n', ""))
    assert problem.key == "connector"
    assert "missing" in str(problem)
    assert problem.expected is not None
    assert "connector =" in problem.expected


@pytest.mark.parametrize(("line", "found"), [("format = 2", 2), ('format = "1"', "1")])
def test_wrong_format(tmp_path: Path, line: str, found: object) -> None:
    problem = only_problem(tmp_path, BASE.replace("format = 1", line))
    assert problem.key == "format"
    assert (problem.expected, problem.found) == ("format = 1", found)


def test_missing_format(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, BASE.replace("format = 1\n", ""))
    assert problem.key == "format"
    assert "missing" in str(problem)


def test_unknown_customer_field_suggests(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, BASE.replace("first_name =", "frist_name ="))
    assert problem.key == "pull.contacts.fields.frist_name"
    assert "unknown contact field 'frist_name'; did you mean 'first_name'?" in str(problem)
    assert problem.found == "frist_name"


def test_unknown_converter_suggests(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, BASE.replace('as = "email"', 'as = "emial"'))
    assert problem.key == "pull.contacts.fields.email"
    assert "unknown converter; did you mean 'email'?" in str(problem)
    assert problem.expected is not None
    assert "bool, country, date, datetime, email" in problem.expected
    assert problem.found == "emial"


def test_from_missing_in_table(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, BASE.replace('"properties.firstname"', '{ as = "string" }'))
    assert problem.key == "pull.contacts.fields.first_name"
    assert "missing 'from'" in str(problem)
    assert problem.expected == 'from = "<source path>"'


def test_unknown_key_in_field_table_suggests(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, BASE.replace('"properties.firstname"', '{ from = "p.f", defualt = "x" }')
    )
    assert problem.key == "pull.contacts.fields.first_name.defualt"
    assert "did you mean 'default'?" in str(problem)


def test_value_map_not_a_table(tmp_path: Path) -> None:
    text = BASE + 'lifecycle = { from = "properties.lifecyclestage", map = ["lead", "mql"] }\n'
    problem = only_problem(tmp_path, text)
    assert problem.key == "pull.contacts.fields.lifecycle"
    assert "'map' must be a table" in str(problem)
    assert problem.found == ["lead", "mql"]


def test_value_map_values_must_be_plain(tmp_path: Path) -> None:
    text = BASE + 'lifecycle = { from = "properties.stage", map = { lead = { a = 1 } } }\n'
    problem = only_problem(tmp_path, text)
    assert problem.key == "pull.contacts.fields.lifecycle.map.lead"


@pytest.mark.parametrize("kind", ['"person"', '"Contact"', "1"])
def test_kind_wrong(tmp_path: Path, kind: str) -> None:
    problem = only_problem(tmp_path, BASE.replace('kind = "contact"', f"kind = {kind}"))
    assert problem.key == "pull.contacts.kind"
    assert problem.expected == "one of activity, contact, deal"


ACTIVITY = """\
connector = "hubspot"
format = 1

[pull.meetings]
kind = "activity"
type = "meeting"
occurred_at = { from = "properties.hs_timestamp", as = "datetime" }
updated_at = { from = "properties.hs_lastmodifieddate", as = "datetime" }
contact = "associations.contacts"
"""


def test_activity_stream_loads(tmp_path: Path) -> None:
    meetings = load_mapping(write(tmp_path, ACTIVITY)).pull["meetings"]
    assert (meetings.activity_type, meetings.contact) == ("meeting", "associations.contacts")
    assert meetings.external_id == "id"


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('type = "meeting"\n', "pull.meetings.type"),
        (
            'occurred_at = { from = "properties.hs_timestamp", as = "datetime" }\n',
            "pull.meetings.occurred_at",
        ),
        ('contact = "associations.contacts"\n', "pull.meetings.contact"),
    ],
)
def test_activity_without_type_occurred_at_or_contact(tmp_path: Path, line: str, key: str) -> None:
    problem = only_problem(tmp_path, ACTIVITY.replace(line, ""))
    assert problem.key == key
    assert "missing" in str(problem)
    assert problem.expected is not None


def test_occurred_at_must_be_a_datetime(tmp_path: Path) -> None:
    text = ACTIVITY.replace(
        '"properties.hs_timestamp", as = "datetime"', '"properties.hs_timestamp", as = "date"'
    )
    problem = only_problem(tmp_path, text)
    assert problem.key == "pull.meetings.occurred_at"
    assert problem.found == "date"


def test_contact_key_is_not_for_contact_streams(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, BASE.replace('kind = "contact"', 'kind = "contact"\ncontact = "x"')
    )
    assert problem.key == "pull.contacts.contact"
    assert "unknown key" in str(problem)


def test_contact_stream_without_email_when_match_on_has_email(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, BASE.replace('email = { from = "properties.email", as = "email" }\n', "")
    )
    assert problem.key == "pull.contacts.fields"
    assert "identity key 'email' (identity.match_on) is not mapped" in str(problem)
    assert problem.found == ["first_name"]


def test_email_field_must_be_normalized(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, BASE.replace('{ from = "properties.email", as = "email" }', '"properties.email"')
    )
    assert problem.key == "pull.contacts.fields.email"
    assert problem.expected == 'as = "email"'


def test_identity_match_on_unknown_field(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, BASE + '[identity]\nmatch_on = ["emial"]\n')
    assert problem.key == "identity.match_on"
    assert "did you mean 'email'?" in str(problem)


def test_star_only_in_contact_paths(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, BASE.replace('"properties.firstname"', '"names.*.first"'))
    assert problem.key == "pull.contacts.fields.first_name"
    assert "'*'" in str(problem)
    text = ACTIVITY.replace('"associations.contacts"', '"associations.contacts.results.*.id"')
    assert (
        load_mapping(write(tmp_path, text)).pull["meetings"].contact
        == "associations.contacts.results.*.id"
    )


def test_empty_path_segment(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, BASE.replace('"properties.firstname"', '"properties..firstname"')
    )
    assert problem.key == "pull.contacts.fields.first_name"
    assert "empty segment" in str(problem)


PUSH = """
[push.contacts]
[push.contacts.fields]
smarketing_score = { from = "score.value", as = "number" }
smarketing_stage = { from = "stage", map = { mql = "MQL" } }
[push.contacts.create]
smarketing_score = { label = "smarketing score", type = "number" }
"""


def test_push_section_loads(tmp_path: Path) -> None:
    push = load_mapping(write(tmp_path, BASE + PUSH)).push["contacts"]
    assert push.only_changed is True
    assert push.fields[0] == FieldRule(
        "smarketing_score", "score.value", "number", None, None, False
    )
    assert push.create == (FieldSpec("smarketing_score", "smarketing score", "number"),)


def test_push_from_unknown_field(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, BASE + PUSH.replace('"score.value"', '"score.valeu"'))
    assert problem.key == "push.contacts.fields.smarketing_score"
    assert "unknown customer field or computed value 'score.valeu'" in str(problem)
    assert "did you mean 'score.value'?" in str(problem)


def test_push_unknown_format(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, BASE + PUSH.replace('as = "number"', 'as = "phone"'))
    assert problem.key == "push.contacts.fields.smarketing_score"
    assert "unknown push format" in str(problem)


def test_push_object_unknown(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, BASE + PUSH.replace("push.contacts", "push.contact"))
    assert problem.key == "push.contact"
    assert "did you mean 'contacts'?" in str(problem)


def test_create_field_type_not_allowed(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, BASE + PUSH.replace('type = "number"', 'type = "float"'))
    assert problem.key == "push.contacts.create.smarketing_score.type"
    assert problem.expected == "one of datetime, enumeration, number, string"
    assert problem.found == "float"


def test_create_enumeration_needs_options(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, BASE + PUSH.replace('type = "number"', 'type = "enumeration"'))
    assert problem.key == "push.contacts.create.smarketing_score.options"


def test_created_field_must_be_pushed(tmp_path: Path) -> None:
    text = BASE + PUSH + 'smarketing_other = { label = "other" }\n'
    problem = only_problem(tmp_path, text)
    assert problem.key == "push.contacts.create.smarketing_other"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = BASE.replace("format = 1", "format = 3").replace("first_name =", "frist_name =").replace(
        'as = "email"', 'as = "emial"'
    ) + PUSH.replace('type = "number"', 'type = "float"')
    found = problems(tmp_path, text)
    assert [p.key for p in found] == [
        "format",
        "pull.contacts.fields.email",
        "pull.contacts.fields.frist_name",
        "push.contacts.create.smarketing_score.type",
    ]
    with pytest.raises(MappingErrors) as info:
        load_mapping(write(tmp_path, text))
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'hubspot.toml'}: 4 problems")
    assert all(str(p) in message for p in found)
    assert isinstance(info.value, ConfigError)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(MappingErrors, match="cannot read the mapping file"):
        load_mapping(tmp_path / "nope.toml")


# --- against the connector's declaration -------------------------------------------------------
CONTACT_FIELDS = frozenset(
    {"id", "archived", "properties.lastmodifieddate", "properties.email", "properties.firstname"}
    | {f"properties.{p}" for p in ("lastname", "company", "jobtitle", "phone", "country", "city")}
    | {"properties.website", "properties.lifecyclestage", "properties.hs_email_optout"}
)


class FakeHubSpot:
    name = "hubspot"
    settings = ConnectorSettings
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.PULL_CONTACTS,
            Capability.PULL_ACTIVITIES,
            Capability.PULL_DEALS,
            Capability.PUSH_FIELDS,
            Capability.CREATE_FIELDS,
        }
    )
    base_url = "http://127.0.0.1:9"
    check_path = "/crm/v3/objects/contacts"
    rate_limit = RateLimit()
    push_batch_size = 100
    streams: ClassVar[dict[str, Endpoint]] = {
        "contacts": Endpoint("/contacts", kind="contact", records="results", fields=CONTACT_FIELDS),
        "meetings": Endpoint(
            "/meetings",
            kind="activity",
            records="results",
            fields=frozenset({"id", "properties.*", "associations.contacts.*"}),
        ),
        "emails": Endpoint("/emails", kind="activity", records="results"),  # fields not listed
        "deals": Endpoint("/deals", kind="deal", records="data"),
    }

    def headers(self, settings: Any) -> dict[str, str]:
        return {}


HUBSPOT = cast("type[Connector]", FakeHubSpot)


def test_matching_connector_has_no_problems() -> None:
    assert check_mapping(load_mapping(HUBSPOT_LIKE), HUBSPOT) == []


def test_source_path_typo_suggests_the_documented_path(tmp_path: Path) -> None:
    spec = load_mapping(
        write(tmp_path, BASE.replace("properties.firstname", "properties.frstname"))
    )
    [problem] = check_mapping(spec, HUBSPOT)
    assert problem.key == "pull.contacts.fields.first_name"
    assert "source path 'properties.frstname' is not a field of hubspot stream 'contacts'" in str(
        problem
    )
    assert problem.expected is not None
    assert problem.expected.startswith(
        "one of the stream's documented fields, e.g. properties.firstname"
    )
    assert problem.found == "properties.frstname"
    assert problem.file == str(tmp_path / "hubspot.toml")


def test_connector_name_must_match(tmp_path: Path) -> None:
    spec = load_mapping(write(tmp_path, BASE.replace('"hubspot"', '"pipedrive"')))
    [problem] = check_mapping(spec, HUBSPOT)
    assert (problem.key, problem.found) == ("connector", "pipedrive")


def test_stream_must_be_declared_with_the_same_kind(tmp_path: Path) -> None:
    text = BASE.replace("[pull.contacts]", "[pull.contact]").replace(
        "pull.contacts.fields", "pull.contact.fields"
    )
    [problem] = check_mapping(load_mapping(write(tmp_path, text)), HUBSPOT)
    assert problem.key == "pull.contact"
    assert "did you mean 'contacts'?" in str(problem)
    text = ACTIVITY.replace("[pull.meetings]", "[pull.deals]")
    [problem] = check_mapping(load_mapping(write(tmp_path, text)), HUBSPOT)
    assert (problem.key, problem.expected, problem.found) == (
        "pull.deals.kind",
        "'deal'",
        "activity",
    )


def test_push_needs_push_capability_and_create_needs_create_capability(tmp_path: Path) -> None:
    spec = load_mapping(write(tmp_path, BASE + PUSH))

    class ReadOnly(FakeHubSpot):
        capabilities = frozenset({Capability.PULL_CONTACTS})

    found = check_mapping(spec, cast("type[Connector]", ReadOnly))
    assert [p.key for p in found] == ["push.contacts", "push.contacts.create"]
    assert "capability push:fields" in str(found[0])
    assert "capability create:fields" in str(found[1])


def test_unlisted_stream_fields_are_not_checked(tmp_path: Path) -> None:
    text = ACTIVITY.replace("[pull.meetings]", "[pull.emails]").replace(
        "hs_timestamp", "anything.at.all"
    )
    assert check_mapping(load_mapping(write(tmp_path, text)), HUBSPOT) == []


@pytest.mark.parametrize(
    ("path", "documented", "ok"),
    [
        ("properties.email", {"properties.email"}, True),
        ("properties.emial", {"properties.email"}, False),
        ("properties.email", {"properties.*"}, True),
        ("properties", {"properties.*"}, True),
        ("custom_fields.Lead source", {"custom_fields.*"}, True),
        ("emails.0.value", {"emails.*"}, True),
        ("emails.0.value", {"emails.*.value"}, True),
        ("emails.0.value", {"emails.0.value"}, True),
        ("emails.2.value", {"emails.0.value"}, True),
        ("emails.0.label", {"emails.*.value"}, False),
        ("emails.*.value", {"emails.*.value"}, True),
        ("emails.*.value", {"emails.0.value"}, True),
        ("emails.primary.value", {"emails.0.value"}, False),
        ("emails.0", {"emails.0.value"}, False),
        ("emails.0.value.x", {"emails.0.value"}, False),
        ("owner.id", {"owner.*.id"}, False),
    ],
)
def test_path_is_documented(path: str, documented: set[str], ok: bool) -> None:
    assert path_is_documented(path, documented) is ok


def test_source_paths_lists_every_raw_path() -> None:
    spec = load_mapping(HUBSPOT_LIKE)
    paths = dict(spec.source_paths("meetings"))
    assert paths == {
        "pull.meetings.external_id": "id",
        "pull.meetings.updated_at": "properties.hs_lastmodifieddate",
        "pull.meetings.occurred_at": "properties.hs_timestamp",
        "pull.meetings.contact": "associations.contacts",
        "pull.meetings.fields.subject": "properties.hs_meeting_title",
        "pull.meetings.fields.duration_s": "properties.hs_meeting_duration",
    }
    contacts = dict(spec.source_paths("contacts"))
    assert contacts["identity.external_id"] == "id"
    assert contacts["pull.contacts.deleted"] == "archived"
    assert dict(spec.source_paths("emails"))["pull.emails.type"] == "properties.hs_email_direction"


# --- finding the file --------------------------------------------------------------------------
def test_find_mapping_prefers_the_mappings_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packaged = tmp_path / "packaged.toml"
    monkeypatch.setattr(locate, "packaged_mapping", lambda connector: packaged)
    (tmp_path / "hubspot.toml").write_text(BASE, encoding="utf-8")
    assert locate.find_mapping("hubspot", tmp_path) == tmp_path / "hubspot.toml"
    assert locate.find_mapping("pipedrive", tmp_path) == packaged
    assert locate.find_mapping("pipedrive", None) == packaged


def test_find_mapping_names_both_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locate, "packaged_mapping", lambda connector: None)
    with pytest.raises(ConfigError) as info:
        locate.find_mapping("mailchimp", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "mailchimp.toml") in message
    assert "default_mappings/mailchimp.toml" in message
    assert info.value.key == "connectors.mailchimp.mapping"


def test_packaged_mapping_is_looked_up_in_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "smarketing_sync"
    (package / "default_mappings").mkdir(parents=True)
    (package / "default_mappings" / "hubspot.toml").write_text(BASE, encoding="utf-8")
    monkeypatch.setattr(locate, "resources", SimpleNamespace(files=lambda name: package))
    assert locate.packaged_mapping("hubspot") == package / "default_mappings" / "hubspot.toml"
    assert locate.packaged_mapping("pipedrive") is None


def test_find_mapping_rejects_a_path_as_connector_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a connector name"):
        locate.find_mapping("../etc/passwd", tmp_path)
