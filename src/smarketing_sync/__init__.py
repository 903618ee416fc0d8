"""smarketing-sync: one customer record between marketing automation and the CRM.

This module is the public connector API: everything a connector (built-in or third-party) may
import. Anything else inside the package is private and may change.
"""

from __future__ import annotations

from smarketing_sync.errors import (
    AuthError,
    ConfigError,
    ContractError,
    GarbledAnswer,
    RateLimited,
    RecordError,
    SyncError,
    TransientError,
)
from smarketing_sync.sdk.build import base_url_for, http_for
from smarketing_sync.sdk.declarations import (
    Capability,
    Cursor,
    CursorToken,
    Endpoint,
    FieldSpec,
    Limit,
    Offset,
    RateLimit,
    Single,
)
from smarketing_sync.sdk.http import Http, HttpSettings
from smarketing_sync.sdk.paths import get_path
from smarketing_sync.sdk.protocol import Connector, ConnectorSettings
from smarketing_sync.sdk.pull import generic_pull
from smarketing_sync.sdk.records import (
    FieldUpdate,
    HandoffCreated,
    HandoffFacts,
    HandoffRef,
    HandoffRequest,
    Page,
    PushOutcome,
    PushResult,
    RawRecord,
)

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "Capability",
    "ConfigError",
    "Connector",
    "ConnectorSettings",
    "ContractError",
    "Cursor",
    "CursorToken",
    "Endpoint",
    "FieldSpec",
    "FieldUpdate",
    "GarbledAnswer",
    "HandoffCreated",
    "HandoffFacts",
    "HandoffRef",
    "HandoffRequest",
    "Http",
    "HttpSettings",
    "Limit",
    "Offset",
    "Page",
    "PushOutcome",
    "PushResult",
    "RateLimit",
    "RateLimited",
    "RawRecord",
    "RecordError",
    "Single",
    "SyncError",
    "TransientError",
    "base_url_for",
    "generic_pull",
    "get_path",
    "http_for",
]
