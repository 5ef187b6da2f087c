"""Secrets: the OS keyring when it works, else a 0600 credentials file beside the config.

Keyring back ends can hang (a locked desktop keyring waiting for a prompt that never comes
in CI), so every call runs in a worker thread with a bounded wait. When the keyring is
missing, refuses or times out, secrets go to the credentials file, and `auth status` says
they are stored in plain text.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from makini_cli.config import paths
from makini_cli.config.files import locked, read_bytes_or_none, write_private
from makini_cli.errors import ConfigError

SERVICE = "makini-cli"
KEYRING_TIMEOUT_S = 3.0

T = TypeVar("T")


class SecretBackend(Protocol):
    name: str
    plain_text: bool

    def get(self, name: str) -> str | None: ...
    def set(self, name: str, value: str) -> None: ...
    def delete(self, name: str) -> None: ...


class KeyringUnavailable(Exception):
    pass


class KeyringBackend:
    name = "keyring"
    plain_text = False

    def __init__(self, timeout: float = KEYRING_TIMEOUT_S) -> None:
        self.timeout = timeout
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)

    def _call(self, fn: Callable[[], T]) -> T:
        future = self._pool.submit(fn)
        try:
            return future.result(timeout=self.timeout)
        except concurrent.futures.TimeoutError as exc:
            raise KeyringUnavailable(
                f"the keyring did not answer within {self.timeout:g} s"
            ) from exc
        except KeyringUnavailable:
            raise
        except Exception as exc:
            raise KeyringUnavailable(f"the keyring failed: {type(exc).__name__}") from exc

    def probe(self) -> None:
        def check() -> None:
            import keyring
            from keyring.backends import fail

            backend = keyring.get_keyring()
            names = {type(backend).__module__ + "." + type(backend).__name__}
            for inner in getattr(backend, "backends", []) or []:
                names.add(type(inner).__module__ + "." + type(inner).__name__)
            if isinstance(backend, fail.Keyring) or any("null" in n or "fail" in n for n in names):
                raise KeyringUnavailable("no usable keyring back end")
            if getattr(backend, "backends", None) == []:
                raise KeyringUnavailable("no usable keyring back end")

        self._call(check)

    def get(self, name: str) -> str | None:
        value: str | None = self._call(lambda: _keyring_module().get_password(SERVICE, name))
        return value

    def set(self, name: str, value: str) -> None:
        self._call(lambda: _keyring_module().set_password(SERVICE, name, value))

    def delete(self, name: str) -> None:
        def remove() -> None:
            import keyring.errors

            with contextlib.suppress(keyring.errors.PasswordDeleteError):
                _keyring_module().delete_password(SERVICE, name)

        self._call(remove)


def _keyring_module() -> Any:
    import keyring

    return keyring


class FileBackend:
    """A JSON object of name → secret in a 0600 file, rewritten atomically under the lock."""

    name = "file"
    plain_text = True

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.credentials_file()
        self.lock_path = self.path.parent / paths.LOCK_FILE_NAME

    def _read(self) -> dict[str, str]:
        raw = read_bytes_or_none(self.path)
        if raw is None:
            return {}
        try:
            data = json.loads(raw) if raw.strip() else {}
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if isinstance(exc, UnicodeDecodeError):
                raise ConfigError(
                    f"{self.path} is not UTF-8 text",
                    hint="remove the file and run `makini auth login` again",
                ) from exc
            raise ConfigError(
                f"{self.path}: invalid JSON at line {exc.lineno}: {exc.msg}",
                hint="fix the file, or remove it and run `makini auth login` again",
            ) from exc
        if not isinstance(data, dict):
            raise ConfigError(
                f"{self.path}: expected a JSON object",
                hint="remove the file and run `makini auth login` again",
            )
        return {str(k): str(v) for k, v in data.items()}

    def get(self, name: str) -> str | None:
        return self._read().get(name)

    def names(self) -> list[str]:
        return list(self._read())

    def set(self, name: str, value: str) -> None:
        with locked(self.lock_path):
            data = self._read()
            data[name] = value
            write_private(self.path, json.dumps(data, indent=2, sort_keys=True).encode())

    def delete(self, name: str) -> None:
        with locked(self.lock_path):
            data = self._read()
            if data.pop(name, None) is not None:
                write_private(self.path, json.dumps(data, indent=2, sort_keys=True).encode())


class SecretStore:
    """Reads from whichever back end holds a secret; writes to the keyring when usable."""

    def __init__(
        self,
        keyring_backend: SecretBackend | None = None,
        file_backend: FileBackend | None = None,
        *,
        use_keyring: bool | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        if use_keyring is None:
            use_keyring = os.environ.get("MAKINI_NO_KEYRING", "") in ("", "0", "false")
        self._keyring: SecretBackend | None = None
        self._keyring_checked = not use_keyring
        self._keyring_candidate = keyring_backend
        self.file = file_backend or FileBackend()
        self._warn = warn
        self.keyring_problem: str | None = None if use_keyring else "disabled by MAKINI_NO_KEYRING"

    def _usable_keyring(self) -> SecretBackend | None:
        if not self._keyring_checked:
            self._keyring_checked = True
            candidate = self._keyring_candidate or KeyringBackend()
            try:
                if isinstance(candidate, KeyringBackend):
                    candidate.probe()
                self._keyring = candidate
            except KeyringUnavailable as exc:
                self.keyring_problem = str(exc)
        return self._keyring

    def _keyring_failed(self, exc: KeyringUnavailable) -> None:
        self._keyring = None
        self.keyring_problem = str(exc)
        if self._warn:
            self._warn(f"{exc}; using the plain-text credentials file {self.file.path}")

    @property
    def plain_text(self) -> bool:
        return self._usable_keyring() is None

    def get(self, name: str) -> str | None:
        keyring = self._usable_keyring()
        if keyring is not None:
            try:
                value = keyring.get(name)
                if value is not None:
                    return value
            except KeyringUnavailable as exc:
                self._keyring_failed(exc)
        return self.file.get(name)

    def where(self, name: str) -> str | None:
        """Which back end holds `name`: 'keyring', 'file' or None."""
        keyring = self._usable_keyring()
        if keyring is not None:
            try:
                if keyring.get(name) is not None:
                    return "keyring"
            except KeyringUnavailable as exc:
                self._keyring_failed(exc)
        return "file" if self.file.get(name) is not None else None

    def set(self, name: str, value: str) -> None:
        keyring = self._usable_keyring()
        if keyring is not None:
            try:
                keyring.set(name, value)
                # A stale plain-text copy must not outlive the move into the keyring.
                if self.file.path.exists():
                    self.file.delete(name)
                return
            except KeyringUnavailable as exc:
                self._keyring_failed(exc)
        self.file.set(name, value)

    def delete(self, name: str) -> None:
        keyring = self._usable_keyring()
        if keyring is not None:
            try:
                keyring.delete(name)
            except KeyringUnavailable as exc:
                self._keyring_failed(exc)
        if self.file.path.exists():
            self.file.delete(name)
