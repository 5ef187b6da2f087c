"""httpx, without its own command-line tool.

`import httpx` also imports `httpx._main` (click, rich.console, rich.syntax, pygments)
whenever click and rich are installed, as they are beside makini: measured here it was
~40 ms of httpx's ~100 ms import, on every command that calls the API, for a tool makini
never runs. A stand-in module is registered first, so httpx's `main` is a function that
says what happened instead.
"""

from __future__ import annotations

import sys
import types

if "httpx" not in sys.modules:
    _stand_in = types.ModuleType("httpx._main")

    def _main() -> None:
        raise SystemExit("httpx's command-line tool is not loaded inside makini")

    _stand_in.main = _main  # type: ignore[attr-defined]
    sys.modules.setdefault("httpx._main", _stand_in)

import httpx

__all__ = ["httpx"]
