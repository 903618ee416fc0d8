"""Random vendor payloads through map_record: every input is mapped or failed, nothing raises."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smarketing_sync.mapping.apply import map_record
from smarketing_sync.mapping.load import load_mapping
from smarketing_sync.mapping.model import MappedActivity, MappedContact, MappedDeal, MappingFailure
from smarketing_sync.mapping.spec import MappingSpec

MAPPINGS = Path(__file__).parent / "mappings"
SPECS = {name: load_mapping(MAPPINGS / f"{name}_like.toml") for name in ("hubspot", "pipedrive")}

# JSON-like values, with the kinds of text vendors send: unicode, blanks, dates, digits.
_TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            " ",
            "\t",
            "true",
            "no",
            "2026-03-12T10:04:17.969Z",
            "2026-03-12 10:04:17",
            "1773309857969",
            "-1",
            "+49 30 1234567",
            "BH@HubSpot.com ",
            "a@xn--bcher-kva.example",
            "Germany",
            "lead",
            "marketingqualifiedlead",
            "won",
            "EMAIL",
            "nan",
            "1e400",
            "9" * 40,
        ]
    ),
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    _TEXT,
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(_TEXT, st.sampled_from(["id", "0", "value"])), inner, max_size=4),
    ),
    max_leaves=12,
)


_WHEN = st.one_of(  # usually a usable timestamp, so the fields behind it get exercised too
    st.sampled_from(["2026-03-12T10:04:17.969Z", "2026-03-12 10:04:17", "2026-03-12T10:04+02:00"]),
    st.integers(min_value=0, max_value=4 * 10**12),
    st.integers(min_value=0, max_value=4 * 10**12).map(str),
    _SCALARS,
)
_ID = st.one_of(st.integers(1, 10**6), st.integers(1, 10**6).map(str), _JSON)
_VALUE = st.one_of(_TEXT, _JSON)


def _shaped(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects holding (some of) the keys a mapping reads, with random values."""
    return st.fixed_dictionaries({}, optional=dict.fromkeys(keys, _VALUE))


_HUBSPOT_PROPERTIES = st.fixed_dictionaries(
    {"lastmodifieddate": _WHEN, "hs_lastmodifieddate": _WHEN, "hs_timestamp": _WHEN},
    optional=dict.fromkeys(
        [
            "email",
            "firstname",
            "lastname",
            "company",
            "jobtitle",
            "phone",
            "country",
            "city",
            "website",
            "lifecyclestage",
            "hs_email_optout",
            "hs_meeting_title",
            "hs_meeting_duration",
            "hs_email_direction",
        ],
        _VALUE,
    ),
)
_ASSOCIATIONS = st.fixed_dictionaries(
    {"contacts": st.one_of(_JSON, st.fixed_dictionaries({"results": st.lists(_shaped(["id"]))}))}
)
_HUBSPOT_RECORDS = st.fixed_dictionaries(
    {"id": _ID, "properties": st.one_of(_HUBSPOT_PROPERTIES, _JSON)},
    optional={
        "archived": st.one_of(st.booleans(), _JSON),
        "associations": st.one_of(_ASSOCIATIONS, _JSON),
        "update_time": _WHEN,
        **dict.fromkeys(["person_id", "title", "value", "currency", "status", "add_time"], _VALUE),
        "won_time": _WHEN,
    },
)
_PIPEDRIVE_RECORDS = st.fixed_dictionaries(
    {"id": _ID, "update_time": _WHEN},
    optional={
        "emails": st.one_of(st.lists(_shaped(["value", "primary"]), max_size=2), _JSON),
        "phones": st.one_of(st.lists(_shaped(["value"]), max_size=2), _JSON),
        "due_date": _WHEN,
        "active_flag": st.one_of(st.booleans(), _SCALARS),
        "participants": st.one_of(st.lists(_shaped(["person_id"]), max_size=3), _JSON),
        "custom_fields": st.one_of(_shaped(["Lead source"]), _JSON),
        **dict.fromkeys(
            [
                *("first_name", "last_name", "org_name", "owner_id", "type", "subject"),
                *("duration_s", "person_id", "title", "value", "currency", "status"),
                *("won_time", "lost_reason"),
            ],
            _VALUE,
        ),
    },
)
_PAYLOADS = {
    "hubspot": st.one_of(_HUBSPOT_RECORDS, st.dictionaries(_TEXT, _JSON, max_size=5)),
    "pipedrive": st.one_of(_PIPEDRIVE_RECORDS, st.dictionaries(_TEXT, _JSON, max_size=5)),
}


def _check(spec: MappingSpec, stream: str, raw: Any) -> None:
    result = map_record(spec, stream, raw, default_region="DE")
    if isinstance(result, MappingFailure):
        assert isinstance(result.reason, str)
        assert result.reason.strip()
        assert (result.connector, result.stream) == (spec.connector, stream)
        return
    assert isinstance(result, MappedContact | MappedActivity | MappedDeal)
    assert result.updated_at.utcoffset() == timedelta(0)
    assert result.external_id
    assert isinstance(result.external_id, str)
    rules = {rule.target for rule in spec.pull[stream].fields}
    assert set(result.fields) <= rules
    assert all(isinstance(w, str) and w for w in result.warnings)
    if isinstance(result, MappedContact):
        assert all(isinstance(v, str) and v for v in result.identity.values())
    else:
        assert all(isinstance(c, str) and c for c in result.contact_ids)
    if isinstance(result, MappedActivity):
        assert result.occurred_at.utcoffset() == timedelta(0)
        assert isinstance(result.type, str)
        assert result.type


CASES = [(tool, stream) for tool, spec in sorted(SPECS.items()) for stream in sorted(spec.pull)]


def _fuzz(tool: str, stream: str, examples: int) -> None:
    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(raw=_PAYLOADS[tool])
    def run(raw: Any) -> None:
        _check(SPECS[tool], stream, raw)

    run()


@pytest.mark.parametrize(("tool", "stream"), CASES)
def test_shaped_payloads(tool: str, stream: str) -> None:
    _fuzz(tool, stream, examples=100)


@pytest.mark.slow
@pytest.mark.parametrize(("tool", "stream"), CASES)
def test_shaped_payloads_deep(tool: str, stream: str) -> None:
    _fuzz(tool, stream, examples=2_000)


@settings(max_examples=100, deadline=None)
@given(raw=_JSON)
def test_any_json_value_as_a_record(raw: Any) -> None:
    _check(SPECS["hubspot"], "contacts", raw)
