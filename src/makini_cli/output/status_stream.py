"""`connections status --watch|--until` piped or with `-o jsonl`: a stream of changes.

One JSON object per line on stdout, each written whole and flushed:

    {"type":"snapshot","at":…,"object":{…}}                  first, one per connection
    {"type":"changed","at":…,"changed":["health"],"object":{…}}
    {"type":"alert","at":…,"alert":"offline_too_long","since":…,"object":{…}}

Values stay exact (`sanitize.dumps` escapes what a terminal would act on), so the stream
has no control codes. Failures to read go to stderr, once when they begin and once when
reads work again (`FailureNotes`), never once per attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from makini_cli.output.sanitize import dumps

if TYPE_CHECKING:
    from makini_cli.api.watch import Update
    from makini_cli.output.render import Renderer


class StatusStream:
    """Writes the watch engine's updates as JSON lines."""

    def __init__(self, out: Renderer) -> None:
        self.out = out
        #: lines written so far
        self.written = 0

    def write(self, updates: Iterable[Update]) -> int:
        """Write `updates` in order; how many lines that was."""
        count = 0
        for update in updates:
            self.out.line(dumps(update.record(), separators=(",", ":")))
            count += 1
        self.written += count
        return count


class FailureNotes:
    """Says on stderr when reading starts failing and when it works again, not at every
    attempt in between: a watch left running over a network outage writes two lines."""

    def __init__(
        self,
        warn: Callable[[str], None],
        notice: Callable[[str], None],
        *,
        retry_every: str,
    ) -> None:
        self.warn = warn
        self.notice = notice
        self.retry_every = retry_every
        self.failing = False

    def after_step(self, failure: str | None) -> None:
        """`failure`: the step's failure as one line, None when its reads went through."""
        if failure is not None and not self.failing:
            self.failing = True
            self.warn(
                f"could not read connection status: {failure}; "
                f"trying again every {self.retry_every}"
            )
        elif failure is None and self.failing:
            self.failing = False
            self.notice("reading connection status again")
