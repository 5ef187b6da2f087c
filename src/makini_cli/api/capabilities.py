"""Which extensions a server offers (contract: capabilities).

Asked once per base URL and cached for a day. A 404 means "documented calls only", as
against Makini today: commands then use a documented call where one covers the operation,
and otherwise fail naming the missing capability.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from makini_cli.api import paths
from makini_cli.api.client import ApiClient, cast_to
from makini_cli.api.errors import APIError, APIStatusError, CapabilityMissingError
from makini_cli.models.account import ServerCapabilities

CACHE_TTL_S = 24 * 3600.0


class Capabilities:
    def __init__(
        self,
        client: ApiClient,
        cache_key: str,
        cache_file: Path | None,
        *,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.cache_key = cache_key
        self.cache_file = cache_file
        self.wall = wall
        self._extensions: frozenset[str] | None = None

    def extensions(self) -> frozenset[str]:
        if self._extensions is None:
            cached = self._read_cache()
            self._extensions = cached if cached is not None else self._fetch()
        return self._extensions

    def has(self, name: str) -> bool:
        return name in self.extensions()

    @property
    def documented_only(self) -> bool:
        """No extension at all, as against Makini today: the server may also ignore what
        Makini does not document, such as `filter[...]` on the connection list."""
        return not self.extensions()

    def require(self, name: str, operation: str) -> None:
        if not self.has(name):
            raise CapabilityMissingError(
                f"{operation} needs the server capability {name!r}, which "
                f"{self.client.display_url} does not offer",
                capability=name,
                operation=operation,
                documented_only=self.documented_only,
            )

    def _fetch(self) -> frozenset[str]:
        try:
            resp = self.client.get(paths.CAPABILITIES)
        except APIStatusError as exc:
            if exc.status == 404:
                found: frozenset[str] = frozenset()
                self._write_cache(found)
                return found
            raise
        answer = cast_to(
            ServerCapabilities, resp.data, path=paths.CAPABILITIES, request_id=resp.request_id
        )
        found = frozenset(answer.extensions)
        self._write_cache(found)
        return found

    def _read_cache(self) -> frozenset[str] | None:
        if self.cache_file is None or is_local(self.client.base_url):
            return None
        try:
            doc = json.loads(self.cache_file.read_text("utf-8"))
            entry = doc[self.cache_key]
            if self.wall() - float(entry["at"]) > CACHE_TTL_S:
                return None
            return frozenset(str(x) for x in entry["extensions"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_cache(self, found: frozenset[str]) -> None:
        if self.cache_file is None or is_local(self.client.base_url):
            return
        from makini_cli.config.files import locked, write_private
        from makini_cli.errors import CliError

        try:
            with locked(self.cache_file.with_suffix(".lock")):
                try:
                    doc = json.loads(self.cache_file.read_text("utf-8"))
                    if not isinstance(doc, dict):
                        doc = {}
                except (OSError, ValueError):
                    doc = {}
                doc[self.cache_key] = {"at": self.wall(), "extensions": sorted(found)}
                write_private(self.cache_file, json.dumps(doc, indent=1).encode())
        except (OSError, APIError, CliError):
            pass  # a cache we cannot write only costs one request next time


def is_local(base_url: str) -> bool:
    """A loopback server: a sandbox, which may restart with other flags at any moment, so
    its capabilities are asked every run rather than trusted for a day."""
    from urllib.parse import urlsplit

    host = urlsplit(base_url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")
