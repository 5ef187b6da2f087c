"""The completion cache (what commands remember), the completers, and how Tab is answered
from the saved description of the commands (no shell here: tests/integration has those)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer

from makini_cli import completion
from makini_cli.completion import (
    Request,
    cached,
    choices,
    complete_connection_keys,
    complete_profiles,
    complete_sync_ids,
    forget_connections,
    remember_connections,
    remember_syncs,
    scope,
)
from makini_cli.config import paths
from makini_cli.main import GLOBAL_OPTIONS, app

SANDBOX = scope("sandbox", "sandbox")
PROD = scope("prod", "https://prod.example.com")


def write_config(text: str) -> None:
    path = paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def two_profiles() -> None:
    write_config(
        'active_profile = "prod"\n'
        '[profiles.prod]\nbase_url = "https://prod.example.com/"\n'
        '[profiles.staging]\nbase_url = "https://staging.example.com"\n'
    )


@pytest.fixture(scope="module")
def tree() -> Iterator[dict[str, Any]]:
    yield completion.describe(typer.main.get_command(app), GLOBAL_OPTIONS)


def values(answer: completion.Answer) -> list[str]:
    return [value for value, _ in answer.items]


# ---------------------------------------------------------------------- the cache


def test_remembered_connections_are_offered_with_their_names() -> None:
    remember_connections(SANDBOX, [("acme", "Acme UpKeep"), ("beta", None)])
    assert cached(SANDBOX, "connections") == [("acme", "Acme UpKeep"), ("beta", None)]
    assert complete_connection_keys("a") == [("acme", "Acme UpKeep")]
    assert complete_connection_keys("") == [("acme", "Acme UpKeep"), ("beta", "")]


def test_the_cache_file_is_private_json_in_the_cache_dir() -> None:
    remember_connections(SANDBOX, [("acme", "Acme")])
    path = paths.cache_dir() / "completion.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["scopes"][SANDBOX]["connections"] == [["acme", "Acme"]]


def test_a_partial_view_adds_and_a_complete_list_replaces() -> None:
    remember_connections(SANDBOX, [("a", None), ("b", None)], complete=True)
    remember_connections(SANDBOX, [("c", "new")])  # `connections get c`
    assert [k for k, _ in cached(SANDBOX, "connections")] == ["c", "a", "b"]
    remember_connections(SANDBOX, [("b", None), ("d", None)], complete=True)
    assert [k for k, _ in cached(SANDBOX, "connections")] == ["b", "d"]
    forget_connections(SANDBOX, ["d"])
    assert [k for k, _ in cached(SANDBOX, "connections")] == ["b"]


def test_scopes_are_kept_apart() -> None:
    remember_connections(SANDBOX, [("sandbox-key", None)])
    remember_connections(PROD, [("prod-key", None)])
    assert [k for k, _ in cached(SANDBOX, "connections")] == ["sandbox-key"]
    assert [k for k, _ in cached(PROD, "connections")] == ["prod-key"]


def test_syncs_are_newest_first_and_bounded() -> None:
    remember_syncs(SANDBOX, [(f"sync_{i}", None) for i in range(completion.MAX_SYNCS)])
    remember_syncs(SANDBOX, [("sync_new", "acme · running"), ("sync_5", "acme · done")])
    ids = [k for k, _ in cached(SANDBOX, "syncs")]
    assert ids[:3] == ["sync_new", "sync_5", "sync_0"]
    assert len(ids) == completion.MAX_SYNCS
    assert "sync_199" not in ids  # the oldest fell off
    assert complete_sync_ids("sync_n") == [("sync_new", "acme · running")]


def test_only_the_newest_scopes_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(completion, "MAX_SCOPES", 3)
    for name in ("a", "b", "c", "d"):
        remember_syncs(scope(name, "sandbox"), [("sync_1", None)])
    assert cached(scope("a", "sandbox"), "syncs") == []
    assert cached(scope("d", "sandbox"), "syncs") == [("sync_1", None)]


def test_values_a_shell_cannot_take_are_dropped_and_descriptions_cleaned() -> None:
    remember_connections(
        SANDBOX,
        [("ok-key", "Name\twith\ncontrol  chars"), ("two words", None), ("bell\x07", None),
         ("", None), ("ok-key", "duplicate"), ("long", "x" * 200)],
    )
    rows = dict(cached(SANDBOX, "connections"))
    assert list(rows) == ["ok-key", "long"]
    assert rows["ok-key"] == "Name with control chars"
    assert len(rows["long"] or "") == completion.MAX_DESCRIPTION


def test_a_corrupt_cache_is_ignored_and_replaced() -> None:
    path = paths.cache_dir() / "completion.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert cached(SANDBOX, "connections") == []
    remember_connections(SANDBOX, [("acme", None)])
    assert cached(SANDBOX, "connections") == [("acme", None)]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file modes")
def test_an_unwritable_cache_never_fails_the_command(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    monkeypatch.setenv("MAKINI_CACHE_DIR", str(locked / "cache"))
    remember_connections(SANDBOX, [("acme", None)])  # no exception
    assert cached(SANDBOX, "connections") == []


def test_a_cache_dir_that_is_a_file_never_fails_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("MAKINI_CACHE_DIR", str(blocker))
    remember_connections(SANDBOX, [("acme", None)])
    remember_syncs(SANDBOX, [("sync_1", None)])
    assert cached(SANDBOX, "connections") == []


# ---------------------------------------------------------------------- completers


def test_choices_filter_by_prefix_and_keep_descriptions() -> None:
    shells = choices("bash", "zsh", ("fish", "the friendly shell"))
    assert shells("") == [("bash", ""), ("zsh", ""), ("fish", "the friendly shell")]
    assert shells("f") == [("fish", "the friendly shell")]


def test_profiles_come_from_the_config_plus_the_builtin_sandbox(two_profiles: None) -> None:
    assert complete_profiles("") == [
        ("prod", "https://prod.example.com/ (active)"),
        ("staging", "https://staging.example.com"),
        ("sandbox", "the bundled sandbox"),
    ]
    assert [v for v, _ in complete_profiles("st")] == ["staging"]


def test_profiles_without_a_config_and_with_a_broken_one() -> None:
    assert complete_profiles("") == [("sandbox", "the bundled sandbox")]
    write_config("this is [not toml")
    assert complete_profiles("") == [("sandbox", "the bundled sandbox")]


def test_keys_follow_the_profile_chosen_on_the_line_in_the_env_or_the_config(
    two_profiles: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    remember_connections(PROD, [("prod-key", None)])  # the config's active profile
    remember_connections(scope("staging", "https://staging.example.com"), [("stg-key", None)])
    remember_connections(scope("prod", "https://other.example.com"), [("other-key", None)])
    assert complete_connection_keys("") == [("prod-key", "")]
    line = completion._Words({"profile": "staging"})
    assert complete_connection_keys("", ctx=line) == [("stg-key", "")]
    line = completion._Words({"base_url": "https://other.example.com/"})
    assert complete_connection_keys("", ctx=line) == [("other-key", "")]
    monkeypatch.setenv("MAKINI_PROFILE", "staging")
    assert complete_connection_keys("") == [("stg-key", "")]
    # An unknown profile offers nothing (and says nothing: it is Tab).
    monkeypatch.setenv("MAKINI_PROFILE", "nope")
    assert complete_connection_keys("") == []


def test_keys_follow_typers_context_too(two_profiles: None) -> None:
    remember_connections(scope("staging", "https://staging.example.com"), [("stg-key", None)])

    class Ctx:  # what a click Context offers: find_root().params
        def find_root(self) -> SimpleNamespace:
            return SimpleNamespace(params={"profile": "staging", "base_url": None})

    assert complete_connection_keys("", ctx=Ctx()) == [("stg-key", "")]


def test_the_scope_is_what_commands_resolve(two_profiles: None) -> None:
    from makini_cli.config import settings

    assert completion.scope_of(settings.resolve({})) == PROD
    assert completion._current_scope({}) == PROD
    flags = {"base_url": "sandbox"}
    assert completion._current_scope(flags) == completion.scope_of(settings.resolve(flags))


# ---------------------------------------------------------------------- the description


def test_the_description_knows_our_completers_and_enum_types(tree: dict[str, Any]) -> None:
    root_options = {o["opts"][0]: o for o in tree["options"]}
    assert root_options["--profile"]["complete"] == {"kind": "profiles"}
    assert [v for v, _ in root_options["--output"]["complete"]["values"]] == [
        "table", "json", "jsonl", "csv", "wide"]
    assert "--install-completion" not in root_options
    assert "--show-completion" not in root_options
    shell = tree["commands"]["completion"]["arguments"][0]
    assert shell["complete"]["values"] == [["bash", None], ["zsh", None], ["fish", None]]
    assert "--output" in tree["global"]


def test_the_description_is_plain_json(tree: dict[str, Any]) -> None:
    assert json.loads(json.dumps(tree)) == tree


# ---------------------------------------------------------------------- answering


def test_commands_and_their_help(tree: dict[str, Any]) -> None:
    answer = completion.complete(tree, [], "conn")
    assert values(answer) == ["connections"]  # the singular alias is hidden
    assert answer.items[0][1]
    assert "list" in values(completion.complete(tree, ["connection"], ""))  # but works


def test_option_names_skip_those_already_given(tree: dict[str, Any]) -> None:
    names = values(completion.complete(tree, [], "-"))
    assert {"-p", "--profile", "-o", "--output", "--version", "-h", "--help"} <= set(names)
    names = values(completion.complete(tree, ["-o", "json"], "--"))
    assert "--output" not in names and "--profile" in names


def test_option_values(tree: dict[str, Any]) -> None:
    assert values(completion.complete(tree, ["-o"], "")) == [
        "table", "json", "jsonl", "csv", "wide"]
    assert values(completion.complete(tree, ["--color"], "a")) == ["auto", "always"]
    # `--output=j` as zsh and fish pass it: the values keep the option in front.
    answer = completion.complete(tree, [], "--output=j")
    assert values(answer) == ["json", "jsonl"] and answer.prefix == "--output="
    assert completion.complete(tree, [], "--debug=").items == []


def test_global_options_complete_after_the_sub_command(tree: dict[str, Any]) -> None:
    assert values(completion.complete(tree, ["connections", "list", "-o"], "j")) == [
        "json", "jsonl"]
    # ... and an option given with its value is skipped over, not taken for a command.
    assert "get" in values(completion.complete(tree, ["-p", "prod", "connections"], ""))
    assert "get" in values(completion.complete(tree, ["-oyaml", "connections"], ""))


def test_arguments_complete_from_the_cache(tree: dict[str, Any]) -> None:
    remember_connections(SANDBOX, [("acme", "Acme"), ("beta", None)])
    remember_syncs(SANDBOX, [("sync_1", "acme · running")])
    answer = completion.complete(tree, ["connections", "get"], "")
    assert answer.items == [("acme", "Acme"), ("beta", None)] and answer.completer
    assert values(completion.complete(tree, ["sync", "watch"], "s")) == ["sync_1"]
    # One KEY given: `get` takes no more; `status KEY…` takes any number.
    assert completion.complete(tree, ["connections", "get", "acme"], "").items == []
    assert values(completion.complete(tree, ["connections", "status", "acme"], "b")) == ["beta"]


def test_keys_follow_the_profile_typed_on_the_line(tree: dict[str, Any],
                                                   two_profiles: None) -> None:
    remember_connections(scope("staging", "https://staging.example.com"), [("stg", None)])
    remember_connections(PROD, [("prod-key", None)])
    assert values(completion.complete(tree, ["connections", "get"], "")) == ["prod-key"]
    args = ["-p", "staging", "connections", "get"]
    assert values(completion.complete(tree, args, "")) == ["stg"]
    args = ["connections", "get", "--profile", "staging"]  # a global option, after
    assert values(completion.complete(tree, [*args], "")) == ["stg"]


def test_after_double_dash_nothing_is_an_option(tree: dict[str, Any]) -> None:
    remember_connections(SANDBOX, [("-odd", None)])
    assert values(completion.complete(tree, ["connections", "get", "--"], "-")) == ["-odd"]


def test_requests_from_each_shell() -> None:
    bash = Request.from_env("bash", {"COMP_WORDS": "makini\nconnections\nget\n",
                                     "COMP_CWORD": "3"})
    assert (bash.args, bash.incomplete) == (["connections", "get"], "")
    # bash splits `--output=j` at the `=` (COMP_WORDBREAKS)
    bash = Request.from_env("bash", {"COMP_WORDS": "makini --output = j", "COMP_CWORD": "3"})
    assert (bash.args, bash.incomplete) == (["--output"], "j")
    bash = Request.from_env("bash", {"COMP_WORDS": "makini --output =", "COMP_CWORD": "2"})
    assert (bash.args, bash.incomplete) == (["--output"], "")
    zsh = Request.from_env("zsh", {"_TYPER_COMPLETE_ARGS": "makini sync w"})
    assert (zsh.args, zsh.incomplete) == (["sync"], "w")
    fish = Request.from_env("fish", {"_TYPER_COMPLETE_ARGS": "makini sync ",
                                     "_TYPER_COMPLETE_FISH_ACTION": "is-args"})
    assert (fish.args, fish.incomplete, fish.action) == (["sync"], "", "is-args")
    assert completion.split_arg_string("makini 'unclosed") == ["makini", "unclosed"]


def test_each_shells_format() -> None:
    answer = completion.Answer([("json", "JSON"), ("it's:$x", None)], completer=True)
    assert completion.render(Request("bash", [], ""), answer) == ("json\nit's:$x", 0)
    text, code = completion.render(Request("zsh", [], ""), answer)
    assert text == "_arguments '*: :((\"json\":\"JSON\"\n\"it''s\\\\:\\$x\"))'" and code == 0
    fish = completion.render(Request("fish", [], "", "get-args"), answer)
    assert fish == ("json\tJSON\nit's:$x", 0)
    # fish offers files only when neither commands nor a completer had anything
    assert completion.render(Request("fish", [], "", "is-args"), answer)[1] == 0
    empty_completer = completion.Answer([], completer=True)
    nothing = completion.Answer([], completer=False)
    assert completion.render(Request("fish", [], "", "is-args"), empty_completer)[1] == 0
    assert completion.render(Request("fish", [], "", "is-args"), nothing)[1] == 1
    assert completion.render(Request("zsh", [], ""), nothing)[0] == "_files"
    assert completion.render(Request("zsh", [], ""), empty_completer)[0].startswith("_message")


# ---------------------------------------------------------------------- the protocol


def run_protocol(capsys: pytest.CaptureFixture[str], env: dict[str, str],
                 calls: list[str] | None = None) -> tuple[int, str]:
    def load() -> Any:
        if calls is not None:
            calls.append("built")
        return typer.main.get_command(app)

    code = completion.respond(load, global_options=GLOBAL_OPTIONS, env=env)
    return code, capsys.readouterr().out


BASH_CONN = {"_MAKINI_COMPLETE": "complete_bash", "COMP_WORDS": "makini conn", "COMP_CWORD": "1"}


def test_the_app_is_built_once_then_the_saved_description_answers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls: list[str] = []
    assert completion.answer_early(BASH_CONN) is None  # nothing saved yet
    assert run_protocol(capsys, BASH_CONN, calls) == (0, "connections\n")
    assert calls == ["built"]
    assert (paths.cache_dir() / "completion-commands.json").is_file()
    assert run_protocol(capsys, BASH_CONN, calls) == (0, "connections\n")
    assert calls == ["built"]  # not again
    assert completion.answer_early(BASH_CONN) == 0
    assert capsys.readouterr().out == "connections\n"


def test_a_stale_description_is_rebuilt(capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    run_protocol(capsys, BASH_CONN, calls)
    monkeypatch.setattr(completion, "fingerprint", lambda: "an upgrade")
    assert completion.answer_early(BASH_CONN) is None
    assert run_protocol(capsys, BASH_CONN, calls) == (0, "connections\n")
    assert calls == ["built", "built"]


def test_the_fingerprint_follows_the_source(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "makini_cli"
    (package / "commands").mkdir(parents=True)
    (package / "completion.py").write_text("x = 1\n")
    (package / "commands" / "sync.py").write_text("x = 1\n")
    monkeypatch.setattr(completion, "__file__", str(package / "completion.py"))
    before = completion.fingerprint()
    assert completion.fingerprint() == before
    (package / "commands" / "sync.py").write_text("x = 22\n")
    assert completion.fingerprint() != before


def test_a_foreign_completer_is_answered_by_the_app(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    extra = typer.Typer()

    @extra.command()
    def pick(thing: str = typer.Argument(autocompletion=lambda: ["apple", "avocado"])) -> None:
        """A command with a completer makini_cli.completion does not know."""

    root = typer.Typer()
    root.add_typer(extra, name="fruit")
    root.command("other")(lambda: None)
    env = {"_MAKINI_COMPLETE": "complete_bash", "COMP_WORDS": "makini fruit pick a",
           "COMP_CWORD": "3"}
    monkeypatch.setattr(completion, "fingerprint", lambda: "fruit")
    code = completion.respond(lambda: typer.main.get_command(root), env=env)
    assert (code, capsys.readouterr().out) == (0, "apple\navocado\n")
    assert completion.answer_early(env) is None  # the saved description cannot answer it


def test_scripts_and_unknown_instructions(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_protocol(capsys, {"_MAKINI_COMPLETE": "source_fish"}) == (
        0, completion.script("fish"))
    code = completion.respond(lambda: None, env={"_MAKINI_COMPLETE": "complete_tcsh"})
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and "complete_SHELL" in err


def test_importing_main_is_not_running_the_cli() -> None:
    # pytest imported makini_cli.main: the fast paths at its top must not have fired.
    assert completion.launched_as_cli() is False
