"""`makini api`: call any path of the API, like `gh api`, with the token the path needs.

Imported by every run (misc.register adds the command): only typer and light helpers at
the top; the client, the renderers and the parsing helpers load when the command runs.
"""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from makini_cli.completion import choices, complete_connection_keys

if TYPE_CHECKING:
    from makini_cli.api.client import ApiResponse
    from makini_cli.context import AppContext

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: The paths that take a connection token, as the help and errors name them.
CONNECTION_PATHS = "/api/integrations/*, /api/eam|erp|wms/*, /api/raw/*, /api/passthrough"

HELP = """Call any API path with the right token, like `gh api`: for what no command covers.

    The token goes with the path: /api/system/* and other paths get the admin token;
    /api/integrations/*, /api/eam|erp|wms/*, /api/raw/* and /api/passthrough get the
    connection token of --connection KEY (issued and renewed for you). PATH is a path on
    the profile's server (the leading / is optional); a full URL is refused, since the
    token would go with it.

    Fields: -f KEY=VALUE sends VALUE as a string, -F KEY=VALUE as JSON's true, false,
    null or a number when it reads as one, or the contents of FILE for @FILE (@- for
    stdin). KEY[SUB]=… nests an object, KEY[]=… appends to a list. For GET (or with
    --input) the fields are query parameters, sent as written (-f 'filter[status]=open');
    otherwise they make the JSON body. --input FILE (- for stdin) sends a JSON document
    as the body. With fields or --input the method defaults to POST (to GET with
    --paginate), else to GET.

    Prints the answer's JSON body: indented and coloured on a terminal, on one line
    piped (-o json indents). --paginate walks every page of a list and prints its items,
    one JSON object per line (-o json: one array; -o csv: rows). An error answer prints
    nothing on stdout and exits with the documented code: 4 for 401/403, 1 for 404/422,
    7 for 409, 5 for 429/5xx once the retries are spent. A POST is retried only with
    --idempotency-key.

    \b
    Examples:
      makini api /api/system/client
      makini api api/system/connections --paginate -o json
      makini api /api/eam/work-orders --connection 10000715260448 \\
        -f 'filter[status]=open' --paginate
      makini api -X PUT /api/eam/work-orders/03123400000001/status \\
        --connection 10000715260448 -f statusKey=completed
      makini api /api/system/webhooks -f url=https://example.com/hooks -F enabled=false
      makini api /api/raw/tables --connection 10000482937115 --include
      makini api /api/system/connections -X POST --input connection.json"""


def register(app: typer.Typer) -> None:
    app.command("api", help=HELP)(api)


def api(
    ctx: typer.Context,
    path: Annotated[
        str,
        typer.Argument(
            metavar="PATH", help="An API path, e.g. /api/system/client (a query may follow ?)."
        ),
    ],
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            "-X",
            metavar="METHOD",
            help="GET, POST, PUT, PATCH or DELETE (default GET; POST with fields or --input).",
            autocompletion=choices(*METHODS),
        ),
    ] = None,
    raw_field: Annotated[
        list[str] | None,
        typer.Option(
            "--raw-field",
            "-f",
            metavar="KEY=VALUE",
            help="A string field (repeatable).",
        ),
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            "-F",
            metavar="KEY=VALUE",
            help="A typed field: true, false, null, a number, or @FILE (repeatable).",
        ),
    ] = None,
    input_: Annotated[
        str | None,
        typer.Option("--input", metavar="FILE", help="JSON body from FILE, or - for stdin."),
    ] = None,
    paginate: Annotated[
        bool,
        typer.Option("--paginate", help="GET every page of a list and print its items."),
    ] = False,
    connection: Annotated[
        str | None,
        typer.Option(
            "--connection",
            metavar="KEY",
            help="The connection whose token a data path takes.",
            autocompletion=complete_connection_keys,
        ),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header",
            "-H",
            metavar="'NAME: VALUE'",
            help="An extra request header (repeatable).",
        ),
    ] = None,
    include: Annotated[
        bool,
        typer.Option("--include", "-i", help="Also print the status line and headers (on stderr)."),
    ] = False,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            metavar="KEY",
            help="Send this Idempotency-Key: the server does a repeated POST once, and the "
            "POST may be retried.",
        ),
    ] = None,
) -> None:
    from makini_cli.commands._common import app_ctx

    c = app_ctx(ctx)
    call = build_call(
        path,
        method=method,
        raw_fields=raw_field or [],
        typed_fields=field or [],
        input_file=input_,
        paginate=paginate,
        connection=connection,
        headers=header or [],
        include=include,
        idempotency_key=idempotency_key,
        read=lambda name: _read(c, name),
        output=c.out.explicit_mode,
    )
    generic = c.api.generic
    if call.paginate:
        items = generic.paginate(
            call.path, params=call.params, connection=call.connection, per_page=call.per_page
        )
        _print_items(c, items)
        return
    from makini_cli.api.errors import APIStatusError

    try:
        resp = generic.request(
            call.method,
            call.path,
            params=call.params,
            json_body=call.body,
            connection=call.connection,
            headers=call.headers,
            idempotency_key=call.idempotency_key,
            keep_errors=include,
        )
    except APIStatusError as exc:
        if include and exc.status is not None:
            _print_status(c, exc.status, {"x-request-id": exc.request_id} if exc.request_id else {})
        raise
    if include:
        _print_status(c, resp.status, resp.headers)
    if resp.status >= 400:
        raise generic.error_of(resp, call.method, call.path)
    _print_body(c, resp)


