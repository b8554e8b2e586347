"""Text from the store made safe for a terminal: what `backburner show`, `jobs`, `status`
and the worker's log print comes partly from jobs (errors, progress messages, task and
queue names), and an escape sequence in it would drive the terminal (move the cursor,
rewrite earlier lines, set the window title) instead of being read."""

from __future__ import annotations

import re

__all__ = ["printable"]

# C0 controls but tab and newline, DEL, C1 controls, and the Unicode marks that reorder
# what follows them on screen (bidi overrides and isolates)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with every control character but newline and tab written as its escape
    (ESC as `\\x1b`, CR as `\\r`, U+202E as `\\u202e`): shown, never obeyed. Newlines stay,
    so tracebacks keep their lines."""
    if text.isprintable():  # nothing to escape: every character above is unprintable
        return text
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
