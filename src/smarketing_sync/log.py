"""structlog set-up: JSON lines in a container, readable lines on a terminal."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog
from pydantic import SecretStr

_SECRET_KEYS = ("token", "secret", "password", "authorization", "api_key", "api-key", "cookie")


def _redact(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Last line of defence: no secret reaches a log line, whatever a caller passed."""
    for key, value in list(event.items()):
        if isinstance(value, SecretStr) or any(s in key.lower() for s in _SECRET_KEYS):
            event[key] = "**********"
    return event


def configure(
    fmt: Literal["auto", "json", "console"] = "auto", level: str = "info", stream: Any = None
) -> None:
    out = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    # httpx logs every request at INFO with the full URL; our own http.* events replace it.
    logging.getLogger("httpx").setLevel(logging.WARNING)
