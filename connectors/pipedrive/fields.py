"""Pipedrive's hash-keyed custom fields: codes in payloads, names in mappings.

Every custom field is referenced in payloads by a random 40-char code
(https://pipedrive.readme.io/docs/core-api-concepts-custom-fields); ``GET /api/v2/personFields``
and ``/api/v2/dealFields`` list ``field_name``, ``field_code``, ``field_type``,
``is_custom_field`` and, for ``enum``/``set`` fields, ``options`` ``[{id, label}]``.

The convention of this connector: on pull, ``custom_fields`` is rewritten to be keyed by the
field's *name* with option ids translated to labels; on push, a value keyed by a field name is
written to that field's code, labels translated back to option ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from smarketing_sync import ContractError, Http

from .v2 import pages

PERSON_FIELDS = "/api/v2/personFields"
DEAL_FIELDS = "/api/v2/dealFields"
TEXT_LIMIT = 255  # varchar, varchar_auto and phone fields: "Text (up to 255 characters)"
_TEXT_TYPES = frozenset({"varchar", "varchar_auto", "phone", "text"})
_NUMBER_TYPES = frozenset({"double", "int"})
_ID_TYPES = frozenset({"user", "org", "people"})


def normalize_name(name: str) -> str:
    """Field names compare case-insensitively with runs of whitespace collapsed."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True, slots=True)
class FieldDef:
    code: str
    name: str
    type: str
    custom: bool
    options: Mapping[int, str] = field(default_factory=dict)  # option id -> label

    def option_id(self, label: str) -> int | None:
        wanted = label.strip().casefold()
        return next((i for i, text in self.options.items() if text.casefold() == wanted), None)


class FieldCatalog:
    """The field definitions of one entity type, read once per pull or push."""

    def __init__(self, definitions: Sequence[FieldDef]) -> None:
        self.definitions = list(definitions)
        self._by_code = {d.code: d for d in self.definitions if d.custom}
        self._by_name: dict[str, FieldDef] = {}
        duplicated: set[str] = set()
        for d in self.definitions:
            if not d.custom:
                continue
            key = normalize_name(d.name)
            if key in self._by_name:
                duplicated.add(key)
            self._by_name.setdefault(key, d)
        # Two custom fields with one name cannot be told apart by name: both are keyed by
        # their code on pull, and neither is written by name on push.
        self._ambiguous = duplicated
        self._pull_key = {
            d.code: d.code if normalize_name(d.name) in duplicated else d.name
            for d in self._by_code.values()
        }

    @classmethod
    def from_payload(cls, http: Http, path: str, items: Sequence[Any]) -> FieldCatalog:
        definitions = []
        for item in items:
            if not isinstance(item, Mapping) or not isinstance(item.get("field_code"), str):
                raise ContractError(f"{http.connector}: {path} listed a field without field_code")
            options = item.get("options") or []
            definitions.append(
                FieldDef(
                    code=item["field_code"],
                    name=str(item.get("field_name") or item["field_code"]),
                    type=str(item.get("field_type") or ""),
                    custom=bool(item.get("is_custom_field")),
                    options={
                        int(o["id"]): str(o.get("label", ""))
                        for o in options
                        if isinstance(o, Mapping) and isinstance(o.get("id"), int)
                    },
                )
            )
        return cls(definitions)

    def custom(self) -> list[FieldDef]:
        return list(self._by_code.values())

    def by_name(self, name: str) -> FieldDef | None:
        key = normalize_name(name)
        return None if key in self._ambiguous else self._by_name.get(key)

    def is_ambiguous(self, name: str) -> bool:
        return normalize_name(name) in self._ambiguous

    # -- pull ------------------------------------------------------------------------------

    def by_name_view(self, custom_fields: Any) -> dict[str, Any]:
        """``custom_fields`` keyed by field name, option ids replaced by their labels.

        A code missing from the catalog (a field created after it was read) keeps its code.
        """
        if not isinstance(custom_fields, Mapping):
            return {}
        view: dict[str, Any] = {}
        for code, value in custom_fields.items():
            definition = self._by_code.get(code)
            if definition is None:
                view[code] = value
                continue
            view[self._pull_key[code]] = self._label(definition, value)
        return view

    @staticmethod
    def _label(definition: FieldDef, value: Any) -> Any:
        if definition.type == "enum" and isinstance(value, int):
            return definition.options.get(value, value)
        if definition.type == "set" and isinstance(value, list):
            return [definition.options.get(v, v) if isinstance(v, int) else v for v in value]
        return value

    # -- push ------------------------------------------------------------------------------

    def encode(self, definition: FieldDef, value: Any) -> Any:
        """A value in the format v2 expects for ``definition``; ValueError says why not.

        v2 does not coerce strings to numbers, so numeric strings are converted here; text
        beyond the documented 255 characters of a varchar field is cut with an ellipsis.
        """
        if value is None:
            return None
        kind = definition.type
        if kind in _TEXT_TYPES:
            text = value if isinstance(value, str) else _plain(value)
            if kind != "text" and len(text) > TEXT_LIMIT:
                text = text[: TEXT_LIMIT - 1] + "…"
            return text
        if kind in _NUMBER_TYPES:
            return _number(definition, value)
        if kind == "enum":
            return self._option(definition, value)
        if kind == "set":
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, list | tuple):
                raise ValueError(f"field {definition.name!r} takes a list of options")
            return [self._option(definition, item) for item in items if str(item).strip()]
        if kind == "monetary":
            return value if isinstance(value, Mapping) else {"value": _number(definition, value)}
        if kind == "address":
            return value if isinstance(value, Mapping) else {"value": _plain(value)}
        if kind in _ID_TYPES:
            return _number(definition, value, integer=True)
        return value

    @staticmethod
    def _option(definition: FieldDef, value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and value in definition.options:
            return value
        option = definition.option_id(str(value))
        if option is None:
            known = ", ".join(sorted(definition.options.values())) or "none"
            raise ValueError(
                f"{value!r} is not an option of Pipedrive field {definition.name!r} "
                f"(options: {known})"
            )
        return option


def _plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(definition: FieldDef, value: Any, *, integer: bool = False) -> float | int:
    if isinstance(value, bool):
        raise ValueError(f"field {definition.name!r} takes a number, not {value!r}")
    try:
        number = float(value) if not isinstance(value, int | float) else value
    except (TypeError, ValueError):
        raise ValueError(f"field {definition.name!r} takes a number, not {value!r}") from None
    return int(number) if integer else number


async def load_catalog(http: Http, path: str) -> FieldCatalog:
    """All field definitions of ``path`` (``/api/v2/personFields`` or ``/api/v2/dealFields``)."""
    items: list[Any] = []
    async for page in pages(http, path, {}):
        items.extend(page)
    return FieldCatalog.from_payload(http, path, items)
