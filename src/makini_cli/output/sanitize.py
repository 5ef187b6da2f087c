"""Text from the API is data, never markup or terminal control."""

from __future__ import annotations

import re

# C0 and C1 control characters, DEL, and the lone ESC that starts terminal sequences.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    return _CONTROL.sub("", text)
