"""A hostile server: every string it sends tries to drive the terminal.

A tiny HTTP server on 127.0.0.1 speaks the API's shapes (token, capabilities, connections,
status, syncs, schedule, the error envelope), but every string field, every error code
and message, the X-Request-Id header and even the field names carry escape sequences
(CSI, an OSC title, clear-screen), CR, LF, BEL, C1 controls and a bidi override. Commands
must still exit with their documented codes, print no traceback, put none of it raw on a
terminal, keep JSON exact, and write CSV no spreadsheet runs as a formula
(output/sanitize.py holds the rules).
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from tests.inproc import Result, invoke

#: What every string carries: colour, the window title, clear screen and cursor home, a
#: forged line after CR LF, a bidi override, BEL, an 8-bit CSI and NEL.
EVIL = "\x1b[31m\x1b]0;pwned\x07\x1b[2J\x1b[H\r\nforged: line\u202eevil\x07\x9b7m\x85"
#: A field name (key) with the same intent.
EVIL_KEY = "x\x1b]0;key\x07\u202e_field\r\nforged: key"
#: An error code: printed in brackets after the message, so a favourite place to hide.
EVIL_CODE = "NOT_FOUND\x1b]0;code\x07\u202e\r\nforged: code"
#: The request id as the CLI decodes it (UTF-8): an 8-bit CSI, a bidi override, NEL.
REQUEST_ID = "req_\u009b31m\u202e\x85"
TOKEN = "tok_hostile"


def evil(text: str) -> str:
    return text + EVIL


SYNC_OK = evil("sync_ok")
SYNC_FAIL = evil("sync_fail")
SYNC_BOOM = "sync_boom"  # the server answers 500 for it


def connection(key: str, n: int) -> dict[str, Any]:
    return {
        "key": key,
        # Printable Unicode that must survive, after a formula for the CSV.
        "name": evil(f'=HYPERLINK("http://x")Acme – S/4HANA {n}'),
        "email": evil("ops@example.com"),
        "status": evil("+active"),
        "platform": evil("@SUM(1+1)"),
        "health": evil("-2+3"),
        "credits": -5,
        "last_sync_at": "2024-05-01T10:00:00Z",
        "created_at": evil("not a time"),
        EVIL_KEY: evil("value"),
        "extra": {EVIL_KEY: evil("nested"), "list": [evil("a"), -1.5]},
    }


CONNECTIONS = [connection("k-ok", 1), connection("k-fail", 2), connection(evil("k-evil"), 3)]


def status_of(key: str) -> dict[str, Any]:
    return {
        "key": evil(key),
        "status": evil("+active"),
        "health": evil("-2+3"),
        "sync_status": evil("idle"),
        "last_sync_at": "2024-05-01T10:00:00Z",
        "error": {"code": EVIL_CODE, "message": evil("upstream said no")},
        EVIL_KEY: evil("v"),
    }


def a_sync(sync_id: str, status: str, done: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": sync_id,
        "connection_key": evil("k"),
        "type": evil("incremental"),
        "trigger": evil("=cli"),
        "status": status,
        "progress": {"scope": evil("work-orders"), "records_processed": done,
                     "records_total": 10},
        "created_at": "2024-05-01T10:00:00Z",
        EVIL_KEY: evil("v"),
    }
    if status == "failed":
        body["error"] = {"code": EVIL_CODE, "message": evil("the ERP hung up")}
    if status in ("succeeded", "failed"):
        body["finished_at"] = "2024-05-01T10:01:00Z"
    return body


FINAL = {SYNC_OK: a_sync(SYNC_OK, "succeeded", 10), SYNC_FAIL: a_sync(SYNC_FAIL, "failed", 5)}

SCHEDULE = {
    "enabled": True,
    "interval_minutes": 60,
    "drift_seconds": -3,  # numbers stay numbers in CSV, negative or not
    "ratio": -0.5,
    "note": evil("=1+1"),
    EVIL_KEY: evil("v"),
}


def error_body(message: str, code: str = EVIL_CODE, **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": evil(message), "details": details}}


def answer(method: str, path: str, authorized: bool) -> tuple[int, Any]:
    """(status, JSON body) for one request; `path` is percent-decoded."""
    if method == "POST" and path == "/link/token":
        return 200, {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600,
                     EVIL_KEY: evil("v")}
    if not authorized:
        return 401, error_body("who are you", code="AUTHENTICATION_FAILED")
    base = "/api/system/connections"
    if path == "/api/system/capabilities":
        return 200, {"data": {"extensions": ["status", "syncs", "schedules"]}}
    if path == base:
        meta = {"current_page": 1, "last_page": 1, "per_page": 100, "total": len(CONNECTIONS)}
        return 200, {"data": CONNECTIONS, "meta": meta}
    if path.startswith("/api/system/syncs/"):
        sync_id = path.removeprefix("/api/system/syncs/")
        if sync_id in FINAL:
            return 200, {"data": FINAL[sync_id]}
        if sync_id == SYNC_BOOM:
            return 500, error_body("the database caught fire", code=evil("INTERNAL_ERROR"))
        return 404, error_body(f"no sync {sync_id}")
    if path.startswith(base + "/"):
        key, _, rest = path.removeprefix(base + "/").partition("/")
        if key == "denied":
            return 403, error_body("not for you", code=evil("PERMISSION_DENIED"))
        if key == "invalid":
            return 422, error_body("bad fields", fields={EVIL_KEY: [evil("is wrong")]})
        if key == "busy" and rest == "syncs" and method == "POST":
            return 409, error_body("a sync is running", code="SYNC_ALREADY_RUNNING",
                                   sync_id=evil("sync_running"))
        if rest == "":
            for conn in CONNECTIONS:
                if conn["key"] == key:
                    return 200, {"data": conn}
            return 404, error_body(f"connection {key} not found")
        if rest == "status":
            return 200, {"data": status_of(key)}
        if rest == "schedule":
            return 200, {"data": SCHEDULE}
        if rest == "syncs" and method == "POST":
            started = SYNC_OK if key == "k-ok" else SYNC_FAIL
            return 202, {"data": a_sync(started, "running", 5)}
        if rest == "syncs":
            items = list(FINAL.values())
            meta = {"current_page": 1, "last_page": 1, "per_page": 100, "total": len(items)}
            return 200, {"data": items, "meta": meta}
    return 404, error_body(f"no route {path}")


class HostileHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects of an API
    # Headers and body are two writes: without this, Nagle and delayed ACKs cost 40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test's output is the CLI's, not the server's access log

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = unquote(urlsplit(self.path).path)
        authorized = self.headers.get("Authorization") == f"Bearer {TOKEN}"
        status, body = answer(method, path, authorized)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        # Header values go out as Latin-1: these are the UTF-8 bytes of REQUEST_ID.
        self.send_header("X-Request-Id", REQUEST_ID.encode().decode("latin-1"))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The server's environment for a CI-style run; the server stops after the test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), HostileHandler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield {
            "MAKINI_BASE_URL": f"http://127.0.0.1:{server.server_address[1]}",
            "MAKINI_CLIENT_ID": "client_hostile",
            "MAKINI_CLIENT_SECRET": "secret_hostile",
            "MAKINI_MAX_RETRIES": "0",  # a 5xx fails at once instead of backing off
        }
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ------------------------------------------------------------------ what "inert" means

#: Raw characters that must never reach a stream: C0 but LF, DEL, C1, the bidi controls
#: and the other invisible format characters, the Unicode line separators.
RAW_CONTROL = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u00ad\u061c\u200b\u200e\u200f\u202a-\u202e"
    "\u2028\u2029\u2060-\u2064\u2066-\u206f\ufeff]"
)


def no_raw_controls(text: str, where: str) -> None:
    found = RAW_CONTROL.search(text)
    assert found is None, f"{where}: raw {found.group()!r} in {text!r}"
    text.encode("utf-8")  # strict: what a real stdout would have to encode


def inert(result: Result) -> None:
    """Terminal text: no control character, nothing left of a removed sequence (an OSC's
    title, a CSI's parameters), and no line that the server started."""
    for where, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        no_raw_controls(text, where)
        # Sequences go whole: the OSC's title and the CSI's parameters do not remain.
        assert "pwned" not in text and "]0;" not in text and "[2J" not in text, text
        for line in text.splitlines():
            assert not line.lstrip().startswith("forged"), f"{where}: forged line {line!r}"


def ran(*argv: str, env: dict[str, str], code: int, tty: bool = False) -> Result:
    result = invoke(*argv, env=env, tty=tty, columns=200)
    assert result.code == code, result
    assert "Traceback" not in result.stdout + result.stderr, result
    return result


# ------------------------------------------------------------------ connections


def test_connections_list_as_a_table_on_a_terminal(hostile: dict[str, str]) -> None:
    result = ran("connections", "list", env=hostile, code=0, tty=True)
    inert(result)
    assert "Acme – S/4HANA 1" in result.stdout  # printable Unicode survives
    assert "k-ok" in result.stdout and "k-evil" in result.stdout
    # One line per row: the CR LF inside every value did not break a row in two.
    assert len(result.stdout.strip().splitlines()) == 1 + len(CONNECTIONS)


def test_connections_list_piped_table_is_plain_and_inert(hostile: dict[str, str]) -> None:
    result = ran("connections", "list", "-o", "table", env=hostile, code=0)
    inert(result)
    assert len(result.stdout.strip().splitlines()) == 1 + len(CONNECTIONS)


@pytest.mark.parametrize("mode", ["json", "jsonl"])
def test_connections_list_json_keeps_every_value_exact(
    hostile: dict[str, str], mode: str
) -> None:
    result = ran("connections", "list", "-o", mode, env=hostile, code=0)
    # Valid JSON with the server's values exactly, control characters only as escapes.
    no_raw_controls(result.stdout, "stdout")
    no_raw_controls(result.stderr, "stderr")
    rows = result.json() if mode == "json" else result.jsonl()
    assert rows == CONNECTIONS
    assert "\\u001b]0;pwned\\u0007" in result.stdout and "\\u202e" in result.stdout


def test_connections_list_csv_is_clean_and_runs_no_formula(hostile: dict[str, str]) -> None:
    result = ran("connections", "list", "-o", "csv", env=hostile, code=0)
    no_raw_controls(result.stdout, "stdout")
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["key", "name", "platform", "status", "health", "last_sync_at"]
    assert len(rows) == 1 + len(CONNECTIONS)  # no value broke a record in two
    for row in rows[1:]:
        for cell in row:
            assert not cell.lstrip(" ").startswith(("=", "+", "-", "@")), row
        _key, name, platform, status, health, _ = row
        assert name.startswith("'=HYPERLINK(") and "Acme – S/4HANA" in name
        assert platform.startswith("'@SUM(") and status.startswith("'+active")
        assert health.startswith("'-2+3")
        assert "pwned" not in name and "forged: line" in name  # the newline became a space


def test_connections_get_on_a_terminal_labels_and_values_are_inert(
    hostile: dict[str, str],
) -> None:
    result = ran("connections", "get", "k-ok", env=hostile, code=0, tty=True)
    inert(result)
    assert "Acme – S/4HANA 1" in result.stdout
    # The hostile field name became a label: its printable part only.
    assert "x field forged: key" in result.stdout


def test_connections_status_every_connection(hostile: dict[str, str]) -> None:
    table = ran("connections", "status", env=hostile, code=0, tty=True)
    inert(table)
    assert "upstream said no" in table.stdout
    as_json = ran("connections", "status", "-o", "json", env=hostile, code=0)
    no_raw_controls(as_json.stdout, "stdout")
    # The status object: the status answer's fields, named and placed from the list (what
    # it leaves out is null), every value still the server's own, unaltered in JSON.
    def status_object(conn: dict[str, Any]) -> dict[str, Any]:
        answer = status_of(conn["key"])
        return {
            "key": answer["key"],
            "name": conn["name"],
            "platform": conn.get("platform"),
            "status": answer["status"],
            "health": answer["health"],
            "health_since": None,
            "sync_status": answer["sync_status"],
            "last_sync_at": answer["last_sync_at"],
            "last_successful_sync_at": None,
            "next_sync_at": None,
            "error": answer["error"],
        }

    assert as_json.json() == [status_object(conn) for conn in CONNECTIONS]


# ------------------------------------------------------------------ syncs


def test_sync_run_on_a_terminal(hostile: dict[str, str]) -> None:
    result = ran("sync", "run", "k-ok", "k-fail", "--interval", "0.1",
                 env=hostile, code=10, tty=True)
    inert(result)
    assert "k-ok" in result.stdout and "k-fail" in result.stdout
    assert "the ERP hung up" in result.stderr  # the failure is explained, cleaned


def test_sync_run_with_names_from_the_completion_cache(hostile: dict[str, str]) -> None:
    ran("connections", "list", "-o", "json", env=hostile, code=0)  # Tab's cache learns names
    for tty in (True, False):
        result = ran("sync", "run", "k-ok", "--interval", "0.1", env=hostile, code=0, tty=tty)
        no_raw_controls(result.stdout, "stdout")
        no_raw_controls(result.stderr, "stderr")
        assert "=HYPERLINK" in result.stderr  # the row's name: the cached one, cleaned


def test_names_from_the_completion_cache_lose_whole_sequences(hostile: dict[str, str]) -> None:
    ran("connections", "list", "-o", "json", env=hostile, code=0)
    result = ran("sync", "run", "k-ok", "--interval", "0.1", env=hostile, code=0)
    # stdout is JSON (escaped, exact); the names shown on stderr come from the cache
    inert(Result(result.code, "", result.stderr, result.argv))


def test_sync_run_piped_json_and_plain_progress(hostile: dict[str, str]) -> None:
    result = ran("sync", "run", "k-ok", "--interval", "0.1", env=hostile, code=0)
    inert(Result(result.code, "", result.stderr, result.argv))  # progress lines on stderr
    no_raw_controls(result.stdout, "stdout")
    record = result.json()
    assert record["outcome"] == "succeeded"
    assert record["sync"] == FINAL[SYNC_OK]  # exact, escapes and all
    assert "sync_ok" in result.stderr  # the plain progress line names the (cleaned) id


def test_sync_run_piped_summary_lines(hostile: dict[str, str]) -> None:
    result = ran("sync", "run", "k-ok", "k-fail", "--interval", "0.1", "-o", "table",
                 env=hostile, code=10)
    inert(result)
    lines = result.stdout.splitlines()
    assert len(lines) == 2  # one per connection, whatever the ids and codes held
    assert any(line.startswith("k-fail sync_fail") and "failed: NOT_FOUND" in line
               for line in lines), lines


def test_sync_run_csv_and_github_annotations(hostile: dict[str, str], tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    env = {**hostile, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    result = ran("sync", "run", "k-ok", "k-fail", "--interval", "0.1", "-o", "csv",
                 env=env, code=10)
    no_raw_controls(result.stdout, "stdout")
    inert(Result(result.code, "", result.stderr, result.argv))
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert len(rows) == 3
    for row in rows:
        assert not any(cell.lstrip(" ").startswith(("=", "+", "-", "@")) for cell in row), row
    # Exactly one workflow command, ours: the server could not start a line with "::".
    commands = [line for line in result.stderr.splitlines() if line.startswith("::")]
    assert len(commands) == 1 and commands[0].startswith("::error title=makini sync run::")
    written = summary.read_text("utf-8")
    no_raw_controls(written, "step summary")
    assert "pwned" not in written and "| k-fail |" in written


def test_sync_get_table_json_and_csv(hostile: dict[str, str]) -> None:
    table = ran("sync", "get", SYNC_FAIL, env=hostile, code=0, tty=True)
    inert(table)
    assert "work-orders" in table.stdout
    as_json = ran("sync", "get", SYNC_FAIL, "-o", "json", env=hostile, code=0)
    no_raw_controls(as_json.stdout, "stdout")
    assert as_json.json() == FINAL[SYNC_FAIL]
    as_csv = ran("sync", "get", SYNC_FAIL, "-o", "csv", env=hostile, code=0)
    no_raw_controls(as_csv.stdout, "stdout")
    [header, row] = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert dict(zip(header, row, strict=True))["trigger"].startswith("'=cli")


def test_field_names_as_csv_headers_and_numbers_stay_numbers(hostile: dict[str, str]) -> None:
    # `sync schedule get` has no columns of its own: the server's field names are the
    # CSV header, and on a terminal the labels.
    as_csv = ran("sync", "schedule", "get", "k-ok", "-o", "csv", env=hostile, code=0)
    no_raw_controls(as_csv.stdout, "stdout")
    [header, row] = list(csv.reader(io.StringIO(as_csv.stdout)))
    fields = dict(zip(header, row, strict=True))
    assert fields["drift_seconds"] == "-3" and fields["ratio"] == "-0.5"
    assert fields["enabled"] == "true" and fields["note"].startswith("'=1+1")
    assert "x_field forged: key" in fields
    table = ran("sync", "schedule", "get", "k-ok", env=hostile, code=0, tty=True)
    inert(table)
    assert "drift seconds" in table.stdout


def test_sync_list_on_a_terminal(hostile: dict[str, str]) -> None:
    inert(ran("sync", "list", "k-ok", env=hostile, code=0, tty=True))


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (("connections", "get", "missing"), 1),  # 404
        (("connections", "get", "denied"), 4),  # 403
        (("connections", "get", "invalid"), 1),  # 422 with hostile field names
        (("sync", "get", SYNC_BOOM), 5),  # 500, no retries
        (("sync", "run", "busy"), 7),  # 409 already running, hostile sync id in details
    ],
)
def test_errors_are_inert_and_keep_their_exit_codes(
    hostile: dict[str, str], argv: tuple[str, ...], code: int
) -> None:
    for tty in (True, False):
        result = ran(*argv, "-o", "table", env=hostile, code=code, tty=tty)
        inert(result)
        error_lines = [line for line in result.stderr.splitlines() if "error:" in line]
        assert error_lines, result
        assert "(request req_" in result.stderr or argv[:2] == ("sync", "run")  # the request id
    as_json = ran(*argv, "-o", "json", env=hostile, code=code)
    no_raw_controls(as_json.stdout + as_json.stderr, "json")
    error = as_json.error()  # still parses, and keeps the server's exact text
    assert error["exit_code"] == code
    if argv[:2] != ("sync", "run"):
        assert error["request_id"] == REQUEST_ID
        assert EVIL in error["message"]


def test_the_error_code_is_cleaned_in_the_human_error_line(hostile: dict[str, str]) -> None:
    # A failed sync's own error code reaches the error line as the server wrote it (the
    # API layer keeps only identifier-like codes of an error envelope).
    result = ran("sync", "run", "k-fail", "--interval", "0.1", "-o", "table",
                 env=hostile, code=10, tty=True)
    inert(result)
    assert "[NOT_FOUND forged: code]" in result.stderr


def test_debug_traces_are_inert(hostile: dict[str, str]) -> None:
    # Plain keys in the URLs: a hostile one is shown percent-encoded (inert, but it would
    # spell out the payload's words this suite looks for).
    cases = [
        (("connections", "list"), 0),
        (("connections", "get", "k-ok"), 0),
        (("sync", "schedule", "get", "k-ok"), 0),
        (("connections", "get", "missing"), 1),  # an error under --debug as well
    ]
    for argv, code in cases:
        result = ran(*argv, "--debug", env=hostile, code=code, tty=True)
        inert(result)
        assert "debug:" in result.stderr and "(request req_" in result.stderr
