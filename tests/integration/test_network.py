"""DNS, refused connections, TLS with a private CA, and proxies, proven on loopback.

Every server here is started and stopped by these tests on 127.0.0.1 (ephemeral ports);
the only other names used are under `.invalid` (RFC 6761: they never resolve), and the
test proxy only ever connects to 127.0.0.1. The CLI runs in-process through
`makini_cli.main.main`, which reads the environment afresh on every run.
"""

from __future__ import annotations

import http.client
import http.server
import selectors
import socket
import socketserver
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pytest
import trustme
import uvicorn

from makini_cli.main import main
from makini_cli.sandbox.app import create_app
from makini_cli.sandbox.settings import SandboxSettings
from tests.inproc import Result as Run
from tests.inproc import invoke
from tests.integration.conftest import DEMO_ID, DEMO_SECRET, Served

#: Everything that makes httpx pick a proxy or a CA set from the environment.
NETWORK_VARS = (
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
    "http_proxy", "https_proxy", "all_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_network_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's or CI's proxy and CA settings must not decide these tests.
    for name in NETWORK_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAKINI_CLIENT_ID", DEMO_ID)
    monkeypatch.setenv("MAKINI_CLIENT_SECRET", DEMO_SECRET)


@pytest.fixture
def makini() -> Callable[..., Run]:
    """Run the CLI in this process (tests/inproc): the network is what these tests vary."""
    return invoke


def free_port() -> int:
    """A port nothing listens on: bound, read and closed again."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------- DNS and refused


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_dns_failure_exits_5_at_once_naming_the_host(
    makini: Callable[..., Run], scheme: str
) -> None:
    result = makini("--base-url", f"{scheme}://api.example.invalid", "connections", "list")
    assert result.code == 5, result
    assert "cannot resolve host api.example.invalid (DNS lookup failed" in result.stderr
    assert "check the base URL" in result.stderr
    assert "retrying" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_refused_connection_is_retried_then_exits_5_naming_the_url(
    makini: Callable[..., Run],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = makini("--max-retries", "1", "--base-url", url, "connections", "list")
    assert result.code == 5, result
    assert "connection refused, retrying in" in result.stderr
    assert f"cannot reach {url}: connection refused" in result.stderr


def test_refused_in_json_mode_is_one_error_object(makini: Callable[..., Run]) -> None:
    import json

    url = f"http://127.0.0.1:{free_port()}"
    result = makini("connections", "list", "-o", "json", "--max-retries", "0", "--base-url", url)
    assert result.code == 5, result
    error = json.loads(result.stderr.strip().splitlines()[-1])["error"]
    assert error["code"] == "UNREACHABLE" and error["exit_code"] == 5
    assert url in error["message"]


# ---------------------------------------------------------------------- TLS


@dataclass
class TlsSandbox:
    url: str
    ca_pem: Path
    other_ca_pem: Path  # a CA that signed nothing this server uses


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready_event = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._ready_event.set()


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsSandbox]:
    """The sandbox app behind TLS, its certificate issued by a private CA."""
    tmp = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    ca_pem, cert_pem, key_pem, other_pem = (
        tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem", tmp / "other-ca.pem"
    )
    ca.cert_pem.write_to_path(str(ca_pem))
    leaf.cert_chain_pems[0].write_to_path(str(cert_pem))
    leaf.private_key_pem.write_to_path(str(key_pem))
    trustme.CA().cert_pem.write_to_path(str(other_pem))

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(SandboxSettings(data_dir=tmp / "data"), embedded=True)
    config = uvicorn.Config(
        app,
        ssl_certfile=str(cert_pem),
        ssl_keyfile=str(key_pem),
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="on",
        ws="none",
    )
    ready = threading.Event()
    server = _Server(config, ready)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    ready.wait(30)
    assert server.started, "the TLS sandbox did not start"
    try:
        yield TlsSandbox(f"https://127.0.0.1:{port}", ca_pem, other_pem)
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def test_untrusted_certificate_exits_5_at_once_saying_how_to_trust_it(
    makini: Callable[..., Run], tls_sandbox: TlsSandbox
) -> None:
    result = makini("--base-url", tls_sandbox.url, "connections", "list")
    assert result.code == 5, result
    assert f"TLS certificate of {tls_sandbox.url} is not trusted:" in result.stderr
    assert "--ca-bundle FILE" in result.stderr and "MAKINI_CA_BUNDLE" in result.stderr
    assert "retrying" not in result.stderr


def test_ca_bundle_flag_before_and_after_the_subcommand(
    makini: Callable[..., Run], tls_sandbox: TlsSandbox
) -> None:
    ca = str(tls_sandbox.ca_pem)
    before = makini("--ca-bundle", ca, "--base-url", tls_sandbox.url,
                    "connections", "list", "-o", "json")
    assert before.code == 0, before
    after = makini("connections", "list", "-o", "json", "--base-url", tls_sandbox.url,
                   "--ca-bundle", ca)
    assert after.code == 0, after
    assert before.stdout == after.stdout and before.stdout.startswith("[")


def test_ca_bundle_from_environment(
    makini: Callable[..., Run], tls_sandbox: TlsSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAKINI_CA_BUNDLE", str(tls_sandbox.ca_pem))
    result = makini("--base-url", tls_sandbox.url, "connections", "list", "-o", "json")
    assert result.code == 0, result


def test_ca_bundle_from_profile(
    makini: Callable[..., Run], tls_sandbox: TlsSandbox, tmp_path: Path
) -> None:
    assert makini("profile", "create", "tls", "--base-url", tls_sandbox.url).code == 0
    set_ = makini("-p", "tls", "config", "set", "ca_bundle", str(tls_sandbox.ca_pem))
    assert set_.code == 0, set_
    assert makini("-p", "tls", "config", "get", "ca_bundle").stdout.strip() == str(
        tls_sandbox.ca_pem
    )
    result = makini("-p", "tls", "connections", "list", "-o", "json")
    assert result.code == 0, result

    missing = makini("-p", "tls", "config", "set", "ca_bundle", str(tmp_path / "nope.pem"))
    assert missing.code == 2, missing
    assert f"CA bundle {tmp_path / 'nope.pem'} does not exist" in missing.stderr


def test_ssl_cert_file_is_honoured(
    makini: Callable[..., Run], tls_sandbox: TlsSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_sandbox.ca_pem))
    result = makini("--base-url", tls_sandbox.url, "connections", "list", "-o", "json")
    assert result.code == 0, result


def test_ca_bundle_wins_over_ssl_cert_file(
    makini: Callable[..., Run], tls_sandbox: TlsSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_sandbox.other_ca_pem))
    result = makini("--ca-bundle", str(tls_sandbox.ca_pem), "--base-url", tls_sandbox.url,
                    "connections", "list", "-o", "json")
    assert result.code == 0, result
    # …and replaces the default set rather than adding to it.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_sandbox.ca_pem))
    wrong = makini("--ca-bundle", str(tls_sandbox.other_ca_pem), "--base-url", tls_sandbox.url,
                   "connections", "list")
    assert wrong.code == 5, wrong
    assert f"checked against {tls_sandbox.other_ca_pem}" in wrong.stderr


def test_unusable_ca_bundle_is_a_usage_or_config_error_naming_the_file(
    makini: Callable[..., Run],
    tls_sandbox: TlsSandbox,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    missing = tmp_path / "missing.pem"
    flag = makini("--ca-bundle", str(missing), "--base-url", tls_sandbox.url,
                  "connections", "list")
    assert flag.code == 2, flag
    assert f"CA bundle {missing} does not exist (from --ca-bundle)" in flag.stderr
    assert len(flag.stderr.strip().splitlines()) == 1

    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    not_pem = makini("--ca-bundle", str(junk), "--base-url", tls_sandbox.url,
                     "connections", "list")
    assert not_pem.code == 2, not_pem
    assert f"CA bundle {junk} holds no PEM certificate" in not_pem.stderr

    monkeypatch.setenv("MAKINI_CA_BUNDLE", str(missing))
    env = makini("--base-url", tls_sandbox.url, "connections", "list")
    assert env.code == 3, env
    assert f"CA bundle {missing} does not exist (from env MAKINI_CA_BUNDLE)" in env.stderr
    assert len(env.stderr.strip().splitlines()) == 1


def test_stale_ca_bundle_in_profile_is_exit_3_and_can_be_unset(
    makini: Callable[..., Run], tls_sandbox: TlsSandbox, tmp_path: Path
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(tls_sandbox.ca_pem.read_bytes())
    assert makini("profile", "create", "tls", "--base-url", tls_sandbox.url).code == 0
    assert makini("-p", "tls", "config", "set", "ca_bundle", str(bundle)).code == 0
    bundle.unlink()
    result = makini("-p", "tls", "connections", "list")
    assert result.code == 3, result
    assert f"CA bundle {bundle} does not exist (from profile tls)" in result.stderr
    assert makini("-p", "tls", "config", "unset", "ca_bundle").code == 0


# ---------------------------------------------------------------------- proxies

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authorization",
    "proxy-authenticate", "te", "trailer", "transfer-encoding", "upgrade",
})  # fmt: skip


@dataclass
class RecordingProxy:
    """A forward proxy on 127.0.0.1 that records each request and tunnel it handles.

    `aliases` are host names it resolves to 127.0.0.1 itself; it refuses every other
    host, so nothing leaves the machine whatever a test gets wrong.
    """

    aliases: set[str] = field(default_factory=set)
    seen: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    def target(self, host: str, port: int) -> tuple[str, int]:
        if host == "127.0.0.1" or host in self.aliases:
            return ("127.0.0.1", port)
        raise ConnectionRefusedError(f"this test proxy only reaches 127.0.0.1, not {host}")


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: RecordingProxy


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def proxy(self) -> RecordingProxy:
        return cast(_ProxyServer, self.server).proxy

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_CONNECT(self) -> None:
        self.proxy.seen.append(("CONNECT", self.path))
        host, _, port = self.path.rpartition(":")
        try:
            upstream = socket.create_connection(self.proxy.target(host, int(port)), timeout=30)
        except OSError:
            self.send_error(502)
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        with upstream, selectors.DefaultSelector() as selector:
            selector.register(self.connection, selectors.EVENT_READ, upstream)
            selector.register(upstream, selectors.EVENT_READ, self.connection)
            while events := selector.select(timeout=30):
                for key, _ in events:
                    data = cast(socket.socket, key.fileobj).recv(65536)
                    if not data:
                        return
                    cast(socket.socket, key.data).sendall(data)

    def _forward(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        self.proxy.seen.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if url.scheme != "http" or not url.hostname:
            self.send_error(400, "absolute-form http:// URL expected")
            return
        try:
            host, port = self.proxy.target(url.hostname, url.port or 80)
        except OSError:
            self.send_error(502)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = http.client.HTTPConnection(host, port, timeout=30)
        try:
            path = url.path or "/"
            upstream.request(self.command, f"{path}?{url.query}" if url.query else path,
                             body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in HOP_BY_HOP | {"content-length", "date", "server"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    recording = RecordingProxy(aliases={"makini-sandbox.invalid"})
    server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler)
    server.proxy = recording
    recording.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recording
    finally:
        server.shutdown()
        server.server_close()
        thread.join(15)


def test_http_proxy_carries_requests_to_a_loopback_server_unless_no_proxy_says_not(
    makini: Callable[..., Run],
    proxy: RecordingProxy,
    shared_sandbox: Served,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # httpx, like curl, proxies loopback too unless NO_PROXY lists it.
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    through = makini("--base-url", shared_sandbox.url, "connections", "list", "-o", "json")
    assert through.code == 0, through
    urls = [url for _, url in proxy.seen]
    assert f"{shared_sandbox.url}/link/token" in urls
    assert any(url.startswith(f"{shared_sandbox.url}/api/") for url in urls)

    proxy.seen.clear()
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    direct = makini("--base-url", shared_sandbox.url, "connections", "list", "-o", "json")
    assert direct.code == 0, direct
    assert proxy.seen == []
    assert direct.stdout == through.stdout


def test_the_proxy_resolves_names_the_cli_cannot(
    makini: Callable[..., Run],
    proxy: RecordingProxy,
    shared_sandbox: Served,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Behind a proxy the CLI never looks the API's host up itself."""
    port = urllib.parse.urlsplit(shared_sandbox.url).port
    url = f"http://makini-sandbox.invalid:{port}"
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    result = makini("--base-url", url, "connections", "list", "-o", "json")
    assert result.code == 0, result
    assert any(seen.startswith(f"{url}/api/") for _, seen in proxy.seen)


def test_https_goes_through_a_connect_tunnel(
    makini: Callable[..., Run],
    proxy: RecordingProxy,
    tls_sandbox: TlsSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    result = makini("--ca-bundle", str(tls_sandbox.ca_pem), "--base-url", tls_sandbox.url,
                    "connections", "list", "-o", "json")
    assert result.code == 0, result
    assert ("CONNECT", tls_sandbox.url.removeprefix("https://")) in proxy.seen
    # The tunnel hides the requests themselves from the proxy.
    assert all(method == "CONNECT" for method, _ in proxy.seen)


def test_bundled_sandbox_never_goes_through_a_proxy(
    makini: Callable[..., Run], proxy: RecordingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy.url)
    monkeypatch.delenv("MAKINI_CLIENT_ID")
    monkeypatch.delenv("MAKINI_CLIENT_SECRET")
    try:
        result = makini("--base-url", "sandbox", "connections", "list", "-o", "json")
    finally:
        # The bundled sandbox may outlive the command in the background; not this one.
        main(["--base-url", "sandbox", "sandbox", "stop"])
    assert result.code == 0, result
    assert result.stdout.startswith("[")
    assert proxy.seen == []


def test_unreachable_proxy_is_named_without_its_password(
    makini: Callable[..., Run], shared_sandbox: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("HTTP_PROXY", f"http://user:hunter2@127.0.0.1:{port}")
    result = makini("--max-retries", "1", "--base-url", shared_sandbox.url, "connections", "list")
    assert result.code == 5, result
    assert "connection refused, retrying in" in result.stderr
    assert f"cannot reach the proxy http://127.0.0.1:{port} for {shared_sandbox.url}" in (
        result.stderr
    )
    assert "(from HTTP_PROXY)" in result.stderr and "NO_PROXY" in result.stderr
    assert "hunter2" not in result.stderr
