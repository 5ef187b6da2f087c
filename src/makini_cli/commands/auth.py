"""`makini auth`: log in with Admin API client credentials (or a token), and inspect it."""

import contextlib
from typing import Annotated, Any

import typer

from makini_cli.api.errors import APIError
from makini_cli.commands._common import app_ctx, new_app
from makini_cli.config.credentials import ENV_CREDENTIALS, Credentials, secret_name
from makini_cli.config.store import BUILTIN_SANDBOX, check_profile_name
from makini_cli.context import AppContext
from makini_cli.errors import AuthError, CliError, ExitCode, QuietExit, UsageError

app = new_app(
    """Log in to Makini, and see or print the credentials in use.

    \b
    Examples:
      makini auth login -p prod --base-url https://api.makini.io
      makini auth status --check
      makini auth token"""
)


def forget_credentials(c: AppContext, profile: str, base_url: str | None = None) -> None:
    """Remove every secret stored for `profile` (client secret, tokens, token caches).

    The secret store's index lists what was stored, per-connection tokens and tokens
    cached for other base URLs included; the names built here also cover secrets stored
    before there was an index."""
    from makini_cli.config.credentials import token_cache_name

    names = {secret_name(profile, "client_secret"), secret_name(profile, "token")}
    if base_url:
        names.add(token_cache_name(profile, "admin", base_url))
    remaining = c.secrets.forget(profile, names)
    if remaining:
        c.msg.warn(
            f"the keyring could not be reached ({c.secrets.keyring_problem}): it may still "
            f"hold {len(remaining)} secret(s) of profile {profile}; the next logout or delete "
            f"of a profile named {profile} that reaches the keyring removes them"
        )


def _read_secret(c: AppContext, prompt: str) -> str:
    """Hidden prompt on a terminal; the first line of stdin otherwise. Never argv."""
    return c.terminal.ask_secret(
        prompt,
        no_input=c.no_input,
        hint="type it at the prompt, or pipe it on stdin; in CI use MAKINI_CLIENT_ID and "
        "MAKINI_CLIENT_SECRET",
        piped_ok=True,
    )


def _read_line(c: AppContext, prompt: str) -> str:
    return c.terminal.ask_line(prompt, no_input=c.no_input, hint="pass --client-id")


@app.command("login")
def login(
    ctx: typer.Context,
    client_id: Annotated[
        str | None,
        typer.Option(
            "--client-id", metavar="ID", help="Admin API client id (prompted if missing)."
        ),
    ] = None,
    with_token: Annotated[
        bool, typer.Option("--with-token", help="Read an admin token from stdin instead.")
    ] = False,
    client_credentials: Annotated[
        bool,
        typer.Option("--client-credentials", help="Log in with client id + secret (the default)."),
    ] = False,
) -> None:
    """Store credentials for a profile, after checking them against the server.

    The client secret is prompted for without echo, or read from stdin when piped. A
    profile named with -p that does not exist yet is created (with --base-url, or
    Makini's URL) and becomes the active profile. Nothing is written unless the server
    accepts the credentials.

    \b
    Examples:
      makini auth login -p prod --base-url https://api.makini.io
      printf %s "$SECRET" | makini auth login -p prod --client-id ID
      makini auth login -p ci --with-token < token.txt
    """
    c = app_ctx(ctx)
    if with_token and client_credentials:
        raise UsageError(
            "choose --with-token or --client-credentials, not both",
            hint="see `makini auth login --help`",
        )
    profile, created = _target_profile(c)
    s = c.settings  # resolved for the target profile, which may not exist yet
    if with_token:
        token = _read_secret(c, "admin token")
        c.use_credentials(Credentials("token", "login", token=token))
        c.account.client_record()  # proves the token works before anything is stored
        _store_login(c, profile, created, {secret_name(profile, "token"): token}, None)
        c.msg.notice(f"logged in to {s.base_url} with a token (profile {profile})")
        return

    cid = client_id or (s["client_id"] if s.origin("client_id") != "default" else None)
    cid = cid or _read_line(c, "client id")
    secret = _read_secret(c, "client secret")
    from makini_cli.api.auth import ClientCredentials, MemoryTokenCache, SecretTokenCache
    from makini_cli.config.credentials import token_cache_name

    trial = ClientCredentials(cid, secret, MemoryTokenCache(), exchange=c.client.exchange_token)
    trial.token()  # a wrong id or secret fails here with exit 4, nothing stored
    record = trial.cache.load()
    _store_login(c, profile, created, {secret_name(profile, "client_secret"): secret}, cid)
    if record:
        cache = token_cache_name(profile, "admin", s.base_url)
        SecretTokenCache(c.secrets, cache).save(record)
    c.msg.notice(f"logged in to {s.base_url} as client {cid} (profile {profile})")


def _target_profile(c: AppContext) -> tuple[str, bool]:
    """The profile login writes to, and whether it is new. Writes nothing: the settings
    resolve for a profile that does not exist yet, so the check runs against its URL."""
    requested = c.flags.get("profile") or c.env.get("MAKINI_PROFILE")
    doc = c.store.load()
    name = str(requested or doc.get("active_profile") or BUILTIN_SANDBOX)
    check_profile_name(name)
    created = name != BUILTIN_SANDBOX and name not in doc.get("profiles", {})
    c.flags["profile"] = name
    c.new_profile_ok = True
    return name, created