def _read(c: "AppContext", name: str) -> bytes:
    """The bytes of FILE, or of stdin for `-`; OSError for the caller to report."""
    if name == "-":
        stream = c.terminal.stdin
        raw = getattr(stream, "buffer", None)
        return raw.read() if raw is not None else stream.read().encode("utf-8")
    return Path(name).read_bytes()


def _print_status(c: "AppContext", status: int, headers: Any) -> None:
    """`HTTP 200 OK`, then each header, on stderr; secret headers redacted."""
    from http import HTTPStatus

    from makini_cli.api import redact

    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    c.msg.raw(f"HTTP {status} {phrase}".rstrip())
    for name, value in redact.headers(dict(headers.items())).items():
        c.msg.raw(f"{name}: {value}")


def _paint(c: "AppContext") -> bool:
    out = c.out
    return out.color == "always" or (out.color == "auto" and out.is_tty)


def _print_body(c: "AppContext", resp: "ApiResponse") -> None:
    """The answer's JSON: indented on a terminal or with -o json/table, else one line."""
    from makini_cli.output.sanitize import dumps

    if resp.body is None:
        return
    mode = c.out.explicit_mode
    indent = mode in ("json", "table", "wide") or (mode is None and c.out.is_tty)
    text = dumps(resp.body, indent=2) if indent else dumps(resp.body, separators=(",", ":"))
    c.out.line(colour_json(text) if _paint(c) else text)


def _print_items(c: "AppContext", items: Any) -> None:
    """A list's items: JSON lines (coloured on a terminal), or what -o asks for."""
    from makini_cli.output.sanitize import dumps

    if c.out.explicit_mode is None and c.out.is_tty:
        paint = _paint(c)
        for item in items:
            text = dumps(item, separators=(",", ":"))
            c.out.line(colour_json(text) if paint else text)
        return
    if c.out.mode_for("stream") in ("csv", "table", "wide"):
        items = _objects(items)
    c.out.stream(items, None)


def _objects(items: Any) -> Any:
    """Rows and columns need objects: anything else is an error before it is printed."""
    from makini_cli.errors import CliError

    for item in items:
        if not isinstance(item, dict):
            raise CliError(
                f"the list holds a {type(item).__name__}, not objects, which -o csv and "
                "tables cannot show",
                code="NOT_OBJECTS",
                hint="use -o json or -o jsonl",
            )
        yield item


# ---------------------------------------------------------------------- the request


class Call:
    """One `makini api` call, checked and ready to send."""

    def __init__(self) -> None:
        self.method = "GET"
        #: the path without its query
        self.path = "/"
        self.params: dict[str, Any] = {}
        #: the JSON body; None sends none
        self.body: Any = None
        self.connection: str | None = None
        self.headers: dict[str, str] = {}
        self.idempotency_key: str | None = None
        self.paginate = False
        self.per_page: int | None = None


