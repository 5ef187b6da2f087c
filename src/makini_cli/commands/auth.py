"""`makini auth`: log in with Admin API client credentials (or a token), and inspect it."""

from __future__ import annotations

import contextlib
import sys
from typing import Annotated, Any

import typer

from makini_cli.commands._common import app_ctx, new_app
from makini_cli.config.store import BUILTIN_SANDBOX, DEFAULT_BASE_URL, check_profile_name
from makini_cli.context import AppContext, Credentials, secret_name
from makini_cli.errors import AbortedError, AuthError, CliError, UsageError

app = new_app("Log in to Makini, and see or print the credentials in use.")


def forget_credentials(c: AppContext, profile: str) -> None:
    """Remove every secret stored for `profile` (client secret, tokens, token caches)."""
    store = c.secrets
    prefix = secret_name(profile, "")
    names = {secret_name(profile, "client_secret"), secret_name(profile, "token")}
    # The file back end can enumerate; keyring entries are found by the names we write.
    with contextlib.suppress(CliError):  # a damaged file must not stop a logout
        names.update(n for n in store.file.names() if n.startswith(prefix))
    base_url = c.store.profiles().get(profile, {}).get("base_url")
    if base_url:
        names.add(secret_name(profile, f"admin@{base_url}"))
    for name in names:
        store.delete(name)


def _read_secret(c: AppContext, prompt: str) -> str:
    """Hidden prompt on a terminal; the first line of stdin otherwise. Never argv."""
    if sys.stdin.isatty():
        if c.no_input:
            raise AbortedError(
                f"{prompt} needed but --no-input is set",
                code="INPUT_REQUIRED",
                hint="pipe it on stdin, or use MAKINI_CLIENT_ID and MAKINI_CLIENT_SECRET",
            )
        import getpass

        value = getpass.getpass(f"{prompt}: ", stream=sys.stderr)
    else:
        value = sys.stdin.readline()
    value = value.strip()
    if not value:
        raise AbortedError(
            f"no {prompt} given",
            code="INPUT_REQUIRED",
            hint="type it at the prompt, or pipe it on stdin",
        )
    return value


def _read_line(c: AppContext, prompt: str) -> str:
    if not sys.stdin.isatty() or c.no_input:
        raise AbortedError(
            f"{prompt} needed",
            code="INPUT_REQUIRED",
            hint="pass --client-id",
        )
    sys.stderr.write(f"{prompt}: ")
    sys.stderr.flush()
    value = sys.stdin.readline().strip()
    if not value:
        raise AbortedError(f"no {prompt} given", code="INPUT_REQUIRED", hint="pass --client-id")
    return value


