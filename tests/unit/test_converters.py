"""Converters and push formats: the closed registries behind ``as = "..."``."""

from __future__ import annotations

import re
import string
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given
from hypothesis import strategies as st

from smarketing_sync.mapping.converters import (
    CONVERTERS,
    PUSH_FORMATS,
    KeptAsWritten,
    normalize_email,
)

DOC = Path("docs/mapping.md")


def convert(name: str, value: object, region: str = "US") -> object:
    return CONVERTERS[name](value, region)


# --- registries --------------------------------------------------------------------------------
def test_registries_are_closed() -> None:
    with pytest.raises(TypeError):
        CONVERTERS["eval"] = lambda value, region: value  # type: ignore[index]
    with pytest.raises(TypeError):
        PUSH_FORMATS["eval"] = lambda value: value  # type: ignore[index]


def test_docs_list_exactly_the_registered_converters() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("## Converters", 1)[1].split("\n\n", 2)[1]
    documented = set()
    for row in table.splitlines()[2:]:
        documented.update(re.findall(r"`([a-z_]+)`", row.split("|")[1]))
    assert documented == set(CONVERTERS)
    push_line = next(line for line in text.splitlines() if line.startswith("On push, `as`"))
    push_block = text.split(push_line, 1)[1].split("\n\n", 1)[0]
    assert set(re.findall(r"`([a-z_]+)`", push_line + push_block)) - {"as"} == set(PUSH_FORMATS)


# --- email -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Brian.Halligan@HubSpot.com", "brian.halligan@hubspot.com"),
        ("  ANNA@EXAMPLE.COM ", "anna@example.com"),
        ("anna@example.com\t", "anna@example.com"),
        ("\t\nanna@example.com\u00a0", "anna@example.com"),
        ("Jo+Tag@Sub.Example.Org", "jo+tag@sub.example.org"),
    ],
)
def test_email_case_and_surrounding_whitespace(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


def test_email_unicode_nfc() -> None:
    decomposed = "Jose\u0301@example.com"  # e + combining acute accent
    composed = "jos\u00e9@example.com"
    assert normalize_email(decomposed) == composed
    assert unicodedata.is_normalized("NFC", normalize_email(decomposed))


def test_email_idn_domain_unicode_and_punycode_are_the_same_address() -> None:
    assert normalize_email("Anna@Bücher.example") == "anna@bücher.example"
    assert normalize_email("anna@xn--bcher-kva.example") == "anna@bücher.example"


@pytest.mark.parametrize(
    "raw",
    ["not-an-email", "a@b", "a@@b.example", "a b@c.example", "a@localhost", "a@x.test", ".a@b.com"],
)
def test_email_invalid_raises_with_value_and_reason(raw: str) -> None:
    with pytest.raises(ValueError, match=r"is not a valid email address: \S") as info:
        normalize_email(raw)
    assert repr(raw.strip()) in str(info.value)


def test_email_rejects_non_text() -> None:
    with pytest.raises(ValueError, match="is not a valid email address"):
        normalize_email(42)


_ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
_LABELS = st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=66)
_TLDS = st.sampled_from(["com", "EXAMPLE", "org", "c0m", "x", "test", "local", "xn--p1ai", "ab--c"])
_ASCII_EMAILS = st.builds(
    lambda pad, local, labels, tld, tail: f"{pad}{local}@{'.'.join([*labels, tld])}{tail}",
    st.sampled_from(["", " ", "\t"]),
    st.text(alphabet=_ATEXT + ".", min_size=1, max_size=70),
    st.lists(_LABELS, min_size=0, max_size=4),
    _TLDS,
    st.sampled_from(["", " ", "\t", "."]),
)


def _reference(raw: str) -> str | None:
    """email-validator itself, the definition the fast path must agree with."""
    try:
        checked = validate_email(
            unicodedata.normalize("NFC", raw.strip()), check_deliverability=False
        )
    except EmailNotValidError:
        return None
    return unicodedata.normalize("NFC", checked.normalized.lower())


