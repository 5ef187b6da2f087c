"""Keys typed at a terminal while a live view runs, read without blocking the view.

`TerminalKeys` puts the terminal into cbreak mode (keys arrive one by one, unechoed; Ctrl-C
still raises KeyboardInterrupt) for the time of a `with` block and always restores the
modes it found, also when the block ends in an exception or Ctrl-C. `read(timeout)` waits
with select() for a key or the timeout, so a view that waits on it uses no CPU between
redraws. A resize of the terminal (SIGWINCH) wakes the wait early, so the view redraws at
the new width at once.

When stdin is no terminal (or is closed), nothing is read and `read` only waits: select()
on a file at its end would answer at once, forever, and spin.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from types import FrameType, TracebackType
from typing import Any, Protocol, TextIO

#: What a key press of Ctrl-C reads as, should it arrive as a byte (signals turned off).
CTRL_C = "\x03"


class KeyReader(Protocol):
    """What a live view needs of the keyboard; tests give a scripted one."""

    def __enter__(self) -> KeyReader: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...

    def read(self, timeout: float) -> str:
        """Wait up to `timeout` seconds for keys; the keys typed ("" when none)."""
        ...


class TerminalKeys:
    """Keys from `stream` (the run's stdin) when it is a terminal."""

    def __init__(self, stream: TextIO, *, is_tty: bool | None = None) -> None:
        self._stream = stream
        self._is_tty = is_tty
        self._fd: int | None = None
        self._saved: list[Any] | None = None
        # The self-pipe SIGWINCH writes to (signal.set_wakeup_fd), and what it replaced.
        self._wake: tuple[int, int] | None = None
        self._old_wakeup_fd = -1
        self._old_winch: Any = None

    def __enter__(self) -> TerminalKeys:
        fd = self._terminal_fd()
        if fd is None:
            return self
        import termios
        import tty

        self._saved = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd, termios.TCSANOW)
        except BaseException:
            self._restore(fd)
            raise
        self._fd = fd
        self._watch_resizes()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            self._unwatch_resizes()
        finally:
            if self._fd is not None:
                self._restore(self._fd)
                self._fd = None

    def read(self, timeout: float) -> str:
        timeout = max(0.0, timeout)
        watched = [fd for fd in (self._fd, self._wake[0] if self._wake else None) if fd is not None]
        if not watched:
            time.sleep(timeout)
            return ""
        ready, _, _ = select.select(watched, [], [], timeout)
        if self._wake is not None and self._wake[0] in ready:
            with contextlib.suppress(OSError):
                os.read(self._wake[0], 512)  # drained: the wake-up itself is the news
        if self._fd is None or self._fd not in ready:
            return ""
        try:
            data = os.read(self._fd, 64)
        except OSError:
            data = b""
        if not data:
            # The terminal went away (its window closed): stop listening, or every later
            # select() would answer at once.
            self._restore(self._fd)
            self._fd = None
            return ""
        return data.decode(errors="replace")

    # ------------------------------------------------------------------ internals

    def _terminal_fd(self) -> int | None:
        try:
            fd = self._stream.fileno()
        except (AttributeError, ValueError, OSError):
            return None
        if self._is_tty is False or not os.isatty(fd):
            return None
        try:
            import termios  # noqa: F401  (not on Windows: no keys there, the view still runs)
        except ImportError:
            return None
        return fd

    def _restore(self, fd: int) -> None:
        if self._saved is None:
            return
        import termios

        with contextlib.suppress(termios.error, OSError):
            # TCSADRAIN: what the view wrote last reaches the screen in the old modes' order.
            termios.tcsetattr(fd, termios.TCSADRAIN, self._saved)
        self._saved = None

    def _watch_resizes(self) -> None:
        """Let SIGWINCH wake `read` through a pipe; only the main thread may set this up,
        and elsewhere a resize shows at the next redraw instead."""
        if not hasattr(signal, "SIGWINCH"):
            return
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        os.set_blocking(write_end, False)
        try:
            self._old_winch = signal.signal(signal.SIGWINCH, _ignore) or signal.SIG_DFL
            self._old_wakeup_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        except ValueError:  # not the main thread
            if self._old_winch is not None:
                signal.signal(signal.SIGWINCH, self._old_winch)
            self._old_winch = None
            os.close(read_end)
            os.close(write_end)
            return
        self._wake = (read_end, write_end)

    def _unwatch_resizes(self) -> None:
        if self._wake is None:
            return
        try:
            signal.set_wakeup_fd(self._old_wakeup_fd)
            signal.signal(signal.SIGWINCH, self._old_winch)
        finally:
            for fd in self._wake:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._wake = None
            self._old_winch = None


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A Python-level SIGWINCH handler: it does nothing, but with one installed the signal
    reaches the wake-up pipe."""


class NoKeys:
    """No keyboard: `read` only waits (a view driven by a script, or tests)."""

    def __init__(self, sleep: Any = time.sleep) -> None:
        self._sleep = sleep

    def __enter__(self) -> NoKeys:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        return None

    def read(self, timeout: float) -> str:
        self._sleep(max(0.0, timeout))
        return ""
