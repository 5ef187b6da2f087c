"""The root command, the global options, and the single error boundary.

Every error a command raises becomes an exit code here and only here. Start-up stays
light: sub-commands import httpx, pydantic models, Rich tables or the sandbox only when
they run.
"""

import sys

from makini_cli import __version__, completion

# Fast paths, before Typer and the commands load (they cost most of the start-up):
# `makini --version` and Tab (from the saved command description). Only when this
# module is loaded to run `makini` itself, never when something imports it.
if completion.launched_as_cli():
    _answered = completion.answer_without_app(sys.argv[1:], __version__)
    if _answered is None:
        from makini_cli import helpcache

        _answered = helpcache.answer(sys.argv[1:])
    if _answered is not None:
        sys.exit(_answered)

import io
from collections.abc import Callable, Sequence
from typing import Annotated, Any, NoReturn

import typer

from makini_cli import helpcache
from makini_cli.api.errors import APIError
from makini_cli.commands import HELP_PAGES, noun_of, register
from makini_cli.commands._common import new_app
from makini_cli.completion import choices, complete_profiles
from makini_cli.context import AppContext
from makini_cli.errors import (
    CliError,
    ExitCode,
    OutputClosed,
    QuietExit,
    Terminated,
    UsageError,
    interruption_code,
)
from makini_cli.terminal import Terminal

ROOT_HELP = """Administer Makini connections, syncs and webhooks from a terminal or a CI job.

    With nothing configured, every command runs against the bundled sandbox, a local
    server that behaves like Makini.

    \b
    Examples:
      makini connections list
      makini sync run 10000715260448
      makini auth login -p prod --base-url https://api.makini.io
      makini help sync run"""

#: What Tab offers for the root's enum options.
OUTPUT_CHOICES = choices(
    ("table", "aligned columns (default on a terminal)"),
    ("json", "the API's objects as JSON"),
    ("jsonl", "one JSON object per line"),
    ("csv", "comma-separated, with a header row"),
    ("wide", "a table with every column, nothing cut"),
)
COLOR_CHOICES = choices("auto", "always", "never")

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
    "--ca-bundle": True,
    "--no-input": False,
    "--debug": False,
    "-q": False,
    "--quiet": False,
}


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"makini {__version__}\n")
        raise typer.Exit(0)


def root(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            metavar="NAME",
            help="Profile to use [env: MAKINI_PROFILE].",
            autocompletion=complete_profiles,
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="API base URL; `sandbox` = the bundled sandbox [env: MAKINI_BASE_URL].",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="[table|wide|json|jsonl|csv]",
            help="Output format; default: a table on a terminal, JSON when piped "
            "[env: MAKINI_OUTPUT].",
            autocompletion=OUTPUT_CHOICES,
        ),
    ] = None,
    no_input: Annotated[
        bool | None, typer.Option("--no-input", help="Never prompt [env: MAKINI_NO_INPUT, CI].")
    ] = None,
    color: Annotated[
        str | None,
        typer.Option(
            metavar="[auto|always|never]",
            help="Colour on a terminal [env: NO_COLOR, FORCE_COLOR].",
            autocompletion=COLOR_CHOICES,
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS", help="HTTP timeout per request [env: MAKINI_HTTP_TIMEOUT]."
        ),
    ] = None,
    max_retries: Annotated[
        int | None,
        typer.Option(metavar="N", help="Retries per request [env: MAKINI_MAX_RETRIES]."),
    ] = None,
    ca_bundle: Annotated[
        str | None,
        typer.Option(
            "--ca-bundle",
            metavar="FILE",
            help="PEM file of the CAs to trust for HTTPS [env: MAKINI_CA_BUNDLE].",
        ),
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
        "ca_bundle": ca_bundle,
        "debug": debug,
        "quiet": quiet,
    }
    existing = ctx.obj
    if not isinstance(existing, AppContext):  # invoked without main() (Typer's own runner)
        existing = ctx.obj = AppContext({})
    existing.flags.update({k: v for k, v in flags.items() if v is not None})
    existing.parsed = True


def make_app(only: str | None = None) -> typer.Typer:
    """The root app with every noun, or (`only`) with just that noun built."""
    root_app = new_app(ROOT_HELP, name="makini")
    root_app.callback()(root)
    register(root_app, only)
    return root_app


def __getattr__(name: str) -> Any:
    """`makini_cli.main.app`: the whole app, for tests and tools that walk every command."""
    if name == "app":
        return make_app()
    raise AttributeError(name)


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


