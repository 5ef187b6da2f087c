"""Shell completion: a small cache of values commands have seen, and the Tab protocol.

Tab never touches the network. What it offers comes from three places:

* static tables: enum values (`-o`, `--color`, …) built with `choices()`;
* the config file: profile names (`complete_profiles`);
* a cache file, `completion.json` in `config.paths.cache_dir()` (MAKINI_CACHE_DIR moves
  it), that commands refresh as they run: connection keys, recent sync ids, webhook ids
  and recent delivery ids, per profile and server (a "scope", see `scope()`). Commands
  call `remember_connections`, `forget_connections`, `remember_syncs`,
  `remember_webhooks`, `forget_webhooks` and `remember_deliveries`; those never raise and
  never slow a command down noticeably: the cache is best effort.

The protocol is Typer's, so installed scripts keep working: the shell runs `makini` with
`_MAKINI_COMPLETE=complete_bash|complete_zsh|complete_fish` (plus COMP_WORDS/COMP_CWORD
for bash, _TYPER_COMPLETE_ARGS for zsh and fish) and reads the answer from stdout;
`_MAKINI_COMPLETE=source_SHELL` prints the script `makini completion SHELL` prints.

Tab must be quick, so the answer does not come from building the Typer app (which costs
more than the rest of start-up together). The first Tab after an install or upgrade
builds the app once and saves a description of its commands and options
(`completion-commands.json` beside the values, keyed by a fingerprint of the installed
source); every later Tab reads that and this module only. This module therefore imports
the standard library only, and anything else inside the function that needs it.

Completers for Typer parameters (`autocompletion=`): `choices(...)`,
`complete_profiles`, `complete_connection_keys`, `complete_sync_ids`,
`complete_webhook_ids`, `complete_delivery_ids`, `complete_entities`,
`complete_custom_field_names`, `complete_raw_tables` (the last three read the connection
from `--connection` or the command's first argument) (a function that
calls one of them and returns its result unchanged counts as that one). Keep to these: the
saved description knows them by kind and answers without Typer. Another completer still
works, but each Tab on it builds the app (slow), and it gets no context (`ctx` is None).
Enum and Literal parameters need no completer: their values are read from the type.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

#: The environment variable of the protocol (Typer derives it from the program name).
COMPLETE_VAR = "_MAKINI_COMPLETE"
SHELLS = ("bash", "zsh", "fish")

CACHE_FILE_NAME = "completion.json"
COMMANDS_FILE_NAME = "completion-commands.json"
CACHE_FORMAT = 1
#: Bounds keep the file small and Tab quick.
MAX_CONNECTIONS = 1000
MAX_SYNCS = 200
MAX_WEBHOOKS = 200
MAX_DELIVERIES = 200
MAX_SCOPES = 20
#: custom field names or raw tables kept per connection
MAX_PER_CONNECTION = 500
MAX_DESCRIPTION = 60

#: One completion: the value, and a description for the shells that show one (zsh, fish).
Item = tuple[str, str | None]
#: What a completer returns: (value, description) pairs, "" for no description.
Completion = tuple[str, str]
Completer = Callable[..., list[Completion]]


# ====================================================================== scopes


class HasScope(Protocol):
    """What `scope_of` needs: `config.settings.Settings` has both."""

    @property
    def profile_name(self) -> str: ...

    @property
    def base_url(self) -> str: ...


def scope(profile: str, base_url: str) -> str:
    """The cache key for what one profile sees on one server, e.g.
    `prod@https://api.makini.io` or `sandbox@sandbox`.

    Both parts count: `-p prod --base-url https://staging…` sees other connections than
    `-p prod` alone. Use the resolved values (`Settings.profile_name`, `Settings.base_url`),
    as `scope_of` does; Tab resolves `-p`/`--base-url`/MAKINI_PROFILE/MAKINI_BASE_URL and
    the config the same way, so both sides agree."""
    return f"{profile}@{base_url}"


def scope_of(settings: HasScope) -> str:
    """`scope()` of resolved settings: `remember_connections(scope_of(app.settings), …)`."""
    return scope(settings.profile_name, settings.base_url)


# ====================================================================== the value cache


def remember_connections(
    scope: str, items: Iterable[tuple[str, str | None]], *, complete: bool = False
) -> None:
    """Offer these connection keys on Tab (`connections get <Tab>`, `sync run <Tab>`, …).

    `items` are `(key, name)` pairs; the name (None if unknown) is shown beside the key by
    zsh and fish. Call it after any command that saw connections:

        remember_connections(scope_of(app.settings), ((c.key, c.name) for c in conns),
                             complete=True)   # after `connections list` without filters

    `complete=True` says `items` is every connection of the scope (an unfiltered list,
    all pages): keys not in it are dropped. Otherwise the items are added (or refreshed)
    and the others kept, as after `connections get KEY` or a filtered list.

    Best effort: never raises, never prompts; an unwritable cache is simply not updated.
    """

    def update(old: list[list[Any]]) -> list[list[Any]]:
        new = _clean_items(items)
        if complete:
            return new[:MAX_CONNECTIONS]
        return _merge(new, old, MAX_CONNECTIONS)

    _update(scope, "connections", update)


def forget_connections(scope: str, keys: Iterable[str]) -> None:
    """Stop offering these keys (after `connections delete KEY`, or a 404 for KEY).
    Best effort, like `remember_connections`."""
    gone = set(keys)
    _update(scope, "connections", lambda old: [row for row in old if row[0] not in gone])


def remember_syncs(scope: str, items: Iterable[tuple[str, str | None]]) -> None:
    """Offer these sync ids on Tab (`sync watch <Tab>`, `sync get`, `sync cancel`).

    `items` are `(sync_id, description)` pairs, newest first; a good description names the
    connection and the state, e.g. `acme-upkeep · running`. Call it after `sync run`
    started syncs, and after `sync list` / `sync get` / `sync watch` saw some:

        remember_syncs(scope_of(app.settings), [(s.id, f"{s.connection_key} · {s.status}")])

    The ids given come first (most recent), then the ones known before; the newest
    `MAX_SYNCS` are kept. Best effort: never raises.
    """
    _update(scope, "syncs", lambda old: _merge(_clean_items(items), old, MAX_SYNCS))


def remember_webhooks(
    scope: str, items: Iterable[tuple[str, str | None]], *, complete: bool = False
) -> None:
    """Offer these webhook ids on Tab (`webhooks get <Tab>`, `update`, `delete`, …).

    `items` are `(webhook_id, description)` pairs; a good description is the URL. Call it
    after `webhooks list|get|create` (and with the new webhook after `create`):

        remember_webhooks(scope_of(app.settings), [(w.id, w.url) for w in hooks],
                          complete=True)   # after `webhooks list` without --limit

    `complete=True` says `items` is every webhook of the scope: ids not in it are dropped;
    otherwise they are added (or refreshed) and the others kept. Best effort: never raises.
    """

    def update(old: list[list[Any]]) -> list[list[Any]]:
        new = _clean_items(items)
        if complete:
            return new[:MAX_WEBHOOKS]
        return _merge(new, old, MAX_WEBHOOKS)

    _update(scope, "webhooks", update)


def forget_webhooks(scope: str, ids: Iterable[str]) -> None:
    """Stop offering these webhook ids (after `webhooks delete ID`, or a 404 for ID).
    Best effort, like `remember_webhooks`."""
    gone = set(ids)
    _update(scope, "webhooks", lambda old: [row for row in old if row[0] not in gone])


def remember_deliveries(scope: str, items: Iterable[tuple[str, str | None]]) -> None:
    """Offer these delivery ids on Tab (`webhooks retry <Tab>`).

    `items` are `(delivery_id, description)` pairs, newest first, e.g.
    `(d.id, "sync.completed · failed")`; call it after `webhooks deliveries|test|retry`.
    The newest `MAX_DELIVERIES` are kept. Best effort: never raises.
    """
    _update(scope, "deliveries", lambda old: _merge(_clean_items(items), old, MAX_DELIVERIES))


def remember_custom_fields(
    scope: str, connection_key: str, items: Iterable[tuple[str, str | None]]
) -> None:
    """Offer these custom field names of one connection on Tab (`custom-fields delete KEY
    <Tab>`, `records list … --fields <Tab>`). `items` are `(name, description)` pairs, e.g.
    `(f.name, f"{f.entity} · {f.source}")`: every field of the connection (a full list
    replaces what was known). Best effort: never raises."""
    _update(
        scope,
        f"custom_fields:{connection_key}",
        lambda old: _clean_items(items)[:MAX_PER_CONNECTION],
    )


def remember_raw_tables(
    scope: str, connection_key: str, items: Iterable[tuple[str, str | None]]
) -> None:
    """Offer these raw table names of one connection on Tab (`raw rows KEY <Tab>`).
    `items` are `(table, description)` pairs: every table (replaces what was known)."""
    _update(
        scope, f"raw_tables:{connection_key}", lambda old: _clean_items(items)[:MAX_PER_CONNECTION]
    )


def remember_category(scope: str, connection_key: str, category: str) -> None:
    """The category (eam, erp, wms) a connection's records are read through, so that
    `records list <Tab>` offers that category's entities only."""
    _update(scope, f"category:{connection_key}", lambda old: _clean_items([(category, None)]))


