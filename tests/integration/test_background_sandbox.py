"""The shared background sandbox: real CLI processes, real servers, real signals.

Every test has its own MAKINI_SANDBOX_DIR (tests/conftest.py), whose teardown stops any
background sandbox left there.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from makini_cli import __version__
from makini_cli.sandbox import background
from makini_cli.sandbox.background import ServerState
from tests.integration.cli import run

STARTED = "started the bundled sandbox in the background"


def data_dir() -> Path:
    return Path(os.environ["MAKINI_SANDBOX_DIR"]).resolve()


def recorded() -> ServerState:
    state = background.read_state(data_dir())
    assert state is not None, "no background sandbox recorded"
    return state


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def servers_on(directory: Path) -> list[int]:
    """Pids of every background sandbox process serving `directory` (Linux /proc)."""
    pids = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return [
        pid
        for pid in pids
        if background.is_background_server(pid, directory) and background.pid_alive(pid)
    ]


needs_proc = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")


def list_connections(*extra: str, env: dict[str, str] | None = None) -> str:
    result = run("connections", "list", "-o", "json", *extra, env=env)
    assert result.code == 0, result
    assert len(result.json()) >= 8
    return result.stderr


def write_state(**fields: object) -> None:
    state = {
        "pid": 1,
        "url": "http://127.0.0.1:9",
        "instance": "not-a-real-instance",
        "version": __version__,
        "data_dir": str(data_dir()),
        "started_at": time.time(),
        "idle_exit": 900.0,
        **fields,
    }
    data_dir().mkdir(parents=True, exist_ok=True)
    (data_dir() / background.STATE_FILE).write_text(json.dumps(state))


def free_port() -> int:
    """A port nothing listens on (bound and released: nobody takes it within a test)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that is not a sandbox: a pid a stale state file may point at."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


@pytest.fixture
def stranger() -> Iterator[Callable[[dict[str, object]], str]]:
    """Another program on 127.0.0.1 that answers every GET with the JSON it is given."""
    servers: list[ThreadingHTTPServer] = []

    def start(answer: dict[str, object]) -> str:
        body = json.dumps(answer).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------- find or start


def test_the_first_run_starts_it_and_the_next_runs_reuse_it() -> None:
    assert STARTED in list_connections()
    first = recorded()
    assert first.url.startswith("http://127.0.0.1:")
    assert first.data_dir == str(data_dir())
    assert first.version == __version__
    assert background.probe(first) is not None
    state_file = data_dir() / background.STATE_FILE
    assert state_file.stat().st_mode & 0o777 == 0o600
    assert (data_dir() / background.LOG_FILE).stat().st_mode & 0o777 == 0o600

    for _ in range(2):
        assert STARTED not in list_connections()
        assert recorded() == first


