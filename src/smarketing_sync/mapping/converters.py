"""The closed registries of value converters: ``as = "..."`` in a mapping file.

Pull converters (``CONVERTERS``) turn a raw vendor value into a customer value; push formats
(``PUSH_FORMATS``) turn a customer value into what a tool expects. Both raise ``ValueError``
with a reason a person can act on when a value does not fit; the mapping stage decides whether
that drops the field (with a warning) or fails the record. They only ever see non-blank values:
blank handling (None, empty or whitespace-only text, empty list/object) is the caller's job.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from smarketing_sync.mapping.countries import country_table
from smarketing_sync.mapping.countries import fold as _fold

#: (raw value, default phone region) -> customer value; ValueError when the value does not fit.
Converter = Callable[[Any, str], Any]
#: customer value -> the value written to the tool; ValueError when the value does not fit.
PushFormat = Callable[[Any], Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


class KeptAsWritten(ValueError):
    """A converter did not recognise the value but keeps it as written (``country``)."""

    def __init__(self, message: str, value: Any) -> None:
        super().__init__(message)
        self.value = value


def show(value: object, limit: int = 80) -> str:
    """A bounded repr of a value for messages (values are data, never secrets)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    return "a list" if isinstance(value, list) else type(value).__name__


def as_text(value: Any) -> str:
    """Text form of a scalar: strings stripped, bools as true/false, integral floats as ints."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise ValueError(f"expected a text value, found {_kind(value)}")


# --- email -------------------------------------------------------------------------------------
# email-validator costs ~25 µs per address, more than the whole per-record budget of the mapping
# stage. Plain ASCII addresses take this fast path instead; it accepts a strict subset of what
# email-validator accepts and normalizes them the same way (lower case), which
# tests/unit/test_converters.py checks against email-validator with hypothesis. Everything else
# (Unicode, IDN/Punycode domains, odd syntax) goes through email-validator itself.
_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_FAST_EMAIL = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*@(?:{_LABEL}\.)+[a-z0-9-]*[a-z]")
_RLDH_LABEL = re.compile(r"(?:^|\.)..--")  # R-LDH labels (xn--, ab--): IDNA rules apply
_SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")  # RFC 6761 & co


def _fast_email(text: str) -> str | None:
    if not text.isascii():
        return None
    lowered = text.lower()
    if len(lowered) > 254 or not _FAST_EMAIL.fullmatch(lowered):
        return None
    local, domain = lowered.rsplit("@", 1)
    if len(local) > 64 or len(domain) > 253 or _RLDH_LABEL.search(domain):
        return None
    tld = domain.rsplit(".", 1)[1]
    if len(tld) > 63 or tld.startswith("-") or tld in _SPECIAL_USE:
        return None
    return lowered


def normalize_email(value: object) -> str:
    """Strip, Unicode NFC, lower-case and syntax-check an email address (no DNS lookups).

    IDN domains come back in their Unicode form, so ``a@xn--bcher-kva.example`` and
    ``a@Bücher.example`` normalize to the same ``a@bücher.example``.

    Raises:
        ValueError: ``"'x' is not a valid email address: <why>"``.
    """
    if not isinstance(value, str):
        raise ValueError(f"{show(value)} is not a valid email address: expected text")
    text = value.strip()
    fast = _fast_email(text)
    if fast is not None:
        return fast
    text = unicodedata.normalize("NFC", text)
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"{show(text)} is not a valid email address: {exc}") from None
    return unicodedata.normalize("NFC", checked.normalized.lower())


def _email(value: Any, region: str) -> str:
    return normalize_email(value)


# --- phone -------------------------------------------------------------------------------------
# phonenumbers needs ~20 µs to parse and validate one number, the most expensive step of a
# mapping. B2B records share numbers (a company's switchboard) and incremental pulls re-read the
# same people, so valid results are kept in a small cache; invalid ones are simply re-checked.
@lru_cache(maxsize=8192)
def _e164(text: str, region: str) -> str:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{show(text)} is not a valid phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(
            f"{show(text)} is not a valid phone number (numbers without a country code are "
            f"read as {region})"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phone(value: Any, region: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{show(value)} is not a phone number: expected text")
    return _e164(as_text(value), region.upper())


# --- dates and times ---------------------------------------------------------------------------
def _is_int_text(text: str) -> bool:
    digits = text[1:] if text[:1] == "-" else text
    return digits.isascii() and digits.isdigit()


def _from_epoch_ms(ms: int) -> datetime:
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        raise ValueError(f"{ms} is out of range for epoch milliseconds") from None


def parse_datetime(value: Any) -> datetime:
    """A timezone-aware UTC datetime from ISO 8601 text or epoch milliseconds (int or digits).

    Naive values (``2026-03-12 10:04:17``) are read as UTC; offsets are converted to UTC.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, bool):
        raise ValueError(f"{show(value)} is not a date-time: expected ISO 8601 or epoch ms")
    elif isinstance(value, int):
        return _from_epoch_ms(value)
    elif isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{show(value)} is not a date-time: epoch ms must be whole")
        return _from_epoch_ms(int(value))
    elif isinstance(value, str):
        text = value.strip()
        if _is_int_text(text):
            return _from_epoch_ms(int(text))
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{show(text)} is not a date-time: expected ISO 8601 or epoch milliseconds"
            ) from None
    else:
        raise ValueError(f"{show(value)} is not a date-time: found {_kind(value)}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{show(value)} is out of range once converted to UTC") from None