def cached(scope: str, kind: str) -> list[Item]:
    """What the cache holds for `scope`: kind is "connections", "syncs", "webhooks",
    "deliveries", or a per-connection kind ("custom_fields:KEY", "raw_tables:KEY",
    "category:KEY")."""
    entry = _load_values().get("scopes", {}).get(scope, {})
    rows = entry.get(kind, []) if isinstance(entry, dict) else []
    return [(str(row[0]), row[1]) for row in rows if _is_row(row)]


def cache_file() -> Path:
    from makini_cli.config.paths import cache_dir

    return cache_dir() / CACHE_FILE_NAME


def _load_values() -> dict[str, Any]:
    try:
        with open(cache_file(), "rb") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
        return {}
    if not isinstance(data.get("scopes"), dict):
        return {}
    return data


def _update(scope: str, kind: str, change: Callable[[list[list[Any]]], list[list[Any]]]) -> None:
    try:
        data = _load_values() or {"format": CACHE_FORMAT, "scopes": {}}
        scopes: dict[str, Any] = data["scopes"]
        entry = scopes.pop(scope, None)
        if not isinstance(entry, dict):
            entry = {}
        old = [row for row in entry.get(kind, []) if _is_row(row)]
        new = change(old)
        if new == old and scope in data["scopes"]:
            return
        entry[kind] = new
        scopes[scope] = entry  # last = most recently used; the oldest scopes go first
        for stale in list(scopes)[:-MAX_SCOPES]:
            del scopes[stale]
        from makini_cli.config.files import write_private

        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        write_private(cache_file(), payload.encode("utf-8"))
    except Exception:  # noqa: BLE001,S110 - a cache must never fail the command that feeds it
        pass


