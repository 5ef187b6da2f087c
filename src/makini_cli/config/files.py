"""Private files written atomically under an inter-process lock.

Parallel CI jobs share one config directory, so every read-modify-write of a file there
happens under an exclusive lock on a sibling lock file, and lands with `os.replace` so a
reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from makini_cli.errors import ConfigError

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
TEMP_SUFFIX = ".tmp"
#: A temp file whose writer may still run is kept until it is this old: writing a small
#: file never takes that long, and the pid in its name may have been reused since.
STALE_TEMP_AGE_S = 3600.0
#: When this process started (near enough: this module is imported at start-up). Temp
#: files named before writers put their pid in the name are stale when older than this.
_STARTED_AT = time.time()
#: What follows `.{name}.` in a temp file's name: `{pid}.{mkstemp's 8 random characters}`,
#: or (from versions before the pid was added) the random characters alone.
_TEMP_MIDDLE = re.compile(r"^(?:(?P<pid>[0-9]+)\.)?[a-z0-9_]{8}$")
#: O_NOFOLLOW: a lock file planted as a symlink must not make makini create or lock the
#: file it points to. O_CLOEXEC: a child process (the background sandbox) must not inherit
#: the descriptor, and with it the lock.
_LOCK_OPEN_FLAGS = (
    os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
)


def ensure_private_dir(path: Path) -> None:
    """Create `path` with mode 0700 if it is missing. A directory that already exists
    keeps its mode: MAKINI_CONFIG_DIR may name a directory the user set up (shared with
    a group, say), and it is theirs to decide."""
    if path.is_dir():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            if path.is_dir():
                return  # another process created it a moment ago; it sets the mode
            raise
        # mkdir's mode is filtered by the umask; this directory is ours, so make it exact.
        os.chmod(path, PRIVATE_DIR_MODE)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the directory {path}: {exc.strerror or exc}",
            hint="check its permissions, or set MAKINI_CONFIG_DIR to a writable directory",
        ) from exc


@contextlib.contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    ensure_private_dir(lock_path.parent)
    try:
        fd = os.open(lock_path, _LOCK_OPEN_FLAGS, PRIVATE_FILE_MODE)
    except OSError as exc:
        raise _lock_error(lock_path, exc) from exc
    try:
        try:
            _lock(fd)
        except OSError as exc:
            raise _lock_error(lock_path, exc) from exc
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def _lock_error(lock_path: Path, exc: OSError) -> ConfigError:
    if lock_path.is_symlink():
        why = "it is a symbolic link, which makini does not follow"
    elif lock_path.is_dir():
        why = "it is a directory"
    else:
        why = str(exc.strerror or exc)
    return ConfigError(
        f"cannot use the lock file {lock_path}: {why}",
        hint=f"remove {lock_path}; makini creates it again as a plain file",
    )


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
    """Replace `path` with `data` atomically; the result is 0600 from its first byte.

    Through a symlink, the file it points to is replaced (the link stays). Temp files a
    killed writer left beside the file go first: they may hold a secret."""
    import tempfile  # only writes need it, and most runs only read

    ensure_private_dir(path.parent)
    target = _write_target(path)
    remove_stale_temps(target)
    try:
        # The pid in the name tells a later run whether the writer is gone (kill -9).
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.{os.getpid()}.", suffix=TEMP_SUFFIX, dir=target.parent
        )
    except OSError as exc:
        raise _write_error(path, exc) from exc
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE) if hasattr(os, "fchmod") else None
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from exc
        raise
    _fsync_dir(target.parent)


def _write_error(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        f"cannot write {path}: {exc.strerror or exc}",
        hint="check the directory's permissions and free space",
    )


def _write_target(path: Path) -> Path:
    """The file a write replaces. A symlinked config.toml (kept in a dotfiles repository,
    say) must stay a link, so the write goes to the file it points to; the temp file
    goes beside that file, since a rename cannot cross file systems."""
    if not path.is_symlink():
        return path
    target = Path(os.path.realpath(path))
    if target.is_symlink():  # realpath gives up on a loop and returns a link
        raise ConfigError(
            f"cannot write {path}: its symbolic links form a loop",
            hint=f"point {path} at a file, or remove the link",
        )
    return target


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable: until the directory entry reaches the disk, a power
    loss can bring back the old file (or, for a new one, none)."""
    if sys.platform == "win32":  # pragma: no cover - directories cannot be opened there
        return
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # the data is written; durability of the entry is best effort
    try:
        with contextlib.suppress(OSError):  # some file systems refuse it (EINVAL)
            os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temps(path: Path) -> list[Path]:
    """Remove the temp files that writers of `path` killed mid-write left beside it (named
    `.{name}.{pid}.XXXXXXXX.tmp`), and return them. credentials.json's hold a secret.

    A temp file is stale when its writer's process is gone, or when it is older than
    STALE_TEMP_AGE_S (its pid may belong to another process by now). One without a pid,
    from an older makini, is stale when older than this process. A live writer's file is
    left alone: caches are written without the lock, so one may be mid-write right now."""
    prefix = f".{path.name}."
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return []
    removed: list[Path] = []
    now = time.time()
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(TEMP_SUFFIX)):
            continue
        match = _TEMP_MIDDLE.match(name[len(prefix) : -len(TEMP_SUFFIX)])
        if match is None:
            continue  # another file's temp (`.config.toml.…` is not `.config.…`'s)
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        pid = match.group("pid")
        if pid is None:
            stale = info.st_mtime < _STARTED_AT
        else:
            writer = int(pid)
            gone = writer != os.getpid() and not _pid_alive(writer)
            stale = gone or now - info.st_mtime > STALE_TEMP_AGE_S
        if stale:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - os.kill would end the process there
        return True  # the age limit decides instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. EPERM: it exists, and belongs to another user
    return True
