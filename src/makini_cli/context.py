"""AppContext: the one place dependencies are built, lazily, and injected into commands.

Commands ask the context for what they need (`ctx.connections`, `ctx.out`); nothing
heavy (httpx, pydantic models, the sandbox) is imported until a command asks for it.
Tests replace the factories to swap dependencies.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from makini_cli import terminal as terminal_mod
from makini_cli.config import settings as settings_mod
from makini_cli.config.credentials import Credentials
from makini_cli.config.store import ConfigStore
from makini_cli.errors import AuthError, CliError, ConfigError

if TYPE_CHECKING:
    from makini_cli.api.auth import TokenCache, TokenProvider
    from makini_cli.api.capabilities import Capabilities
    from makini_cli.api.client import ApiClient
    from makini_cli.api.errors import APIError
    from makini_cli.api.facade import Makini
    from makini_cli.api.resources.account import AccountAPI
    from makini_cli.api.resources.connections import ConnectionsAPI
    from makini_cli.api.resources.syncs import SyncsAPI
    from makini_cli.config.secrets import SecretStore
    from makini_cli.models.sync import Sync
    from makini_cli.output.messages import Messages
    from makini_cli.output.render import Renderer


class AppContext:
    #: The URL of a sandbox already running in this process, used instead of starting or
    #: finding one (the in-process test tier points it at its own embedded sandbox).
    sandbox_url: str | None = None

    def __init__(
        self,
        flags: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
        store: ConfigStore | None = None,
        terminal: terminal_mod.Terminal | None = None,
    ) -> None:
        self.terminal = terminal or terminal_mod.current
        self.flags = dict(flags)
        self.env: Mapping[str, str] = os.environ if env is None else env
        self._store = store
        self._settings: settings_mod.Settings | None = None
        self._messages: Messages | None = None
        self._renderer: Renderer | None = None
        self._secrets: SecretStore | None = None
        self._client: ApiClient | None = None
        self._capabilities: Capabilities | None = None
        self._api: Makini | None = None
        self._credentials: Credentials | None = None
        self._memory_caches: dict[str, TokenCache] = {}
        self.resources = contextlib.ExitStack()
        #: `auth login` may name a profile it has yet to create
        self.new_profile_ok = False
        #: set once the root callback has filled in the global flags
        self.parsed = False
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
            self._settings = settings_mod.resolve(
                self.flags, self.env, self.store, missing_ok=self.new_profile_ok
            )
        return self._settings

    @property
    def secrets(self) -> SecretStore:
        if self._secrets is None:
            from makini_cli.config.secrets import SecretStore

            self._secrets = SecretStore(warn=self.msg.warn)
        return self._secrets

    # ------------------------------------------------------------------ output

    @property
    def output_mode(self) -> str | None:
        """-o, MAKINI_OUTPUT or the profile's `output`; None lets each command choose.
        Decided here once for both data and errors. When the settings cannot be resolved
        (the error being reported may be that), the flag and the variable still count."""
        try:
            mode = self.settings["output"]
        except CliError:
            mode = self.flags.get("output") or self.env.get("MAKINI_OUTPUT")
        return str(mode) if mode else None

    @property
    def msg(self) -> Messages:
        if self._messages is None:
            from makini_cli.output.messages import Messages

            color = self.flags.get("color") or ("never" if self.env.get("NO_COLOR") else "auto")
            self._messages = Messages(
                stderr=self.terminal.stderr_stream,
                quiet=bool(self.flags.get("quiet")),
                json_errors=self.output_mode in ("json", "jsonl"),
                color=color,
            )
        return self._messages

    @property
    def out(self) -> Renderer:
        if self._renderer is None:
            from makini_cli.output.render import Renderer

            self._renderer = Renderer(
                explicit_mode=self.output_mode,
                color=self.settings["color"],
                stdout=self.terminal.stdout_stream,
                stdout_is_tty=self.terminal.is_tty("stdout"),
                width=self.terminal.columns,
            )
        return self._renderer

    def debug_log(self, message: str) -> None:
        self.msg.debug(message)

    # ------------------------------------------------------------------ input

    @property
    def no_input(self) -> bool:
        return bool(self.settings["no_input"])

    def confirm(self, question: str, *, flag: str = "--yes") -> None:
        """Ask on a terminal; elsewhere (or under --no-input) fail with exit 6 naming the flag."""
        self.terminal.confirm(question, no_input=self.no_input, flag=flag)

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
        from makini_cli.config import credentials

        s = self.settings
        client_id = s["client_id"]
        demo = None
        if s.is_sandbox:
            from makini_cli.sandbox.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

            demo = (DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
        return credentials.resolve(
            self.env,
            s.profile_name,
            str(client_id) if client_id else None,
            self.secrets,
            sandbox_demo=demo,
        )

    def token_cache(self, what: str) -> TokenCache:
        """Persistent (keyring or file) for logged-in profiles; a private cache file for the
        sandbox's public demo client (an exchange per run cost a request every time); memory
        for environment credentials, which promise to write nothing."""
        from makini_cli.api.auth import MemoryTokenCache, SecretTokenCache
        from makini_cli.config.credentials import token_cache_name

        creds = self.credentials()
        name = token_cache_name(self.settings.profile_name, what, self.settings.base_url)
        if creds.persistent:
            return SecretTokenCache(self.secrets, name)
        if creds.kind == "sandbox-demo":
            from makini_cli.config.paths import cache_dir
            from makini_cli.config.secrets import FileBackend

            return SecretTokenCache(FileBackend(cache_dir() / "sandbox-tokens.json"), name)
        return self._memory_caches.setdefault(what, MemoryTokenCache())

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
        from makini_cli import locate

        return locate.server_url(
            self.settings,
            self.env,
            self.resources,
            notice=self.msg.notice,
            debug=self.debug_log if self.settings["debug"] else None,
            running=AppContext.sandbox_url,
        )

    @property
    def client(self) -> ApiClient:
        if self._client is None:
            import ssl

            from makini_cli.api.client import ApiClient, CaBundleError, load_ca_bundle
            from makini_cli.api.retry import RetryPolicy
            from makini_cli.errors import UsageError

            s = self.settings
            ca_bundle = s["ca_bundle"]
            verify: ssl.SSLContext | bool = True
            if ca_bundle:
                # Before any sandbox starts: a bad bundle is the user's to fix, exit 2 for
                # the flag they just typed, 3 for the environment or profile.
                try:
                    verify = load_ca_bundle(str(ca_bundle))
                except CaBundleError as exc:
                    origin = s.origin("ca_bundle")
                    error = UsageError if origin == "flag" else ConfigError
                    where = "--ca-bundle" if origin == "flag" else origin
                    raise error(
                        f"{exc} (from {where})",
                        code="CA_BUNDLE_UNUSABLE",
                        hint="point it at a PEM file of CA certificates",
                    ) from exc
            url = self._server_url()
            client = ApiClient(
                url,
                timeout=float(s["timeout"]),
                retry=RetryPolicy(max_retries=int(s["max_retries"])),
                notify=self.msg.notice,
                debug=self.debug_log if s["debug"] else None,
                transport=self.transport,
                display_url=s.base_url,
                verify=verify,
                ca_bundle=str(ca_bundle) if ca_bundle else None,
                # The bundled sandbox is this process's own loopback server: a proxy set
                # for the real API must never see its traffic (nor could it reach it).
                trust_env=not s.is_sandbox,
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
    def api(self) -> Makini:
        """The API facade, built once; needs credentials (a login hint otherwise)."""
        self.require_login()
        if self._api is None:
            from makini_cli.api.facade import Makini

            self._api = Makini(
                self.client, self.capabilities, lambda key: self.token_cache(f"conn:{key}")
            )
        return self._api

    @property
    def connections(self) -> ConnectionsAPI:
        return self.api.connections

    @property
    def syncs(self) -> SyncsAPI:
        return self.api.syncs

    @property
    def account(self) -> AccountAPI:
        return self.api.account

    # ------------------------------------------------------------------ Tab's cache

    def remember_connections(
        self, items: Iterable[tuple[str, str | None]], *, complete: bool = False
    ) -> None:
        """Offer these connection keys on Tab from now on (best effort, never raises)."""
        from makini_cli import completion

        completion.remember_connections(
            completion.scope_of(self.settings), items, complete=complete
        )

    def forget_connections(self, keys: Iterable[str]) -> None:
        from makini_cli import completion

        completion.forget_connections(completion.scope_of(self.settings), keys)

    def remember_syncs(self, syncs: Iterable[Sync]) -> None:
        """Offer these sync ids on Tab, described by connection and status."""
        from makini_cli import completion

        items = [(s.id, f"{s.connection_key or '?'} · {s.status}") for s in syncs if s.id]
        if items:
            completion.remember_syncs(completion.scope_of(self.settings), items)

    def explain(self, exc: APIError) -> CliError:
        """The user-facing form of an API error, naming the credentials in use."""
        from makini_cli.failures import to_cli_error

        return to_cli_error(exc, self._credentials)

    def close(self) -> None:
        self.resources.close()
