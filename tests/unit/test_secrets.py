"""The secret store: a keyring that never answers, and the index of stored names that lets
logout remove what the keyring cannot list."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from makini_cli.config.secrets import (
    FileBackend,
    KeyringBackend,
    KeyringUnavailable,
    SecretIndex,
    SecretStore,
)

# ---------------------------------------------------------------------- a silent keyring

BLOCKING_BACKEND = textwrap.dedent(
    """
    import threading

    from keyring.backend import KeyringBackend


    class Blocking(KeyringBackend):
        \"\"\"A keyring that never answers, as a locked desktop keyring waiting for a
        prompt nobody sees.\"\"\"

        priority = 1

        def get_password(self, service, username):
            threading.Event().wait()

        def set_password(self, service, username, password):
            threading.Event().wait()

        def delete_password(self, service, username):
            threading.Event().wait()
    """
)


def test_a_keyring_that_never_answers_does_not_keep_the_process_alive(tmp_path: Path) -> None:
    (tmp_path / "blocking_keyring.py").write_text(BLOCKING_BACKEND)
    env = {k: v for k, v in os.environ.items() if k != "MAKINI_NO_KEYRING"}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(tmp_path), os.environ.get("PYTHONPATH", "")) if p
    )
    env["PYTHON_KEYRING_BACKEND"] = "blocking_keyring.Blocking"
    try:
        # The keyring is given up on after a few seconds; the bound only catches a hang.
        proc = subprocess.run(
            [sys.executable, "-m", "makini_cli", "auth", "status", "-o", "json"],
            capture_output=True, text=True, env=env, timeout=20,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the process did not exit after its output: {exc.stdout!r}")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["in_use"] == "sandbox"
    assert "did not answer" in proc.stderr


def test_a_call_given_up_on_runs_in_a_daemon_thread() -> None:
    release = threading.Event()
    backend = KeyringBackend(timeout=0.05)
    with pytest.raises(KeyringUnavailable, match="did not answer"):
        backend._call(release.wait)
    waiting = [t for t in threading.enumerate() if t.name == "makini-keyring"]
    try:
        assert waiting and all(t.daemon for t in waiting)
    finally:
        release.set()


def test_keyring_errors_become_unavailable() -> None:
    def broken() -> None:
        raise RuntimeError("dbus")

    with pytest.raises(KeyringUnavailable, match="RuntimeError"):
        KeyringBackend(timeout=5)._call(broken)
    assert KeyringBackend(timeout=5)._call(lambda: "value") == "value"


# ---------------------------------------------------------------------- the index


class MemoryKeyring:
    name = "keyring"
    plain_text = False

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.reachable = True

    def _check(self) -> None:
        if not self.reachable:
            raise KeyringUnavailable("the keyring did not answer within 3 s")

    def get(self, name: str) -> str | None:
        self._check()
        return self.data.get(name)

    def set(self, name: str, value: str) -> None:
        self._check()
        self.data[name] = value

    def delete(self, name: str) -> None:
        self._check()
        self.data.pop(name, None)


def keyring_store(tmp_path: Path, keyring: MemoryKeyring) -> SecretStore:
    return SecretStore(keyring, FileBackend(tmp_path / "credentials.json"), use_keyring=True)


STORED = {
    "prod:client_secret": "s3cret",
    "prod:admin@https://api.makini.io": '{"token": "a1"}',
    "prod:admin@https://old.example.com": '{"token": "a0"}',  # before `config set base_url`
    "prod:conn:12345678901234@https://api.makini.io": '{"token": "c1"}',
    "prod:conn:99999999999999@https://old.example.com": '{"token": "c0"}',
    "staging:client_secret": "other",
}


def test_forget_removes_every_name_stored_for_the_profile(tmp_path: Path) -> None:
    keyring = MemoryKeyring()
    store = keyring_store(tmp_path, keyring)
    for name, value in STORED.items():
        store.set(name, value)
    assert keyring.data == STORED

    # Only the names logout can build itself; the index supplies the others.
    remaining = keyring_store(tmp_path, keyring).forget(
        "prod", {"prod:client_secret", "prod:token", "prod:admin@https://api.makini.io"}
    )
    assert remaining == []
    assert keyring.data == {"staging:client_secret": "other"}
    index = store.index
    assert index.names("prod") == {}
    assert index.names("staging") == {"staging:client_secret": "keyring"}


def test_the_index_is_private_and_holds_names_only(tmp_path: Path) -> None:
    store = keyring_store(tmp_path, MemoryKeyring())
    for name, value in STORED.items():
        store.set(name, value)
    text = store.index.path.read_text()
    assert store.index.path.parent == tmp_path
    assert stat.S_IMODE(store.index.path.stat().st_mode) == 0o600
    for value in STORED.values():
        assert value not in text
    assert "prod:conn:12345678901234@https://api.makini.io" in text


def test_delete_unlists_the_name(tmp_path: Path) -> None:
    store = keyring_store(tmp_path, MemoryKeyring())
    store.set("prod:token", "t")
    store.set("prod:conn:1@u", "c")
    store.delete("prod:conn:1@u")
    assert store.index.names("prod") == {"prod:token": "keyring"}


def test_the_file_backend_is_indexed_too(tmp_path: Path) -> None:
    store = SecretStore(file_backend=FileBackend(tmp_path / "credentials.json"),
                        use_keyring=False)
    store.set("prod:conn:1@u", "c")
    assert store.index.names("prod") == {"prod:conn:1@u": "file"}
    assert store.forget("prod") == []
    assert store.file.names() == []
    assert store.index.names("prod") == {}


def test_names_the_keyring_may_still_hold_stay_listed_for_the_next_logout(
    tmp_path: Path,
) -> None:
    keyring = MemoryKeyring()
    store = keyring_store(tmp_path, keyring)
    store.set("prod:client_secret", "s3cret")
    store.set("prod:conn:1@u", "c")

    keyring.reachable = False
    warnings: list[str] = []
    offline = SecretStore(keyring, FileBackend(tmp_path / "credentials.json"),
                          use_keyring=True, warn=warnings.append)
    assert offline.forget("prod") == ["prod:client_secret", "prod:conn:1@u"]
    assert warnings and "did not answer" in warnings[0]
    assert set(offline.index.names("prod")) == {"prod:client_secret", "prod:conn:1@u"}

    keyring.reachable = True
    assert keyring_store(tmp_path, keyring).forget("prod") == []
    assert keyring.data == {}
    assert store.index.names("prod") == {}


def test_a_keyring_name_is_not_downgraded_by_a_later_file_write(tmp_path: Path) -> None:
    keyring = MemoryKeyring()
    keyring_store(tmp_path, keyring).set("prod:token", "t")
    plain = SecretStore(file_backend=FileBackend(tmp_path / "credentials.json"),
                        use_keyring=False)
    plain.set("prod:token", "t2")
    # The keyring copy may outlive the file's: only a reachable keyring unlists it.
    assert plain.index.names("prod") == {"prod:token": "keyring"}
    assert plain.forget("prod") == ["prod:token"]


def test_a_damaged_index_does_not_stop_login_or_logout(tmp_path: Path) -> None:
    store = keyring_store(tmp_path, MemoryKeyring())
    store.index.path.write_text("{not json")
    store.set("prod:token", "t")
    assert store.index.names("prod") == {"prod:token": "keyring"}
    store.index.path.write_text('["a list"]')
    assert store.forget("prod", {"prod:token"}) == []


def test_logout_removes_temp_files_a_killed_writer_left(tmp_path: Path) -> None:
    store = SecretStore(file_backend=FileBackend(tmp_path / "credentials.json"),
                        use_keyring=False)
    store.set("prod:client_secret", "s3cret")
    gone = _a_dead_pid()
    leftover = tmp_path / f".credentials.json.{gone}.abcd1234.tmp"
    leftover.write_text('{"prod:client_secret": "s3cret"}')
    store.forget("prod")
    assert not leftover.exists()


def _a_dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_secret_index_ignores_other_profiles(tmp_path: Path) -> None:
    index = SecretIndex(tmp_path / "secret-names.json", tmp_path / ".lock")
    index.record("a:token", "file")
    index.record("ab:token", "keyring")
    index.discard(["a:token"], keyring_cleared=[])
    assert index.names("a") == {}
    assert index.names("ab") == {"ab:token": "keyring"}
