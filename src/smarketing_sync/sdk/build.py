"""Building a connector's HTTP client from its class and settings (shared by flow and kit)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from pydantic import SecretStr

from smarketing_sync.errors import ConfigError
from smarketing_sync.sdk.http import Http, HttpSettings
from smarketing_sync.sdk.protocol import Connector, ConnectorSettings
from smarketing_sync.sdk.ratelimit import Clock, Sleep


def base_url_for(cls: type[Connector], settings: ConnectorSettings) -> str:
    """``settings.base_url`` if set, else the class template filled from the settings."""
    if settings.base_url:
        return settings.base_url.rstrip("/")
    values = {
        k: v.get_secret_value() if isinstance(v, SecretStr) else v
        for k, v in settings.model_dump().items()
    }
    try:
        return cls.base_url.format(**values).rstrip("/")
    except KeyError as exc:
        raise ConfigError(
            f"connector {cls.name!r}: base_url {cls.base_url!r} needs setting {exc.args[0]!r}",
            key=f"connectors.{cls.name}.{exc.args[0]}",
        ) from None


def http_for(
    cls: type[Connector],
    settings: ConnectorSettings,
    http_settings: HttpSettings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Clock | None = None,
    connector: Any = None,
) -> Http:
    """The shared HTTP client for one connector: its base URL, headers, limits and errors."""
    instance = connector if connector is not None else cls()
    # A connector whose limits depend on the account (plan, seats) says so per settings.
    limits_for = getattr(instance, "rate_limit_for", None)
    rate_limit = limits_for(settings) if callable(limits_for) else cls.rate_limit
    return Http(
        cls.name,
        base_url_for(cls, settings),
        instance.headers(settings),
        rate_limit,
        http_settings,
        errors=getattr(cls, "error_overrides", None),
        transport=transport,
        sleep=sleep,
        clock=clock,
    )
