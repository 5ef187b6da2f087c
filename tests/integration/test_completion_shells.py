"""Tab in real bash, zsh and fish.

Each shell loads the script `makini completion SHELL` prints, installed the way
`makini completion --help` says where a test can do that (zsh: a `_makini` file in
$fpath; fish: ~/.config/fish/completions/makini.fish; bash: sourced, which is what
bash-completion does with the file), and asks the `makini` entry script of this venv for
completions. Values come from the config file and the completion cache, never a server.

Missing shells are installed with `apt-get install -y zsh fish` when apt-get is there and
we are root (CI); elsewhere their tests skip, saying why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from makini_cli.completion import remember_connections, remember_syncs, scope
from makini_cli.config import paths

# Installing shells may take a while on a fresh CI machine.
pytestmark = pytest.mark.timeout(900)

VENV_BIN = Path(sys.executable).parent
PROD = scope("prod", "https://prod.example.com")
STAGING = scope("staging", "https://staging.example.com")

_install_lock = threading.Lock()
_install_outcome: dict[str, str] = {}  # shell -> "" (installed) or why not


def _install(missing: list[str]) -> None:
    apt = shutil.which("apt-get")
    if apt is None:
        why = "apt-get is not available"
    elif os.name != "posix" or os.geteuid() != 0:
        why = "installing it needs root (apt-get)"
    else:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = [apt, "install", "-y", *missing]
        proc = subprocess.run(install, capture_output=True, text=True, env=env, timeout=600)
        if proc.returncode != 0:  # an image without package lists: fetch them once
            subprocess.run([apt, "update"], capture_output=True, env=env, timeout=600)
            proc = subprocess.run(install, capture_output=True, text=True, env=env,
                                  timeout=600)
        why = "" if proc.returncode == 0 else f"apt-get install failed: {proc.stderr[-300:]}"
    for shell in missing:
        _install_outcome[shell] = why


def shell_binary(name: str) -> str:
    """The shell's path, installing zsh and fish (all that are missing, once) if need be."""
    with _install_lock:
        found = shutil.which(name)
        if found is None and name not in _install_outcome:
            _install([s for s in ("zsh", "fish") if shutil.which(s) is None] or [name])
            found = shutil.which(name)
        if found is None:
            why = _install_outcome.get(name) or "apt-get reported success but it is not on PATH"
            pytest.skip(f"{name} is not installed and cannot be installed here: {why}")
        return found


@pytest.fixture
def home(isolated_env: Path) -> Path:
    """A user with two profiles (prod active), Tab values cached for both, and the
    environment a shell started by that user would have."""
    assert (VENV_BIN / "makini").exists(), f"no makini entry script in {VENV_BIN}"
    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        'active_profile = "prod"\n'
        '[profiles.prod]\nbase_url = "https://prod.example.com"\n'
        '[profiles.staging]\nbase_url = "https://staging.example.com"\n'
    )
    remember_connections(PROD, [("acme-upkeep", "Acme UpKeep"), ("beta-sap", "Beta: S/4")])
    remember_connections(STAGING, [("stg-only", None)])
    remember_syncs(PROD, [("sync_new", "acme-upkeep · running"), ("sync_old", None)])
    return isolated_env


def shell_env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "TERM": "xterm",
    }


def script(shell: str) -> str:
    proc = subprocess.run([str(VENV_BIN / "makini"), "completion", shell],
                          capture_output=True, text=True, timeout=60, check=True)
    return proc.stdout


#: (what is typed before Tab, what Tab must offer)
CASES = [
    ("makini conn", ["connections"]),  # the hidden alias `connection` is not offered
    ("makini -o ", ["csv", "json", "jsonl", "table", "wide"]),
    ("makini --color a", ["always", "auto"]),
    ("makini -p ", ["prod", "sandbox", "staging"]),
    ("makini connections get ", ["acme-upkeep", "beta-sap"]),
    ("makini sync watch ", ["sync_new", "sync_old"]),
    ("makini -p staging connections get ", ["stg-only"]),
    ("makini connections list -o j", ["json", "jsonl"]),  # a global option after the command
    ("makini completion ", ["bash", "fish", "zsh"]),
]
IDS = [line.strip().replace(" ", "_") for line, _ in CASES]


# ---------------------------------------------------------------------- bash

BASH_DRIVER = r"""
source "$1"; shift
complete -p makini
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="${COMP_WORDS[*]}"
COMP_POINT=${#COMP_LINE}
_makini_completion makini "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf 'REPLY:%s\n' "${COMPREPLY[@]}"
"""