@app.command("login")
def login(
    ctx: typer.Context,
    client_id: Annotated[
        str | None, typer.Option("--client-id", help="Admin API client id (prompted if missing).")
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

    The client secret is prompted for without echo, or read from stdin when piped:
    `printf %s "$SECRET" | makini auth login --client-id ID`. A profile named with -p
    that does not exist yet is created (with --base-url, or Makini's URL).
    """
    c = app_ctx(ctx)
    if with_token and client_credentials:
        raise UsageError(
            "choose --with-token or --client-credentials, not both",
            hint="see `makini auth login --help`",
        )
    profile = _ensure_profile(c)
    s = c.settings
    if with_token:
        token = _read_secret(c, "admin token")
        c.use_credentials(Credentials("token", "login", token=token))
        c.account.client_record()  # proves the token works before anything is stored
        c.secrets.set(secret_name(profile, "token"), token)
        c.secrets.delete(secret_name(profile, "client_secret"))
        _note_storage(c)
        c.msg.notice(f"logged in to {s.base_url} with a token (profile {profile})")
        return

    cid = client_id or (s["client_id"] if s.origin("client_id") != "default" else None)
    cid = cid or _read_line(c, "client id")
    secret = _read_secret(c, "client secret")
    from makini_cli.api.auth import ClientCredentials, MemoryTokenCache, SecretTokenCache

    client = c.client
    trial = ClientCredentials(cid, secret, MemoryTokenCache(), exchange=client.exchange_token)
    trial.token()  # a wrong id or secret fails here with exit 4, nothing stored
    record = trial.cache.load()

    def change(doc: dict[str, Any]) -> None:
        doc.setdefault("profiles", {}).setdefault(profile, {})["client_id"] = cid

    c.store.update(change)
    c.secrets.set(secret_name(profile, "client_secret"), secret)
    c.secrets.delete(secret_name(profile, "token"))
    if record:
        SecretTokenCache(c.secrets, secret_name(profile, f"admin@{s.base_url}")).save(record)
    _note_storage(c)
    c.msg.notice(f"logged in to {s.base_url} as client {cid} (profile {profile})")


def _ensure_profile(c: AppContext) -> str:
    """The profile login writes to; created when named but missing, made active if none is."""
    from makini_cli.config.settings import coerce

    requested = c.flags.get("profile") or c.env.get("MAKINI_PROFILE")
    doc = c.store.load()
    name = requested or doc.get("active_profile") or BUILTIN_SANDBOX
    check_profile_name(name)
    url = c.flags.get("base_url")

    def change(d: dict[str, Any]) -> None:
        profiles = d.setdefault("profiles", {})
        if name not in profiles and name != BUILTIN_SANDBOX:
            profiles[name] = {"base_url": coerce("base_url", url or DEFAULT_BASE_URL, "flag")}
            c.msg.notice(f"created profile {name} ({profiles[name]['base_url']})")
        elif url:
            profiles.setdefault(name, {})["base_url"] = coerce("base_url", url, "flag")
        if not d.get("active_profile"):
            d["active_profile"] = name

    c.store.update(change)
    c.flags["profile"] = name
    return str(name)


def _note_storage(c: AppContext) -> None:
    if c.secrets.plain_text:
        c.msg.warn(
            f"no usable keyring ({c.secrets.keyring_problem}); the secret is stored in plain "
            f"text in {c.secrets.file.path} (mode 0600)"
        )


@app.command("status")
def status(ctx: typer.Context) -> None:
    """Show the profile, base URL and where each credential comes from. Offline."""
    import time

    c = app_ctx(ctx)
    s = c.settings
    creds = c.credentials()
    info: dict[str, Any] = {
        "profile": s.profile_name,
        "profile_origin": s.profile.origin,
        "base_url": s.base_url,
        "base_url_origin": s.origin("base_url"),
        "credentials": creds.kind,
        "credentials_origin": creds.source,
        "client_id": creds.client_id,
        "client_id_origin": s.origin("client_id") if creds.persistent else creds.source,
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
        elif creds.kind == "client_credentials":
            info["token_expires_at"] = None
    elif creds.kind in ("client_credentials", "sandbox-demo"):
        info["secret_storage"] = "memory only (nothing written to disk)"
    c.out.object(info, light=True)
    if creds.kind == "none":
        raise AuthError(
            f"profile {s.profile_name!r} is not logged in",
            code="NOT_LOGGED_IN",
            hint=f"run `makini auth login -p {s.profile_name}`",
        )


@app.command("logout")
def logout(ctx: typer.Context) -> None:
    """Forget the stored secret and cached tokens of the profile."""
    c = app_ctx(ctx)
    profile = c.settings.profile_name
    forget_credentials(c, profile)
    c.msg.notice(f"logged out of profile {profile}")


@app.command("token")
def token(ctx: typer.Context) -> None:
    """Print a valid admin token (refreshed if needed), for scripts."""
    c = app_ctx(ctx)
    c.require_login()
    provider = c.client.auth
    if provider is None:
        raise AuthError("no credentials", code="NOT_LOGGED_IN", hint="run `makini auth login`")
    c.out.text(provider.token())
