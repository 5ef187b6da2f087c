"""Which server a run talks to: the configured base URL, or the bundled sandbox.

Also where the `CI` rule lives: with `CI` set and nothing configured, a pipeline must
never "succeed" against the sandbox by mistake, so no sandbox is started and the run
fails with exit 3.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping

from makini_cli.config.settings import Settings
from makini_cli.errors import ConfigError

Say = Callable[[str], None]


def server_url(
    settings: Settings,
    env: Mapping[str, str],
    resources: contextlib.ExitStack,
    *,
    notice: Say,
    debug: Say | None = None,
    running: str | None = None,
) -> str:
    """The URL to send requests to. `running` is a sandbox already serving in this process
    (the in-process test tier); `resources` keeps an in-process sandbox alive for the run."""
    if settings.implicit_sandbox and env.get("CI", "") not in ("", "0", "false"):
        raise ConfigError(
            "CI is set and no profile, base URL or credentials are configured",
            hint="set MAKINI_CLIENT_ID and MAKINI_CLIENT_SECRET (or MAKINI_TOKEN) and "
            "MAKINI_BASE_URL; pass --base-url sandbox to use the bundled sandbox on purpose",
        )
    if not settings.is_sandbox:
        return settings.base_url
    if settings.implicit_sandbox:
        notice(
            "note: nothing is configured, so this runs against the bundled sandbox "
            "(`makini auth login` to use your Makini account)"
        )
    return running or _bundled_sandbox(env, resources, notice=notice, debug=debug)


def _bundled_sandbox(
    env: Mapping[str, str], resources: contextlib.ExitStack, *, notice: Say, debug: Say | None
) -> str:
    # By default the sandbox is a background process shared by every run on the data
    # dir (sandbox/background.py): starting it in-process cost each run over a second.
    # MAKINI_SANDBOX_MODE=embedded still serves one run in-process and leaves nothing
    # running afterwards.
    from makini_cli.sandbox import background
    from makini_cli.sandbox.settings import default_data_dir

    if background.mode(env) == "background":
        found = background.ensure_running(default_data_dir(), env)
        state = found.state
        if debug is not None:
            how = "started" if found.started else "reusing"
            why = f" (the recorded one: {found.replaced})" if found.replaced else ""
            debug(f"sandbox: {how} pid {state.pid} at {state.url}{why}")
        if found.started:
            from makini_cli.durations import format_duration

            idle = "a while"
            if state.idle_exit:
                whole_minutes = state.idle_exit % 60 == 0
                idle = (
                    f"{state.idle_exit / 60:g} min"
                    if whole_minutes
                    else format_duration(state.idle_exit)
                )
            notice(
                f"note: started the bundled sandbox in the background at {state.url}; "
                f"it stops after {idle} without a request, or on `makini sandbox stop`"
            )
        return state.url
    try:
        from makini_cli.sandbox.server import EmbeddedSandbox
        from makini_cli.sandbox.settings import SandboxSettings
    except ImportError as exc:
        raise ConfigError(
            "the bundled sandbox is not installed",
            hint="pip install 'makini-cli[sandbox]', or choose a server with --base-url",
        ) from exc
    from makini_cli.sandbox.settings import DataDirError

    try:
        sandbox = EmbeddedSandbox(SandboxSettings(data_dir=default_data_dir()))
        return str(resources.enter_context(sandbox).base_url)
    except DataDirError as exc:
        raise ConfigError(
            f"the sandbox cannot use its data directory: {exc}",
            hint="point MAKINI_SANDBOX_DIR at a directory you can write",
        ) from exc