def _datetime(value: Any, region: str) -> datetime:
    return parse_datetime(value)


def parse_date(value: Any) -> date:
    """A calendar date: ``YYYY-MM-DD`` (a time part is ignored, never shifted through UTC);
    epoch milliseconds give the UTC date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _is_int_text(text):
            return _from_epoch_ms(int(text)).date()
        head, tail = text[:10], text[10:]
        if tail[:1] not in ("", "T", " "):
            raise ValueError(f"{show(text)} is not a date: expected YYYY-MM-DD")
        try:
            return date.fromisoformat(head)
        except ValueError:
            raise ValueError(f"{show(text)} is not a date: expected YYYY-MM-DD") from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return parse_datetime(value).date()
    raise ValueError(f"{show(value)} is not a date: found {_kind(value)}")


def _date(value: Any, region: str) -> date:
    return parse_date(value)


# --- numbers and flags -------------------------------------------------------------------------
def parse_number(value: Any) -> float:
    """A finite float from an int, a float or numeric text."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{show(value)} is not a number: found {_kind(value)}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise ValueError(f"{show(value)} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{show(value)} is not a finite number")
    return number


def _number(value: Any, region: str) -> float:
    return parse_number(value)


def parse_int(value: Any) -> int:
    """An integer from an int, an integral float or integral numeric text (``"42"``, ``"42.0"``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    number = parse_number(value)
    if not number.is_integer():
        raise ValueError(f"{show(value)} is not a whole number")
    return int(number)


def _int(value: Any, region: str) -> int:
    return parse_int(value)


def parse_bool(value: Any) -> bool:
    """true/false, 1/0, "true"/"false", "1"/"0", "yes"/"no" in any case."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(f"{show(value)} is not a boolean: expected true/false, 1/0 or yes/no")


def _bool(value: Any, region: str) -> bool:
    return parse_bool(value)


# --- text --------------------------------------------------------------------------------------
def _string(value: Any, region: str) -> str:
    return as_text(value)


def _lower(value: Any, region: str) -> str:
    return as_text(value).lower()


def _upper(value: Any, region: str) -> str:
    return as_text(value).upper()


# --- country: names and codes live in countries.py ----------------------------------------
def _country(value: Any, region: str) -> str:
    text = as_text(value)
    table = country_table()
    code = table.get(text.lower()) or table.get(_fold(text))
    if code is None:
        raise KeptAsWritten(f"{show(text)} is not a known country code or English name", text)
    return code


CONVERTERS: Mapping[str, Converter] = MappingProxyType(
    {
        "bool": _bool,
        "country": _country,
        "date": _date,
        "datetime": _datetime,
        "email": _email,
        "int": _int,
        "lower": _lower,
        "number": _number,
        "phone": _phone,
        "string": _string,
        "upper": _upper,
    }
)


# --- push formats ------------------------------------------------------------------------------
def _push_string(value: Any) -> str:
    if isinstance(value, datetime):
        return format_datetime(value)
    return as_text(value)


def format_datetime(value: Any) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``: ``2026-03-12T10:04:17.969Z``."""
    return parse_datetime(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _push_datetime_ms(value: Any) -> int:
    return (parse_datetime(value) - _EPOCH) // _MS


def _push_date(value: Any) -> str:
    return parse_date(value).isoformat()


def _push_int(value: Any) -> int:
    # Formatting for a tool: a computed score of 41.6 is written as 42, not refused.
    return round(parse_number(value)) if not isinstance(value, int) else parse_int(value)


PUSH_FORMATS: Mapping[str, PushFormat] = MappingProxyType(
    {
        "bool": parse_bool,
        "date": _push_date,
        "datetime": format_datetime,
        "datetime_ms": _push_datetime_ms,
        "int": _push_int,
        "number": parse_number,
        "string": _push_string,
    }
)
