"""One rule for which setting names hold credentials (settings, registry, logs and the kit)."""

from __future__ import annotations

SECRET_HINTS: tuple[str, ...] = (
    "token",
    "secret",
    "password",
    "passwd",
    "api_key",
    "apikey",
    "api-key",
    "private_key",
    "credential",
    "client_key",
    "access_key",
    "authorization",
    "cookie",
)


def looks_secret(name: str) -> bool:
    lowered = name.lower()
    return any(hint in lowered for hint in SECRET_HINTS)
