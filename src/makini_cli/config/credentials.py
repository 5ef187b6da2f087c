"""The credentials policy: which admin credentials a run uses, and where they come from.

A pure function of the environment, the resolved settings and what the secret store
holds, so `auth status` can ask it about every profile and tests can ask it directly.
Order: MAKINI_TOKEN, then MAKINI_CLIENT_ID + MAKINI_CLIENT_SECRET, then the profile's
stored token or client secret, then (bundled sandbox only) the public demo client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from makini_cli.errors import ConfigError

#: Environment variables that carry credentials; they override every profile.
ENV_CREDENTIALS = ("MAKINI_TOKEN", "MAKINI_CLIENT_ID", "MAKINI_CLIENT_SECRET")


@dataclass
class Credentials:
    """Where the admin credentials come from, for `auth status` and for the client."""

    kind: str  # "token", "client_credentials", "sandbox-demo", "none"
    source: str  # human-readable origin
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    #: stored by `auth login` (keyring or file): tokens may be cached beside them
    persistent: bool = False
    #: the name of the variable or store to fix when the server rejects them
    fix_hint: str | None = None


class SecretReader(Protocol):
    def get(self, name: str) -> str | None: ...
    def where(self, name: str) -> str | None: ...


def secret_name(profile: str, what: str) -> str:
    return f"{profile}:{what}"


def profile_of(name: str) -> str:
    """The profile a secret name belongs to (profile names cannot contain ':')."""
    return name.partition(":")[0]


def token_cache_name(profile: str, what: str, base_url: str) -> str:
    """Cached tokens are per base URL: one profile may be pointed at another server."""
    return secret_name(profile, f"{what}@{base_url}")


def from_environment(env: Mapping[str, str]) -> Credentials | None:
    if env.get("MAKINI_TOKEN"):
        return Credentials(
            "token",
            "env MAKINI_TOKEN",
            token=env["MAKINI_TOKEN"],
            fix_hint="MAKINI_TOKEN is rejected: set it to a valid admin token, or unset it",
        )
    if env.get("MAKINI_CLIENT_ID") or env.get("MAKINI_CLIENT_SECRET"):
        if not (env.get("MAKINI_CLIENT_ID") and env.get("MAKINI_CLIENT_SECRET")):
            missing = "MAKINI_CLIENT_SECRET" if env.get("MAKINI_CLIENT_ID") else "MAKINI_CLIENT_ID"
            raise ConfigError(
                f"{missing} is not set, but its partner is",
                hint="set both MAKINI_CLIENT_ID and MAKINI_CLIENT_SECRET, or neither",
            )
        return Credentials(
            "client_credentials",
            "env MAKINI_CLIENT_ID + MAKINI_CLIENT_SECRET",
            client_id=env["MAKINI_CLIENT_ID"],
            client_secret=env["MAKINI_CLIENT_SECRET"],
            fix_hint="check MAKINI_CLIENT_ID and MAKINI_CLIENT_SECRET",
        )
    return None


def stored(
    profile: str,
    client_id: str | None,
    secrets: SecretReader,
    *,
    sandbox_demo: tuple[str, str] | None = None,
) -> Credentials:
    """What the profile itself holds, ignoring the environment; `sandbox_demo` is the
    bundled sandbox's public (client id, secret), when the profile points at it."""
    login = f"run `makini auth login -p {profile}` again"
    token = secrets.get(secret_name(profile, "token"))
    if token:
        where = secrets.where(secret_name(profile, "token")) or "keyring"
        return Credentials(
            "token", f"{where} (profile {profile})", token=token, persistent=True, fix_hint=login
        )
    if client_id:
        secret = secrets.get(secret_name(profile, "client_secret"))
        if secret:
            where = secrets.where(secret_name(profile, "client_secret")) or "keyring"
            return Credentials(
                "client_credentials",
                f"{where} (profile {profile})",
                client_id=client_id,
                client_secret=secret,
                persistent=True,
                fix_hint=login,
            )
    if sandbox_demo is not None:
        return Credentials(
            "sandbox-demo",
            "the sandbox's built-in demo credentials",
            client_id=sandbox_demo[0],
            client_secret=sandbox_demo[1],
            fix_hint="the sandbox was started with other credentials: set MAKINI_CLIENT_ID "
            "and MAKINI_CLIENT_SECRET to the ones it printed",
        )
    return Credentials("none", "none", fix_hint=f"run `makini auth login -p {profile}`")


def resolve(
    env: Mapping[str, str],
    profile: str,
    client_id: str | None,
    secrets: SecretReader,
    *,
    sandbox_demo: tuple[str, str] | None = None,
) -> Credentials:
    return from_environment(env) or stored(
        profile, client_id, secrets, sandbox_demo=sandbox_demo
    )
