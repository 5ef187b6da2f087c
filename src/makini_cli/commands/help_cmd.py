"""`makini help`: reference pages that are not a single command's --help."""

import typer

from makini_cli.commands._common import app_ctx, new_app

app = new_app(
    """Reference pages, and help on any command: `makini help sync run`.

    \b
    Examples:
      makini help exit-codes
      makini help sync run"""
)


@app.command("exit-codes")
def exit_codes(ctx: typer.Context) -> None:
    """The exit codes makini uses; they never change meaning.

    \b
    Examples:
      makini help exit-codes
      makini help exit-codes -o json
    """
    from makini_cli.errors import EXIT_CODE_MEANINGS
    from makini_cli.output import columns

    c = app_ctx(ctx)
    rows = [{"code": int(code), "meaning": text} for code, text in EXIT_CODE_MEANINGS.items()]
    c.out.stream(rows, columns.EXIT_CODES, light=True)
