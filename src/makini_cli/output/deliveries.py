"""How `makini webhooks listen` shows deliveries: one line each, flushed as it comes.

For people (a terminal, or `-o table`): time, verdict, event, connection, id and why a
delivery was rejected or not forwarded, the verdict in colour on a colour terminal. For
programs (piped, `-o json`/`-o jsonl`): one JSON object per line,
`{"received_at","id","event","connection_key","verdict","forwarded"}`.

Every value the sender chose is cleaned (output/sanitize.py) before our own colour codes
are added, as Messages does on stderr; lines go out through `Renderer.line`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from makini_cli.output.render import Renderer
from makini_cli.output.sanitize import clean, dumps

if TYPE_CHECKING:
    from makini_cli.webhooks.listener import Delivery

#: SGR colour of each verdict: green accepted, yellow worth a look, red rejected.
VERDICT_COLOURS = {
    "ok": "32",
    "unverified": "33",
    "duplicate": "33",
    "forged": "31",
    "unsigned": "31",
    "bad_json": "31",
}
DIM = "2"


class DeliveryLines:
    """Call it with each Delivery. `json_lines` picks the format; `color` paints the
    human lines."""

    def __init__(self, out: Renderer, *, json_lines: bool, color: bool) -> None:
        self.out = out
        self.json_lines = json_lines
        self.color = color

    def __call__(self, delivery: Delivery) -> None:
        if self.json_lines:
            self.out.line(dumps(delivery.to_json(), separators=(",", ":")))
        else:
            self.out.line(self.line(delivery))

    def _paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def line(self, delivery: Delivery) -> str:
        """`14:03:07  ok         sync.completed            10000715260448  evt_…  → forwarded`"""
        try:
            moment = datetime.fromisoformat(delivery.received_at).astimezone()
            shown_time = moment.strftime("%H:%M:%S")
        except ValueError:
            shown_time = clean(delivery.received_at)
        verdict = delivery.verdict.ljust(10)
        parts = [
            self._paint(shown_time, DIM),
            self._paint(verdict, VERDICT_COLOURS.get(delivery.verdict, "0")),
            clean(delivery.event or "-").ljust(26),
            clean(delivery.connection_key or "-").ljust(16),
            clean(delivery.id or "-"),
        ]
        if delivery.forwarded:
            parts.append("→ forwarded")
        if delivery.reason:
            parts.append(self._paint(f"({clean(delivery.reason)})", DIM))
        return "  ".join(parts).rstrip()
