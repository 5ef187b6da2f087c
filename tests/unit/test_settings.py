from __future__ import annotations

from pathlib import Path

import pytest

from makini_cli.config.settings import resolve
from makini_cli.config.store import ConfigStore
from makini_cli.errors import ConfigError, UsageError


def store_with(tmp_path: Path, text: str) -> ConfigStore:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return ConfigStore(path)


PROFILES = """
active_profile = "prod"
[profiles.prod]
base_url = "https://prod.example"
output = "csv"
timeout = 12
[profiles.staging]
base_url = "https://staging.example"
"""


def test_nothing_configured_is_the_implicit_sandbox(tmp_path: Path) -> None:
    s = resolve({}, {}, ConfigStore(tmp_path / "missing.toml"))
    assert s.profile_name == "sandbox"
    assert s.base_url == "sandbox"
    assert s.is_sandbox and s.implicit_sandbox
    assert s.origin("base_url") == "built-in"


def test_profile_values_and_origins(tmp_path: Path) -> None:
    s = resolve({}, {}, store_with(tmp_path, PROFILES))
    assert s.profile_name == "prod"
    assert s.profile.origin.startswith("config ")
    assert s.base_url == "https://prod.example"
    assert s.origin("base_url") == "profile prod"
    assert s["output"] == "csv"
    assert s["timeout"] == 12.0
    assert s["max_retries"] == 4 and s.origin("max_retries") == "default"
    assert not s.implicit_sandbox


def test_env_beats_profile_and_flag_beats_env(tmp_path: Path) -> None:
    store = store_with(tmp_path, PROFILES)
    env = {"MAKINI_OUTPUT": "jsonl", "MAKINI_PROFILE": "staging", "MAKINI_HTTP_TIMEOUT": "7"}
    s = resolve({}, env, store)
    assert s.profile_name == "staging" and s.profile.origin == "env MAKINI_PROFILE"
    assert s.base_url == "https://staging.example"
    assert (s["output"], s.origin("output")) == ("jsonl", "env MAKINI_OUTPUT")
    assert (s["timeout"], s.origin("timeout")) == (7.0, "env MAKINI_HTTP_TIMEOUT")
    s = resolve({"profile": "prod", "output": "json", "timeout": 3}, env, store)
    assert s.profile_name == "prod" and s.profile.origin == "flag"
    assert (s["output"], s.origin("output")) == ("json", "flag")
    assert (s["timeout"], s.origin("timeout")) == (3.0, "flag")


def test_base_url_env_overrides_profile(tmp_path: Path) -> None:
    s = resolve({}, {"MAKINI_BASE_URL": "http://127.0.0.1:9/"}, store_with(tmp_path, PROFILES))
    assert s.base_url == "http://127.0.0.1:9"
    assert s.origin("base_url") == "env MAKINI_BASE_URL"


def test_ci_and_colour_conventions(tmp_path: Path) -> None:
    s = resolve({}, {"CI": "true", "NO_COLOR": "1"}, ConfigStore(tmp_path / "none.toml"))
    assert s["no_input"] is True and s.origin("no_input") == "env CI"
    assert s["color"] == "never"
    s = resolve({"color": "always"}, {"NO_COLOR": "1"}, ConfigStore(tmp_path / "none.toml"))
    assert s["color"] == "always"


def test_credentials_in_env_are_not_the_implicit_sandbox(tmp_path: Path) -> None:
    s = resolve({}, {"MAKINI_TOKEN": "t"}, ConfigStore(tmp_path / "none.toml"))
    assert not s.implicit_sandbox


def test_unknown_profile_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        resolve({"profile": "nope"}, {}, store_with(tmp_path, PROFILES))
    assert "nope" in err.value.message and "profile create" in (err.value.hint or "")


def test_bad_values_name_their_source(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        resolve({"output": "yaml"}, {}, ConfigStore(tmp_path / "none.toml"))
    with pytest.raises(ConfigError) as err:
        resolve({}, {"MAKINI_MAX_RETRIES": "lots"}, ConfigStore(tmp_path / "none.toml"))
    assert "MAKINI_MAX_RETRIES" in err.value.message
    with pytest.raises(ConfigError) as err:
        resolve({}, {}, store_with(tmp_path, '[profiles.sandbox]\nbase_url = "ftp://x"\n'))
    assert "profile sandbox" in err.value.message