def bash_tab(home: Path, line: str) -> list[str]:
    bash = shell_binary("bash")
    path = home / "makini.bash"
    path.write_text(script("bash"))
    words = line.split(" ")  # a trailing space leaves an empty word: the one completed
    proc = subprocess.run([bash, "--norc", "--noprofile", "-c", BASH_DRIVER, "bash",
                           str(path), *words], capture_output=True, text=True,
                          env=shell_env(home), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "-F _makini_completion makini" in proc.stdout  # the script registered itself
    return sorted(x[6:] for x in proc.stdout.splitlines() if x.startswith("REPLY:") and x[6:])


@pytest.mark.parametrize(("line", "expected"), CASES, ids=IDS)
def test_bash(home: Path, line: str, expected: list[str]) -> None:
    assert bash_tab(home, line) == expected


# ---------------------------------------------------------------------- zsh

# Drives an interactive zsh in a pseudo-terminal (zsh/zpty): it types LINE and Tab. A
# compadd wrapper records every match zsh's completion system adds, then adds it as usual.
ZSH_DRIVER = r"""
zmodload zsh/zpty || exit 3
mode=$1 script=$2 out=$3 line=$4
zpty -b z zsh -f -i
if [[ $mode == fpath ]]; then
  zpty -w z "fpath=(${(q)script:h} \$fpath); autoload -Uz compinit; compinit -u -D"
else
  zpty -w z "autoload -Uz compinit; compinit -u -D; source ${(q)script}"
fi
hook='compadd() { builtin compadd "$@"; local -a __hits; builtin compadd -O __hits "$@"; '
hook+="(( \$#__hits )) && print -rl -- \$__hits >> ${(q)out}; return 0 }"
zpty -w z "$hook"
zpty -w z "print -r -- RE''ADY"
zpty -r -m z buf '*READY*' || exit 4
zpty -n -w z "$line"$'\t'
zpty -n -w z $'\C-u'
zpty -w z "print -r -- DO''NE"
zpty -r -m z buf '*DONE*' || exit 5
zpty -d z
"""


def zsh_tab(home: Path, line: str, mode: str) -> list[str]:
    zsh = shell_binary("zsh")
    if mode == "fpath":  # the documented install: a file named _makini in $fpath
        path = home / ".zfunc" / "_makini"
        path.parent.mkdir(exist_ok=True)
    else:
        path = home / "makini.zsh"
    path.write_text(script("zsh"))
    driver = home / "drive.zsh"
    driver.write_text(ZSH_DRIVER)
    out = home / "zsh-matches.txt"
    out.unlink(missing_ok=True)
    proc = subprocess.run([zsh, "-f", str(driver), mode, str(path), str(out), line],
                          capture_output=True, text=True, env=shell_env(home), timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = out.read_text().splitlines() if out.exists() else []
    return sorted(set(found))  # zsh may add a match more than once (listing, inserting)


@pytest.mark.parametrize(("line", "expected"), CASES, ids=IDS)
def test_zsh(home: Path, line: str, expected: list[str]) -> None:
    assert zsh_tab(home, line, "source") == expected


@pytest.mark.parametrize("line", ["makini conn", "makini connections get "])
def test_zsh_installed_in_fpath_completes_the_first_tab(home: Path, line: str) -> None:
    expected = dict(CASES)[line]
    assert zsh_tab(home, line, "fpath") == expected


def test_zsh_keeps_the_option_in_an_option_equals_value_word(home: Path) -> None:
    assert zsh_tab(home, "makini --output=js", "source") == ["--output=json", "--output=jsonl"]


# ---------------------------------------------------------------------- fish


def fish_tab(home: Path, line: str) -> list[tuple[str, str]]:
    fish = shell_binary("fish")
    path = home / ".config" / "fish" / "completions" / "makini.fish"  # the documented place
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(script("fish"))
    proc = subprocess.run([fish, "-c", "complete -C $argv[1]", line], capture_output=True,
                          text=True, env=shell_env(home), timeout=60)
    assert proc.returncode == 0, proc.stderr
    pairs = [line.partition("\t") for line in proc.stdout.splitlines() if line]
    return sorted((value, description) for value, _, description in pairs)


@pytest.mark.parametrize(("line", "expected"), CASES, ids=IDS)
def test_fish(home: Path, line: str, expected: list[str]) -> None:
    assert [value for value, _ in fish_tab(home, line)] == expected


def test_fish_shows_names_beside_keys(home: Path) -> None:
    assert fish_tab(home, "makini connections get ") == [
        ("acme-upkeep", "Acme UpKeep"), ("beta-sap", "Beta: S/4")]