def help_alias(args: list[str]) -> list[str]:
    """`makini help sync run` is `makini sync run --help`; `makini help` is `makini --help`.
    The `help` group's own reference pages (`help exit-codes`) stay what they are."""
    if not args or args[0] != "help":
        return args
    if len(args) > 1 and (args[1] in HELP_PAGES or args[1].startswith("-")):
        return args
    return [*args[1:], "--help"]


def target_noun(args: Sequence[str]) -> str | None:
    """The noun the command line names (its first word that is no global option), so only
    that sub-app is imported and built."""
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            return None
        name = token.split("=", 1)[0]
        if token.startswith("-"):
            takes_value = GLOBAL_OPTIONS.get(name, False) and "=" not in token
            short_attached = len(token) > 2 and token[1] != "-"
            i += 2 if takes_value and not short_attached else 1
            continue
        return noun_of(token)
    return None


def describe_global_options(root_command: Any) -> None:
    """Every sub-command's --help ends with the global options it inherits: users type them
    after the sub-command too, and must not have to go back to `makini --help`."""
    rows: list[tuple[str, str]] = []
    for param in getattr(root_command, "params", []):
        if getattr(param, "param_type_name", "") != "option" or param.name in ("version",):
            continue
        names = ", ".join(sorted(param.opts, key=len))
        takes_value = not getattr(param, "is_flag", False)
        metavar = f" {param.metavar}" if takes_value and param.metavar else ""
        rows.append((names + metavar, str(param.help or "")))
    if not rows:
        return
    import shutil
    import textwrap

    left_width = max(len(left) for left, _ in rows) + 2
    # Kept verbatim by click (\b), so wrapped here, to the width click wraps the rest to.
    columns = max(min(shutil.get_terminal_size().columns, 120) - 4, 60)
    text_width = max(columns - left_width - 2, 30)
    lines = ["\b", "Global options (before or after the command):"]
    for left, text in rows:
        wrapped = textwrap.wrap(text, text_width) or [""]
        lines.append(f"  {left.ljust(left_width)}{wrapped[0]}")
        lines += [f"  {'':{left_width}}{more}" for more in wrapped[1:]]
    block = "\n".join(lines)

    def walk(command: Any) -> None:
        for sub in (getattr(command, "commands", None) or {}).values():
            if block not in (sub.epilog or ""):
                sub.epilog = f"{sub.epilog}\n\n{block}" if sub.epilog else block
            _examples_last(sub)
            walk(sub)

    _examples_last(root_command)
    walk(root_command)


EXAMPLES = "\n\b\nExamples:"


def _examples_last(command: Any) -> None:
    """Move a help text's Examples to the very end, after the options (as gh does): they
    are what a reader scrolls down for."""
    import inspect

    text = inspect.cleandoc(command.help or "")
    if EXAMPLES not in text:
        return
    before, _, examples = text.partition(EXAMPLES)
    command.help = before.rstrip()
    tail = "\b\nExamples:" + examples
    command.epilog = f"{command.epilog}\n\n{tail}" if command.epilog else tail


# ---------------------------------------------------------------------- boundary


def _is_click_exception(exc: BaseException) -> bool:
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__)


def _is_abort(exc: BaseException) -> bool:
    return any(cls.__name__ == "Abort" for cls in type(exc).__mro__)


def main(
    argv: Sequence[str] | None = None,
    *,
    obj: AppContext | None = None,
    terminal: Terminal | None = None,
) -> int:
    """Run one command line and return its exit code; never raises, never shows a traceback
    (unless --debug).

    `terminal` runs it on other streams (the in-process test tier): everything the run
    writes, Typer's help and usage text included, goes to them, and the terminal says
    which of them count as a TTY.
    """
    from makini_cli import terminal as terminal_mod

    if terminal is None:
        return _main(argv, obj)
    saved = (terminal_mod.current, sys.stdin, sys.stdout, sys.stderr)
    terminal_mod.current = terminal
    sys.stdin = terminal.stdin
    sys.stdout = terminal.stdout
    sys.stderr = terminal.stderr
    try:
        return _main(argv, obj)
    finally:
        terminal_mod.current, sys.stdin, sys.stdout, sys.stderr = saved


