"""Help pages, printed again without building the app.

`makini … --help` is static text for a given install, command line and terminal width,
yet rendering it takes importing Typer and building the command: most of a run's
start-up. The first time a page is printed it is saved (`help-pages.json` in the cache
dir, keyed by the same fingerprint of the installed code that completion uses); later
the launcher's fast path prints it from there before importing Typer at all.

Standard library only: this runs before anything else is imported.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

FILE_NAME = "help-pages.json"
#: pages kept per install; a page is a few kilobytes
MAX_PAGES = 200
HELP_FLAGS = ("--help", "-h")
#: the `help` group's own reference pages; any other word after `help` names a command
HELP_PAGES = ("exit-codes",)


def is_help_request(argv: Sequence[str]) -> bool:
    """A command line that prints a help page and exits 0: `--help` anywhere, `makini`
    alone, or `makini help …` naming a command (not one of the reference pages, whose
    output depends on -o and the terminal)."""
    if not argv:
        return True
    if argv[0] == "help":
        return len(argv) == 1 or argv[1] not in HELP_PAGES
    return any(token in HELP_FLAGS for token in argv)


def _key(argv: Sequence[str]) -> str:
    import shutil

    # What click's formatter wraps to.
    width = shutil.get_terminal_size().columns
    return json.dumps([list(argv), width])


def _path() -> str:
    from makini_cli.config.paths import cache_dir

    return str(cache_dir() / FILE_NAME)


def _load(fingerprint: str) -> dict[str, Any]:
    try:
        with open(_path(), encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("fingerprint") != fingerprint:
        return {}
    pages = doc.get("pages")
    return pages if isinstance(pages, dict) else {}


def answer(argv: Sequence[str]) -> int | None:
    """Print the saved page for this command line; None when there is none."""
    if not is_help_request(argv) or any(token.startswith("_MAKINI") for token in argv):
        return None
    from makini_cli.completion import fingerprint

    text = _load(fingerprint()).get(_key(argv))
    if not isinstance(text, str):
        return None
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    return 0


def save(argv: Sequence[str], text: str) -> None:
    """Keep a page that was just printed. Best effort: a cache that cannot be written
    only costs the slow path next time."""
    if not text.startswith("Usage: makini"):
        return  # only ever a help page: an option's value may look like -h
    from makini_cli.completion import fingerprint

    try:
        from makini_cli.config.files import write_private

        expected = fingerprint()
        pages = _load(expected)
        pages[_key(argv)] = text
        while len(pages) > MAX_PAGES:
            pages.pop(next(iter(pages)))
        doc = {"fingerprint": expected, "pages": pages}
        from pathlib import Path

        write_private(Path(_path()), json.dumps(doc).encode("utf-8"))
    except Exception:  # noqa: BLE001 - never let a cache write fail a command
        return