@given(_ASCII_EMAILS)
def test_email_fast_path_agrees_with_email_validator(raw: str) -> None:
    expected = _reference(raw)
    if expected is None:
        with pytest.raises(ValueError, match="is not a valid email address"):
            normalize_email(raw)
    else:
        assert normalize_email(raw) == expected


@given(st.one_of(_ASCII_EMAILS, st.text(max_size=80)))
def test_email_is_idempotent_and_only_raises_value_error(raw: str) -> None:
    try:
        once = normalize_email(raw)
    except ValueError:
        return
    assert normalize_email(once) == once


# --- phone -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+49 30 1234567", "US", "+49301234567"),
        ("030 1234567", "DE", "+49301234567"),
        ("(201) 555-0123", "US", "+12015550123"),
        ("(201) 555-0123", "us", "+12015550123"),
        (12015550123, "US", "+12015550123"),
    ],
)
def test_phone_to_e164_with_default_region(raw: object, region: str, expected: str) -> None:
    assert convert("phone", raw, region) == expected


@pytest.mark.parametrize("raw", ["12345", "+1 555", "call me", "030 1234567", True, [1]])
def test_phone_invalid_raises(raw: object) -> None:
    with pytest.raises(ValueError, match="phone number"):
        convert("phone", raw, "US")


# --- datetime and date -------------------------------------------------------------------------
_AT = datetime(2026, 3, 12, 10, 4, 17, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-03-12T10:04:17Z", _AT),
        ("2026-03-12T12:04:17+02:00", _AT),
        ("2026-03-12T05:04:17-05:00", _AT),
        ("2026-03-12T10:04:17", _AT),
        ("2026-03-12 10:04:17", _AT),  # Pipedrive: naive means UTC
        ("2026-03-12T10:04:17.969Z", _AT + timedelta(milliseconds=969)),  # HubSpot
        (1773309857000, _AT),  # epoch milliseconds
        ("1773309857000", _AT),
        (" 1773309857969 ", _AT + timedelta(milliseconds=969)),
        (1773309857000.0, _AT),
        (datetime(2026, 3, 12, 10, 4, 17), _AT),  # noqa: DTZ001 - a naive value is the point
    ],
)
def test_datetime_is_aware_utc(raw: object, expected: datetime) -> None:
    parsed = convert("datetime", raw)
    assert parsed == expected
    assert isinstance(parsed, datetime)
    assert parsed.utcoffset() == timedelta(0)


def test_datetime_offset_is_converted_not_dropped() -> None:
    parsed = convert("datetime", "2026-03-12T23:30:00-05:00")
    assert isinstance(parsed, datetime)
    assert parsed == datetime(2026, 3, 13, 4, 30, tzinfo=UTC)
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "raw", ["yesterday", "2026-13-01", "12/03/2026", True, 1.5, {"at": 1}, "9" * 30, "--5"]
)
def test_datetime_invalid_raises(raw: object) -> None:
    with pytest.raises(ValueError, match=r"date-time|out of range"):
        convert("datetime", raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-03-12", date(2026, 3, 12)),
        ("2026-03-12T23:30:00-05:00", date(2026, 3, 12)),  # the date as written, not shifted
        ("2026-03-12 00:00:00", date(2026, 3, 12)),
        (1773273600000, date(2026, 3, 12)),  # HubSpot date property: midnight UTC in ms
    ],
)
def test_date_stays_a_date(raw: object, expected: date) -> None:
    parsed = convert("date", raw)
    assert parsed == expected
    assert type(parsed) is date


@pytest.mark.parametrize("raw", ["2026-03-12x", "12.03.2026", "soon", False])
def test_date_invalid_raises(raw: object) -> None:
    with pytest.raises(ValueError, match="is not a date"):
        convert("date", raw)


# --- numbers, flags, text, country -------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"), [(3, 3.0), (2.5, 2.5), ("1200.50", 1200.5), (" -4 ", -4.0), ("1e3", 1e3)]
)
def test_number(raw: object, expected: float) -> None:
    assert convert("number", raw) == expected
    assert type(convert("number", raw)) is float


