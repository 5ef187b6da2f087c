"""Property tests: whatever the input, never a traceback, always a documented error.

The config parser (any file content, any setting value) and the sandbox's list filters
(any query). Durations and the sanitiser have their own (test_durations, test_sanitize).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from makini_cli.config import settings as settings_mod
from makini_cli.config.store import ConfigStore
from makini_cli.errors import CliError, ExitCode
from makini_cli.sandbox.errors import ApiError
from makini_cli.sandbox.listing import paginate

CONFIG_ERRORS = (ExitCode.CONFIG, ExitCode.USAGE)
VALUES = st.one_of(
    st.text(max_size=30),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(["inf", "nan", "1e400", "-1", "0", "json", "http://[::1", "sandbox"]),
)
SETTINGS = ["output", "color", "timeout", "max_retries", "base_url", "debug", "no_input",
            "ca_bundle"]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=150)
@given(content=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_config_file_loads_or_is_a_config_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(content)
    store = ConfigStore(path)
    try:
        store.load()
    except CliError as exc:
        assert exc.exit_code == ExitCode.CONFIG
    assert path.read_bytes() == content  # never written over


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=150)
@given(key=st.sampled_from(SETTINGS), value=VALUES, source=st.sampled_from(["flag", "env"]))
def test_any_setting_value_resolves_or_is_a_usage_or_config_error(
    tmp_path: Path, key: str, value: Any, source: str
) -> None:
    store = ConfigStore(tmp_path / "config.toml")
    env_name = settings_mod.ENV_VARS.get(key)
    flags: dict[str, Any] = {}
    env: dict[str, str] = {}
    if source == "env" and env_name:
        env[env_name] = str(value)
    else:
        flags[key] = value
    try:
        settings_mod.resolve(flags, env, store)
    except CliError as exc:
        assert exc.exit_code in CONFIG_ERRORS, exc


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=150)
@given(toml_value=st.sampled_from(
    ["inf", "nan", "-inf", "1e400", "-3", "2.5", "true", '"x"', "[1, 2]", "{ a = 1 }", "0"]),
       key=st.sampled_from(["timeout", "max_retries", "output", "color", "base_url"]))
def test_any_profile_value_is_a_config_error_not_a_crash(
    tmp_path: Path, toml_value: str, key: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'active_profile = "p"\n[profiles.p]\n{key} = {toml_value}\n')
    try:
        settings_mod.resolve({}, {}, ConfigStore(path))
    except CliError as exc:
        assert exc.exit_code == ExitCode.CONFIG, exc


ITEMS = [
    {"key": f"k{i}", "name": f"Plant {i}", "credits": i, "status": "active" if i % 2 else "x",
     "updated_at": f"2026-11-{i + 1:02d}T00:00:00Z", "tags": ["a"], "health": None}
    for i in range(12)
]
FIELDS = {"key", "name", "credits", "status", "updated_at", "tags", "health"}
PARAM_NAMES = st.one_of(
    st.sampled_from(["page", "per_page", "filterMatch", "modified_after", "cursor"]),
    st.builds(lambda kind, field, op: f"{kind}[{field}{op}]",
              st.sampled_from(["filter", "sort"]),
              st.sampled_from([*FIELDS, "nope", "", "]"]),
              st.sampled_from(["", ":contains", ":startsWith", ":gt", ":gteq", ":lt", ":lteq",
                               ":lted", ":bogus", ":"])),
    st.text(max_size=12),
)


@settings(max_examples=300)
@given(query=st.lists(st.tuples(PARAM_NAMES, st.text(max_size=25)), max_size=5))
def test_any_list_query_pages_or_is_a_4xx(query: list[tuple[str, str]]) -> None:
    try:
        page = paginate(ITEMS, query, "http://sandbox.test/api/x?a=1", fields=FIELDS,
                        updated_field="updated_at")
    except ApiError as exc:
        assert 400 <= exc.status < 500, exc
        return
    assert len(page["data"]) <= page["meta"]["per_page"]
    assert page["meta"]["total"] <= len(ITEMS)


def test_the_property_tests_can_fail() -> None:
    """The filter property is not vacuous: a bad operator is refused with a 4xx."""
    with pytest.raises(ApiError) as raised:
        paginate(ITEMS, [("filter[credits:bogus]", "1")], "http://sandbox.test/x",
                 fields=FIELDS)
    assert 400 <= raised.value.status < 500