def _is_row(row: Any) -> bool:
    return (
        isinstance(row, list)
        and len(row) == 2
        and isinstance(row[0], str)
        and (row[1] is None or isinstance(row[1], str))
    )


def _merge(new: list[list[Any]], old: list[list[Any]], limit: int) -> list[list[Any]]:
    seen = {row[0] for row in new}
    return [*new, *(row for row in old if row[0] not in seen)][:limit]


def _clean_items(items: Iterable[tuple[str, str | None]]) -> list[list[Any]]:
    out: list[list[Any]] = []
    seen: set[str] = set()
    for value, description in items:
        text = str(value).strip()
        # A value a shell would split or that carries control characters is no completion.
        if not text or text in seen or any(c.isspace() or not c.isprintable() for c in text):
            continue
        seen.add(text)
        out.append([text, _clean_description(description)])
    return out


def _clean_description(text: str | None) -> str | None:
    if not text:
        return None
    # The one sanitiser: escape sequences go whole, not just their control bytes, so no
    # payload ("]0;title") is cached and shown later as a name. (sanitize is stdlib-only.)
    from makini_cli.output.sanitize import clean

    words = clean(str(text)).split()
    line = " ".join(words)
    if len(line) > MAX_DESCRIPTION:
        line = line[: MAX_DESCRIPTION - 1].rstrip() + "…"
    return line or None


# ====================================================================== completers

#: The first value of what a completer returns while the command description is built.
_SPEC_MARKER = "\x00makini-completer"
_describing = False


class _Words:
    """What a completer learns on the fast path: the root options typed so far, and the
    command's own option values and arguments (a custom field name depends on the
    connection key before it)."""

    def __init__(
        self,
        flags: Mapping[str, str],
        options: Mapping[str, str] | None = None,
        positional: Sequence[str] = (),
    ) -> None:
        self.flags = dict(flags)
        self.options = dict(options or {})
        self.positional = list(positional)


def _root_flags(ctx: Any) -> dict[str, Any]:
    """The values of the root's options (`profile`, `base_url`) on the command line, from
    our own parse (fast path) or from Typer's context (slow path)."""
    if isinstance(ctx, _Words):
        return ctx.flags
    find_root = getattr(ctx, "find_root", None)
    if find_root is None:
        return {}
    params = getattr(find_root(), "params", None)
    return dict(params) if isinstance(params, Mapping) else {}


def _spec(spec: dict[str, Any]) -> list[Completion]:
    return [(_SPEC_MARKER, json.dumps(spec))]


def _out(items: Iterable[Item], incomplete: str) -> list[Completion]:
    return [(value, text or "") for value, text in items if value.startswith(incomplete)]


def choices(*values: str | tuple[str, str]) -> Completer:
    """A completer for a fixed list: `choices("bash", "zsh", "fish")`, or with descriptions
    for zsh and fish: `choices(("json", "one JSON document"), …)`,
    `choices(*PROFILE_KEYS.items())`.

        typer.Option(help="…", autocompletion=choices("auto", "always", "never"))
    """
    table: list[Item] = [(v, None) if isinstance(v, str) else (v[0], v[1]) for v in values]

    def complete_choice(incomplete: str = "", ctx: Any = None) -> list[Completion]:
        if _describing:
            return _spec({"kind": "choices", "values": [list(item) for item in table]})
        return _out(table, incomplete)

    return complete_choice


# The completers take `incomplete` (the word being typed) and, from Typer or the fast
# path, `ctx` (what the line says about the profile and server). Pass them as they are,
# `autocompletion=complete_connection_keys`, or call them: `complete_sync_ids("sync_1")`.


def complete_profiles(incomplete: str = "", ctx: Any = None) -> list[Completion]:
    """Profile names from the config file, plus the built-in `sandbox`; each described by
    its base URL. Reads the config file only."""
    if _describing:
        return _spec({"kind": "profiles"})
    return _out(_profiles(), incomplete)


