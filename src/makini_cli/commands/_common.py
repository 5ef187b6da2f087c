"""Helpers every command module shares."""

from typing import Annotated, Any

import typer

from makini_cli.completion import (
    complete_connection_keys as complete_connection_keys,
)
from makini_cli.completion import complete_profiles as complete_profiles
from makini_cli.completion import complete_sync_ids as complete_sync_ids
from makini_cli.context import AppContext

YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
LimitOption = Annotated[
    int | None, typer.Option("--limit", metavar="N", min=1, help="Stop after this many items.")
]


#: One connection key, completed from the keys earlier commands showed.
KeyArg = Annotated[
    str,
    typer.Argument(
        metavar="KEY",
        help="Connection key (see `makini connections list`).",
        autocompletion=complete_connection_keys,
    ),
]


def keys_arg(help_text: str) -> Any:
    """Any number of connection keys (a `list[str] | None` argument), completed likewise."""
    return typer.Argument(
        metavar="[KEY]...", help=help_text, autocompletion=complete_connection_keys
    )


def app_ctx(ctx: typer.Context) -> AppContext:
    obj = ctx.find_root().obj
    if not isinstance(obj, AppContext):  # invoked without the root callback (tests)
        obj = AppContext({})
        ctx.find_root().obj = obj
    return obj


def new_app(help_text: str, *, name: str | None = None) -> typer.Typer:
    """Every Typer app of makini is built here, so they all behave alike."""
    return typer.Typer(
        name=name,
        help=help_text,
        no_args_is_help=True,
        # No --install-completion/--show-completion: `makini completion SHELL` prints the
        # script for the user to install (the tool never edits rc files), and Tab is
        # answered by makini_cli.completion (see main.run), not by Typer.
        add_completion=False,
        # Plain help keeps `--help` from importing Rich; locals can hold tokens.
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        pretty_exceptions_show_locals=False,
        # Wide enough that command summaries are not cut on a 120-column terminal; on a
        # narrower one click still wraps to the terminal's width.
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
    )


#: What an Idempotency-Key header can carry: visible ASCII, as HTTP header values must be.
IDEMPOTENCY_KEY_MAX = 255


def idempotency_key(value: str | None) -> str | None:
    """Check a user's --idempotency-key before it meets HTTP (which would refuse it)."""
    if value is None:
        return None
    if not value or len(value) > IDEMPOTENCY_KEY_MAX or not all(" " < ch < "\x7f" for ch in value):
        from makini_cli.errors import UsageError

        raise UsageError(
            f"--idempotency-key {value!r} is not 1 to {IDEMPOTENCY_KEY_MAX} visible ASCII "
            "characters",
            hint="use letters, digits and - _ . : such as a CI job id",
        )
    return value


#: credential field names whose values are secrets: they belong in --secret or a file
SECRET_FIELD_WORDS = ("secret", "password", "passwd", "token", "key", "pin")
