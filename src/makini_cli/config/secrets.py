"""Secrets: the OS keyring when it works, else a 0600 credentials file beside the config.

Keyring back ends can hang (a locked desktop keyring waiting for a prompt that never comes
in CI), so every call runs in a daemon thread with a bounded wait. When the keyring is
missing, refuses or times out, secrets go to the credentials file, and `auth status` says
they are stored in plain text.

A keyring cannot list its entries, so the names (never the values) of the secrets stored
for each profile are kept in an index file beside the config: logout and `profile delete`
remove every one of them, per-connection tokens and tokens cached for an earlier base URL
included.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from makini_cli.config import paths
from makini_cli.config.credentials import profile_of
from makini_cli.config.files import locked, read_bytes_or_none, remove_stale_temps, write_private
from makini_cli.errors import CliError, ConfigError

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

    def _call(self, fn: Callable[[], T]) -> T:
        """Run `fn` in a thread of its own and wait at most `timeout` for it.

        A daemon thread, and not a pool's worker: the interpreter joins pool workers at
        exit, so a keyring that never answers kept the process alive after its output.
        A call given up on is abandoned; the process ends without waiting for it."""
        done = threading.Event()
        results: list[T] = []
        errors: list[BaseException] = []

        def run() -> None:
            try:
                results.append(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                errors.append(exc)
            finally:
                done.set()

        threading.Thread(target=run, name="makini-keyring", daemon=True).start()
        if not done.wait(self.timeout):
            raise KeyringUnavailable(f"the keyring did not answer within {self.timeout:g} s")
        if errors:
            exc = errors[0]
            if isinstance(exc, KeyringUnavailable):
                raise exc
            raise KeyringUnavailable(f"the keyring failed: {type(exc).__name__}") from exc
        return results[0]

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
        self.delete_many([name])

    def delete_many(self, names: Iterable[str]) -> None:
        """One rewrite for many names: a logout may remove dozens of cached tokens."""
        with locked(self.lock_path):
            data = self._read()
            removed = [data.pop(name) for name in set(names) if name in data]
            if removed:
                write_private(self.path, json.dumps(data, indent=2, sort_keys=True).encode())


class SecretIndex:
    """Which secret names were stored for each profile, and where: `keyring` or `file`.

    A 0600 JSON file beside the config that holds names only, never a value:
    `{"version": 1, "profiles": {"prod": {"prod:client_secret": "keyring", …}}}`.
    A name is listed before its secret is written and unlisted only once it is removed
    everywhere it may be, so a crash in between leaves a name to remove, never a secret
    nobody knows of. A name marked `keyring` stays listed until the keyring confirms its
    removal, so a logout where the keyring cannot be reached can be repeated."""

    def __init__(self, path: Path, lock_path: Path) -> None:
        self.path = path
        self.lock_path = lock_path

    def _read(self) -> dict[str, dict[str, str]]:
        """The index; an unreadable or damaged one counts as empty (it is ours, holds
        nothing the user wrote, and must never stop a login or a logout)."""
        try:
            raw = read_bytes_or_none(self.path)
        except ConfigError:
            return {}
        try:
            data = json.loads(raw) if raw else {}
        except (ValueError, UnicodeDecodeError):
            return {}
        profiles = data.get("profiles") if isinstance(data, dict) else None
        if not isinstance(profiles, dict):
            return {}
        return {
            str(profile): {str(n): str(w) for n, w in names.items()}
            for profile, names in profiles.items()
            if isinstance(names, dict)
        }

    def _write(self, profiles: dict[str, dict[str, str]]) -> None:
        doc = {"version": 1, "profiles": {p: n for p, n in sorted(profiles.items()) if n}}
        write_private(self.path, json.dumps(doc, indent=2, sort_keys=True).encode())

    def names(self, profile: str) -> dict[str, str]:
        """name → where it was stored, for one profile."""
        return dict(self._read().get(profile, {}))

    def record(self, name: str, where: str) -> None:
        """List `name` as stored in `where`. A name once stored in the keyring stays
        marked so: the keyring copy may outlive a later fallback to the file."""
        profile = profile_of(name)
        known = self._read().get(profile, {}).get(name)
        if known == "keyring" or known == where:
            return  # the common case (a token refreshed again): no lock, no write
        with locked(self.lock_path):
            profiles = self._read()
            names = profiles.setdefault(profile, {})
            if names.get(name) != "keyring":
                names[name] = where
                self._write(profiles)

    def discard(self, names: Iterable[str], *, keyring_cleared: Iterable[str]) -> None:
        """Unlist `names`, except those marked `keyring` that are not in `keyring_cleared`
        (the keyring could not be reached, so it may still hold them)."""
        cleared = set(keyring_cleared)
        wanted = set(names)
        current = self._read()
        if not any(n in current.get(profile_of(n), {}) for n in wanted):
            return
        with locked(self.lock_path):
            profiles = self._read()
            changed = False
            for name in wanted:
                listed = profiles.get(profile_of(name), {})
                if name in listed and (listed[name] != "keyring" or name in cleared):
                    del listed[name]
                    changed = True
            if changed:
                self._write(profiles)


class SecretStore:
    """Reads from whichever back end holds a secret; writes to the keyring when usable."""

    def __init__(
        self,
        keyring_backend: SecretBackend | None = None,
        file_backend: FileBackend | None = None,
        *,
        use_keyring: bool | None = None,
        warn: Callable[[str], None] | None = None,
        index: SecretIndex | None = None,
    ) -> None:
        if use_keyring is None:
            use_keyring = os.environ.get("MAKINI_NO_KEYRING", "") in ("", "0", "false")
        self._keyring: SecretBackend | None = None
        self._keyring_checked = not use_keyring
        self._keyring_candidate = keyring_backend
        self.file = file_backend or FileBackend()
        self.index = index or SecretIndex(
            self.file.path.parent / paths.SECRET_INDEX_FILE_NAME, self.file.lock_path
        )
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
        # Listed before it is written: a crash in between leaves a name, not a lost secret.
        self.index.record(name, "file" if keyring is None else "keyring")
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
        self._delete([name])

    def _delete(self, names: Iterable[str]) -> builtins.set[str]:
        """Remove `names` from both back ends and the index; return those the keyring
        confirmed removing."""
        wanted = sorted(set(names))
        cleared: builtins.set[str] = builtins.set()
        keyring = self._usable_keyring()
        for name in wanted:
            if keyring is None:
                break
            try:
                keyring.delete(name)
                cleared.add(name)
            except KeyringUnavailable as exc:
                self._keyring_failed(exc)
                keyring = None
        if self.file.path.exists():
            self.file.delete_many(wanted)
        self.index.discard(wanted, keyring_cleared=cleared)
        return cleared

    def forget(self, profile: str, names: Iterable[str] = ()) -> list[str]:
        """Remove every secret of `profile`: `names`, each name the index lists for it and
        each name the credentials file holds for it; then the temp files that writers
        killed mid-write left (they may hold a secret).

        Returns the names the keyring may still hold because it could not be reached
        (they stay in the index, so a later logout removes them)."""
        prefix = f"{profile}:"
        listed = self.index.names(profile)
        wanted = set(names) | set(listed)
        with contextlib.suppress(CliError):  # a damaged file must not stop a logout
            wanted.update(n for n in self.file.names() if n.startswith(prefix))
        cleared = self._delete(wanted)
        with locked(self.file.lock_path):
            remove_stale_temps(self.file.path)
            remove_stale_temps(self.index.path)
        return sorted(n for n, where in listed.items() if where == "keyring" and n not in cleared)