def complete_connection_keys(incomplete: str = "", ctx: Any = None) -> list[Completion]:
    """Connection keys the current profile and server have shown before (the cache); the
    profile and base URL come from -p/--base-url on the line, the environment, the config."""
    if _describing:
        return _spec({"kind": "connections"})
    return _from_cache(ctx, "connections", incomplete)


def complete_sync_ids(incomplete: str = "", ctx: Any = None) -> list[Completion]:
    """Recent sync ids of the current profile and server, newest first (the cache)."""
    if _describing:
        return _spec({"kind": "syncs"})
    return _from_cache(ctx, "syncs", incomplete)


def complete_webhook_ids(incomplete: str = "", ctx: Any = None) -> list[Completion]:
    """Webhook ids the current profile and server have shown before (the cache)."""
    if _describing:
        return _spec({"kind": "webhooks"})
    return _from_cache(ctx, "webhooks", incomplete)


def complete_delivery_ids(incomplete: str = "", ctx: Any = None) -> list[Completion]:
    """Recent webhook delivery ids of the current profile and server (the cache)."""
    if _describing:
        return _spec({"kind": "deliveries"})
    return _from_cache(ctx, "deliveries", incomplete)


def complete_entities(incomplete: str = "", ctx: Any = None) -> list[Completion]:
    """Entity names (`work-orders`), those of the connection's category first when the
    cache knows it (`--connection KEY` on the line); each described by its categories."""
    if _describing:
        return _spec({"kind": "entities"})
    from makini_cli.vocabulary import ENTITIES

    known = _connection_cached(ctx, "category")
    categories = [known[0][0]] if known else list(ENTITIES)
    items: dict[str, list[str]] = {}
    for category in categories:
        for entity in ENTITIES.get(category, ()):
            items.setdefault(entity, []).append(category)
    return _out(((name, ", ".join(cats)) for name, cats in items.items()), incomplete)


def complete_custom_field_names(incomplete: str = "", ctx: Any = None) -> list[Completion]:
    """Custom field names of the connection on the line (its KEY argument or
    `--connection`), as `custom-fields list KEY` last showed them (the cache)."""
    if _describing:
        return _spec({"kind": "custom_fields"})
    # `--fields key,insp<Tab>`: complete the last name of a comma-separated list.
    head, comma, last = incomplete.rpartition(",")
    done = head + comma
    return [
        (done + value, text)
        for value, text in _out(_connection_cached(ctx, "custom_fields"), last)
    ]


def complete_raw_tables(incomplete: str = "", ctx: Any = None) -> list[Completion]:
    """Raw table names of the connection on the line, as `raw tables KEY` last showed
    them (the cache)."""
    if _describing:
        return _spec({"kind": "raw_tables"})
    return _out(_connection_cached(ctx, "raw_tables"), incomplete)


def _line_connection(ctx: Any) -> str | None:
    """The connection a command line names: `--connection KEY`, else its first argument."""
    if isinstance(ctx, _Words):
        found = ctx.options.get("connection") or (ctx.positional[0] if ctx.positional else None)
        return str(found) if found else None
    params = getattr(ctx, "params", None)
    if not isinstance(params, Mapping):
        return None
    for name in ("connection", "key"):
        value = params.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _connection_cached(ctx: Any, kind: str) -> list[Item]:
    key = _line_connection(ctx)
    where = _current_scope(_root_flags(ctx))
    if key is None or where is None:
        return []
    return cached(where, f"{kind}:{key}")


def _from_cache(ctx: Any, kind: str, incomplete: str) -> list[Completion]:
    where = _current_scope(_root_flags(ctx))
    if where is None:
        return []
    return _out(cached(where, kind), incomplete)


def _current_scope(flags: Mapping[str, Any]) -> str | None:
    try:
        from makini_cli.config import settings

        wanted = {k: flags.get(k) for k in ("profile", "base_url") if flags.get(k)}
        return scope_of(settings.resolve(wanted, os.environ))
    except Exception:  # noqa: BLE001 - no usable config: nothing to offer, no error on Tab
        return None


def _profiles() -> list[Item]:
    try:
        from makini_cli.config.store import BUILTIN_SANDBOX, ConfigStore

        doc = ConfigStore().load()
    except Exception:  # noqa: BLE001 - an unreadable config offers the built-in profile
        return [("sandbox", "the bundled sandbox")]
    active = doc.get("active_profile")
    profiles = doc.get("profiles")
    items: list[Item] = []
    for name, section in (profiles if isinstance(profiles, dict) else {}).items():
        url = section.get("base_url") if isinstance(section, dict) else None
        items.append((str(name), _described(str(url) if url else None, name == active)))
    if BUILTIN_SANDBOX not in {name for name, _ in items}:
        items.append((BUILTIN_SANDBOX, _described("the bundled sandbox", active == "sandbox")))
    return _clean_pairs(items)


def _described(text: str | None, active: bool) -> str | None:
    if active:
        return f"{text} (active)" if text else "(active)"
    return text


def _clean_pairs(items: Iterable[Item]) -> list[Item]:
    return [(row[0], row[1]) for row in _clean_items(items)]