def _store_login(
    c: AppContext, profile: str, created: bool, secrets: dict[str, str], client_id: str | None
) -> None:
    """Write the verified login: secrets first, then the profile in one config update, and
    take the secrets back if the config cannot be written, so a failure leaves nothing."""
    s = c.settings
    other = "client_secret" if client_id is None else "token"
    for name, value in secrets.items():
        c.secrets.set(name, value)
    became_active = False

    def change(doc: dict[str, Any]) -> None:
        nonlocal became_active
        section = doc.setdefault("profiles", {}).setdefault(profile, {})
        if created or c.flags.get("base_url"):
            section["base_url"] = s.base_url
        if client_id is not None:
            section["client_id"] = client_id
        if created or not doc.get("active_profile"):
            became_active = doc.get("active_profile") != profile
            doc["active_profile"] = profile

    try:
        c.store.update(change)
    except BaseException:
        for name in secrets:
            with contextlib.suppress(CliError):
                c.secrets.delete(name)
        raise
    c.secrets.delete(secret_name(profile, other))
    if created:
        c.msg.notice(f"created profile {profile} ({s.base_url})")
    if became_active:
        c.msg.notice(f"profile {profile} is now the active profile")
    if c.secrets.plain_text:
        c.msg.warn(
            f"no usable keyring ({c.secrets.keyring_problem}); the secret is stored in plain "
            f"text in {c.secrets.file.path} (mode 0600)"
        )


def _describe(c: AppContext, *, in_use: bool, active: bool) -> dict[str, Any]:
    """One profile's credentials, as `auth status` shows them: where each comes from."""
    import time

    s = c.settings
    creds = c.credentials()
    info: dict[str, Any] = {
        "in_use": in_use,
        "active": active,
        "base_url": s.base_url,
        "base_url_origin": s.origin("base_url"),
        "credentials": creds.kind,
        "credentials_origin": creds.source,
        "client_id": creds.client_id,
    }
    if creds.persistent:
        info["secret_storage"] = "keyring" if not c.secrets.plain_text else "stored in plain text"
        if c.secrets.plain_text:
            info["secret_file"] = str(c.secrets.file.path)
        record = c.token_cache("admin").load() if creds.kind == "client_credentials" else None
        if record and record.get("expires_at"):
            expires = float(record["expires_at"])
            info["token_expires_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
            info["token_valid"] = expires > time.time()
    elif creds.kind in ("client_credentials", "sandbox-demo", "token"):
        info["secret_storage"] = "memory only (nothing written to disk)"
    return info


def _check(c: AppContext, info: dict[str, Any]) -> CliError | None:
    """Call the server with the profile's credentials; the error if that fails."""
    if info["credentials"] == "none":
        info["check"] = "not logged in"
        return None
    try:
        c.account.client_record()
    except (CliError, APIError) as exc:
        error = c.explain(exc) if isinstance(exc, APIError) else exc
        info["check"] = f"failed: {error.code}"
        info["check_error"] = {"code": error.code, "message": error.message}
        return error
    info["check"] = "ok"
    return None


@app.command("status")
def status(
    ctx: typer.Context,
    check: Annotated[
        bool, typer.Option("--check", help="Also verify each profile's credentials (online).")
    ] = False,
) -> None:
    """Show every profile and where its URL and credentials come from.

    Offline unless --check is given. The profile in use shows what this run would use
    (environment variables included); the others show what they hold themselves.
    Exits 4 when the profile in use has no credentials, and with --check when a check
    fails (4 rejected, 5 unreachable).

    \b
    Examples:
      makini auth status
      makini auth status --check -o json
    """
    c = app_ctx(ctx)
    s = c.settings
    doc = c.store.load()
    active = doc.get("active_profile") or BUILTIN_SANDBOX
    names = [BUILTIN_SANDBOX, *sorted(n for n in doc.get("profiles", {}) if n != BUILTIN_SANDBOX)]
    if s.profile_name not in names:
        names.append(s.profile_name)
    # Other profiles are shown as stored: this run's environment applies to the one in use.
    quiet_env = {
        k: v
        for k, v in c.env.items()
        if k not in (*ENV_CREDENTIALS, "MAKINI_PROFILE", "MAKINI_BASE_URL")
    }
    profiles: dict[str, dict[str, Any]] = {}
    failures: list[tuple[str, CliError]] = []
    for name in names:
        in_use = name == s.profile_name
        target = c if in_use else AppContext({"profile": name}, env=quiet_env, store=c.store)
        info = _describe(target, in_use=in_use, active=name == active)
        if check:
            failed = _check(target, info)
            if failed is not None:
                failures.append((name, failed))
        profiles[name] = info
    c.out.object({"in_use": s.profile_name, "profiles": profiles}, light=not check)
    creds = c.credentials()
    if creds.kind == "none":
        raise AuthError(
            f"profile {s.profile_name!r} is not logged in",
            code="NOT_LOGGED_IN",
            hint=f"run `makini auth login -p {s.profile_name}`",
        )
    if failures:
        failures.sort(key=lambda item: item[0] != s.profile_name)
        for name, error in failures:
            c.msg.warn(f"profile {name}: {error.message} [{error.code}]")
        code = failures[0][1].exit_code
        raise QuietExit(code if code != ExitCode.OK else ExitCode.ERROR)


@app.command("logout")
def logout(ctx: typer.Context) -> None:
    """Forget the stored secret and cached tokens of the profile.

    \b
    Examples:
      makini auth logout
      makini auth logout -p staging
    """
    c = app_ctx(ctx)
    profile = c.settings.profile_name
    forget_credentials(c, profile, c.settings.base_url)
    c.msg.notice(f"logged out of profile {profile}")


@app.command("token")
def token(ctx: typer.Context) -> None:
    """Print a valid admin token (refreshed if needed), for scripts.

    \b
    Examples:
      curl -H "Authorization: Bearer $(makini auth token)" https://api.makini.io/api/system/client
    """
    c = app_ctx(ctx)
    c.require_login()
    provider = c.client.auth
    if provider is None:
        raise AuthError("no credentials", code="NOT_LOGGED_IN", hint="run `makini auth login`")
    c.out.text(provider.token())
