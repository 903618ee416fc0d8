"""TOML field mappings: load, validate, convert, apply (pull) and render (push).

The file format is described in ``docs/mapping.md``.
"""

from __future__ import annotations

from smarketing_sync.mapping.apply import map_record, render_push
from smarketing_sync.mapping.check import check_mapping, path_is_documented
from smarketing_sync.mapping.converters import CONVERTERS, PUSH_FORMATS, normalize_email
from smarketing_sync.mapping.load import load_mapping
from smarketing_sync.mapping.locate import find_mapping
from smarketing_sync.mapping.model import (
    Mapped,
    MappedActivity,
    MappedContact,
    MappedDeal,
    MappingFailure,
)
from smarketing_sync.mapping.paths import compile_path, has_source_path
from smarketing_sync.mapping.spec import (
    FieldRule,
    MappingErrors,
    MappingSpec,
    PushMapping,
    StreamMapping,
)

__all__ = [
    "CONVERTERS",
    "PUSH_FORMATS",
    "FieldRule",
    "Mapped",
    "MappedActivity",
    "MappedContact",
    "MappedDeal",
    "MappingErrors",
    "MappingFailure",
    "MappingSpec",
    "PushMapping",
    "StreamMapping",
    "check_mapping",
    "compile_path",
    "find_mapping",
    "has_source_path",
    "load_mapping",
    "map_record",
    "normalize_email",
    "path_is_documented",
    "render_push",
]