# ====================================================================== the command tree
#
# A node: {"help", "hidden", "options": [...], "arguments": [...], "commands": {name: node}}
# An option: {"opts", "secondary", "dest", "value" (takes one), "nargs", "multiple",
#             "hidden", "help", "complete", "index"}; an argument: {"dest", "nargs",
#             "complete", "index"}. "complete" is None (no values: the shell may offer
# files), a spec {"kind": "choices"|"profiles"|"connections"|"syncs"|"webhooks"|
# "deliveries"|"entities"|"custom_fields"|"raw_tables"|"live", …}.


def describe(command: Any, global_options: Iterable[str] = ()) -> dict[str, Any]:
    """Describe a Typer app's command (`typer.main.get_command(app)`) for the fast path.

    `global_options` are root options accepted after a sub-command too (main.py moves
    them to the front); their values complete anywhere on the line."""
    global _describing
    _describing = True
    try:
        root = _describe_node(command, ["--help"])
    finally:
        _describing = False
    root["global"] = sorted(set(global_options))
    return root


def _describe_node(command: Any, inherited_help: list[str]) -> dict[str, Any]:
    node: dict[str, Any] = {
        "help": _short_help(command),
        "hidden": bool(getattr(command, "hidden", False)),
        "options": [],
        "arguments": [],
    }
    for index, param in enumerate(getattr(command, "params", [])):
        kind = getattr(param, "param_type_name", "")
        if kind == "option":
            node["options"].append(
                {
                    "opts": list(getattr(param, "opts", [])),
                    "secondary": list(getattr(param, "secondary_opts", [])),
                    "dest": getattr(param, "name", None),
                    "value": not (
                        getattr(param, "is_flag", False) or getattr(param, "count", False)
                    ),
                    "nargs": int(getattr(param, "nargs", 1) or 1),
                    "multiple": bool(getattr(param, "multiple", False)),
                    "hidden": bool(getattr(param, "hidden", False)),
                    "help": _clean_description(getattr(param, "help", None)),
                    "complete": _param_spec(param),
                    "index": index,
                }
            )
        elif kind == "argument":
            node["arguments"].append(
                {
                    "dest": getattr(param, "name", None),
                    "nargs": int(getattr(param, "nargs", 1)),
                    "complete": _param_spec(param),
                    "index": index,
                }
            )
    settings = getattr(command, "context_settings", None) or {}
    # Click passes help_option_names down to sub-commands' contexts.
    help_names = list(settings.get("help_option_names") or inherited_help)
    if getattr(command, "add_help_option", True) and help_names:
        node["options"].append(
            {
                "opts": help_names,
                "secondary": [],
                "dest": "help",
                "value": False,
                "nargs": 1,
                "multiple": False,
                "hidden": False,
                "help": "Show this message and exit.",
                "complete": None,
                "index": None,
            }
        )
    commands = getattr(command, "commands", None)
    if isinstance(commands, Mapping):
        node["commands"] = {
            str(name): _describe_node(sub, help_names) for name, sub in commands.items()
        }
    return node


def _short_help(command: Any) -> str | None:
    getter = getattr(command, "get_short_help_str", None)
    try:
        return _clean_description(getter()) if getter else None
    except Exception:  # noqa: BLE001 - a description is a nicety
        return None


def _param_spec(param: Any) -> dict[str, Any] | None:
    type_ = getattr(param, "type", None)
    fixed = getattr(type_, "choices", None)
    if fixed is not None:  # an Enum or Literal parameter: what the command accepts
        values = [str(getattr(choice, "value", choice)) for choice in fixed]
        return {"kind": "choices", "values": [[v, None] for v in values]}
    try:
        found = list(param.shell_complete(None, ""))
    except Exception:  # noqa: BLE001 - a completer that needs Typer's context
        return {"kind": "live"}
    if found and getattr(found[0], "value", None) == _SPEC_MARKER:
        spec: dict[str, Any] = json.loads(str(found[0].help))
        return spec
    if all(getattr(item, "type", "plain") in ("file", "dir") for item in found):
        return None  # paths, or nothing at all: the shell's own file completion
    return {"kind": "live"}


def fingerprint() -> str:
    """Changes whenever the installed makini could declare other commands or options."""
    here = os.path.dirname(os.path.abspath(__file__))
    from makini_cli import __version__

    parts = [__version__, here]
    for sub in ("", "commands", "config", "output"):
        try:
            with os.scandir(os.path.join(here, sub)) as entries:
                for entry in entries:
                    if entry.name.endswith(".py"):
                        st = entry.stat()
                        parts.append(f"{sub}/{entry.name}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{sub}:?")
    return "|".join(sorted(parts))


def commands_file() -> Path:
    from makini_cli.config.paths import cache_dir

    return cache_dir() / COMMANDS_FILE_NAME


def _load_tree(expected: str) -> dict[str, Any] | None:
    try:
        with open(commands_file(), "rb") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("fingerprint") != expected:
        return None
    root = data.get("root")
    return root if isinstance(root, dict) else None


