"""Serving: serve() in its own process, EmbeddedSandbox, several processes on one dir."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from makini_cli.sandbox.server import EmbeddedSandbox
from makini_cli.sandbox.settings import SandboxSettings

from .conftest import bearer, token_pair

SERVE_SCRIPT = """
import sys
from pathlib import Path
from makini_cli.sandbox.server import serve
from makini_cli.sandbox.settings import SandboxSettings

serve(SandboxSettings(Path(sys.argv[1])), port=0, on_ready=lambda url: print(url, flush=True))
print("stopped", flush=True)
"""


def test_serve_runs_until_ctrl_c_and_shares_its_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "shared-dir"
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE_SCRIPT, str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:"), (
            process.stderr.read() if process.stderr else ""
        )
        served = httpx.Client(base_url=base_url, timeout=10)
        admin = bearer(token_pair(served)["access_token"])
        # A second process on the same data dir sees, and changes, the same state.
        with (
            EmbeddedSandbox(SandboxSettings(data_dir)) as embedded,
            httpx.Client(base_url=embedded.base_url, timeout=10) as other,
        ):
            assert other.get("/api/system/client", headers=admin).status_code == 200
            created = other.post(
                "/api/system/connections",
                headers=admin,
                json={
                    "name": "Shared",
                    "email": "a@example.com",
                    "provider": "fiix",
                    "credentials": {"api": "https://f.example.com", "login": "l", "password": "p"},
                },
            ).json()["data"]["key"]
            other.post("/sandbox/clock", headers=admin, json={"speed": 2})
        listed = served.get(f"/api/system/connections/{created}", headers=admin)
        assert listed.status_code == 200
        assert served.get("/sandbox/clock", headers=admin).json()["data"]["speed"] == 2
        served.close()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert out.strip() == "stopped"
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_embedded_sandbox_stops_completely(tmp_path: Path) -> None:
    sandbox = EmbeddedSandbox(SandboxSettings(tmp_path / "sb"))
    with sandbox, httpx.Client(base_url=sandbox.base_url) as client:
        assert sandbox.base_url.startswith("http://127.0.0.1:")
        assert client.post("/link/token", json={}).status_code == 422
    assert not any(t.name == "makini-sandbox" for t in threading.enumerate())
    try:
        httpx.get(sandbox.base_url + "/openapi.json", timeout=2)
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("the sandbox still answers after it stopped")


def test_state_survives_a_restart(tmp_path: Path) -> None:
    settings = SandboxSettings(tmp_path / "sb")
    with EmbeddedSandbox(settings) as first, httpx.Client(base_url=first.base_url) as client:
        pair = token_pair(client)
    with EmbeddedSandbox(settings) as second, httpx.Client(base_url=second.base_url) as client:
        assert client.get("/api/system/client", headers=bearer(pair["access_token"])).is_success


def test_importing_the_package_stays_light() -> None:
    code = (
        "import sys, makini_cli.sandbox, makini_cli.sandbox.settings;"
        "heavy = {'fastapi', 'uvicorn', 'pydantic', 'starlette', 'sqlite3'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
