"""Running the sandbox: `serve()` in the foreground, `EmbeddedSandbox` in a thread.

Both bind a socket before uvicorn starts, so `port=0` works and the real address is
known. Nothing binds anything but 127.0.0.1 unless a caller asks for another host, and
`serve()` refuses another host unless the client secret is strong (`check_exposure`).
Both raise one-line errors for what a user can fix: `BindError` (port taken, no such
address), `SandboxConfigError` (a weak secret on an exposed address) and `DataDirError`.
`serve()` given an `Activity` with `idle_exit` set shuts down cleanly once no request
has come for that long: that is how the shared background sandbox ends (`background.py`).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import uvicorn

from makini_cli.binding import BindError as BindError
from makini_cli.binding import bind
from makini_cli.sandbox.app import create_app
from makini_cli.sandbox.clock import SandboxClock
from makini_cli.sandbox.middleware import Activity
from makini_cli.sandbox.settings import SandboxSettings, check_exposure

logger = logging.getLogger("makini_cli.sandbox")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
STARTUP_TIMEOUT_SECONDS = 15.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0


class _Server(uvicorn.Server):
    """uvicorn's server, telling us the moment it listens, and leaving when idle."""

    def __init__(
        self,
        config: uvicorn.Config,
        on_started: Callable[[], None],
        activity: Activity | None = None,
    ) -> None:
        super().__init__(config)
        self._on_started = on_started
        self._activity = activity

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            if self._activity is not None:
                # Opening and seeding the data dir is not idle time: count from now.
                self._activity.last_request = time.monotonic()
            self._on_started()

    async def on_tick(self, counter: int) -> bool:
        # uvicorn ticks every 0.1 s; returning True starts its graceful shutdown.
        if await super().on_tick(counter):
            return True
        activity = self._activity
        idle_exit = activity.idle_exit if activity is not None else None
        idle = activity.idle_seconds() if activity is not None else 0.0
        if idle_exit is not None and idle >= idle_exit:
            logger.warning("no request for %g s (--idle-exit): the sandbox stops", idle_exit)
            self.should_exit = True
        return self.should_exit


def _base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _config(app: Any, **overrides: Any) -> uvicorn.Config:
    options: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "lifespan": "on",
        "ws": "none",
        "server_header": False,
        "timeout_graceful_shutdown": 5,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


def serve(
    settings: SandboxSettings,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    on_ready: Callable[[str], None] | None = None,
    activity: Activity | None = None,
) -> None:
    """Serve the sandbox until Ctrl-C or SIGTERM; calls `on_ready(base_url)` once listening.

    Ctrl-C shuts down gracefully (open requests finish, the database is closed) and then
    returns normally; so does an idle exit (`activity.idle_exit`).
    """
    check_exposure(settings, host)
    sock = bind(host, port)
    try:
        app = create_app(settings, activity=activity, bound_host=host)
        base_url = _base_url(sock)
        server = _Server(_config(app), lambda: on_ready(base_url) if on_ready else None, activity)
        # uvicorn shuts down cleanly on Ctrl-C, then re-raises the signal: that is the end.
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    finally:
        sock.close()


class EmbeddedSandbox:
    """The sandbox on 127.0.0.1 (ephemeral port) in a daemon thread, for one CLI run.

    `with EmbeddedSandbox(settings) as sandbox: sandbox.base_url` — ready on entry, fully
    stopped (thread joined, database closed) on exit.
    """

    def __init__(
        self,
        settings: SandboxSettings,
        *,
        clock: SandboxClock | None = None,
        embedded: bool = True,
        startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._embedded = embedded
        self._startup_timeout = startup_timeout
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._server: _Server | None = None
        self._sock: socket.socket | None = None
        self._app: Any = None
        self.base_url = ""

    def __enter__(self) -> EmbeddedSandbox:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("this sandbox was already started")
        self._sock = bind(DEFAULT_HOST, 0)
        try:
            self._app = create_app(
                self.settings, clock=self._clock, embedded=self._embedded, bound_host=DEFAULT_HOST
            )
        except BaseException:
            self._sock.close()
            raise
        self.base_url = _base_url(self._sock)
        # log_config=None: an embedded server must not reconfigure the host's logging.
        self._server = _Server(_config(self._app, log_config=None), self._ready.set)
        self._thread = threading.Thread(target=self._run, name="makini-sandbox", daemon=True)
        self._thread.start()
        self._ready.wait(self._startup_timeout)
        if not self._server.started:
            self.stop()
            raise RuntimeError("the embedded sandbox did not start") from self._error

    def _run(self) -> None:
        assert self._server is not None and self._sock is not None
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc
        finally:
            self._ready.set()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(SHUTDOWN_TIMEOUT_SECONDS)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(SHUTDOWN_TIMEOUT_SECONDS)
        if self._sock is not None:
            self._sock.close()
        if self._app is not None:
            # Normally closed by the app's lifespan; this covers a server that never started.
            self._app.state.runtime.store.close()
