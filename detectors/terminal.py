"""One sanitiser for text that reaches a terminal: log text is untrusted, and a terminal obeys what it is sent.

A log line can carry escape sequences (`ESC[2J` clears the screen, `ESC]0;...` retitles the window, OSC 8 makes
links, some terminals answer queries into the input), bidirectional overrides (U+202E shows `exe.txt` as
`txt.exe`), NUL bytes and lines of a megabyte. Everything sleuth prints that came from a log — the Markdown report
on a terminal, the TUI's panes, chat answers and tool results — goes through `visible()`:

- C0 and C1 control characters (other than tab, and newline where the caller keeps lines) and DEL are shown as
  visible escapes: `\\x1b`, `\\x00`, `\\x9b`;
- bidirectional controls and other invisible format characters that reorder or hide text (U+202A..U+202E,
  U+2066..U+2069, U+200E/U+200F, U+061C, U+2028/U+2029, U+FEFF) are shown as `\\u202e`;
- a line longer than `limit` characters is clipped, with a marker that says how much was left out.

The escapes are plain printable ASCII, so what a reader sees is what the log held, and nothing is executed.
"""

from __future__ import annotations

import re

__all__ = ["MAX_LINE_CHARS", "clip", "has_unsafe", "unsafe_count", "visible"]

MAX_LINE_CHARS = 2_000  # one line shown in a terminal; the rest is summarised by the clip marker

# Controls other than tab and newline, DEL, C1 controls; bidi controls and invisible format characters.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_UNSAFE_NL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clip(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """`text`, or its first `limit` characters and a marker `… [+N chars]` saying how many more there were."""
    if limit <= 0 or len(text) <= limit:
        return text
    return f"{text[:limit]}… [+{len(text) - limit:,} chars]"


def visible(text: object, *, limit: int | None = MAX_LINE_CHARS, newlines: bool = True) -> str:
    """`text` safe to write to a terminal: controls and bidi characters as visible escapes, each line clipped.

    Args:
        text: Anything; None gives "".
        limit: Characters kept per line (None: no clipping). Clipping happens before escaping, so the work is
            bounded by `limit` whatever the input's length.
        newlines: Keep line breaks (each line clipped on its own); False shows them as `\\x0a` too.
    """
    s = "" if text is None else str(text)
    if not newlines:
        if limit is not None:
            s = clip(s, limit)
        return _UNSAFE_NL.sub(_escape, s)
    if limit is not None and len(s) > limit:
        s = "\n".join(clip(line, limit) for line in s.split("\n"))
    return _UNSAFE.sub(_escape, s)


def unsafe_count(text: str) -> int:
    """How many characters `visible` would escape (newlines and tabs excepted)."""
    return len(_UNSAFE.findall(text))


def has_unsafe(text: str) -> bool:
    """Whether `text` holds a control, bidi or invisible format character (newlines and tabs excepted)."""
    return _UNSAFE.search(text) is not None
