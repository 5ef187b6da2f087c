"""The root command, the global options, and the single error boundary.

Every error a command raises becomes an exit code here and only here. Start-up stays
light: sub-commands import httpx, pydantic models, Rich tables or the sandbox only when
they run.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn

import typer

from makini_cli import __version__
from makini_cli.commands import register
from makini_cli.commands._common import new_app
from makini_cli.context import AppContext
from makini_cli.errors import CliError, ExitCode, OutputClosed, QuietExit, UsageError

app = new_app(
    "Administer Makini connections, syncs and webhooks; try it all on the bundled sandbox.",
    name="makini",
    completion=True,
)

#: Global options: name → takes a value. They work before and after the sub-command.
GLOBAL_OPTIONS: dict[str, bool] = {
    "-p": True,
    "--profile": True,
    "--base-url": True,
    "-o": True,
    "--output": True,
    "--color": True,
    "--timeout": True,
    "--max-retries": True,
    "--no-input": False,
    "--debug": False,
    "-q": False,
    "--quiet": False,
}


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"makini {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    profile: Annotated[
        str | None, typer.Option("--profile", "-p", help="Profile to use [env: MAKINI_PROFILE].")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="API base URL; `sandbox` = the bundled sandbox [env: MAKINI_BASE_URL]."),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="table, json, jsonl or csv [env: MAKINI_OUTPUT]."),
    ] = None,
    no_input: Annotated[
        bool | None, typer.Option("--no-input", help="Never prompt [env: MAKINI_NO_INPUT, CI].")
    ] = None,
    color: Annotated[str | None, typer.Option(help="auto, always or never.")] = None,
    timeout: Annotated[
        float | None, typer.Option(help="HTTP timeout in seconds [env: MAKINI_HTTP_TIMEOUT].")
    ] = None,
    max_retries: Annotated[
        int | None, typer.Option(help="Retries per request [env: MAKINI_MAX_RETRIES].")
    ] = None,
    debug: Annotated[
        bool | None, typer.Option("--debug", help="Trace HTTP on stderr, secrets redacted.")
    ] = None,
    quiet: Annotated[
        bool | None, typer.Option("--quiet", "-q", help="No progress or notices.")
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    flags: dict[str, Any] = {
        "profile": profile,
        "base_url": base_url,
        "output": output,
        "no_input": no_input,
        "color": color,
        "timeout": timeout,
        "max_retries": max_retries,
        "debug": debug,
        "quiet": quiet,
    }
    existing = ctx.obj
    if isinstance(existing, AppContext):  # tests inject a prepared context
        existing.flags.update({k: v for k, v in flags.items() if v is not None})
    else:
        ctx.obj = AppContext(flags)


register(app)


# ---------------------------------------------------------------------- argv


def _option_params(command: Any) -> dict[str, bool]:
    """The options a click command declares: name → takes a value."""
    found: dict[str, bool] = {}
    for param in getattr(command, "params", []):
        if getattr(param, "param_type_name", "") != "option":
            continue
        takes_value = not (getattr(param, "is_flag", False) or getattr(param, "count", False))
        for name in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
            found[name] = takes_value
    return found


def normalise_argv(root_command: Any, args: Sequence[str]) -> list[str]:
    """Move global options given after the sub-command to the front.

    Click only accepts group options before the sub-command; users type them anywhere.
    An option the sub-command itself declares (say a `--timeout` of its own) stays its own.
    """
    front: list[str] = []
    rest: list[str] = []
    node = root_command
    node_opts = _option_params(node)
    at_root = True
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            rest.extend(args[i:])
            break
        name = token.split("=", 1)[0] if token.startswith("--") else token
        attached = token.startswith("--") and "=" in token
        if len(token) > 2 and token[0] == "-" and token[1] != "-" and token[:2] in GLOBAL_OPTIONS:
            name, attached = token[:2], True  # -ojson
        if name in GLOBAL_OPTIONS and (at_root or name not in node_opts):
            front.append(token)
            if GLOBAL_OPTIONS[name] and not attached and i + 1 < len(args):
                front.append(args[i + 1])
                i += 1
            i += 1
            continue
        if token.startswith("-"):
            rest.append(token)
            if node_opts.get(name) and not attached and i + 1 < len(args):
                rest.append(args[i + 1])
                i += 1
            i += 1
            continue
        subcommands = getattr(node, "commands", None)
        if isinstance(subcommands, dict) and token in subcommands:
            node = subcommands[token]
            node_opts = _option_params(node)
            at_root = False
        rest.append(token)
        i += 1
    return front + rest


# ---------------------------------------------------------------------- boundary


def _is_click_exception(exc: BaseException) -> bool:
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__)


def _is_abort(exc: BaseException) -> bool:
    return any(cls.__name__ == "Abort" for cls in type(exc).__mro__)


def main(argv: Sequence[str] | None = None, *, obj: AppContext | None = None) -> int:
    """Run one command line and return its exit code; never raises, never shows a traceback
    (unless --debug)."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = typer.main.get_command(app)
    args = normalise_argv(command, args)
    debug = "--debug" in args or _env_true("MAKINI_DEBUG")
    from makini_cli.context import live_contexts

    used: list[AppContext] = []

    def context() -> AppContext:
        """The command's own context (it knows the profile's output mode), else a bare one."""
        if used:
            return used[-1]
        return AppContext({"output": _early_output(args)}, register=False)

    code: int
    try:
        try:
            result = command.main(args=args, prog_name="makini", standalone_mode=False, obj=obj)
            code = result if isinstance(result, int) else 0
            if code == ExitCode.INTERRUPTED:
                sys.stderr.write("interrupted\n")
        finally:
            used.extend(live_contexts)
            live_contexts.clear()
            for opened in used:
                opened.close()
    except QuietExit as exc:
        code = int(exc.exit_code)
        if code == ExitCode.INTERRUPTED:
            sys.stderr.write("interrupted\n")
    except CliError as exc:
        context().msg.error(exc)
        if debug:
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
        code = int(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        code = int(ExitCode.INTERRUPTED)
    except (BrokenPipeError, OutputClosed):
        # The reader went away (`makini … | head`): not an error worth a message.
        _silence_stdout()
        code = 0
    except Exception as exc:  # noqa: BLE001 - the one boundary that must catch everything
        if _is_click_exception(exc):
            code = _usage_error(exc, context())
        elif _is_abort(exc):
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, KeyboardInterrupt):
                sys.stderr.write("interrupted\n")
                code = int(ExitCode.INTERRUPTED)
            else:
                context().msg.error(
                    CliError(
                        "input ended before a required answer",
                        code="ABORTED",
                        exit_code=ExitCode.ABORTED,
                    )
                )
                code = int(ExitCode.ABORTED)
        else:
            code = _unexpected(exc, debug)
    return code


