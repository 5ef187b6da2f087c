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


# ---------------------------------------------------------------------- hardening


def test_an_existing_config_dir_keeps_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o750)  # noqa: S103 - the user's choice, e.g. shared with a group
    ConfigStore(shared / "config.toml").update(lambda d: d.__setitem__("active_profile", "x"))
    assert stat.S_IMODE(shared.stat().st_mode) == 0o750
    assert stat.S_IMODE((shared / "config.toml").stat().st_mode) == 0o600


def test_a_symlinked_config_is_written_through(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "makini.toml"
    real.write_text('active_profile = "a"\n')
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    link = cfg / "config.toml"
    link.symlink_to(real)
    ConfigStore(link).update(lambda d: d.__setitem__("active_profile", "b"))
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert tomllib.loads(real.read_text())["active_profile"] == "b"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    leftovers = [p for d in (cfg, dotfiles) for p in d.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_symlinked_lock_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / ".lock").symlink_to(victim)
    with pytest.raises(ConfigError) as err:
        ConfigStore(cfg / "config.toml").update(lambda d: d.__setitem__("active_profile", "x"))
    assert "symbolic link" in err.value.message
    assert not victim.exists()
    assert not (cfg / "config.toml").exists()


def test_a_lock_that_is_a_directory_is_a_config_error(tmp_path: Path) -> None:
    from tests.inproc import invoke

    cfg = Path(os.environ["MAKINI_CONFIG_DIR"])
    (cfg / ".lock").mkdir(parents=True)
    result = invoke("profile", "create", "prod", "--base-url", "https://api.example.com")
    assert result.code == 3, result
    assert str(cfg / ".lock") in result.stderr
    assert "is a directory" in result.stderr
    assert "bug in makini" not in result.stderr


def test_the_directory_is_fsynced_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    ConfigStore(tmp_path / "config.toml").update(lambda d: d.__setitem__("active_profile", "x"))
    assert synced == ["file", "dir"]


def _a_dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_write_removes_temp_files_killed_writers_left(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    dead = tmp_path / f".credentials.json.{_a_dead_pid()}.abcd_123.tmp"
    # From a makini that did not put the pid in the name yet: stale once older than us.
    legacy = tmp_path / ".credentials.json.zz9plq0x.tmp"
    # A writer still running (this process's parent, the test runner's shell or pytest).
    alive = tmp_path / f".credentials.json.{os.getppid()}.abcd_123.tmp"
    not_ours = [tmp_path / ".credentials.json.bak", tmp_path / ".credentials.tmp",
                tmp_path / f".credentials.json.{_a_dead_pid()}.other.name.tmp"]
    for leftover in (dead, legacy, alive, *not_ours):
        leftover.write_text('{"p:client_secret": "s3cret"}')
    os.utime(legacy, (1_000_000_000, 1_000_000_000))

    FileBackend(path).set("p:client_secret", "new")

    assert not dead.exists()
    assert not legacy.exists()
    assert alive.exists()
    assert all(p.exists() for p in not_ours)
    ancient = 1_000_000_000
    os.utime(alive, (ancient, ancient))  # a pid that old has surely been reused
    FileBackend(path).set("p:client_secret", "newer")
    assert not alive.exists()


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("max_retries = inf", "max_retries"),
        ("max_retries = nan", "max_retries"),
        ("max_retries = 1e400", "max_retries"),
        ("max_retries = -inf", "max_retries"),
        ("max_retries = 2.5", "max_retries"),
        ("max_retries = true", "max_retries"),
        ("timeout = nan", "timeout"),
        ("timeout = inf", "timeout"),
        ("timeout = true", "timeout"),
    ],
)
def test_non_finite_numbers_in_the_config_are_config_errors(line: str, key: str) -> None:
    from tests.inproc import invoke

    cfg = Path(os.environ["MAKINI_CONFIG_DIR"])
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_text(
        f'active_profile = "p"\n[profiles.p]\nbase_url = "https://api.example.com"\n{line}\n'
    )
    result = invoke("auth", "status")
    assert result.code == 3, result
    assert f"invalid {key}" in result.stderr and "profile p" in result.stderr
    assert "bug in makini" not in result.stderr


def test_whole_numbers_still_count_as_retries() -> None:
    from makini_cli.config.settings import coerce

    assert coerce("max_retries", 3.0, "profile p") == 3
    assert coerce("max_retries", "3", "env MAKINI_MAX_RETRIES") == 3
    assert coerce("timeout", 2, "profile p") == 2.0