def _save_tree(expected: str, root: dict[str, Any]) -> None:
    try:
        from makini_cli.config.files import write_private

        payload = json.dumps({"fingerprint": expected, "root": root}, separators=(",", ":"))
        write_private(commands_file(), payload.encode("utf-8"))
    except Exception:  # noqa: BLE001,S110 - next Tab builds it again
        pass


# ====================================================================== answering Tab


class _NeedsApp(Exception):
    """A parameter's completer is not one of ours: only the live app can answer."""

    def __init__(self, path: list[str], index: int) -> None:
        super().__init__(path, index)
        self.path = path
        self.index = index


class Request:
    """One Tab: the words before the cursor, the word being completed, and the shell."""

    def __init__(self, shell: str, args: list[str], incomplete: str, action: str = "") -> None:
        self.shell = shell
        self.args = args
        self.incomplete = incomplete
        self.action = action  # fish: "get-args" or "is-args"

    @classmethod
    def from_env(cls, shell: str, env: Mapping[str, str]) -> Request:
        if shell == "bash":
            words = split_arg_string(env.get("COMP_WORDS", ""))
            try:
                cword = int(env.get("COMP_CWORD", "0"))
            except ValueError:
                cword = len(words)
            args = words[1:cword]
            incomplete = words[cword] if 0 <= cword < len(words) else ""
            # bash breaks `--output=js` into `--output`, `=`, `js` (COMP_WORDBREAKS).
            if incomplete == "=" and args and args[-1].startswith("-"):
                incomplete = ""
            elif args and args[-1] == "=" and len(args) > 1 and args[-2].startswith("-"):
                args = args[:-1]
            return cls(shell, args, incomplete)
        line = env.get("_TYPER_COMPLETE_ARGS", "")
        words = split_arg_string(line)
        args = words[1:]
        incomplete = ""
        if args and not line.endswith(" "):
            incomplete = args.pop()
        return cls(shell, args, incomplete, env.get("_TYPER_COMPLETE_FISH_ACTION", ""))


def split_arg_string(text: str) -> list[str]:
    """Split a command line as the shell would (Click's rule: an unclosed quote keeps what
    was typed)."""
    import shlex

    lex = shlex.shlex(text, posix=True)
    lex.whitespace_split = True
    lex.commenters = ""
    out: list[str] = []
    try:
        out.extend(lex)
    except ValueError:
        out.append(lex.token)
    return out


class Answer:
    def __init__(self, items: list[Item], *, completer: bool, prefix: str = "") -> None:
        self.items = items
        #: True when a completer answered (even with nothing): no file fallback then.
        self.completer = completer
        #: `--output=` when the word being completed carried it (zsh and fish keep it).
        self.prefix = prefix


def complete(root: dict[str, Any], args: Sequence[str], incomplete: str) -> Answer:
    """What Tab offers after `args` for the word `incomplete` (Click's rules, plus global
    options after the sub-command). Raises _NeedsApp for a completer only the app knows."""
    args = list(args)
    prefix = ""
    if incomplete == "=":
        incomplete = ""
    elif incomplete.startswith("-") and "=" in incomplete:
        name, _, incomplete = incomplete.partition("=")
        args.append(name)
        prefix = f"{name}="
    walk = _walk(root, args)
    node = walk.node
    if prefix and walk.pending is None:
        return Answer([], completer=False)  # `--flag=`: nothing to offer
    if not walk.dashdash and incomplete.startswith("-") and not prefix:
        return Answer(_option_names(node, walk.used, incomplete), completer=False)
    if walk.pending is not None:
        option, owner_path = walk.pending
        return _values(option, owner_path, walk, incomplete, prefix)
    argument = _open_argument(node, walk.positional)
    if argument is not None:
        return _values(argument, walk.path, walk, incomplete, "")
    commands = node.get("commands")
    if isinstance(commands, dict):
        items = [
            (name, sub.get("help"))
            for name, sub in commands.items()
            if name.startswith(incomplete) and not sub.get("hidden")
        ]
        return Answer(items, completer=False)
    return Answer([], completer=False)


class _Walk:
    def __init__(self, node: dict[str, Any]) -> None:
        self.node = node
        self.path: list[str] = []
        self.flags: dict[str, str] = {}
        #: the values of the current command's own options, by dest
        self.options: dict[str, str] = {}
        self.used: set[int] = set()
        self.positional: list[str] = []
        self.dashdash = False
        #: the option whose value is being typed, and the path of the command it belongs to
        self.pending: tuple[dict[str, Any], list[str]] | None = None


def _find_option(node: dict[str, Any], name: str) -> tuple[int, dict[str, Any]] | None:
    for i, option in enumerate(node.get("options", [])):
        if name in option["opts"] or name in option["secondary"]:
            return i, option
    return None


