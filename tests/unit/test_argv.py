from __future__ import annotations

import typer

from makini_cli.main import app, normalise_argv

ROOT = typer.main.get_command(app)


def test_global_options_after_the_command_move_to_the_front() -> None:
    assert normalise_argv(ROOT, ["connections", "list", "-o", "json", "--debug"]) == [
        "-o", "json", "--debug", "connections", "list"]
    assert normalise_argv(ROOT, ["connections", "get", "K", "--output=csv", "-p", "prod"]) == [
        "--output=csv", "-p", "prod", "connections", "get", "K"]
    assert normalise_argv(ROOT, ["connections", "list", "-ojson"]) == [
        "-ojson", "connections", "list"]


def test_before_stays_before_and_double_dash_stops() -> None:
    args = ["-o", "json", "connections", "get", "--", "-q"]
    assert normalise_argv(ROOT, args) == args


def test_a_commands_own_option_of_the_same_name_stays_with_it() -> None:
    # `profile create` declares its own --base-url.
    args = ["profile", "create", "prod", "--base-url", "https://x"]
    assert normalise_argv(ROOT, args) == args


def test_option_values_are_not_mistaken_for_commands() -> None:
    args = ["connections", "list", "--status", "list", "-q"]
    assert normalise_argv(ROOT, args) == ["-q", "connections", "list", "--status", "list"]
