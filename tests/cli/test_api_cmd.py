"""`makini api PATH`: any path, the right token chosen from it, fields and --input as the
body or the query, --paginate over every page, error answers as exit codes with nothing
on stdout, retries, --include, and no token anywhere in the output."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from makini_cli.commands.api_cmd import build_call, colour_json
from makini_cli.errors import UsageError
from tests.cli.conftest import Sandbox
from tests.inproc import invoke as run

#: seeded connections: SAP S/4HANA (an ERP), Infor EAM (an EAM: its work orders need
#: assetKey and title), UpKeep (an EAM)
S4 = "10000482937115"
INFOR = "10001048593771"
UPKEEP = "10000715260448"
#: every token the sandbox issues is JWT-shaped
TOKEN = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def with_token(sandbox: Sandbox, key: str, path: str, **params: Any) -> Any:
    """What the API answers with `key`'s connection token (straight, not through makini)."""
    token = sandbox.api("POST", f"/api/system/connections/{key}/token").json()["data"]["token"]
    resp = httpx.get(
        f"{sandbox.url}{path}", params=params, headers={"Authorization": f"Bearer {token}"}
    )
    resp.raise_for_status()
    return resp.json()


# ---------------------------------------------------------------------- reading


def test_an_admin_path_prints_the_answer_s_json_body(shared_sandbox: Sandbox) -> None:
    env = shared_sandbox.env
    expected = shared_sandbox.api("GET", "/api/system/client").json()
    piped = run("api", "/api/system/client", env=env)
    assert piped.code == 0, piped
    assert piped.json() == expected
    assert piped.stdout.count("\n") == 1  # one line when piped
    assert run("api", "api/system/client", env=env).json() == expected  # the / is optional
    pretty = run("api", "/api/system/client", "-o", "json", env=env)
    assert pretty.json() == expected and pretty.stdout.startswith('{\n  "data": {')
    tty = run("api", "/api/system/client", env=env, tty=True)
    assert json.loads(tty.stdout) == expected and tty.stdout.count("\n") > 3

    two = run("api", "/api/system/connections?per_page=2", env=env).json()
    assert len(two["data"]) == 2 and two["meta"]["per_page"] == 2
    # For a GET, fields are the query, sent as written.
    also = run(
        "api", "-X", "GET", "/api/system/connections", "-f", "per_page=3", "-F", "page=2", env=env
    )
    assert also.json()["meta"]["per_page"] == 3 and also.json()["meta"]["current_page"] == 2


def test_data_paths_take_the_connection_token(shared_sandbox: Sandbox) -> None:
    env = shared_sandbox.env
    tables = run("api", "/api/raw/tables", "--connection", S4, env=env)
    assert tables.code == 0, tables
    assert tables.json() == with_token(shared_sandbox, S4, "/api/raw/tables")
    current = run("api", "/api/integrations/current", "--connection", S4, env=env).json()
    assert str(current.get("data", current)["id"]) == S4

    rows = run(
        "api",
        "-X",
        "GET",
        "/api/raw/tables/AUFK/data",
        "--connection",
        S4,
        "-f",
        "per_page=5",
        "-f",
        "filter[AUART]=PM01",
        env=env,
    ).json()
    assert len(rows["data"]) == 5 and all(r["AUART"] == "PM01" for r in rows["data"])
    assert rows == with_token(
        shared_sandbox, S4, "/api/raw/tables/AUFK/data", per_page=5, **{"filter[AUART]": "PM01"}
    )