def _main(argv: Sequence[str] | None, obj: AppContext | None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    args = help_alias(raw)
    # "" builds no noun at all: `makini --help` needs only their summaries.
    command = typer.main.get_command(make_app(target_noun(args) or ""))
    describe_global_options(command)
    args = normalise_argv(command, args)
    debug = "--debug" in args or _env_true("MAKINI_DEBUG")
    # One context for the run: the root callback fills in the flags, and it is closed
    # (HTTP client, embedded sandbox) whatever happens.
    run_context = obj if obj is not None else AppContext({})

    def context() -> AppContext:
        """The run's context once the root options were parsed (it knows the profile's
        output mode); before that a bare one that reads -o from argv."""
        if run_context.parsed:
            return run_context
        return AppContext({"output": _early_output(args)})

    # A help page is kept, so the next identical request skips building the app.
    page: io.StringIO | None = None
    real_stdout = sys.stdout
    if helpcache.is_help_request(raw):
        page = io.StringIO()
        sys.stdout = page
    code: int
    global _terminated
    _terminated = False
    restore_sigterm = _sigterm_as_interrupt()
    try:
        try:
            _check_argv(raw)
            result = command.main(
                args=args, prog_name="makini", standalone_mode=False, obj=run_context
            )
            code = result if isinstance(result, int) else 0
            if code == ExitCode.INTERRUPTED and _terminated:
                # Typer turns any KeyboardInterrupt, our Terminated too, into Exit(130).
                code = int(ExitCode.TERMINATED)
            _say_interrupted(code)
        finally:
            restore_sigterm()
            run_context.close()
            if page is not None:
                sys.stdout = real_stdout
                sys.stdout.write(page.getvalue())
    except QuietExit as exc:
        code = int(exc.exit_code)
        _say_interrupted(code)
    except (CliError, APIError) as exc:
        reporter = context()
        err = reporter.explain(exc) if isinstance(exc, APIError) else exc
        # An expected error is the whole story (--debug has already traced the HTTP
        # exchange); only the unexpected get a traceback.
        reporter.msg.error(err)
        code = int(err.exit_code)
    except KeyboardInterrupt as exc:
        code = int(interruption_code(exc))
        _say_interrupted(code)
    except (BrokenPipeError, OutputClosed):
        # The reader went away (`makini … | head`): not an error worth a message.
        _silence_stdout()
        code = 0
    except Exception as exc:  # noqa: BLE001 - the one boundary that must catch everything
        if _is_click_exception(exc):
            code = _usage_error(exc, context())
        elif _is_abort(exc):
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, KeyboardInterrupt):  # click wraps Ctrl-C and SIGTERM
                code = int(interruption_code(cause))
                _say_interrupted(code)
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
    if page is not None and code == 0:
        helpcache.save(raw, page.getvalue())
    return code


def _say_interrupted(code: int) -> None:
    if code == ExitCode.INTERRUPTED:
        sys.stderr.write("interrupted\n")
    elif code == ExitCode.TERMINATED:
        sys.stderr.write("terminated\n")


#: set when this run got SIGTERM (Typer reports every interrupt as 130)
_terminated = False


def _sigterm_as_interrupt() -> Callable[[], None]:
    """Turn SIGTERM (what CI sends when a job is cancelled) into `Terminated` in the main
    thread for this run, so it unwinds as Ctrl-C does; returns what puts it back."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def terminated(signum: int, frame: object) -> None:
        global _terminated
        _terminated = True
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, terminated)
    except (ValueError, OSError):  # no signals here (an embedded interpreter)
        return lambda: None

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _check_argv(args: Sequence[str]) -> None:
    """An argument that is not valid UTF-8 (Python keeps its bytes as surrogates) would
    fail wherever it is first encoded: say so once, up front."""
    for position, arg in enumerate(args, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "backslashreplace").decode("ascii", "replace")
            raise UsageError(
                f"argument {position} ({shown}) is not valid UTF-8",
                hint="pass text in UTF-8 (check the shell's locale)",
            ) from None


def _usage_error(exc: BaseException, ctx: AppContext) -> int:
    message = str(getattr(exc, "format_message", lambda: str(exc))())
    if type(exc).__name__ == "NoArgsIsHelpError":
        # `makini` or `makini sync` alone asks for the help, like `git` or `kubectl`: not an
        # error, so it goes to stdout with exit 0.
        sys.stdout.write(message.rstrip("\n") + "\n")
        return int(ExitCode.OK)
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
    """The `makini` console script and `python -m makini_cli`."""
    if completion.requested():  # Tab that the fast path at the top could not answer
        sys.exit(
            completion.respond(
                lambda: typer.main.get_command(make_app()), global_options=GLOBAL_OPTIONS
            )
        )
    sys.exit(main())
