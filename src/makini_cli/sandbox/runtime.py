"""What every part of a running sandbox shares: settings, store and clock."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from makini_cli.sandbox import idempotency
from makini_cli.sandbox.clock import SandboxClock, StoredClock, timestamp
from makini_cli.sandbox.seed import apply_seed, is_seeded
from makini_cli.sandbox.settings import SandboxSettings
from makini_cli.sandbox.store import Store

logger = logging.getLogger("makini_cli.sandbox")


@dataclass(frozen=True)
class Runtime:
    """`owner` identifies this runtime in the claims it takes (idempotency.py)."""

    settings: SandboxSettings
    store: Store
    clock: SandboxClock
    owner: idempotency.Owner = field(default_factory=idempotency.Owner.current)

    def now(self) -> float:
        """Sandbox time as Unix seconds."""
        return timestamp(self.clock)

    @classmethod
    def open(cls, settings: SandboxSettings, clock: SandboxClock | None = None) -> Runtime:
        """Open (creating, migrating and seeding as needed) the data dir of `settings`."""
        store = Store.open(settings.data_dir)
        try:
            if clock is None:
                stored = StoredClock(store)
                stored.initialize(settings.clock_speed)
                clock = stored
            runtime = cls(settings, store, clock)
            with store.transaction() as conn:
                if not is_seeded(conn):
                    apply_seed(conn, runtime.now(), settings.client_id)
                else:
                    # The client id is configuration: follow the settings if they changed.
                    conn.execute("UPDATE client SET id = ?", (settings.client_id,))
            with store.transaction() as conn:
                # Claims of a process that was killed mid-request would answer "still
                # being processed" for a day; a live process's claims are left alone.
                # Wall-clock time: the lease bounds a request's real life.
                released = idempotency.release_abandoned(conn, runtime.owner, time.time())
            if released:
                logger.info("released %d idempotency key(s) left by a stopped process", released)
        except BaseException:
            store.close()
            raise
        return runtime

    def reset(self, now: float) -> None:
        """Restore the seed at sandbox time `now` (the request's one reading)."""
        with self.store.transaction() as conn:
            apply_seed(conn, now, self.settings.client_id)
