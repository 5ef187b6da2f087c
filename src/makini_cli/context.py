"""AppContext: the one place dependencies are built, lazily, and injected into commands.

Commands ask the context for what they need (`ctx.connections`, `ctx.out`); nothing
heavy (httpx, pydantic models, the sandbox) is imported until a command asks for it.
Tests replace the factories to swap dependencies.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from makini_cli.config import settings as settings_mod
from makini_cli.config.store import ConfigStore
from makini_cli.errors import AbortedError, AuthError, ConfigError

if TYPE_CHECKING:
    from makini_cli.api.auth import TokenCache, TokenProvider
    from makini_cli.api.capabilities import Capabilities
    from makini_cli.api.client import ApiClient
    from makini_cli.api.resources.account import AccountAPI
    from makini_cli.api.resources.connections import ConnectionsAPI
    from makini_cli.api.resources.syncs import SyncsAPI
    from makini_cli.config.secrets import SecretStore
    from makini_cli.output.messages import Messages
    from makini_cli.output.render import Renderer


@dataclass
class Credentials:
    """Where the admin credentials come from, for `auth status` and for the client."""

    kind: str  # "token", "client_credentials", "sandbox-demo", "none"
    source: str  # human-readable origin
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    persistent: bool = False  # may tokens be cached on disk / in the keyring?


#: Contexts created during this run; the error boundary closes them (stopping an embedded
#: sandbox, closing the HTTP client) and renders errors through the last one.
live_contexts: list[AppContext] = []


def secret_name(profile: str, what: str) -> str:
    return f"{profile}:{what}"


class AppContext:
    def __init__(
        self,
        flags: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        store: ConfigStore | None = None,
        register: bool = True,
    ) -> None:
        if register:
            live_contexts.append(self)
        self.flags = dict(flags)
        self.env: Mapping[str, str] = os.environ if env is None else env
        self._store = store
        self._settings: settings_mod.Settings | None = None
        self._messages: Messages | None = None
        self._renderer: Renderer | None = None
        self._secrets: SecretStore | None = None
        self._client: ApiClient | None = None
        self._capabilities: Capabilities | None = None
        self._credentials: Credentials | None = None
        self._memory_caches: dict[str, TokenCache] = {}
        self.resources = contextlib.ExitStack()
        #: set by tests to inject an httpx transport
        self.transport: Any = None

    # ------------------------------------------------------------------ config

    @property
    def store(self) -> ConfigStore:
        if self._store is None:
            self._store = ConfigStore()
        return self._store

    @property
    def settings(self) -> settings_mod.Settings:
        if self._settings is None:
            self._settings = settings_mod.resolve(self.flags, self.env, self.store)
        return self._settings

    @property
    def secrets(self) -> SecretStore:
        if self._secrets is None:
            from makini_cli.config.secrets import SecretStore

            self._secrets = SecretStore(warn=self.msg.warn)
        return self._secrets

    # ------------------------------------------------------------------ output

    @property
    def msg(self) -> Messages:
        if self._messages is None:
            from makini_cli.output.messages import Messages

            mode = self.flags.get("output") or self.env.get("MAKINI_OUTPUT")
            color = self.flags.get("color") or ("never" if self.env.get("NO_COLOR") else "auto")
            self._messages = Messages(
                quiet=bool(self.flags.get("quiet")),
                json_errors=mode in ("json", "jsonl"),
                color=color,
            )
        return self._messages

    @property
    def out(self) -> Renderer:
        if self._renderer is None:
            from makini_cli.output.render import Renderer

            s = self.settings
            self._renderer = Renderer(explicit_mode=s["output"], color=s["color"])
            # The profile may choose json after the error channel was set up from flags.
            self.msg.json_errors = s["output"] in ("json", "jsonl")
        return self._renderer

    def debug_log(self, message: str) -> None:
        self.msg.debug(message)

    # ------------------------------------------------------------------ input

    @property
    def no_input(self) -> bool:
        return bool(self.settings["no_input"])

    def stdin_is_tty(self) -> bool:
        return sys.stdin.isatty()

    def confirm(self, question: str, *, flag: str = "--yes") -> None:
        """Ask on a terminal; elsewhere (or under --no-input) fail with exit 6 naming the flag."""
        if self.no_input or not self.stdin_is_tty():
            raise AbortedError(
                f"{question.rstrip('?')}: confirmation needed but no terminal to ask on",
                code="CONFIRMATION_REQUIRED",
                hint=f"pass {flag} to confirm",
            )
        sys.stderr.write(f"{question} [y/N] ")
        sys.stderr.flush()
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            raise AbortedError("aborted", code="ABORTED", hint=f"pass {flag} to skip this question")

    # ------------------------------------------------------------------ credentials

    def credentials(self) -> Credentials:
        if self._credentials is None:
            self._credentials = self._resolve_credentials()
        return self._credentials

    def use_credentials(self, creds: Credentials) -> None:
        """Use these credentials for this run (login checks them before storing)."""
        self._credentials = creds
        if self._client is not None:
            self._client.auth = self.token_provider(self._client)

    def _resolve_credentials(self) -> Credentials:
        env = self.env
        s = self.settings
        if env.get("MAKINI_TOKEN"):
            return Credentials("token", "env MAKINI_TOKEN", token=env["MAKINI_TOKEN"])
        if env.get("MAKINI_CLIENT_ID") or env.get("MAKINI_CLIENT_SECRET"):
            if not (env.get("MAKINI_CLIENT_ID") and env.get("MAKINI_CLIENT_SECRET")):
                missing = (
                    "MAKINI_CLIENT_SECRET" if env.get("MAKINI_CLIENT_ID") else "MAKINI_CLIENT_ID"
                )
                raise ConfigError(
                    f"{missing} is not set, but its partner is",
                    hint="set both MAKINI_CLIENT_ID and MAKINI_CLIENT_SECRET, or neither",
                )
            return Credentials(
                "client_credentials",
                "env MAKINI_CLIENT_ID + MAKINI_CLIENT_SECRET",
                client_id=env["MAKINI_CLIENT_ID"],
                client_secret=env["MAKINI_CLIENT_SECRET"],
            )
        profile = s.profile_name
        static = self.secrets.get(secret_name(profile, "token"))
        if static:
            where = self.secrets.where(secret_name(profile, "token")) or "keyring"
            return Credentials(
                "token", f"{where} (profile {profile})", token=static, persistent=True
            )
        client_id = s["client_id"]
        if client_id:
            secret = self.secrets.get(secret_name(profile, "client_secret"))
            if secret:
                where = self.secrets.where(secret_name(profile, "client_secret")) or "keyring"
                return Credentials(
                    "client_credentials",
                    f"{where} (profile {profile})",
                    client_id=str(client_id),
                    client_secret=secret,
                    persistent=True,
                )
        if s.is_sandbox:
            from makini_cli.sandbox.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

            return Credentials(
                "sandbox-demo",
                "the sandbox's built-in demo credentials",
                client_id=DEMO_CLIENT_ID,
                client_secret=DEMO_CLIENT_SECRET,
            )
        return Credentials("none", "none")

    def token_cache(self, what: str) -> TokenCache:
        """Persistent (keyring or file) for logged-in profiles; memory for env and demo."""
        from makini_cli.api.auth import MemoryTokenCache, SecretTokenCache

        creds = self.credentials()
        if not creds.persistent:
            return self._memory_caches.setdefault(what, MemoryTokenCache())
        name = secret_name(self.settings.profile_name, f"{what}@{self.settings.base_url}")
        return SecretTokenCache(self.secrets, name)

    def token_provider(self, client: ApiClient) -> TokenProvider | None:
        from makini_cli.api.auth import ClientCredentials, StaticToken

        creds = self.credentials()
        if creds.kind == "token" and creds.token:
            return StaticToken(creds.token, source=creds.source)
        if creds.client_id and creds.client_secret:
            return ClientCredentials(
                creds.client_id,
                creds.client_secret,
                self.token_cache("admin"),
                exchange=client.exchange_token,
            )
        return None

    # ------------------------------------------------------------------ API

    def _server_url(self) -> str:
        s = self.settings
        if s.implicit_sandbox and self.env.get("CI", "") not in ("", "0", "false"):
            raise ConfigError(
                "CI is set and no profile, base URL or credentials are configured",
                hint="set MAKINI_CLIENT_ID and MAKINI_CLIENT_SECRET (or MAKINI_TOKEN) and "
                "MAKINI_BASE_URL; pass --base-url sandbox to use the bundled sandbox on purpose",
            )
        if not s.is_sandbox:
            return s.base_url
        if s.implicit_sandbox:
            self.msg.notice(
                "note: nothing is configured, so this runs against the bundled sandbox "
                "(`makini auth login` to use your Makini account)"
            )
        return self._start_embedded_sandbox()

    def _start_embedded_sandbox(self) -> str:
        try:
            from makini_cli.sandbox.server import EmbeddedSandbox
            from makini_cli.sandbox.settings import SandboxSettings, default_data_dir
        except ImportError as exc:
            raise ConfigError(
                "the bundled sandbox is not installed",
                hint="pip install 'makini-cli[sandbox]', or choose a server with --base-url",
            ) from exc
        sandbox = EmbeddedSandbox(SandboxSettings(data_dir=default_data_dir()))
        return str(self.resources.enter_context(sandbox).base_url)

    @property
    def client(self) -> ApiClient:
        if self._client is None:
            from makini_cli.api.client import ApiClient
            from makini_cli.api.retry import RetryPolicy

            s = self.settings
            url = self._server_url()
            client = ApiClient(
                url,
                timeout=float(s["timeout"]),
                retry=RetryPolicy(max_retries=int(s["max_retries"])),
                notify=self.msg.notice,
                debug=self.debug_log if s["debug"] else None,
                transport=self.transport,
                display_url=s.base_url,
            )
            self.resources.callback(client.close)
            # None when there are no credentials: calls needing auth then fail with a login hint.
            client.auth = self.token_provider(client)
            self._client = client
        return self._client

    def require_login(self) -> None:
        if self.credentials().kind == "none":
            raise AuthError(
                f"profile {self.settings.profile_name!r} has no credentials",
                code="NOT_LOGGED_IN",
                hint=f"run `makini auth login -p {self.settings.profile_name}`, or set "
                "MAKINI_CLIENT_ID and MAKINI_CLIENT_SECRET",
            )

    @property
    def capabilities(self) -> Capabilities:
        if self._capabilities is None:
            from makini_cli.api.capabilities import Capabilities
            from makini_cli.config.paths import cache_dir

            self._capabilities = Capabilities(
                self.client, self.settings.base_url, cache_dir() / "capabilities.json"
            )
        return self._capabilities

    @property
    def connections(self) -> ConnectionsAPI:
        from makini_cli.api.resources.connections import ConnectionsAPI

        self.require_login()
        return ConnectionsAPI(
            self.client, self.capabilities, lambda key: self.token_cache(f"conn:{key}")
        )

    @property
    def syncs(self) -> SyncsAPI:
        from makini_cli.api.resources.syncs import SyncsAPI

        return SyncsAPI(self.client, self.capabilities, self.connections)

    @property
    def account(self) -> AccountAPI:
        from makini_cli.api.resources.account import AccountAPI

        self.require_login()
        return AccountAPI(self.client, self.capabilities)

    def close(self) -> None:
        self.resources.close()