def _walk(root: dict[str, Any], args: list[str]) -> _Walk:
    walk = _Walk(root)
    global_names = set(root.get("global", []))
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        if walk.dashdash or token == "-" or not token.startswith("-"):
            commands = walk.node.get("commands")
            if not walk.dashdash and isinstance(commands, dict) and token in commands:
                walk.node = commands[token]
                walk.path.append(token)
                walk.used = set()
                walk.positional = []
                walk.options = {}
            else:
                walk.positional.append(token)
            continue
        if token == "--":
            walk.dashdash = True
            continue
        name, eq, value = token.partition("=") if token.startswith("--") else (token, "", "")
        owner, owner_path = walk.node, walk.path
        found = _find_option(owner, name)
        if found is None and owner is not root and name in global_names:
            owner, owner_path = root, []
            found = _find_option(root, name)
        if found is None and not token.startswith("--") and len(token) > 2:
            found = _find_option(owner, token[:2])  # -ojson
            if found is not None and found[1]["value"]:
                eq, value = "=", token[2:]
        if found is None:
            continue
        index, option = found
        if owner is walk.node:
            walk.used.add(index)
        if not option["value"]:
            continue
        if not eq:
            needed = max(1, option["nargs"])
            if i + needed > len(args):
                walk.pending = (option, owner_path)
                break
            value = args[i + needed - 1]
            i += needed
        if owner is root and option.get("dest"):
            walk.flags[str(option["dest"])] = value
        elif owner is walk.node and option.get("dest"):
            walk.options[str(option["dest"])] = value
    return walk


def _option_names(node: dict[str, Any], used: set[int], incomplete: str) -> list[Item]:
    items: list[Item] = []
    for i, option in enumerate(node.get("options", [])):
        if option["hidden"] or (i in used and not option["multiple"]):
            continue
        for name in [*option["opts"], *option["secondary"]]:
            if name.startswith(incomplete):
                items.append((name, option.get("help")))
    return items


def _open_argument(node: dict[str, Any], positional: list[str]) -> dict[str, Any] | None:
    left = len(positional)
    arguments: list[dict[str, Any]] = node.get("arguments", [])
    for argument in arguments:
        nargs = argument["nargs"]
        if nargs < 0:
            return argument  # takes any number: always open
        if left < nargs:
            return argument
        left -= nargs
    return None


_DYNAMIC: dict[str, Completer] = {
    "profiles": complete_profiles,
    "connections": complete_connection_keys,
    "syncs": complete_sync_ids,
    "webhooks": complete_webhook_ids,
    "deliveries": complete_delivery_ids,
    "entities": complete_entities,
    "custom_fields": complete_custom_field_names,
    "raw_tables": complete_raw_tables,
}


def _values(
    param: dict[str, Any], owner_path: list[str], walk: _Walk, incomplete: str, prefix: str
) -> Answer:
    spec = param.get("complete")
    if not isinstance(spec, dict):
        return Answer([], completer=False, prefix=prefix)
    kind = spec.get("kind")
    if kind == "choices":
        table = [(str(v), d) for v, d in spec.get("values", [])]
        items = [item for item in table if item[0].startswith(incomplete)]
    elif kind in _DYNAMIC:
        items = [
            (value, text or None)
            for value, text in _DYNAMIC[str(kind)](
                incomplete, ctx=_Words(walk.flags, walk.options, walk.positional)
            )
        ]
    else:
        raise _NeedsApp(owner_path, int(param["index"]))
    return Answer(items, completer=True, prefix=prefix)


# ---------------------------------------------------------------------- formats


def _zsh_escape(text: str) -> str:
    return (
        text.replace('"', '""')
        .replace("'", "''")
        .replace("$", "\\$")
        .replace("`", "\\`")
        .replace(":", r"\\:")
    )


def render(request: Request, answer: Answer) -> tuple[str, int]:
    """The text the shell script reads, and the exit status."""
    prefix = answer.prefix if request.shell != "bash" else ""
    items = [(prefix + value, help_) for value, help_ in answer.items]
    if request.shell == "bash":
        return "\n".join(value for value, _ in items), 0
    if request.shell == "zsh":
        if not items:
            return ("_message 'no known values'" if answer.completer else "_files"), 0
        lines = [
            f'"{_zsh_escape(v)}":"{_zsh_escape(h)}"' if h else f'"{_zsh_escape(v)}"'
            for v, h in items
        ]
        return "_arguments '*: :((" + "\n".join(lines) + "))'", 0
    # fish asks twice: whether to offer our values instead of files, then for the values.
    if request.action == "is-args":
        return "", 0 if (items or answer.completer) else 1
    if request.action == "get-args":
        return "\n".join(f"{v}\t{h}" if h else v for v, h in items), 0
    return "", 0


# ---------------------------------------------------------------------- scripts


def _fish_call(action: str) -> str:
    return (
        f"env {COMPLETE_VAR}=complete_fish _TYPER_COMPLETE_FISH_ACTION={action} "
        "_TYPER_COMPLETE_ARGS=(commandline -cp) makini"
    )


