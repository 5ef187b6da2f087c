"""Where makini keeps its files. Resolved per call so tests can move them with env vars."""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_FILE_NAME = "config.toml"
CREDENTIALS_FILE_NAME = "credentials.json"
LOCK_FILE_NAME = ".lock"
#: The names (never the values) of the secrets stored per profile: see config/secrets.py.
SECRET_INDEX_FILE_NAME = "secret-names.json"


def config_dir() -> Path:
    override = os.environ.get("MAKINI_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("makini"))


def config_file() -> Path:
    return config_dir() / CONFIG_FILE_NAME


def credentials_file() -> Path:
    return config_dir() / CREDENTIALS_FILE_NAME


def cache_dir() -> Path:
    override = os.environ.get("MAKINI_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("makini"))