def test_a_run_that_reuses_it_loads_neither_fastapi_nor_uvicorn() -> None:
    list_connections()
    code = (
        "import sys, runpy\n"
        "sys.argv = ['makini', 'connections', 'list', '-o', 'json']\n"
        "try:\n"
        "    runpy.run_module('makini_cli', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    modules = set(proc.stderr.split())
    assert "makini_cli.sandbox.background" in modules
    assert not {m for m in modules if m.split(".")[0] in ("fastapi", "uvicorn", "starlette")}


def test_the_client_side_module_is_light() -> None:
    code = "import sys, makini_cli.sandbox.background; print(' '.join(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    heavy = ("fastapi", "uvicorn", "starlette", "httpx", "pydantic", "rich", "http.client")
    loaded = set(proc.stdout.split())
    assert sorted(m for m in loaded if m.startswith(heavy)) == []
    assert "makini_cli.sandbox.server" not in loaded


@needs_proc
def test_concurrent_first_runs_start_exactly_one_server() -> None:
    procs = [
        subprocess.Popen([sys.executable, "-m", "makini_cli", "connections", "list", "-o", "json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ))
        for _ in range(3)
    ]
    outputs = [proc.communicate(timeout=90) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert len(json.loads(out)) >= 8
    assert sum(STARTED in err for _, err in outputs) == 1
    assert servers_on(data_dir()) == [recorded().pid]


@needs_proc
def test_a_killed_server_is_detected_and_replaced() -> None:
    list_connections()
    killed = recorded()
    os.kill(killed.pid, signal.SIGKILL)
    wait_until(lambda: not background.pid_alive(killed.pid), "the server is gone")

    assert STARTED in list_connections()
    replacement = recorded()
    assert replacement.pid != killed.pid and replacement.instance != killed.instance
    assert servers_on(data_dir()) == [replacement.pid]


def test_a_state_file_naming_a_dead_pid_is_replaced() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    write_state(pid=gone.pid, url=f"http://127.0.0.1:{free_port()}")

    stderr = list_connections("--debug")
    assert STARTED in stderr and "its process is gone" in stderr
    assert recorded().pid != gone.pid
    assert background.probe(recorded()) is not None


def test_a_port_taken_by_another_program_is_not_trusted_and_nothing_is_signalled(
    sleeper: subprocess.Popen[bytes], stranger: Callable[[dict[str, object]], str]
) -> None:
    # The pid is alive (reused by a stranger) and the port answers JSON that claims the
    # pid but cannot know the instance id.
    url = stranger({"instance": "someone-else", "pid": sleeper.pid, "version": __version__})
    write_state(pid=sleeper.pid, url=url)

    stderr = list_connections("--debug")
    assert STARTED in stderr and "answers as something else" in stderr
    assert recorded().pid != sleeper.pid and recorded().url != url
    assert sleeper.poll() is None, "a pid that did not prove to be the sandbox was signalled"


def test_a_port_that_refuses_is_replaced_and_its_live_pid_left_alone(
    sleeper: subprocess.Popen[bytes],
) -> None:
    write_state(pid=sleeper.pid, url=f"http://127.0.0.1:{free_port()}")
    assert STARTED in list_connections()
    assert sleeper.poll() is None
    assert background.probe(recorded()) is not None


def test_a_server_of_another_version_is_stopped_and_replaced(
    sleeper: subprocess.Popen[bytes], stranger: Callable[[dict[str, object]], str]
) -> None:
    # Proves it is the recorded instance (same id and pid), but runs another makini: the
    # run stops it (SIGTERM to that proven pid) before starting its own.
    url = stranger({"instance": "old-one", "pid": sleeper.pid, "version": "0.0.1",
                    "data_dir": str(data_dir())})
    write_state(pid=sleeper.pid, url=url, instance="old-one", version="0.0.1")

    stderr = list_connections("--debug")
    assert STARTED in stderr and "it runs makini 0.0.1" in stderr
    assert sleeper.wait(timeout=30) == -signal.SIGTERM
    assert recorded().version == __version__


@needs_proc
def test_a_server_that_stopped_answering_is_asked_to_exit_and_replaced() -> None:
    list_connections()
    hung = recorded()
    os.kill(hung.pid, signal.SIGSTOP)  # alive, its port accepts, it answers nothing
    try:
        stderr = list_connections("--debug")
        assert STARTED in stderr and "stopped answering" in stderr
        assert recorded().pid != hung.pid
        # SIGTERM and SIGCONT: it resumes, finishes and exits on its own.
        wait_until(lambda: not background.pid_alive(hung.pid), "the hung server exited")
        assert servers_on(data_dir()) == [recorded().pid]
    finally:
        if background.pid_alive(hung.pid):
            os.kill(hung.pid, signal.SIGKILL)


def test_an_unreadable_state_file_is_replaced() -> None:
    data_dir().mkdir(parents=True, exist_ok=True)
    (data_dir() / background.STATE_FILE).write_text("{not json")
    assert STARTED in list_connections()
    assert background.probe(recorded()) is not None


# ---------------------------------------------------------------------- status and stop


def test_status_and_stop() -> None:
    missing = run("sandbox", "status", "-o", "json")
    assert missing.code == 1, missing
    assert missing.error()["code"] == "SANDBOX_NOT_RUNNING"
    assert missing.stdout == ""

    list_connections()
    state = recorded()
    shown = run("sandbox", "status", "-o", "json")
    assert shown.code == 0, shown
    info = shown.json()
    assert info["url"] == state.url and info["pid"] == state.pid
    assert info["data_dir"] == str(data_dir()) and info["version"] == __version__
    assert info["idle_exit_seconds"] == 120  # MAKINI_SANDBOX_IDLE=2m from conftest
    assert info["uptime_seconds"] >= 0 and info["started_at"].endswith("Z")
    plain = run("sandbox", "status")
    assert plain.code == 0 and state.url in plain.stdout

    stopped = run("sandbox", "stop")
    assert stopped.code == 0, stopped
    assert f"stopped the background sandbox (pid {state.pid}" in stopped.stderr
    wait_until(lambda: not background.pid_alive(state.pid), "the server has exited")
    assert not (data_dir() / background.STATE_FILE).exists()

    again = run("sandbox", "stop")
    assert again.code == 0 and "no background sandbox is running" in again.stderr
    assert run("sandbox", "status").code == 1
    # The data survives a stop; the next run starts a new server on it.
    assert STARTED in list_connections()
    assert recorded().pid != state.pid


def test_stop_removes_a_stale_record_without_signalling(
    sleeper: subprocess.Popen[bytes],
) -> None:
    write_state(pid=sleeper.pid, url=f"http://127.0.0.1:{free_port()}")
    result = run("sandbox", "stop")
    assert result.code == 0, result
    assert "stale record" in result.stderr
    assert not (data_dir() / background.STATE_FILE).exists()
    assert sleeper.poll() is None


@needs_proc
def test_stop_also_ends_a_server_that_no_longer_answers() -> None:
    list_connections()
    state = recorded()
    os.kill(state.pid, signal.SIGSTOP)  # alive, listening, answering nothing
    try:
        result = run("sandbox", "stop")
        assert result.code == 0, result
        assert f"pid {state.pid}" in result.stderr
        wait_until(lambda: not background.pid_alive(state.pid), "the stopped server exited")
    finally:
        if background.pid_alive(state.pid):
            os.kill(state.pid, signal.SIGKILL)


def test_status_and_stop_take_a_data_dir(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    list_connections(env={"MAKINI_SANDBOX_DIR": str(other)})
    assert background.read_state(data_dir()) is None
    assert run("sandbox", "status").code == 1
    shown = run("sandbox", "status", "--data-dir", str(other), "-o", "json")
    assert shown.code == 0 and shown.json()["data_dir"] == str(other.resolve())
    assert run("sandbox", "stop", "--data-dir", str(other)).code == 0
    assert background.read_state(other) is None


def test_help_of_the_new_commands_has_examples_and_hides_the_internal_options() -> None:
    for command in ("status", "stop"):
        helped = run("sandbox", command, "--help")
        assert helped.code == 0
        assert "  Examples:\n    makini sandbox " + command in helped.stdout
        assert "--data-dir PATH" in helped.stdout
    serve_help = run("sandbox", "serve", "--help").stdout
    assert "--background" not in serve_help and "--idle-exit" not in serve_help


# ---------------------------------------------------------------------- idle exit


def test_it_exits_by_itself_after_the_idle_period() -> None:
    list_connections(env={"MAKINI_SANDBOX_IDLE": "2s"})
    state = recorded()
    assert state.idle_exit == 2.0
    wait_until(lambda: not background.pid_alive(state.pid), "the idle server exited")
    # It tidied up after itself, and said why in its log.
    assert background.read_state(data_dir()) is None
    assert "--idle-exit" in (data_dir() / background.LOG_FILE).read_text()
    assert STARTED in list_connections()


def test_a_foreground_serve_never_idles_out(tmp_path: Path) -> None:
    from tests.integration.conftest import start_sandbox, stop_sandbox

    served = start_sandbox(tmp_path / "fg")
    try:
        answer = httpx.get(f"{served.url}/sandbox/instance").json()
        assert answer["idle_exit"] is None and answer["pid"] == served.process.pid
        assert not (tmp_path / "fg" / background.STATE_FILE).exists()
    finally:
        stop_sandbox(served)


def test_a_bad_idle_setting_is_a_configuration_error() -> None:
    result = run("connections", "list", env={"MAKINI_SANDBOX_IDLE": "soon"})
    assert result.code == 3, result
    assert "MAKINI_SANDBOX_IDLE" in result.stderr
    assert background.read_state(data_dir()) is None


# ---------------------------------------------------------------------- rules kept


def test_ci_with_nothing_configured_still_exits_3_and_starts_nothing() -> None:
    result = run("connections", "list", env={"CI": "true"})
    assert result.code == 3, result
    assert not (data_dir() / background.STATE_FILE).exists()


def test_embedded_mode_serves_the_run_in_process_and_leaves_nothing_running() -> None:
    stderr = list_connections(env={"MAKINI_SANDBOX_MODE": "embedded"})
    assert STARTED not in stderr
    assert not (data_dir() / background.STATE_FILE).exists()
    bad = run("connections", "list", env={"MAKINI_SANDBOX_MODE": "sometimes"})
    assert bad.code == 3 and "MAKINI_SANDBOX_MODE" in bad.stderr


@pytest.mark.parametrize("mode", ["background", "embedded"])
def test_without_the_sandbox_extra_it_is_a_clear_configuration_error(mode: str) -> None:
    # As if `pip install makini-cli` without [sandbox]: the modules cannot be found.
    code = (
        "import sys, runpy\n"
        "sys.modules['fastapi'] = None\n"
        "sys.modules['uvicorn'] = None\n"
        "sys.argv = ['makini', 'connections', 'list']\n"
        "runpy.run_module('makini_cli', run_name='__main__')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "MAKINI_SANDBOX_MODE": mode})
    assert proc.returncode == 3, proc.stderr
    assert "makini-cli[sandbox]" in proc.stderr and "Traceback" not in proc.stderr
    assert not (data_dir() / background.STATE_FILE).exists()


def test_serve_in_the_background_binds_the_loopback_only() -> None:
    everywhere = "0.0.0.0"  # noqa: S104 - the address it must refuse
    result = run("sandbox", "serve", "--background", "--host", everywhere, "--port", "0",
                 "--data-dir", str(data_dir()))
    assert result.code == 2, result
    assert "127.0.0.1" in result.stderr
