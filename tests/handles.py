"""What every test needs from a running sandbox, however it was started (a subprocess
`makini sandbox serve`, or uvicorn in this process), and from a finished CLI run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from makini_cli.sandbox.settings import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

#: Connection statuses that keep nothing in sync: the rest (active, synchronizing,
#: overage, and offline or reauth_required while their system is unusable) do.
NOT_SYNCING = frozenset({"pending", "inactive"})


@dataclass
class SandboxHandle:
    url: str
    data_dir: Path
    client_id: str = field(default=DEMO_CLIENT_ID, kw_only=True)
    client_secret: str = field(default=DEMO_CLIENT_SECRET, kw_only=True)
    _token: str | None = field(default=None, repr=False, kw_only=True)

    @property
    def env(self) -> dict[str, str]:
        """Environment for a CI-style run against this server."""
        return {
            "MAKINI_BASE_URL": self.url,
            "MAKINI_CLIENT_ID": self.client_id,
            "MAKINI_CLIENT_SECRET": self.client_secret,
        }

    def admin_token(self) -> str:
        if self._token is None:
            resp = httpx.post(
                f"{self.url}/link/token",
                json={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                },
            )
            resp.raise_for_status()
            self._token = str(resp.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, json: object = None) -> httpx.Response:
        """Call the sandbox's API directly with the admin token (test setup, not the CLI)."""
        resp = httpx.request(
            method,
            f"{self.url}{path}",
            json=json,
            headers={"Authorization": f"Bearer {self.admin_token()}"},
        )
        resp.raise_for_status()
        return resp

    def control(self, method: str, path: str, json: object = None) -> httpx.Response:
        """Steer the sandbox (faults, clock) the way its own control routes allow."""
        return self.api(method, f"/sandbox/{path}", json)

    def connections(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.api(
            "GET", "/api/system/connections?per_page=500"
        ).json()["data"]
        return rows

    def keys_by_health(self) -> dict[str, list[str]]:
        """Keys of the connections that sync (neither pending nor inactive), by health."""
        found: dict[str, list[str]] = {}
        for row in self.connections():
            if row["status"] not in NOT_SYNCING:
                found.setdefault(row["health"], []).append(row["key"])
        return found

    def quiet_schedules(self) -> None:
        """Seeded connections sync hourly; on a fast clock that would race the tests."""
        for row in self.connections():
            if row["status"] not in NOT_SYNCING:
                self.api("PUT", f"/api/system/connections/{row['key']}/schedule",
                         {"enabled": False, "interval_minutes": 60})


@dataclass
class Result:
    """One finished `makini` run: exit code and both streams."""

    code: int
    stdout: str
    stderr: str
    argv: list[str]

    def json(self) -> Any:
        return json.loads(self.stdout)

    def jsonl(self) -> list[Any]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def error(self) -> dict[str, Any]:
        """The one-object JSON error on stderr (json output modes)."""
        lines = [ln for ln in self.stderr.splitlines() if ln.startswith("{")]
        assert lines, f"no JSON error on stderr: {self.stderr!r}"
        err: dict[str, Any] = json.loads(lines[-1])["error"]
        return err

    def __str__(self) -> str:
        return (
            f"makini {' '.join(self.argv)} -> {self.code}\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )
