"""Resolve every setting from flag > environment > profile > default, remembering where
each value came from (`config list --show-origin`, `auth status`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from makini_cli.config.store import (
    BUILTIN_SANDBOX,
    DEFAULT_BASE_URL,
    SANDBOX_BASE_URL,
    ConfigStore,
)
from makini_cli.errors import ConfigError, UsageError

OUTPUT_MODES = ("table", "wide", "json", "jsonl", "csv")
COLOR_MODES = ("auto", "always", "never")

#: setting name → environment variable
ENV_VARS: dict[str, str] = {
    "profile": "MAKINI_PROFILE",
    "base_url": "MAKINI_BASE_URL",
    "output": "MAKINI_OUTPUT",
    "timeout": "MAKINI_HTTP_TIMEOUT",
    "max_retries": "MAKINI_MAX_RETRIES",
    "debug": "MAKINI_DEBUG",
    "no_input": "MAKINI_NO_INPUT",
    "client_id": "MAKINI_CLIENT_ID",
    "ca_bundle": "MAKINI_CA_BUNDLE",
}

DEFAULTS: dict[str, Any] = {
    "output": None,  # decided by the command: table on a TTY, json/jsonl when piped
    "color": "auto",
    "timeout": 30.0,
    "max_retries": 4,
    "debug": False,
    "no_input": False,
    "quiet": False,
    "client_id": None,
    "ca_bundle": None,  # None: httpx's choice (SSL_CERT_FILE, SSL_CERT_DIR, else certifi)
}


@dataclass(frozen=True)
class Resolved:
    value: Any
    origin: str  # "flag", "env MAKINI_X", "profile NAME", "default", "built-in"


@dataclass
class Settings:
    profile: Resolved
    values: dict[str, Resolved] = field(default_factory=dict)
    #: True when no flag, variable or config chose a profile, base URL or credentials:
    #: the run falls back to the bundled sandbox and says so.
    implicit_sandbox: bool = False

    def __getitem__(self, key: str) -> Any:
        return self.values[key].value

    def origin(self, key: str) -> str:
        return self.values[key].origin

    @property
    def profile_name(self) -> str:
        return str(self.profile.value)

    @property
    def base_url(self) -> str:
        return str(self.values["base_url"].value)

    @property
    def is_sandbox(self) -> bool:
        return self.base_url == SANDBOX_BASE_URL


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def _ca_bundle_path(raw: Any, source: str) -> str:
    text = str(raw).strip()
    if not text:
        raise ValueError("must be the path of a PEM file")
    # Absolute, so a path stored with `config set` means the same file from any directory.
    path = Path(text).expanduser().absolute()
    # Checked here only for what the user just typed; a stale path in a profile or the
    # environment is reported when a request needs it, so `config unset` still works.
    if source in ("flag", "argument") and not path.is_file():
        raise UsageError(
            f"CA bundle {path} {'is not a file' if path.exists() else 'does not exist'}"
            + (" (from --ca-bundle)" if source == "flag" else ""),
            code="CA_BUNDLE_UNUSABLE",
            hint="point it at a PEM file of CA certificates",
        )
    return str(path)


def coerce(key: str, raw: Any, source: str) -> Any:
    """Check and convert one value; `source` names where it came from for the message."""
    try:
        if key == "output":
            value = str(raw).lower()
            if value not in OUTPUT_MODES:
                raise ValueError(f"must be one of {', '.join(OUTPUT_MODES)}")
            return value
        if key == "color":
            value = str(raw).lower()
            if value not in COLOR_MODES:
                raise ValueError(f"must be one of {', '.join(COLOR_MODES)}")
            return value
        if key == "timeout":
            if isinstance(raw, bool):  # `true` is no number of seconds, though float() says 1
                raise ValueError("must be a number of seconds between 0 and 3600")
            number = float(raw)
            # Also refuses nan and inf (TOML reads `inf`, `nan` and 1e400 as floats):
            # every comparison with nan is false, and inf is above the bound.
            if not 0 < number <= 3600:
                raise ValueError("must be a number of seconds between 0 and 3600")
            return number
        if key == "max_retries":
            # TOML gives floats for `inf`, `nan` and 1e400, and int() of inf raises
            # OverflowError, which is no ValueError. Only a whole number counts (3.0 is 3;
            # inf and nan are not whole); `true` is no count, though int() takes it for 1.
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError("must be a whole number from 0 to 20")
            count = int(raw)
            if not 0 <= count <= 20:
                raise ValueError("must be a whole number from 0 to 20")
            return count
        if key in ("debug", "no_input", "quiet"):
            return raw if isinstance(raw, bool) else _truthy(str(raw))
        if key == "base_url":
            return _base_url(raw)
        if key == "ca_bundle":
            return _ca_bundle_path(raw, source)
        return raw
    except (TypeError, ValueError) as exc:
        error = UsageError if source in ("flag", "argument") else ConfigError
        shown = shown_base_url(raw) if key == "base_url" else repr(raw)
        raise error(
            f"invalid {key} {shown} from {source}: {exc}",
            hint=getattr(exc, "hint", None) or f"fix the value of {key} ({source})",
            code=getattr(exc, "code", None),
        ) from exc


class _Refused(ValueError):
    """A value refused with its own advice, rather than "fix the value"."""

    def __init__(self, message: str, *, hint: str, code: str) -> None:
        super().__init__(message)
        self.hint = hint
        self.code = code


def _base_url(raw: Any) -> str:
    """`sandbox`, or an http(s) URL that httpx can use as it stands.

    Checked here, with the standard library only (start-up stays light: httpx is imported
    by the commands that send requests), so that a bad URL is the user's usage (flag) or
    configuration (env, profile) error, never an httpx.InvalidURL, or a UnicodeError from
    the name lookup, surfacing as a crash. Credentials (`user:password@`) are refused:
    httpx would send them as Basic auth instead of our Bearer token, and every message,
    `--debug` line and `auth status` that names the URL would show the password.
    """
    text = str(raw).strip()
    if text == SANDBOX_BASE_URL:
        return text
    if not text.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://, or be `sandbox`")
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise ValueError("must not contain spaces or control characters")
    if len(text) > 2048:
        raise ValueError("is too long for a base URL (over 2048 characters)")
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
    except ValueError:
        # The standard library's words may quote the host; ours never quote the URL.
        raise ValueError("is not a valid URL (an IPv6 address goes in [ ])") from None
    if "@" in parts.netloc:
        raise _Refused(
            "credentials do not belong in the URL",
            hint="remove `user:password@`; log in with `makini auth login`, or set "
            "MAKINI_CLIENT_ID and MAKINI_CLIENT_SECRET",
            code="CREDENTIALS_IN_URL",
        )
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError("has an invalid port (a number from 1 to 65535 after the host)")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError("must not have a query (?…) or a fragment (#…)")
    _check_host(parts.hostname or "", bracketed="[" in parts.netloc)
    return text.rstrip("/")


def _check_host(host: str, *, bracketed: bool) -> None:
    """The checks httpx (and the name lookup below it) would fail on, made first."""
    import re

    if not host:
        raise ValueError("has no host name")
    if bracketed or re.fullmatch(r"[0-9]+(\.[0-9]+){3}", host):
        import ipaddress

        try:
            if bracketed:
                ipaddress.IPv6Address(host)
            else:
                ipaddress.IPv4Address(host)
        except ValueError:
            raise ValueError("has an invalid IP address") from None
        return
    name = host[:-1] if host.endswith(".") else host  # one trailing dot is fully qualified
    if name.isascii() and not re.fullmatch(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*", name):
        raise ValueError("has an invalid host name")
    try:
        # Empty labels and labels over 63 characters; Punycode that does not decode.
        name.encode("idna")
        if name.startswith("xn--") or ".xn--" in name:
            name.encode("ascii").decode("idna")
    except UnicodeError:
        raise ValueError("has an invalid host name") from None


def shown_base_url(raw: Any, *, quoted: bool = True) -> str:
    """A base URL as output may show it: anything that could be a password (whatever
    precedes an `@`) replaced, and cut to a line's length; quoted for a message."""
    text = str(raw)
    if "@" in text:
        scheme, sep, rest = text.partition("://")
        text = f"{scheme}{sep}***@{rest.rsplit('@', 1)[1]}" if sep else "***"
    if len(text) > 200:
        text = text[:200] + "…"
    return repr(text) if quoted else text


def resolve(
    flags: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    store: ConfigStore | None = None,
    *,
    missing_ok: bool = False,
) -> Settings:
    """`flags` holds only the flags the user gave (None means not given).

    `missing_ok` resolves a profile that does not exist yet as an empty one: `auth login`
    checks credentials for a new profile before it writes anything."""
    env = os.environ if env is None else env
    store = store or ConfigStore()
    doc = store.load()
    profiles: dict[str, dict[str, Any]] = doc.get("profiles", {})

    if flags.get("profile"):
        profile = Resolved(flags["profile"], "flag")
    elif env.get("MAKINI_PROFILE"):
        profile = Resolved(env["MAKINI_PROFILE"], "env MAKINI_PROFILE")
    elif doc.get("active_profile"):
        profile = Resolved(doc["active_profile"], f"config {store.path}")
    else:
        profile = Resolved(BUILTIN_SANDBOX, "default")

    name = str(profile.value)
    exists = name in profiles or name == BUILTIN_SANDBOX
    if not exists and not missing_ok:
        raise ConfigError(
            f"profile {name!r} does not exist (chosen by {profile.origin})",
            hint="run `makini profile list`, or create it with `makini profile create "
            f"{name} --base-url URL`",
        )
    section = profiles.get(name, {})
    builtin_defaults: dict[str, Any] = (
        {"base_url": SANDBOX_BASE_URL}
        if name == BUILTIN_SANDBOX
        else {"base_url": DEFAULT_BASE_URL}
    )

    values: dict[str, Resolved] = {}
    keys = set(DEFAULTS) | {"base_url"}
    for key in sorted(keys):
        env_name = ENV_VARS.get(key)
        if flags.get(key) is not None:
            values[key] = Resolved(coerce(key, flags[key], "flag"), "flag")
        elif env_name and env.get(env_name, "") != "":
            origin = f"env {env_name}"
            values[key] = Resolved(coerce(key, env[env_name], origin), origin)
        elif key in section:
            origin = f"profile {name}"
            values[key] = Resolved(coerce(key, section[key], origin), origin)
        elif key in builtin_defaults:
            values[key] = Resolved(
                builtin_defaults[key], "built-in" if name == BUILTIN_SANDBOX else "default"
            )
        else:
            values[key] = Resolved(DEFAULTS[key], "default")

    # NO_COLOR / FORCE_COLOR are conventions every tool honours; an explicit flag still wins.
    if values["color"].origin == "default":
        if env.get("NO_COLOR"):
            values["color"] = Resolved("never", "env NO_COLOR")
        elif env.get("FORCE_COLOR"):
            values["color"] = Resolved("always", "env FORCE_COLOR")
    # CI systems set CI; a pipeline must never stop for a prompt.
    if values["no_input"].origin == "default" and env.get("CI", "") not in ("", "0", "false"):
        values["no_input"] = Resolved(True, "env CI")

    credentials_in_env = bool(env.get("MAKINI_TOKEN") or env.get("MAKINI_CLIENT_ID"))
    implicit = (
        profile.origin == "default"
        and values["base_url"].origin in ("built-in", "default")
        and not credentials_in_env
    )
    return Settings(profile=profile, values=values, implicit_sandbox=implicit)