_SCRIPTS = {
    "bash": """\
# bash completion for makini; install:
#   makini completion bash > ~/.local/share/bash-completion/completions/makini
_makini_completion() {
    local IFS=$'\\n'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \\
                   COMP_CWORD=$COMP_CWORD \\
                   _MAKINI_COMPLETE=complete_bash $1 ) )
    return 0
}

complete -o default -F _makini_completion makini
""",
    "zsh": """\
#compdef makini
# zsh completion for makini; install (once, then restart zsh):
#   mkdir -p ~/.zfunc && makini completion zsh > ~/.zfunc/_makini
#   and in ~/.zshrc, before compinit:  fpath=(~/.zfunc $fpath)

_makini_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _MAKINI_COMPLETE=complete_zsh makini)
}

if [[ "${funcstack[1]}" == _makini ]]; then
  # autoloaded from $fpath as _makini: complete this Tab too
  _makini_completion "$@"
else
  compdef _makini_completion makini
fi
""",
    "fish": (
        "# fish completion for makini; install:\n"
        "#   makini completion fish > ~/.config/fish/completions/makini.fish\n"
        f'complete --command makini --no-files --arguments "({_fish_call("get-args")})" '
        f'--condition "{_fish_call("is-args")}"\n'
    ),
}


def script(shell: str) -> str:
    """The completion script for `shell` (bash, zsh or fish); KeyError for another."""
    return _SCRIPTS[shell]


# ---------------------------------------------------------------------- entry points


def launched_as_cli() -> bool:
    """True while the `makini` console script or `python -m makini_cli` starts up; False
    when a program or a test imports makini_cli.main."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None:
        return bool(spec.name == "makini_cli.__main__")
    path = getattr(main, "__file__", None)
    if not isinstance(path, str):
        return False
    name = os.path.basename(path).split(".", 1)[0]
    return name in ("makini", "makini-script")


def answer_without_app(argv: Sequence[str], version: str) -> int | None:
    """The launcher's fast paths, taken before Typer and the commands are imported:
    `makini --version` (or `makini version`) and Tab, when the saved command description
    answers it. Returns the exit status, or None when the app is needed."""
    if requested():
        return answer_early()
    if list(argv) in (["--version"], ["version"]):
        return _emit(f"makini {version}", 0)
    return None


def requested(env: Mapping[str, str] | None = None) -> bool:
    """Whether this run is a shell asking for completions (or for its script)."""
    return bool((os.environ if env is None else env).get(COMPLETE_VAR))


def _instruction(env: Mapping[str, str]) -> tuple[str, str] | None:
    value = env.get(COMPLETE_VAR, "")
    instruction, _, shell = value.partition("_")
    if instruction not in ("source", "complete") or shell not in SHELLS:
        return None
    return instruction, shell


def answer_early(env: Mapping[str, str] | None = None) -> int | None:
    """Answer the protocol without the app: from the saved command description when it
    matches the installed code. None when that is not possible (the caller then imports
    the app and calls `respond`)."""
    env = os.environ if env is None else env
    parsed = _instruction(env)
    if parsed is None:
        return None
    instruction, shell = parsed
    if instruction == "source":
        return _emit(script(shell), 0)
    root = _load_tree(fingerprint())
    if root is None:
        return None
    request = Request.from_env(shell, env)
    try:
        answer = complete(root, request.args, request.incomplete)
    except _NeedsApp:
        return None
    return _emit(*render(request, answer))


def respond(
    load_command: Callable[[], Any],
    *,
    global_options: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
) -> int:
    """Answer the protocol with the app at hand: from the saved command description, or
    one built now (and saved) when it is missing or stale. `load_command` returns the root
    Click command (`lambda: typer.main.get_command(app)`). Returns the exit status."""
    env = os.environ if env is None else env
    parsed = _instruction(env)
    if parsed is None:
        sys.stderr.write(
            f"{COMPLETE_VAR}={env.get(COMPLETE_VAR, '')!r} is not a completion instruction; "
            f"use source_SHELL or complete_SHELL with SHELL one of {', '.join(SHELLS)}\n"
        )
        return 1
    instruction, shell = parsed
    if instruction == "source":
        return _emit(script(shell), 0)
    expected = fingerprint()
    root = _load_tree(expected)
    command = None
    if root is None:
        command = load_command()
        root = describe(command, global_options)
        _save_tree(expected, root)
    request = Request.from_env(shell, env)
    try:
        answer = complete(root, request.args, request.incomplete)
    except _NeedsApp as needs:
        command = load_command() if command is None else command
        answer = Answer(_live(command, needs, request.incomplete), completer=True)
    return _emit(*render(request, answer))


def _live(command: Any, needs: _NeedsApp, incomplete: str) -> list[Item]:
    for name in needs.path:
        command = command.commands[name]
    param = command.params[needs.index]
    try:
        found = param.shell_complete(None, incomplete)
    except Exception:  # noqa: BLE001 - a completer that fails offers nothing
        return []
    return [(str(item.value), getattr(item, "help", None)) for item in found]


def _emit(text: str, code: int) -> int:
    try:
        if text:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    except OSError:  # the reader went away (`makini --version | true`): end quietly
        import contextlib

        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code