@pytest.mark.parametrize("raw", ["12 apples", "1,5", "nan", "inf", True, [1]])
def test_number_invalid_raises(raw: object) -> None:
    with pytest.raises(ValueError, match="number"):
        convert("number", raw)


@pytest.mark.parametrize(("raw", "expected"), [(7, 7), (7.0, 7), ("42", 42), (" 42.0 ", 42)])
def test_int(raw: object, expected: int) -> None:
    assert convert("int", raw) == expected
    assert type(convert("int", raw)) is int


@pytest.mark.parametrize("raw", [7.5, "7.5", "seven", False])
def test_int_invalid_raises(raw: object) -> None:
    with pytest.raises(ValueError, match="number"):
        convert("int", raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        ("TRUE", True),
        (" yes ", True),
        ("1", True),
        (1, True),
        (False, False),
        ("False", False),
        ("no", False),
        ("0", False),
        (0, False),
    ],
)
def test_bool(raw: object, expected: bool) -> None:
    assert convert("bool", raw) is expected


@pytest.mark.parametrize("raw", ["maybe", 2, "", [True]])
def test_bool_invalid_raises(raw: object) -> None:
    with pytest.raises(ValueError, match="boolean"):
        convert("bool", raw)


def test_text_converters() -> None:
    assert convert("string", "  Brian ") == "Brian"
    assert convert("string", 42) == "42"
    assert convert("string", 42.0) == "42"
    assert convert("string", True) == "true"
    assert convert("lower", " HubSpot.COM ") == "hubspot.com"
    assert convert("upper", "eur") == "EUR"
    with pytest.raises(ValueError, match="expected a text value"):
        convert("string", {"a": 1})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("de", "DE"),
        ("DE", "DE"),
        ("Germany", "DE"),
        ("  germany ", "DE"),
        ("United States", "US"),
        ("USA", "US"),
        ("UK", "GB"),
        ("United Kingdom", "GB"),
        ("Cote d'Ivoire", "CI"),
        ("Côte d’Ivoire", "CI"),
        ("Czechia", "CZ"),
    ],
)
def test_country_to_alpha2(raw: str, expected: str) -> None:
    assert convert("country", raw) == expected


def test_country_unknown_is_kept_as_written() -> None:
    with pytest.raises(KeptAsWritten) as info:
        convert("country", " Atlantis ")
    assert info.value.value == "Atlantis"
    assert "not a known country" in str(info.value)


# --- push formats ------------------------------------------------------------------------------
def test_push_formats() -> None:
    at = datetime(2026, 3, 12, 12, 4, 17, 969000, tzinfo=timezone(timedelta(hours=2)))
    assert PUSH_FORMATS["datetime"](at) == "2026-03-12T10:04:17.969Z"
    assert PUSH_FORMATS["datetime"]("2026-03-12 10:04:17") == "2026-03-12T10:04:17.000Z"
    assert PUSH_FORMATS["datetime_ms"](at) == 1773309857969
    assert PUSH_FORMATS["date"](date(2026, 3, 12)) == "2026-03-12"
    assert PUSH_FORMATS["date"]("2026-03-12T10:04:17Z") == "2026-03-12"
    assert PUSH_FORMATS["number"]("41.5") == 41.5
    assert PUSH_FORMATS["int"](41.6) == 42
    assert PUSH_FORMATS["int"]("41") == 41
    assert PUSH_FORMATS["bool"]("yes") is True
    assert PUSH_FORMATS["string"](True) == "true"
    assert PUSH_FORMATS["string"](at) == "2026-03-12T10:04:17.969Z"
    assert PUSH_FORMATS["string"](12.0) == "12"


@pytest.mark.parametrize(
    ("name", "value"), [("number", "high"), ("int", True), ("bool", "maybe"), ("datetime", "soon")]
)
def test_push_format_rejects(name: str, value: object) -> None:
    with pytest.raises(ValueError, match="not a"):
        PUSH_FORMATS[name](value)
