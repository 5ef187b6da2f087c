from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from makini_cli.config.secrets import FileBackend, SecretStore
from makini_cli.config.store import ConfigStore
from makini_cli.errors import ConfigError


def test_update_writes_private_file_and_keeps_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "config.toml"
    store = ConfigStore(path)
    store.update(lambda d: d.setdefault("profiles", {}).update({"a": {"base_url": "https://a"}}))
    text = path.read_text()
    path.write_text('future_key = "kept"\n' + text + "\n[profiles.a.extra]\nx = 1\n")
    store.update(lambda d: d.__setitem__("active_profile", "a"))
    doc = tomllib.loads(path.read_text())
    assert doc["future_key"] == "kept"
    assert doc["profiles"]["a"]["extra"] == {"x": 1}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_corrupt_file_names_file_and_line_and_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    broken = 'active_profile = "a"\n[profiles.a\nbase_url = "x"\n'
    path.write_text(broken)
    store = ConfigStore(path)
    with pytest.raises(ConfigError) as err:
        store.update(lambda d: d.__setitem__("active_profile", "b"))
    assert str(path) in err.value.message
    assert "line 2" in err.value.message
    assert path.read_text() == broken


def test_parallel_processes_all_land(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    code = (
        "import sys; from pathlib import Path; from makini_cli.config.store import ConfigStore;"
        "n = sys.argv[1];"
        "ConfigStore(Path(sys.argv[2])).update("
        "lambda d: d.setdefault('profiles', {}).__setitem__(n, {'base_url': 'https://' + n}))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, f"p{i}", str(path)]) for i in range(16)
    ]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    profiles = tomllib.loads(path.read_text())["profiles"]
    assert sorted(profiles) == sorted(f"p{i}" for i in range(16))


def test_secret_file_backend_is_private_and_atomic(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path / "credentials.json")
    store = SecretStore(file_backend=backend, use_keyring=False)
    store.set("p:client_secret", "s3cret")
    assert store.get("p:client_secret") == "s3cret"
    assert store.plain_text
    assert stat.S_IMODE(backend.path.stat().st_mode) == 0o600
    store.delete("p:client_secret")
    assert store.get("p:client_secret") is None


class _MemoryKeyring:
    name = "keyring"
    plain_text = False

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self.data.get(name)

    def set(self, name: str, value: str) -> None:
        self.data[name] = value

    def delete(self, name: str) -> None:
        self.data.pop(name, None)


def test_keyring_preferred_and_plain_copy_removed(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path / "credentials.json")
    backend.set("p:client_secret", "old")
    keyring = _MemoryKeyring()
    store = SecretStore(keyring, backend, use_keyring=True)
    assert store.get("p:client_secret") == "old"  # still readable from the old file
    store.set("p:client_secret", "new")
    assert keyring.data == {"p:client_secret": "new"}
    assert backend.get("p:client_secret") is None
    assert not store.plain_text


def test_hanging_keyring_falls_back_within_bound(tmp_path: Path) -> None:
    import threading

    from makini_cli.config.secrets import KeyringBackend

    release = threading.Event()

    class Hanging(KeyringBackend):
        def get(self, name: str) -> str | None:
            return self._call(lambda: (release.wait(5), None)[1])

        def set(self, name: str, value: str) -> None:
            self._call(lambda: release.wait(5))

    warnings: list[str] = []
    hanging = Hanging(timeout=0.2)
    store = SecretStore(hanging, FileBackend(tmp_path / "c.json"), use_keyring=True,
                        warn=warnings.append)
    store._keyring_checked = True
    store._keyring = hanging
    store.set("p:x", "v")
    release.set()
    assert store.get("p:x") == "v"
    assert store.plain_text
    assert warnings and "did not answer" in warnings[0]


def test_umask_does_not_widen_modes(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "d" / "config.toml"
        ConfigStore(path).update(lambda d: d.__setitem__("active_profile", "x"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
