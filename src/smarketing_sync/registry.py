"""Connector discovery: folders first, then the ``smarketing_sync.connectors`` entry points.

A connector folder is a Python package (``<dir>/<tool>/__init__.py``) exposing a connector class
whose ``name`` equals the folder name. Built-in connectors live in the top-level ``connectors/``
folder of the repository and ship inside the wheel under the entry points, so they are found the
same way a user's connector is. A folder connector overrides an entry point of the same name.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, cast

from pydantic import SecretStr

from smarketing_sync.checkout import checkout_dir
from smarketing_sync.errors import ConfigError
from smarketing_sync.sdk.declarations import Capability
from smarketing_sync.sdk.protocol import Connector, ConnectorSettings
from smarketing_sync.sdk.secrets import looks_secret

ENTRY_POINT_GROUP = "smarketing_sync.connectors"
_PLUGIN_PACKAGE = "smarketing_sync_plugins"
_SLUG = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


@dataclass(frozen=True, slots=True)
class Discovered:
    name: str
    origin: str  # "folder:<path>" or "entry-point:<module:attr>"
    loader: Callable[[], type[Connector]]


def _plugin_parent() -> types.ModuleType:
    parent = sys.modules.get(_PLUGIN_PACKAGE)
    if parent is None:
        parent = types.ModuleType(_PLUGIN_PACKAGE)
        parent.__path__ = []
        sys.modules[_PLUGIN_PACKAGE] = parent
    return parent


def _load_folder(name: str, folder: Path) -> type[Connector]:
    module_name = f"{_PLUGIN_PACKAGE}.{name}"
    module = sys.modules.get(module_name)
    if module is not None and list(getattr(module, "__path__", [])) != [str(folder)]:
        module = None  # another folder's connector of the same name: load this one instead
    if module is None:
        _plugin_parent()
        spec = importlib.util.spec_from_file_location(
            module_name, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        if spec is None or spec.loader is None:
            raise ConfigError(f"connector folder {folder} is not a Python package")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise ConfigError(
                f"connector {name!r} in {folder} failed to import: {type(exc).__name__}: {exc}"
            ) from exc
    for value in vars(module).values():
        if inspect.isclass(value) and getattr(value, "name", None) == name:
            return cast(type[Connector], value)
    raise ConfigError(
        f"connector folder {folder} defines no class whose name attribute is {name!r}",
        expected=f'a class with name = "{name}" in {folder / "__init__.py"}',
    )


def _load_entry_point(ep: Any) -> type[Connector]:
    try:
        return cast(type[Connector], ep.load())
    except Exception as exc:
        raise ConfigError(
            f"connector {ep.name!r} (entry point {ep.value}) failed to import: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def default_dirs() -> list[Path]:
    """The ``connectors/`` folder of the working directory and of a source checkout we run from."""
    found: list[Path] = []
    for folder in (Path.cwd() / "connectors", checkout_dir("connectors")):
        if folder is not None and folder.is_dir() and folder.resolve() not in found:
            found.append(folder.resolve())
    return found


def discover(dirs: Iterable[Path] | None = None) -> dict[str, Discovered]:
    """Every connector that could be loaded, by name; nothing is imported yet."""
    found: dict[str, Discovered] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found[ep.name] = Discovered(
            ep.name, f"entry-point:{ep.value}", partial(_load_entry_point, ep)
        )
    for directory in dirs if dirs is not None else default_dirs():
        directory = Path(directory)
        if not directory.is_dir():
            raise ConfigError(f"connector folder {directory} does not exist")
        for folder in sorted(directory.iterdir()):
            if (folder / "__init__.py").is_file() and _SLUG.match(folder.name):
                found[folder.name] = Discovered(
                    folder.name,
                    f"folder:{folder}",
                    partial(_load_folder, folder.name, folder),
                )
    return found


def load_connector(name: str, dirs: Iterable[Path] | None = None) -> type[Connector]:
    """Load and validate one connector class, or raise a ConfigError that says why not."""
    found = discover(dirs)
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise ConfigError(f"unknown connector {name!r}", expected=f"one of: {known}", found=name)
    cls = found[name].loader()
    validate_declaration(cls)
    return cls


def validate_declaration(cls: type[Any]) -> None:
    """Reject a connector class whose declaration cannot work, naming what is wrong."""
    name = getattr(cls, "name", None)
    where = f"connector class {cls.__module__}.{cls.__qualname__}"
    required = (
        "name",
        "settings",
        "capabilities",
        "base_url",
        "streams",
        "check_path",
        "rate_limit",
        "push_batch_size",
    )
    missing = [attr for attr in required if not hasattr(cls, attr)]
    if missing:
        raise ConfigError(f"{where} lacks {', '.join(missing)}")
    if not isinstance(name, str) or not _SLUG.match(name):
        raise ConfigError(f"{where}: name must be a lower-case slug", found=name)
    if not (inspect.isclass(cls.settings) and issubclass(cls.settings, ConnectorSettings)):
        raise ConfigError(f"{where}: settings must subclass ConnectorSettings")
    for field_name, info in cls.settings.model_fields.items():
        if looks_secret(field_name) and info.annotation is not SecretStr:
            raise ConfigError(
                f"{where}: setting {field_name!r} looks like a secret and must be SecretStr"
            )
    caps = set(cls.capabilities)
    kinds = {ep.kind for ep in cls.streams.values()}
    needs = {
        Capability.PULL_CONTACTS: "contact",
        Capability.PULL_ACTIVITIES: "activity",
        Capability.PULL_DEALS: "deal",
    }
    for cap, kind in needs.items():
        if (cap in caps) != (kind in kinds):
            raise ConfigError(
                f"{where}: capability {cap.value} and streams of kind {kind!r} must go together"
            )
    if Capability.PUSH_FIELDS in caps and (
        not callable(getattr(cls, "push", None)) or cls.push_batch_size < 1
    ):
        raise ConfigError(f"{where}: push:fields needs a push() method and push_batch_size >= 1")
    if Capability.CREATE_FIELDS in caps and not callable(getattr(cls, "ensure_fields", None)):
        raise ConfigError(f"{where}: create:fields needs an ensure_fields() method")


def sandbox_module(cls: type[Connector]) -> types.ModuleType:
    """The ``sandbox`` module that ships beside a connector (demo, tests, benchmarks)."""
    package = cls.__module__.rsplit(".", 1)[0] if cls.__module__.count(".") > 1 else cls.__module__
    try:
        return importlib.import_module(f"{package}.sandbox")
    except ImportError as exc:
        raise ConfigError(f"connector {cls.name!r} ships no sandbox module ({exc})") from exc


def connector_names(dirs: Sequence[Path] | None = None) -> list[str]:
    return sorted(discover(dirs))