def test_unified_records_read_and_write_with_the_connection_token(sandbox: Sandbox) -> None:
    env = sandbox.env
    listed = run("api", "/api/eam/work-orders?per_page=3", "--connection", UPKEEP, env=env)
    assert listed.code == 0, listed
    assert listed.json() == with_token(sandbox, UPKEEP, "/api/eam/work-orders", per_page=3)

    # --paginate reads, so -f is the query: every open work order, across pages.
    total = with_token(
        sandbox, UPKEEP, "/api/eam/work-orders", per_page=1, **{"filter[status]": "open"}
    )["meta"]["total"]
    open_ = run(
        "api",
        "/api/eam/work-orders",
        "--connection",
        UPKEEP,
        "-f",
        "filter[status]=open",
        "-f",
        "per_page=100",
        "--paginate",
        env=env,
    )
    assert open_.code == 0, open_
    assert len(open_.jsonl()) == total > 100
    assert all(wo["status"] == "open" for wo in open_.jsonl())
    assert len({wo["key"] for wo in open_.jsonl()}) == total

    asset = run("api", "/api/eam/assets?per_page=1", "--connection", INFOR, env=env)
    asset_key = asset.json()["data"][0]["key"]
    created = run(
        "api",
        "/api/eam/work-orders",
        "--connection",
        INFOR,
        "-f",
        "title=Replace seal",
        "-f",
        f"assetKey={asset_key}",
        env=env,
    )
    assert created.code == 0, created  # POST, since fields were given
    order = created.json()["data"]
    assert order["title"] == "Replace seal" and order["assetKey"] == asset_key
    path = f"/api/eam/work-orders/{order['key']}"
    status = run(
        "api",
        "-X",
        "PUT",
        f"{path}/status",
        "--connection",
        INFOR,
        "-f",
        "statusKey=closed",
        env=env,
    )
    assert status.code == 0, status
    assert status.json()["data"]["status"] == "closed"
    assert run("api", path, "--connection", INFOR, env=env).json()["data"]["status"] == "closed"

    # The platform's own rules: a 422 naming the fields it needs, nothing on stdout.
    refused = run(
        "api", "/api/eam/work-orders", "--connection", INFOR, "-f", "title=x", "-o", "json", env=env
    )
    assert refused.code == 1 and refused.stdout == ""
    assert refused.error()["code"] == "VALIDATION_FAILED" and "assetKey" in refused.stderr
    other = run("api", "/api/erp/work-orders", "--connection", UPKEEP, env=env)
    assert other.code == 1 and other.stdout == "" and "NOT_FOUND" in other.stderr


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (("/api/raw/tables",), "give --connection KEY"),
        (("/api/eam/work-orders",), "give --connection KEY"),
        (("/api/passthrough", "-f", "path=x"), "give --connection KEY"),
        (("/api/system/client", "--connection", S4), "takes the admin token"),
        (("https://evil.example.com/api/system/client",), "is a URL"),
        (("//evil.example.com/api/system/client",), "is a URL"),
        (("/link/token",), "makini auth login"),
        (("/api/raw/../system/client", "--connection", S4), ". or .. segment"),
        (("",), "the path is empty"),
        (("-X", "FETCH", "/api/system/client"), "not a method"),
        (("-X", "POST", "/api/system/connections", "--paginate"), "--paginate"),
        (("/api/system/connections", "--paginate", "--include"), "--include"),
        (("/api/system/client", "-H", "Authorization: Bearer x"), "Authorization"),
        (("/api/system/client", "-H", "no colon"), "NAME: VALUE"),
        (("/api/system/client", "-f", "novalue"), "KEY=VALUE"),
        (("/api/system/webhooks", "-f", "a[][b]=1"), "KEY=VALUE"),
        (("/api/system/webhooks", "-f", "a=1", "-f", "a[b]=2"), "conflicts"),
        (("/api/system/client", "--input", "no-such-file.json"), "cannot read --input"),
        (("/api/system/client", "-F", "x=@no-such-file"), "cannot read -F"),
        (("/api/system/client", "--idempotency-key", "a b"), "--idempotency-key"),
    ],
)
def test_usage_mistakes_are_exit_2_before_anything_is_sent(
    shared_sandbox: Sandbox, argv: tuple[str, ...], text: str
) -> None:
    result = run("api", *argv, env=shared_sandbox.env)
    assert result.code == 2, result
    assert text in result.stderr and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1


def test_csv_needs_a_list(shared_sandbox: Sandbox) -> None:
    result = run("-o", "csv", "api", "/api/system/client", env=shared_sandbox.env)
    assert result.code == 2 and "--paginate" in result.stderr
    rows = run(
        "api", "/api/system/connections", "--paginate", "-o", "csv", env=shared_sandbox.env
    ).stdout.splitlines()
    assert rows[0].startswith("key,name") and len(rows) == 1 + len(shared_sandbox.connections())


# ---------------------------------------------------------------------- bodies


