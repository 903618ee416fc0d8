"""Configuration: ``config.toml`` + ``SMARKETING_*`` environment + a secrets directory.

Precedence, highest first: environment (``SMARKETING_CONNECTORS__HUBSPOT__ACCESS_TOKEN``),
files in the secrets directory (same names, under ``$SMARKETING_SECRETS_DIR`` or
``/run/secrets``), then ``config.toml``. Secret-looking connector settings are refused in the
TOML file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from smarketing_sync.errors import ConfigError
from smarketing_sync.sdk.http import HttpSettings
from smarketing_sync.sdk.secrets import looks_secret
from smarketing_sync.settings_base import Section
from smarketing_sync.settings_handoff import (
    AlertSettings,
    AlertTarget,
    HandoffSettings,
    Owner,
    SlaSettings,
    StateRule,
    TeamCalendar,
    Territory,
)
from smarketing_sync.settings_report import ReportSettings, SourceSettings

# The sections live in their own modules; they are importable from here as before.
__all__ = [
    "AlertSettings",
    "AlertTarget",
    "HandoffSettings",
    "Owner",
    "ReportSettings",
    "Settings",
    "SlaSettings",
    "SourceSettings",
    "StateRule",
    "TeamCalendar",
    "Territory",
    "load_settings",
]

ENV_PREFIX = "SMARKETING_"
DEFAULT_CONFIG = Path("config.toml")


class StoreSettings(Section):
    url: str | None = Field(
        None, description="SQLAlchemy URL; default: sqlite file smarketing.db in data_dir"
    )
    busy_timeout_s: float = Field(30.0, gt=0, description="how long a writer waits for a lock")


class SyncSettings(Section):
    interval_s: float = Field(300.0, gt=0, description="seconds between scheduled cycles")
    lookback_s: float | None = Field(
        None, ge=0, description="override of every stream's declared re-read window"
    )
    push_enabled: bool = True
    max_push_attempts: int = Field(8, ge=1, description="sends before a change is dead-lettered")
    retry_backoff_s: float = Field(
        30.0, ge=0, description="first wait before a failed write is re-sent; doubles, max 1 h"
    )
    lock_ttl_s: float = Field(120.0, gt=0, description="lease of a connector's sync lock")
    grace_period_s: float = Field(30.0, gt=0, description="SIGTERM: time to finish the batch")


class DlqSettings(Section):
    auto_retry: bool = Field(True, description="retry transient push failures by themselves")
    backoff_s: float = Field(
        300.0, gt=0, description="wait before the first automatic retry; doubles after each"
    )
    max_auto_retries: int = Field(5, ge=0, description="automatic retries before a human decides")


class QuotaSettings(Section):
    daily_share: float = Field(
        0.8, gt=0, le=1, description="share of a connector's declared daily limit we may spend"
    )
    shares: dict[str, float] = Field(
        default_factory=dict, description="per connector override of daily_share"
    )

    @field_validator("shares")
    @classmethod
    def _in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for name, share in value.items():
            if not 0 < share <= 1:
                raise ValueError(f"share of {name} must be in (0, 1], found {share}")
        return value

    def share(self, connector: str) -> float:
        return self.shares.get(connector, self.daily_share)


class CustomerSettings(Section):
    default_region: str = Field("US", min_length=2, max_length=2)
    extra_fields: list[str] = Field(default_factory=list)


Rule = Literal["most_recent", "precedence", "prefer"]


class FieldRule(Section):
    rule: Rule
    order: list[str] = Field(default_factory=list, description="precedence: tools, first wins")
    prefer: str | None = Field(None, description="prefer: this tool unless its value is blank")

    @field_validator("order")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("precedence order lists a tool twice")
        return value


class ResolveSettings(Section):
    default: Rule = "most_recent"
    default_order: list[str] = Field(default_factory=list)
    fields: dict[str, FieldRule] = Field(default_factory=dict)


class ScoringSettings(Section):
    enabled: bool = True
    rescore_after_h: float = Field(
        24.0, gt=0, description="rescore a customer whose score is older, so decay shows"
    )


class ApiSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    enabled: bool = True


class Settings(BaseSettings):
    """Everything the daemon reads at start-up."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        secrets_nested_delimiter="__",
        secrets_dir_missing="ok",
        extra="forbid",
        case_sensitive=False,
    )

    data_dir: Path = Path("data")
    mappings_dir: Path = Path("mappings")
    scoring_file: Path = Path("scoring.toml")
    connector_dirs: list[Path] = Field(default_factory=list)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "info"
    store: StoreSettings = Field(default_factory=StoreSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    customer: CustomerSettings = Field(default_factory=CustomerSettings)
    resolve: ResolveSettings = Field(default_factory=ResolveSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    dlq: DlqSettings = Field(default_factory=DlqSettings)
    quota: QuotaSettings = Field(default_factory=QuotaSettings)
    handoff: HandoffSettings = Field(default_factory=HandoffSettings)
    sla: SlaSettings = Field(default_factory=SlaSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    sources: SourceSettings = Field(default_factory=SourceSettings)
    connectors: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # init carries the parsed TOML (see load_settings), so env and secrets must come first.
        secrets = NestedSecretsSettingsSource(file_secret_settings, secrets_prefix=ENV_PREFIX)
        return env_settings, secrets, init_settings

    @model_validator(mode="after")
    def _handoff_fits(self) -> Settings:
        config = self.handoff
        if config.enabled and not config.crm:
            raise ValueError("handoff.crm: hand-offs are enabled but no CRM connector is named")
        if config.enabled and config.crm not in self.connectors:
            raise ValueError(
                f"handoff.crm: {config.crm!r} is not a configured connector "
                f"(add [connectors.{config.crm}])"
            )
        if self.sla.default_team not in self.sla.teams:
            raise ValueError(
                f"sla.default_team: {self.sla.default_team!r} has no "
                f"[sla.teams.{self.sla.default_team}]"
            )
        for owner in config.owners:
            if owner.team is not None and owner.team not in self.sla.teams:
                raise ValueError(
                    f"handoff.owners: owner {owner.id} is in team {owner.team!r}, which has no "
                    f"[sla.teams.{owner.team}] (teams: {', '.join(sorted(self.sla.teams))})"
                )
        ids = [o.id for o in config.owners]
        if len(set(ids)) != len(ids):
            raise ValueError("handoff.owners: an owner id is listed twice")
        return self

    @field_validator("connectors")
    @classmethod
    def _hide_secrets(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        # Until a connector's own model validates them, secret-looking values are wrapped so a
        # repr or a log of the settings never shows them.
        return {
            name: {
                k: SecretStr(v) if isinstance(v, str) and _is_secret_key(k) else v
                for k, v in section.items()
            }
            for name, section in value.items()
        }

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{self.data_dir / 'smarketing.db'}"

    def enabled_connectors(self) -> list[str]:
        return [n for n, c in self.connectors.items() if c.get("enabled", True) is not False]


def _secret_dirs() -> list[Path]:
    configured = os.environ.get(f"{ENV_PREFIX}SECRETS_DIR")
    if configured:
        return [Path(configured)]
    default = Path("/run/secrets")
    return [default] if default.is_dir() else []


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from exc


def config_path(explicit: Path | None = None) -> Path | None:
    """The config file to read: --config, then $SMARKETING_CONFIG, then ./config.toml if present."""
    if explicit is not None:
        return explicit
    env = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if env:
        return Path(env)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read and validate the configuration; every problem becomes a ConfigError naming the key."""
    file = config_path(path)
    data: dict[str, Any] = read_toml(file) if file is not None else {}
    data.update(overrides)
    where = str(file) if file else "configuration"
    secret_dirs = _secret_dirs()
    try:
        settings = Settings(
            _secrets_dir=secret_dirs or None,
            **data,
        )
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(p) for p in error["loc"])
            value = error.get("input")
            shown = "" if isinstance(value, dict) or _is_secret_key(key) else f" (found {value!r})"
            problems.append(f"[{key}] {error['msg']}{shown}")
        raise ConfigError(
            "; ".join(problems),
            file=where,
        ) from None
    if file is not None:
        _refuse_file_secrets(data, where)
    return settings


_is_secret_key = looks_secret


def _refuse_file_secrets(data: dict[str, Any], where: str) -> None:
    for name, section in (data.get("connectors") or {}).items():
        if not isinstance(section, dict):
            continue
        for key in section:
            if _is_secret_key(key):
                env = f"{ENV_PREFIX}CONNECTORS__{name.upper()}__{key.upper()}"
                raise ConfigError(
                    "secrets are not read from the config file; set the environment variable "
                    f"{env} or put a file of that name in the secrets directory",
                    file=where,
                    key=f"connectors.{name}.{key}",
                )
