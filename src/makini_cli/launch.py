"""The `makini` console script and `python -m makini_cli` start here.

Importing the CLI takes most of a run's start-up; a Ctrl-C in that window arrives before
`main()`'s error boundary exists and would print a KeyboardInterrupt traceback. This
module imports nothing heavy itself, so it can catch it.
"""

from __future__ import annotations

import sys


def run() -> None:
    try:
        from makini_cli.main import run as run_main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    run_main()