def build_call(
    path: str,
    *,
    method: str | None,
    raw_fields: list[str],
    typed_fields: list[str],
    input_file: str | None,
    paginate: bool,
    connection: str | None,
    headers: list[str],
    include: bool,
    idempotency_key: str | None,
    read: Any,
    output: str | None,
) -> Call:
    """Everything the command line asks, checked before anything is sent: a mistake is
    exit 2 naming the flag. `read(name)` gives the bytes of a file (`-`: stdin)."""
    from urllib.parse import parse_qsl

    from makini_cli.api.client import MAX_PER_PAGE
    from makini_cli.api.resources.generic import InvalidPath, api_path, token_kind
    from makini_cli.commands._common import idempotency_key as checked_key
    from makini_cli.errors import UsageError

    call = Call()
    try:
        full = api_path(path)
    except InvalidPath as exc:
        raise UsageError(
            str(exc),
            hint="give a path such as /api/system/client; the profile's base URL (or "
            "--base-url) says which server",
        ) from None
    call.path, _, query = full.partition("?")
    kind = token_kind(call.path)
    if kind == "login":
        raise UsageError(
            f"{call.path} is the token exchange, which makini does by itself",
            hint="log in with `makini auth login`; `makini auth token` prints the admin token",
        )
    if kind == "connection" and not connection:
        raise UsageError(
            f"{call.path} takes a connection token: give --connection KEY",
            hint="`makini connections list` shows the keys",
        )
    if kind == "admin" and connection:
        raise UsageError(
            f"--connection is for the paths that take a connection token ({CONNECTION_PATHS})",
            hint=f"{call.path} takes the admin token: leave --connection out",
        )
    call.connection = connection if kind == "connection" else None

    if method is not None and method.strip().upper() not in METHODS:
        raise UsageError(
            f"-X {method!r} is not a method makini sends", hint=f"use one of {', '.join(METHODS)}"
        )
    stdin_readers = [input_file == "-"] + [f.partition("=")[2] == "@-" for f in typed_fields]
    if sum(stdin_readers) > 1:
        raise UsageError(
            "stdin can be read once: by --input - or by one -F KEY=@-",
            hint="put the other in a file",
        )
    fields = [_field(text, typed=False, read=read) for text in raw_fields]
    fields += [_field(text, typed=True, read=read) for text in typed_fields]
    # As gh: POST when there is something to send; but --paginate reads, so GET.
    sending = bool(fields or input_file) and not paginate
    call.method = method.strip().upper() if method else ("POST" if sending else "GET")

    for key, value in parse_qsl(query, keep_blank_values=True):
        _add_param(call.params, key, value)
    if call.method == "GET" or input_file is not None:
        for key, value in fields:
            _add_param(call.params, key, _param_text(value))
    elif fields:
        call.body = {}
        for key, value in fields:
            _set_nested(call.body, key, value)
    if input_file is not None:
        call.body = _json_input(input_file, read)

    if paginate:
        if call.method != "GET":
            raise UsageError(
                "--paginate walks the pages of a GET", hint="leave out -X, or --paginate"
            )
        if include:
            raise UsageError(
                "--include shows the headers of one answer; --paginate reads many",
                hint="leave one of them out",
            )
        size = call.params.pop("per_page", None)
        call.per_page = MAX_PER_PAGE
        if isinstance(size, str) and size.isdigit() and int(size) > 0:
            call.per_page = int(size)
        call.paginate = True
    if output == "csv" and not paginate:
        raise UsageError("-o csv prints the items of a list", hint="add --paginate, or use -o json")

    call.headers, header_key = _headers(headers)
    if header_key is not None and idempotency_key not in (None, header_key):
        raise UsageError(
            "two different idempotency keys: -H Idempotency-Key and --idempotency-key",
            hint="give one of them",
        )
    call.idempotency_key = checked_key(idempotency_key or header_key)
    return call


def _field(text: str, *, typed: bool, read: Any) -> tuple[str, Any]:
    from makini_cli.errors import UsageError

    flag = "-F" if typed else "-f"
    key, sep, raw = text.partition("=")
    if not sep or not _key_parts(key):
        raise UsageError(
            f"{flag} {text!r} is not KEY=VALUE",
            hint=f"write it like {flag} name=value, or {flag} 'filter[status]=open'",
        )
    return key, _typed_value(raw, flag, read) if typed else raw


