"""Helpers every command module shares."""

from __future__ import annotations

from typing import Annotated

import typer

from makini_cli.context import AppContext

YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
LimitOption = Annotated[
    int | None, typer.Option("--limit", min=1, help="Stop after this many items.")
]


def app_ctx(ctx: typer.Context) -> AppContext:
    obj = ctx.find_root().obj
    if not isinstance(obj, AppContext):  # invoked without the root callback (tests)
        obj = AppContext({})
        ctx.find_root().obj = obj
    return obj


def new_app(help_text: str, *, name: str | None = None, completion: bool = False) -> typer.Typer:
    """Every Typer app of makini is built here, so they all behave alike."""
    return typer.Typer(
        name=name,
        help=help_text,
        no_args_is_help=True,
        # Only the root registers Typer's shell completion (and its --install-completion).
        add_completion=completion,
        # Plain help keeps `--help` from importing Rich; locals can hold tokens.
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        pretty_exceptions_show_locals=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