def test_fields_make_the_json_body_and_other_methods_work(sandbox: Sandbox) -> None:
    env = sandbox.env
    created = run(
        "api",
        "/api/system/webhooks",
        "-f",
        "url=http://127.0.0.1:9/fields",
        "-F",
        "enabled=false",
        "-f",
        "events[]=ping",
        "-f",
        "events[]=sync.failed",
        env=env,
    )
    assert created.code == 0, created  # POST, since fields were given
    hook = created.json()["data"]
    assert hook["url"] == "http://127.0.0.1:9/fields" and hook["enabled"] is False
    assert hook["events"] == ["ping", "sync.failed"]
    path = f"/api/system/webhooks/{hook['id']}"
    assert run("api", path, env=env).json()["data"]["events"] == ["ping", "sync.failed"]

    changed = run("api", "-X", "patch", path, "-F", "enabled=true", env=env)
    assert changed.code == 0, changed
    assert changed.json()["data"]["enabled"] is True
    assert sandbox.api("GET", path).json()["data"]["enabled"] is True

    gone = run("api", "-X", "DELETE", path, env=env)
    assert gone.code == 0, gone
    missing = run("api", path, env=env)
    assert missing.code == 1 and missing.stdout == "" and "NOT_FOUND" in missing.stderr


def test_input_sends_a_json_document_and_at_file_a_value(sandbox: Sandbox, tmp_path: Path) -> None:
    env = sandbox.env
    doc = tmp_path / "hook.json"
    doc.write_text(json.dumps({"url": "http://127.0.0.1:9/input", "events": ["ping"]}))
    from_file = run("api", "/api/system/webhooks", "--input", str(doc), env=env)
    assert from_file.code == 0, from_file
    assert from_file.json()["data"]["url"] == "http://127.0.0.1:9/input"
    assert from_file.json()["data"]["events"] == ["ping"]

    piped = run(
        "api",
        "/api/system/webhooks",
        "--input",
        "-",
        env=env,
        input='{"url": "http://127.0.0.1:9/stdin"}',
    )
    assert piped.code == 0, piped
    assert piped.json()["data"]["url"] == "http://127.0.0.1:9/stdin"

    url = tmp_path / "url.txt"
    url.write_text("http://127.0.0.1:9/at-file")
    at_file = run("api", "/api/system/webhooks", "-F", f"url=@{url}", env=env)
    assert at_file.code == 0, at_file
    assert at_file.json()["data"]["url"] == "http://127.0.0.1:9/at-file"
    urls = {h["url"] for h in sandbox.api("GET", "/api/system/webhooks").json()["data"]}
    assert {
        "http://127.0.0.1:9/input",
        "http://127.0.0.1:9/stdin",
        "http://127.0.0.1:9/at-file",
    } <= urls


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"url": }', "line 1, column 9"),
        ('{\n  "a": 1,\n  "b": [1, 2\n}', "line 4, column 1"),
        ("", "line 1, column 1"),
    ],
)
def test_input_that_is_not_json_is_exit_2_saying_where(
    shared_sandbox: Sandbox, tmp_path: Path, text: str, where: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    result = run("api", "/api/system/webhooks", "--input", str(bad), env=shared_sandbox.env)
    assert result.code == 2, result
    assert f"--input {bad} is not JSON" in result.stderr and where in result.stderr
    assert result.stdout == ""
    piped = run("api", "/api/system/webhooks", "--input", "-", input=text, env=shared_sandbox.env)
    assert piped.code == 2 and "--input stdin is not JSON" in piped.stderr


def test_fields_nest_and_type_as_documented() -> None:
    def call(*fields: str, method: str | None = None, typed: tuple[str, ...] = ()) -> Any:
        return build_call(
            "/api/eam/work-orders",
            method=method,
            raw_fields=list(fields),
            typed_fields=list(typed),
            input_file=None,
            paginate=False,
            connection="k",
            headers=[],
            include=False,
            idempotency_key=None,
            read=lambda name: b"from a file",
            output=None,
        )

    body = call(
        "title=Pump",
        "address[city]=Basel",
        "address[geo][lat]=47.5",
        "tags[]=a",
        "tags[]=b",
        typed=("count=3", "ratio=-0.5", "done=false", "due=null", "note=@x", "code=007"),
    ).body
    assert body == {
        "title": "Pump",
        "address": {"city": "Basel", "geo": {"lat": "47.5"}},
        "tags": ["a", "b"],
        "count": 3,
        "ratio": -0.5,
        "done": False,
        "due": None,
        "note": "from a file",
        "code": "007",
    }
    assert call("title=x").method == "POST" and call().method == "GET"
    query = call("filter[status]=open", "tags[]=a", "tags[]=b", method="get", typed=("n=1",))
    assert query.body is None
    assert query.params == {"filter[status]": "open", "tags[]": ["a", "b"], "n": "1"}
    with pytest.raises(UsageError):
        call("a=1", "a=2")


def test_colour_when_asked_still_strips_to_the_same_json(shared_sandbox: Sandbox) -> None:
    plain = run("api", "/api/system/client", env=shared_sandbox.env)
    painted = run("--color", "always", "api", "/api/system/client", env=shared_sandbox.env)
    assert "\x1b[1;34m" in painted.stdout and "\x1b[" not in plain.stdout
    assert json.loads(re.sub(r"\x1b\[[0-9;]*m", "", painted.stdout)) == plain.json()


def test_colour_marks_keys_strings_and_literals_only() -> None:
    text = json.dumps({"k": "v: 1, true", "n": 2, "t": True, "z": None})
    painted = colour_json(text)
    assert re.sub(r"\x1b\[[0-9;]*m", "", painted) == text
    assert '\x1b[1;34m"k"\x1b[0m:' in painted and '\x1b[32m"v: 1, true"\x1b[0m' in painted
    assert "\x1b[36m2\x1b[0m" in painted and "\x1b[33mtrue\x1b[0m" in painted


# ---------------------------------------------------------------------- pages


def test_paginate_prints_every_item_of_every_page(shared_sandbox: Sandbox) -> None:
    env = shared_sandbox.env
    connections = shared_sandbox.connections()
    small = run("api", "/api/system/connections", "--paginate", "-f", "per_page=2", env=env)
    assert small.code == 0, small
    assert small.jsonl() == connections and len(connections) > 2

    meta = with_token(shared_sandbox, S4, "/api/raw/tables/AUFK/data", per_page=1)["meta"]
    rows = run("api", "/api/raw/tables/AUFK/data", "--connection", S4, "--paginate", env=env)
    assert rows.code == 0, rows
    assert len(rows.jsonl()) == meta["total"] > 500  # more than one page
    assert (
        rows.jsonl()[0]
        == with_token(shared_sandbox, S4, "/api/raw/tables/AUFK/data", per_page=1)["data"][0]
    )
    array = run(
        "api",
        "/api/raw/tables/AUFK/data",
        "--connection",
        S4,
        "--paginate",
        "-f",
        "per_page=250",
        "-o",
        "json",
        env=env,
    )
    assert array.json() == rows.jsonl()
    filtered = run(
        "api",
        "/api/raw/tables/AUFK/data",
        "--connection",
        S4,
        "--paginate",
        "-f",
        "filter[AUART]=PM02",
        "-f",
        "per_page=100",
        env=env,
    ).jsonl()
    assert filtered == [r for r in rows.jsonl() if r["AUART"] == "PM02"]
    tty = run("api", "/api/system/connections", "--paginate", env=env, tty=True)
    assert [json.loads(line) for line in tty.stdout.splitlines()] == connections


# ---------------------------------------------------------------------- errors


def test_error_answers_print_nothing_and_exit_by_status(shared_sandbox: Sandbox) -> None:
    env = shared_sandbox.env
    missing = run("api", "/api/system/webhooks/wh_nope", env=env)
    assert missing.code == 1 and missing.stdout == ""
    assert "NOT_FOUND" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    error = run("api", "/api/system/webhooks/wh_nope", "-o", "json", env=env).error()
    assert error["code"] == "NOT_FOUND" and error["http_status"] == 404
    assert error["exit_code"] == 1 and error["request_id"]

    invalid = run("api", "/api/system/connections?per_page=1000", env=env)
    assert invalid.code == 1 and invalid.stdout == "" and "VALIDATION_FAILED" in invalid.stderr
    wrong_token = run(
        "api",
        "/api/system/client",
        env={**env, "MAKINI_TOKEN": "not-a-token", "MAKINI_CLIENT_SECRET": None},
    )
    assert wrong_token.code == 4 and wrong_token.stdout == ""

    head = run("api", "/api/system/webhooks/wh_nope", "--include", env=env)
    assert head.code == 1 and head.stdout == ""
    lines = head.stderr.splitlines()
    assert lines[0] == "HTTP 404 Not Found" and any(ln.startswith("x-request-id: ") for ln in lines)
    assert lines[-1].startswith("error: ") and "NOT_FOUND" in lines[-1]


#: injected status, body kind, the exit code it must give, the code the error names
STATUSES = [
    (403, "envelope", 4, "PERMISSION_DENIED"),
    (409, "envelope", 7, "SYNC_ALREADY_RUNNING"),
    (503, "envelope", 5, "SERVICE_UNAVAILABLE"),
    (500, "envelope", 5, "INTERNAL_ERROR"),
    (404, "html", 1, "NOT_FOUND"),
]


def test_every_status_has_its_exit_code_with_and_without_include(sandbox: Sandbox) -> None:
    for status, body, exit_code, code in STATUSES:
        sandbox.control("DELETE", "faults")
        sandbox.control(
            "POST",
            "faults",
            {
                "path_prefix": "/api/system/client",
                "status": status,
                "count": 10,
                "body": body,
                "retry_after": 0,
                "code": code if body == "envelope" else None,
            },
        )
        for flags in ((), ("--include",)):
            result = run("--max-retries", "1", "api", "/api/system/client", *flags, env=sandbox.env)
            assert result.code == exit_code, result
            assert result.stdout == "" and code in result.stderr, result
            assert ("retrying" in result.stderr) == (status == 503), result  # 503: once
            if flags:
                lines = result.stderr.splitlines()
                assert f"HTTP {status} " in lines[1 if status == 503 else 0], result


def test_a_post_is_retried_only_with_an_idempotency_key(sandbox: Sandbox) -> None:
    env = sandbox.env
    fault = {
        "path_prefix": "/api/system/webhooks",
        "method": "POST",
        "status": 503,
        "count": 1,
        "retry_after": 0,
    }
    sandbox.control("POST", "faults", fault)
    once = run("api", "/api/system/webhooks", "-f", "url=http://127.0.0.1:9/once", env=env)
    assert once.code == 5, once
    assert "retrying" not in once.stderr and once.stdout == ""

    sandbox.control("POST", "faults", fault)
    key = ("--idempotency-key", "ci-job-42")
    retried = run("api", "/api/system/webhooks", "-f", "url=http://127.0.0.1:9/k", *key, env=env)
    assert retried.code == 0, retried
    assert "retrying" in retried.stderr
    again = run("api", "/api/system/webhooks", "-f", "url=http://127.0.0.1:9/k", *key, env=env)
    assert again.json()["data"]["id"] == retried.json()["data"]["id"]  # done once
    by_header = run(
        "api",
        "/api/system/webhooks",
        "-f",
        "url=http://127.0.0.1:9/k",
        "-H",
        "Idempotency-Key: ci-job-42",
        env=env,
    )
    assert by_header.json()["data"]["id"] == retried.json()["data"]["id"]
    hooks = sandbox.api("GET", "/api/system/webhooks").json()["data"]
    assert [h["url"] for h in hooks].count("http://127.0.0.1:9/k") == 1


def test_include_shows_the_headers_and_no_token_shows_anywhere(shared_sandbox: Sandbox) -> None:
    env = shared_sandbox.env
    result = run("--debug", "api", "/api/raw/tables", "--connection", S4, "--include", env=env)
    assert result.code == 0, result
    lines = result.stderr.splitlines()
    assert "HTTP 200 OK" in lines
    assert any(ln.startswith("x-request-id: req_") for ln in lines)
    assert any(ln.startswith("content-type: application/json") for ln in lines)
    assert result.json()["data"]  # the body alone on stdout
    for text in (result.stdout, result.stderr):
        assert not TOKEN.search(text), text
    admin = run("--debug", "api", "/api/system/client", "-i", env=env)
    assert admin.code == 0 and not TOKEN.search(admin.stdout + admin.stderr)