def _typed_value(raw: str, flag: str, read: Any) -> Any:
    """JSON's literals and numbers as such, `@FILE` as the file's text, else the text."""
    import re

    from makini_cli.errors import UsageError

    if raw.startswith("@"):
        name = raw[1:]
        try:
            return read(name).decode("utf-8")
        except OSError as exc:
            raise UsageError(
                f"cannot read {flag} …=@{name}: {exc.strerror or exc}",
                hint="give a file that exists, or @- for stdin",
            ) from None
        except UnicodeDecodeError:
            raise UsageError(
                f"{flag} …=@{name}: the file is not UTF-8 text", hint="give a text file"
            ) from None
    literals: dict[str, Any] = {"true": True, "false": False, "null": None}
    if raw in literals:
        return literals[raw]
    if re.fullmatch(r"-?(0|[1-9]\d*)", raw):
        return int(raw)
    if re.fullmatch(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?", raw):
        return float(raw)
    return raw


def _param_text(value: Any) -> str:
    """A field's value as a query parameter: JSON's spelling for literals."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _add_param(params: dict[str, Any], key: str, value: str) -> None:
    """A parameter given twice is sent twice (`tags[]=a&tags[]=b`)."""
    if key not in params:
        params[key] = value
    elif isinstance(params[key], list):
        params[key].append(value)
    else:
        params[key] = [params[key], value]


def _key_parts(key: str) -> list[str] | None:
    """`a[b][]` → ["a", "b", ""]; None for a key that is not NAME[SUB]…[]."""
    import re

    match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
    if match is None:
        return None
    parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
    # `[]` appends a value to a list; a list of objects (`a[][b]`) is for --input.
    if "" in parts[:-1]:
        return None
    return parts


def _set_nested(body: dict[str, Any], key: str, value: Any) -> None:
    from makini_cli.errors import UsageError

    parts = _key_parts(key) or [key]
    node: Any = body
    for depth, part in enumerate(parts[:-1]):
        wants_list = parts[depth + 1] == ""
        child = node.get(part)
        if child is None:
            child = [] if wants_list else {}
            node[part] = child
        if isinstance(child, list) != wants_list or not isinstance(child, list | dict):
            raise UsageError(
                f"field {key!r} conflicts with another field of {part!r}",
                hint="give each key one shape: a value, an object (KEY[SUB]) or a list (KEY[])",
            )
        node = child
    last = parts[-1]
    if last == "":
        node.append(value)
    elif last in node:
        raise UsageError(
            f"field {key!r} is given twice, or conflicts with another field",
            hint="give each key once; KEY[]=… appends to a list",
        )
    else:
        node[last] = value


def _json_input(name: str, read: Any) -> Any:
    """The parsed JSON of --input (sent as the body); exit 2 saying where it breaks."""
    import json

    from makini_cli.api.errors import load_json
    from makini_cli.errors import UsageError

    shown = "stdin" if name == "-" else name
    try:
        data = read(name)
    except OSError as exc:
        raise UsageError(
            f"cannot read --input {name}: {exc.strerror or exc}",
            hint="give a JSON file that exists, or - for stdin",
        ) from None
    try:
        return load_json(data)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"--input {shown} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            hint="fix the JSON (`jq . FILE` shows where it breaks)",
        ) from None
    except ValueError as exc:  # not UTF-8, or nested beyond reason
        raise UsageError(f"--input {shown} is not JSON: {exc}", hint="fix the file") from None


#: the headers makini sets itself
_OWN_HEADERS = ("host", "content-length", "transfer-encoding", "content-type")


def _headers(items: list[str]) -> tuple[dict[str, str], str | None]:
    """-H 'NAME: VALUE' as headers; an Idempotency-Key among them is returned apart."""
    import re

    from makini_cli.errors import UsageError

    found: dict[str, str] = {}
    key: str | None = None
    for text in items:
        name, sep, value = text.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            raise UsageError(
                f"-H {text!r} is not 'NAME: VALUE'", hint="write it like -H 'Accept-Language: de'"
            )
        if not all(" " <= ch <= "~" or ch == "\t" for ch in value):
            raise UsageError(
                f"-H {name}: the value holds characters a header cannot carry",
                hint="use printable ASCII",
            )
        lower = name.lower()
        if lower in ("authorization", "proxy-authorization"):
            raise UsageError(
                "makini sends the Authorization header itself, with the token the path takes",
                hint="MAKINI_TOKEN sets the admin token; --connection KEY picks a connection's",
            )
        if lower in _OWN_HEADERS:
            raise UsageError(f"makini sets the {name} header itself", hint=f"leave -H {name} out")
        if lower == "idempotency-key":
            key = value
            continue
        found[name] = value
    return found, key


# ---------------------------------------------------------------------- colour

#: JSON's tokens in text `json.dumps` wrote: a string (a key when a colon follows), a
#: number, a literal. Strings come first, so nothing inside one is taken for a token.
_TOKEN = (
    r'"(?:[^"\\]|\\.)*"(?P<key>\s*:)?'
    r"|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<literal>true|false|null)"
)


def colour_json(text: str) -> str:
    """JSON text with jq's colours: keys blue, strings green, literals and numbers plain
    or dim. The text is `sanitize.dumps`'s: it holds no control character to begin with."""
    import re

    def paint(match: "re.Match[str]") -> str:
        token = match.group(0)
        if match.group("key") is not None:
            name = token[: len(token) - len(match.group("key"))]
            return f"\x1b[1;34m{name}\x1b[0m{match.group('key')}"
        if match.group("number") is not None:
            return f"\x1b[36m{token}\x1b[0m"
        if match.group("literal") is not None:
            return f"\x1b[{'2' if token == 'null' else '33'}m{token}\x1b[0m"
        return f"\x1b[32m{token}\x1b[0m"

    return re.sub(_TOKEN, paint, text)