def _usage_error(exc: BaseException, ctx: AppContext) -> int:
    message = str(getattr(exc, "format_message", lambda: str(exc))())
    command_path = "makini"
    click_ctx = getattr(exc, "ctx", None)
    if click_ctx is not None:
        command_path = str(getattr(click_ctx, "command_path", command_path))
    exit_code = int(getattr(exc, "exit_code", 2) or 2)
    known = exit_code in ExitCode._value2member_map_
    err = UsageError(
        message.rstrip("."),
        hint=f"see `{command_path} --help`",
        exit_code=ExitCode(exit_code) if known else ExitCode.USAGE,
    )
    ctx.msg.error(err)
    return int(err.exit_code)


def _unexpected(exc: BaseException, debug: bool) -> int:
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    else:
        sys.stderr.write(
            f"error: unexpected {type(exc).__name__}; this is a bug in makini. "
            "Run again with --debug for details and report it.\n"
        )
    return int(ExitCode.ERROR)


def _early_output(args: Sequence[str]) -> str | None:
    for i, token in enumerate(args):
        if token in ("-o", "--output") and i + 1 < len(args):
            return args[i + 1]
        if token.startswith("--output="):
            return token.split("=", 1)[1]
    import os

    return os.environ.get("MAKINI_OUTPUT")


def _env_true(name: str) -> bool:
    import os

    return os.environ.get(name, "").lower() in ("1", "true", "yes", "on")


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def run() -> NoReturn:
    sys.exit(main())
