"""The TOML config file: profiles and the active profile.

Layout:

    active_profile = "prod"
    [profiles.prod]
    base_url = "https://api.makini.io"
    client_id = "…"
    output = "json"

Keys this version does not know are kept as they are on every rewrite. A file that does
not parse is never written over: every write re-reads it under the lock first.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from makini_cli.config import paths
from makini_cli.config.files import locked, read_bytes_or_none, write_private
from makini_cli.errors import ConfigError

T = TypeVar("T")

BUILTIN_SANDBOX = "sandbox"
SANDBOX_BASE_URL = "sandbox"
DEFAULT_BASE_URL = "https://api.makini.io"

#: Keys a profile may set with `makini config set`, and how each is checked.
PROFILE_KEYS: dict[str, str] = {
    "base_url": "the API's base URL, or `sandbox` for the bundled sandbox",
    "client_id": "the Admin API client id (its secret lives in the keyring)",
    "output": "default output format: table, json, jsonl or csv",
    "color": "auto, always or never",
    "timeout": "HTTP timeout in seconds",
    "max_retries": "how many times a failed request is retried",
    "ca_bundle": "PEM file of the CAs to trust for HTTPS, instead of the default set",
}

_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_profile_name(name: str) -> str:
    if not _PROFILE_NAME.match(name):
        from makini_cli.errors import UsageError

        raise UsageError(
            f"invalid profile name {name!r}",
            hint="use letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


class ConfigStore:
    def __init__(self, path: Path | None = None, lock_path: Path | None = None) -> None:
        self.path = path or paths.config_file()
        self.lock_path = lock_path or self.path.parent / paths.LOCK_FILE_NAME

    def load(self) -> dict[str, Any]:
        raw = read_bytes_or_none(self.path)
        if raw is None:
            return {}
        try:
            doc = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{self.path} is not UTF-8 text",
                hint="fix or remove the file; makini left it untouched",
            ) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"{self.path}: invalid TOML: {exc}",
                hint="fix the line named above, or move the file away; makini left it untouched",
            ) from exc
        self._check_shape(doc)
        return doc

    def _check_shape(self, doc: dict[str, Any]) -> None:
        active = doc.get("active_profile")
        if active is not None and not isinstance(active, str):
            raise ConfigError(
                f"{self.path}: active_profile must be a string",
                hint="fix the file; makini left it untouched",
            )
        profiles = doc.get("profiles", {})
        if not isinstance(profiles, dict) or not all(
            isinstance(v, dict) for v in profiles.values()
        ):
            raise ConfigError(
                f"{self.path}: [profiles] must hold one table per profile",
                hint="fix the file; makini left it untouched",
            )

    def update(self, change: Callable[[dict[str, Any]], T]) -> T:
        """Apply `change` to the freshly read document and write it back, under the lock."""
        import tomli_w

        with locked(self.lock_path):
            doc = self.load()
            result = change(doc)
            write_private(self.path, tomli_w.dumps(doc).encode("utf-8"))
        return result

    # Convenience readers -------------------------------------------------------------

    def profiles(self) -> dict[str, dict[str, Any]]:
        profiles: dict[str, dict[str, Any]] = self.load().get("profiles", {})
        return profiles
