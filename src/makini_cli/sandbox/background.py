"""The shared background sandbox: found or started on first use, gone after idle minutes.

With nothing configured every run talks to the bundled sandbox. Starting FastAPI and
uvicorn in-process costs over a second per run, so instead the first run starts
`makini sandbox serve --background` as a detached process on 127.0.0.1 (ephemeral port)
and every later run on the same data dir reuses it. It stops itself after
`MAKINI_SANDBOX_IDLE` (default 15m) without a request; `makini sandbox stop` stops it now.

Files this module keeps in the data dir (0600; the dir is made 0700):

- `server.json`, the state file: pid, url, instance id, version, data dir, started_at,
  idle_exit. The server writes it once it listens (the starting run holds the lock and
  waits for it), and removes it when it idles out; `stop` removes it before signalling.
- `server.lock`: every "find or start", replacement and stop holds it, so two runs that
  start at once share one server: the second waits, then finds the first's.
- `server.log`: the server's output, truncated at each start; a failed start quotes it.

A state file is trusted only after `GET /sandbox/instance` on its URL answers with the
same instance id and pid, this version and this data dir: a pid can be reused and a port
can be taken by another program. A dead pid, a refused port or a stranger's answer
means the file is stale: it is replaced, and nothing is signalled. A server that proves
to be ours but runs another version (an upgrade) is stopped, then replaced. One whose
command line (Linux /proc) shows it is ours but that no longer answers within
PROBE_TIMEOUT_SECONDS is asked to exit (SIGTERM) and replaced without waiting for it.

This module runs on every sandbox-backed CLI run, before the HTTP client exists: it
imports nothing heavy (no FastAPI, uvicorn, httpx or pydantic), and probes with one raw
socket request. `MAKINI_SANDBOX_MODE=embedded` skips it all and runs the sandbox in-process
for the one run, as before (tests that need a ManualClock use `EmbeddedSandbox` directly).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from makini_cli import __version__
from makini_cli.config.files import locked, write_private
from makini_cli.errors import ConfigError, UnavailableError, UsageError

if TYPE_CHECKING:
    import subprocess

STATE_FILE = "server.json"
LOCK_FILE = "server.lock"
LOG_FILE = "server.log"

IDLE_ENV = "MAKINI_SANDBOX_IDLE"
MODE_ENV = "MAKINI_SANDBOX_MODE"
MODES = ("background", "embedded")
DEFAULT_IDLE_SECONDS = 15 * 60.0

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 30.0
# Generous: on a loaded machine a healthy server can take a while to answer, and a
# false "not answering" starts a second server on the same data dir.
PROBE_TIMEOUT_SECONDS = 3.0
STOP_TIMEOUT_SECONDS = 10.0
_POLL_SECONDS = 0.02
_MAX_PROBE_BYTES = 64 * 1024

#: Environment the server keeps from the run that starts it: where the config lives (its
#: `serve` command resolves settings) and the keyring switch. Other MAKINI_* values are
#: this run's business (a MAKINI_SANDBOX_CLIENT_SECRET would lock out the demo client),
#: and secrets have no reason to sit in a long-lived process's environment.
_KEPT_ENV = ("MAKINI_CONFIG_DIR", "MAKINI_CACHE_DIR", "MAKINI_NO_KEYRING")

#: Servers this process started, held for its whole life: a Popen collected while its
#: child runs makes Python warn, and `pid_alive` polls these (reaping them) instead of
#: mistaking our own exited child, a zombie until reaped, for a live server.
_children: list[subprocess.Popen[bytes]] = []


@dataclass(frozen=True)
class ServerState:
    """What `server.json` says about the background sandbox of a data dir."""

    pid: int
    url: str
    instance: str
    version: str
    data_dir: str
    started_at: float
    idle_exit: float | None

    @classmethod
    def parse(cls, raw: bytes) -> ServerState | None:
        """None for anything that is not a state file this version can use."""
        try:
            data = json.loads(raw)
            state = cls(
                pid=int(data["pid"]),
                url=str(data["url"]),
                instance=str(data["instance"]),
                version=str(data["version"]),
                data_dir=str(data["data_dir"]),
                started_at=float(data["started_at"]),
                idle_exit=None if data.get("idle_exit") is None else float(data["idle_exit"]),
            )
        except (ValueError, TypeError, KeyError):
            return None
        # Only ever talk to the loopback: the file is ours, but a URL is cheap to check.
        if urlsplit(state.url).hostname != HOST or state.pid <= 0:
            return None
        return state

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode() + b"\n"


@dataclass(frozen=True)
class Running:
    """The background sandbox a run uses; `started` when this run had to start it."""

    state: ServerState
    started: bool
    replaced: str | None = None  # why an existing state file was not used


@dataclass(frozen=True)
class Stopped:
    state: ServerState
    signalled: bool  # False: only a stale state file was removed
    killed: bool = False  # it ignored SIGTERM for STOP_TIMEOUT_SECONDS


# ---------------------------------------------------------------------- settings


def mode(env: Mapping[str, str]) -> str:
    """`background` (default) or `embedded` (in-process, one run), from MAKINI_SANDBOX_MODE."""
    value = env.get(MODE_ENV, "").strip().lower() or "background"
    if value not in MODES:
        raise ConfigError(
            f"{MODE_ENV}={env.get(MODE_ENV)!r} is not a sandbox mode",
            hint=f"set {MODE_ENV} to background or embedded, or unset it",
        )
    return value


def idle_exit_seconds(env: Mapping[str, str]) -> float:
    """How long a newly started background sandbox waits for a request before it exits."""
    from makini_cli.durations import parse_duration

    text = env.get(IDLE_ENV, "").strip()
    if not text:
        return DEFAULT_IDLE_SECONDS
    try:
        return parse_duration(text, flag=IDLE_ENV)
    except UsageError as exc:
        raise ConfigError(exc.message, hint=exc.hint) from None


def data_paths(data_dir: Path) -> tuple[Path, Path, Path]:
    """(state file, lock file, log file) of a data dir."""
    return data_dir / STATE_FILE, data_dir / LOCK_FILE, data_dir / LOG_FILE


def _resolved(data_dir: Path) -> Path:
    return data_dir.expanduser().resolve()


@contextlib.contextmanager
def _lock(data_dir: Path) -> Iterator[None]:
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the sandbox data directory {data_dir}: {exc.strerror or exc}",
            hint="check its permissions, or set MAKINI_SANDBOX_DIR to a writable directory",
        ) from exc
    with locked(data_dir / LOCK_FILE):
        yield


# ---------------------------------------------------------------------- state file


def read_state(data_dir: Path) -> ServerState | None:
    try:
        raw = (data_dir / STATE_FILE).read_bytes()
    except OSError:
        return None
    return ServerState.parse(raw)


def announce(
    data_dir: Path, *, url: str, instance: str, started_at: float, idle_exit: float | None
) -> None:
    """Called by the server once it listens. It must not take the lock: the run that
    started it holds the lock until this file appears."""
    state = ServerState(
        pid=os.getpid(),
        url=url,
        instance=instance,
        version=__version__,
        data_dir=str(_resolved(data_dir)),
        started_at=started_at,
        idle_exit=idle_exit,
    )
    write_private(data_dir / STATE_FILE, state.to_json())


def forget(data_dir: Path, instance: str) -> None:
    """Called by the server as it exits: remove the state file if it still names this
    server (a run may already have replaced it with a newer one's)."""
    if not data_dir.is_dir():
        return  # removed while it ran: nothing to tidy, and nothing to recreate
    with _lock(data_dir):
        state = read_state(data_dir)
        if state is not None and state.instance == instance:
            _remove_state(data_dir)


def _remove_state(data_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (data_dir / STATE_FILE).unlink()


# ---------------------------------------------------------------------- probing


def probe(state: ServerState, timeout: float = PROBE_TIMEOUT_SECONDS) -> dict[str, Any] | None:
    """The server's `/sandbox/instance` answer if the server at `state.url` is the one the
    state file names (same instance id and pid), else None (dead, refusing, a stranger)."""
    answer = _get_json(state.url, "/sandbox/instance", timeout)
    if not isinstance(answer, dict):
        return None
    if answer.get("instance") != state.instance or answer.get("pid") != state.pid:
        return None
    return answer


def _get_json(url: str, path: str, timeout: float) -> Any:
    """GET over one raw socket, `Connection: close`: cheaper than importing an HTTP client
    on a path every sandbox run takes. None for anything but a 200 with a JSON body."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    if host != HOST or port is None:
        return None
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n"
        f"User-Agent: makini-cli/{__version__}\r\nConnection: close\r\n\r\n"
    ).encode()
    received = bytearray()
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(request)
            while len(received) <= _MAX_PROBE_BYTES:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
                chunk = sock.recv(8192)
                if not chunk:
                    break
                received += chunk
            else:
                return None
    except OSError:
        return None
    head, sep, body = bytes(received).partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    if not sep or len(status_line) < 2 or status_line[1] != b"200":
        return None
    if b"transfer-encoding: chunked" in head.lower():
        return None  # our server sends a Content-Length; anything else is not ours
    try:
        return json.loads(body)
    except ValueError:
        return None


def _judge(state: ServerState, data_dir: Path) -> tuple[str, str]:
    """What to do with the recorded server, and why: `reuse`; `stale` (replace it, signal
    nothing: its pid may be a stranger's now); `retire` (proven ours but another version:
    stop it, then replace it); `abandon` (ours by its command line, but it no longer
    answers: ask it to exit, and replace it without waiting)."""
    if not pid_alive(state.pid):
        return "stale", "its process is gone"
    answer = probe(state)
    if answer is None:
        if is_background_server(state.pid, data_dir):
            return "abandon", "it stopped answering"
        return "stale", "its port answers as something else, or not at all"
    if answer.get("data_dir") != str(data_dir):
        return "stale", "it serves another data dir"
    if answer.get("version") != __version__:
        return "retire", f"it runs makini {answer.get('version')}"
    return "reuse", ""


# ---------------------------------------------------------------------- processes


def pid_alive(pid: int) -> bool:
    for child in _children:
        if child.pid == pid:
            return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's: certainly not our server, but alive
    except OSError:
        return False
    # A zombie keeps its pid until its parent reaps it (an init that never reaps, in some
    # containers): it serves nothing, so it counts as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    fields = stat.rpartition(")")[2].split()
    return not fields or fields[0] not in ("Z", "X")


def is_background_server(pid: int, data_dir: Path) -> bool:
    """Whether `pid` runs `sandbox serve --background` on this data dir (Linux only): how a
    server that no longer answers is told apart from a stranger that reused its pid."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    words = [arg.decode(errors="replace") for arg in argv]
    if "--background" not in words or "--data-dir" not in words:
        return False
    at = words.index("--data-dir") + 1
    return at < len(words) and _resolved(Path(words[at])) == _resolved(data_dir)


def _ask_to_exit(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        # A stopped process (Ctrl-Z, SIGSTOP) only acts on SIGTERM once resumed.
        if hasattr(signal, "SIGCONT"):
            os.kill(pid, signal.SIGCONT)


def _terminate(pid: int, timeout: float = STOP_TIMEOUT_SECONDS) -> bool:
    """SIGTERM, wait, then SIGKILL. True when it had to be killed. Call only for a pid
    proven to be our server."""
    _ask_to_exit(pid)
    if _wait_gone(pid, timeout):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    _wait_gone(pid, 5.0)
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)
    return True


# ---------------------------------------------------------------------- find or start


def ensure_running(data_dir: Path, env: Mapping[str, str] | None = None) -> Running:
    """The background sandbox of `data_dir`, started if none is usable."""
    env = os.environ if env is None else env
    idle = idle_exit_seconds(env)
    # Absolute: the server runs with the data dir as its working directory.
    data_dir = _resolved(data_dir)
    with _lock(data_dir):
        replaced = None
        state = read_state(data_dir)
        if state is not None:
            action, replaced = _judge(state, data_dir)
            if action == "reuse":
                return Running(state, started=False)
            if action == "retire":
                _terminate(state.pid)
            elif action == "abandon":
                _ask_to_exit(state.pid)
            _remove_state(data_dir)
        elif (data_dir / STATE_FILE).exists():
            replaced = "its state file is unreadable"
            _remove_state(data_dir)
        return Running(_start(data_dir, idle, env), started=True, replaced=replaced)


def _require_sandbox_extra() -> None:
    import importlib.util

    if any(importlib.util.find_spec(name) is None for name in ("fastapi", "uvicorn")):
        raise ConfigError(
            "the bundled sandbox is not installed",
            hint="pip install 'makini-cli[sandbox]', or choose a server with --base-url",
        )


def _child_env(env: Mapping[str, str]) -> dict[str, str]:
    child = {k: v for k, v in env.items() if not k.startswith("MAKINI_") or k in _KEPT_ENV}
    # Run this very code, also from a source tree that is not installed.
    package_root = str(Path(__file__).resolve().parents[2])
    path = env.get("PYTHONPATH")
    child["PYTHONPATH"] = package_root + (os.pathsep + path if path else "")
    return child


def _start(data_dir: Path, idle: float, env: Mapping[str, str]) -> ServerState:
    import subprocess

    _require_sandbox_extra()
    log_path = data_dir / LOG_FILE
    argv = [
        sys.executable,
        "-m",
        "makini_cli",
        "sandbox",
        "serve",
        "--background",
        "--host",
        HOST,
        "--port",
        "0",
        "--data-dir",
        str(data_dir),
        "--idle-exit",
        f"{idle:g}s",
    ]
    # O_APPEND: a server being replaced may still write its last lines to the same file.
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            # Its own session: a Ctrl-C meant for this run must not reach the server.
            start_new_session=True,
            cwd=data_dir,
            env=_child_env(env),
        )
    finally:
        os.close(log_fd)
    _children.append(proc)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        state = read_state(data_dir)
        if state is not None and state.pid == proc.pid:
            return state
        code = proc.poll()
        if code is not None:
            raise UnavailableError(
                f"the bundled sandbox exited while starting (exit {code})",
                code="SANDBOX_START_FAILED",
                hint=f"see {log_path}{_last_line(log_path)}",
            )
        if time.monotonic() >= deadline:
            proc.kill()
            proc.wait()
            raise UnavailableError(
                f"the bundled sandbox did not start within {START_TIMEOUT_SECONDS:g} s",
                code="SANDBOX_START_FAILED",
                hint=f"see {log_path}{_last_line(log_path)}",
            )
        time.sleep(_POLL_SECONDS)


def _last_line(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return f": {lines[-1].strip()[:200]}" if lines else ""


# ---------------------------------------------------------------------- status, stop


def status(data_dir: Path) -> tuple[ServerState, dict[str, Any]] | None:
    """The running background sandbox and its own account of itself, or None."""
    state = read_state(_resolved(data_dir))
    if state is None or not pid_alive(state.pid):
        return None
    answer = probe(state)
    return None if answer is None else (state, answer)


def stop(data_dir: Path, timeout: float = STOP_TIMEOUT_SECONDS) -> Stopped | None:
    """Stop the background sandbox of `data_dir`; None when there was no state file.

    The state file goes under the lock, so no run picks the dying server; the wait for
    it to exit happens after, so the lock is not held for seconds (the exiting server
    itself takes the lock to tidy up)."""
    data_dir = _resolved(data_dir)
    if not data_dir.is_dir():
        return None
    with _lock(data_dir):
        state = read_state(data_dir)
        if state is None:
            _remove_state(data_dir)  # an unreadable one, if any: no run can use it
            return None
        ours = pid_alive(state.pid) and (
            probe(state) is not None or is_background_server(state.pid, data_dir)
        )
        _remove_state(data_dir)
    if not ours:
        return Stopped(state, signalled=False)
    return Stopped(state, signalled=True, killed=_terminate(state.pid, timeout))
