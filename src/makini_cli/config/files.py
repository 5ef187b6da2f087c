"""Private files written atomically under an inter-process lock.

Parallel CI jobs share one config directory, so every read-modify-write of a file there
happens under an exclusive lock on a sibling lock file, and lands with `os.replace` so a
reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from makini_cli.errors import ConfigError

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def ensure_private_dir(path: Path) -> None:
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        # mkdir's mode is filtered by the umask, and an existing directory keeps its mode.
        os.chmod(path, PRIVATE_DIR_MODE)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the directory {path}: {exc.strerror or exc}",
            hint="check its permissions, or set MAKINI_CONFIG_DIR to a writable directory",
        ) from exc


@contextlib.contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    ensure_private_dir(lock_path.parent)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        _lock(fd)
        yield
    finally:
        _unlock(fd)
        os.close(fd)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def read_bytes_or_none(path: Path) -> bytes | None:
    """The file's bytes, None if it does not exist, a ConfigError if it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror or exc}",
            hint="check the file's permissions",
        ) from exc


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically; the result is 0600 from its first byte."""
    import tempfile  # only writes need it, and most runs only read

    ensure_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE) if hasattr(os, "fchmod") else None
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
