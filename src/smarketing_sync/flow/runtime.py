"""A configured connector, ready to run: class, validated settings, mapping and HTTP client."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from smarketing_sync import registry
from smarketing_sync.errors import ConfigError
from smarketing_sync.mapping.check import check_mapping
from smarketing_sync.mapping.load import load_mapping
from smarketing_sync.mapping.locate import find_mapping
from smarketing_sync.mapping.spec import MappingSpec
from smarketing_sync.sdk.build import base_url_for, http_for
from smarketing_sync.sdk.http import Http, HttpSettings
from smarketing_sync.sdk.protocol import Connector, ConnectorSettings
from smarketing_sync.settings import Settings

#: Keys of a [connectors.<name>] section the daemon itself reads; the rest go to the connector.
RUNTIME_KEYS = frozenset({"enabled", "interval_s", "mapping"})


@dataclass(slots=True)
class Runtime:
    name: str
    cls: type[Connector]
    connector: Any  # an instance of cls; optional methods are looked up on it
    settings: ConnectorSettings
    mapping: MappingSpec
    base_url: str
    origin: str

    def http(
        self, http_settings: HttpSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> Http:
        return http_for(
            self.cls, self.settings, http_settings, transport=transport, connector=self.connector
        )


def validate_connector_settings(
    cls: type[Connector], raw: dict[str, Any], where: str
) -> ConnectorSettings:
    values = {k: v for k, v in raw.items() if k not in RUNTIME_KEYS}
    try:
        return cls.settings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(p) for p in error["loc"])
            hint = ""
            if error["type"] == "missing":
                env = f"SMARKETING_CONNECTORS__{cls.name.upper()}__{key.upper()}"
                hint = f" (set it in [connectors.{cls.name}] or, for a secret, in ${env})"
            elif error["type"] == "extra_forbidden":
                known = ", ".join(sorted(cls.settings.model_fields)) or "none"
                hint = f" (not a setting of {cls.name}; known: {known})"
            problems.append(f"connectors.{cls.name}.{key}: {error['msg']}{hint}")
        raise ConfigError("; ".join(problems), file=where, key=f"connectors.{cls.name}") from None


def build_runtime(
    name: str, settings: Settings, *, overrides: dict[str, Any] | None = None, where: str = "config"
) -> Runtime:
    """Load, validate and prepare one configured connector, or raise a ConfigError saying why."""
    dirs: Sequence[Path] = [*registry.default_dirs(), *settings.connector_dirs]
    found = registry.discover(dirs)
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise ConfigError(
            f"unknown connector {name!r}",
            key=f"connectors.{name}",
            expected=f"one of: {known}",
            found=name,
        )
    cls = found[name].loader()
    registry.validate_declaration(cls)
    raw = dict(settings.connectors.get(name, {}))
    raw.update(overrides or {})
    connector_settings = validate_connector_settings(cls, raw, where)
    mapping_file = raw.get("mapping")
    path = Path(mapping_file) if mapping_file else find_mapping(name, settings.mappings_dir)
    spec = load_mapping(path, extra_customer_fields=settings.customer.extra_fields)
    problems = check_mapping(spec, cls)
    if problems:
        raise (
            problems[0]
            if len(problems) == 1
            else ConfigError(
                f"{len(problems)} problems in {path}:\n  " + "\n  ".join(str(p) for p in problems),
                file=str(path),
            )
        )
    return Runtime(
        name=name,
        cls=cls,
        connector=cls(),
        settings=connector_settings,
        mapping=spec,
        base_url=base_url_for(cls, connector_settings),
        origin=found[name].origin,
    )
