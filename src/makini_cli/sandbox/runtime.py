"""What every part of a running sandbox shares: settings, store and clock."""

from __future__ import annotations

from dataclasses import dataclass

from makini_cli.sandbox.clock import SandboxClock, StoredClock, timestamp
from makini_cli.sandbox.seed import apply_seed, is_seeded
from makini_cli.sandbox.settings import SandboxSettings
from makini_cli.sandbox.store import Store


@dataclass(frozen=True)
class Runtime:
    settings: SandboxSettings
    store: Store
    clock: SandboxClock

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
        except BaseException:
            store.close()
            raise
        return runtime

    def reset(self) -> None:
        with self.store.transaction() as conn:
            apply_seed(conn, self.now(), self.settings.client_id)
