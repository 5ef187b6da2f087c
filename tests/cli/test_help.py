"""Help and discovery: every command explains itself with named metavars and examples."""

from __future__ import annotations

import re

import pytest
import typer

from makini_cli.main import app
from tests.inproc import invoke as run


def _paths(command: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, sub in (getattr(command, "commands", None) or {}).items():
        if getattr(sub, "hidden", False):
            continue
        found += _paths(sub, (*prefix, name))
    return found


PATHS = _paths(typer.main.get_command(app))
#: what click prints when nobody named the thing a value is
TYPE_METAVARS = re.compile(r"<(str|int|float|text|integer|path)[^>]*>|\b(TEXT|INTEGER|FLOAT)\b")


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "makini")
def test_every_help_has_examples_and_named_metavars(path: tuple[str, ...]) -> None:
    result = run(*path, "--help", env={"COLUMNS": "120"})
    assert result.code == 0, result
    assert "Examples:" in result.stdout, result.stdout
    # the examples come last, after the options, as gh shows them
    assert "Options:" not in result.stdout.partition("Examples:")[2]
    assert "Global options" not in result.stdout.partition("Examples:")[2]
    assert all(len(line) <= 120 for line in result.stdout.splitlines()), result.stdout
    assert not TYPE_METAVARS.search(result.stdout), result.stdout
    if path:  # sub-commands list the global options they inherit
        assert "Global options" in result.stdout and "--output" in result.stdout


def test_command_summaries_are_not_cut_at_120_columns() -> None:
    for path in PATHS:
        result = run(*path, "--help", env={"COLUMNS": "120"})
        listing = result.stdout.partition("Commands:")[2].partition("Global options")[0]
        assert not [line for line in listing.splitlines() if line.rstrip().endswith("...")]


def test_bare_makini_prints_help_and_exits_0() -> None:
    result = run()
    assert result.code == 0 and result.stdout.startswith("Usage: makini")
    group = run("sync")
    assert group.code == 0 and "Commands:" in group.stdout


def test_help_command_is_the_same_as_dash_dash_help() -> None:
    assert run("help", "sync").stdout == run("sync", "--help").stdout
    assert run("help", "sync", "run").stdout == run("sync", "run", "--help").stdout
    assert run("help").stdout == run("--help").stdout
    pages = run("help", "exit-codes", "-o", "json")
    assert pages.code == 0 and pages.json()[0]["code"] == 0


@pytest.mark.parametrize(("argv", "valid"), [
    (("connections", "list", "--status", "bogus"), "'active'"),
    (("connections", "list", "--health", "sick"), "'offline'"),
    (("sync", "list", "--status", "done"), "'succeeded'"),
    (("sync", "run", "k", "--if-running", "later"), "'skip'"),
    (("-o", "yaml", "connections", "list"), "json, jsonl, csv"),
    (("connections", "list", "--color", "rainbow"), "auto, always, never"),
])
def test_closed_sets_are_validated_with_exit_2(argv: tuple[str, ...], valid: str) -> None:
    result = run(*argv)
    assert result.code == 2, result
    assert valid in result.stderr and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_promises_only_what_exists() -> None:
    text = run("--help").stdout + run("help", "exit-codes", "-o", "json").stdout
    for missing in ("doctor",):
        assert missing not in text.lower(), missing


def test_the_listing_summaries_match_each_noun_s_own_help() -> None:
    from makini_cli.commands import NOUNS, sub_app

    for noun, (_, summary) in NOUNS.items():
        own = str(sub_app(noun).info.help).strip().splitlines()[0]
        assert own == summary, noun
