"""Loading the ``[push.*]`` sections of a mapping file (the rest is in ``load.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from smarketing_sync.mapping.spec import FIELD_TYPES, PushMapping, _one_of, did_you_mean
from smarketing_sync.sdk.declarations import FieldSpec

if TYPE_CHECKING:
    from smarketing_sync.mapping.load import _Loader

PUSH_KEYS = ("only_changed", "fields", "create")
CREATE_KEYS = ("label", "type", "options")


def load_push(loader: _Loader, obj: str, body: object) -> PushMapping | None:
    """A ``[push.<object>]`` section: fields to write, and the custom fields to create."""
    base = f"push.{obj}"
    table = loader.table(base, body, PUSH_KEYS)
    before = len(loader.problems)
    only_changed = table.get("only_changed", True)
    if not isinstance(only_changed, bool):
        loader.error(f"{base}.only_changed", "must be true or false", "true or false", only_changed)
    rules = []
    fields = loader.table(f"{base}.fields", table.get("fields", {}), None)
    for target, entry in fields.items():
        rule = loader.rule(f"{base}.fields.{target}", target, entry, push=True)
        if rule is not None:
            rules.append(rule)
    written = set(fields)  # entries with their own problems still count as written
    create = []
    for name, value in loader.table(f"{base}.create", table.get("create", {}), None).items():
        spec = _create(loader, f"{base}.create.{name}", name, value)
        if spec is not None and name not in written:
            message = "a created field must also be written in the push fields"
            loader.error(f"{base}.create.{name}", message, f"[{base}.fields] {name} = ...")
        elif spec is not None:
            create.append(spec)
    if len(loader.problems) > before or not isinstance(body, dict):
        return None
    return PushMapping(obj, only_changed is not False, tuple(rules), tuple(create))


def _create(loader: _Loader, key: str, name: str, value: object) -> FieldSpec | None:
    before = len(loader.problems)
    table = loader.table(key, value, CREATE_KEYS)
    label = table.get("label", name)
    if not isinstance(label, str) or not label.strip():
        loader.error(f"{key}.label", "must be a non-empty string", "a label", label)
    kind = table.get("type", "string")
    if kind not in FIELD_TYPES:
        hint = did_you_mean(str(kind), FIELD_TYPES)
        loader.error(f"{key}.type", f"field type not allowed{hint}", _one_of(FIELD_TYPES), kind)
    options = table.get("options", [])
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        loader.error(f"{key}.options", "must be a list of strings", '["A", "B"]', options)
    elif kind == "enumeration" and not options:
        loader.error(f"{key}.options", "an enumeration needs its options", '["A", "B"]')
    elif kind != "enumeration" and options:
        loader.error(f"{key}.options", "only an enumeration has options", "no options", options)
    if len(loader.problems) > before:
        return None
    return FieldSpec(name, label, kind, tuple(options))
