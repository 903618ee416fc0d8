"""Find a connector's mapping file: the configured directory, then the shipped default."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from smarketing_sync.checkout import checkout_dir
from smarketing_sync.errors import ConfigError

#: Where a built wheel carries the top-level ``mappings/`` folder (see pyproject.toml).
PACKAGED_DIR = "default_mappings"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def packaged_mapping(connector: str) -> Path | None:
    """The default mapping shipped inside the installed package, if there is one on disk."""
    resource = resources.files("smarketing_sync") / PACKAGED_DIR / f"{connector}.toml"
    # A zipped install has no file path to hand out; such installs must set mappings_dir.
    if isinstance(resource, Path) and resource.is_file():
        return resource
    return None


def find_mapping(connector: str, mappings_dir: Path | None) -> Path:
    """``mappings_dir/<connector>.toml`` if it exists, else the packaged default.

    Raises:
        ConfigError: naming both places looked in when neither has the file.
    """
    if not _NAME.match(connector):
        raise ConfigError(
            "not a connector name",
            key="connectors",
            expected="a name like 'hubspot'",
            found=connector,
        )
    looked: list[str] = []
    if mappings_dir is not None:
        candidate = mappings_dir / f"{connector}.toml"
        if candidate.is_file():
            return candidate
        looked.append(str(candidate))
    packaged = packaged_mapping(connector)
    if packaged is not None:
        return packaged
    looked.append(f"the package's {PACKAGED_DIR}/{connector}.toml")
    shipped = checkout_dir("mappings")  # an editable install: the checkout's own defaults
    if shipped is not None and (shipped / f"{connector}.toml").is_file():
        return shipped / f"{connector}.toml"
    raise ConfigError(
        f"no mapping file for connector {connector!r}",
        key=f"connectors.{connector}.mapping",
        expected=f"a mapping file at {' or '.join(looked)}",
    )
