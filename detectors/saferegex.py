"""Regular expressions written by a user (or a model), run on untrusted log text in linear time.

Python's `re` backtracks: a pattern like `(a+)+$` or even `\\S*\\d\\S*` takes quadratic or exponential time on a
crafted line, and a log line is attacker-controlled text up to the 1 MB line cap. Patterns that come from outside
the code (`--window session:REGEX`, search filters in the TUI and the tools, the model's `search_events` pattern)
are compiled with RE2 (`google-re2`), whose matching time is linear in the text whatever the pattern.

RE2 has no back-references and no look-around; a pattern that needs them is refused with a message that says so
(`UnsafePattern`, a `re.error`, so callers that already report bad patterns report this one the same way). Where
RE2 is not installed, Python's `re` runs the pattern on at most `FALLBACK_CHARS` characters of each text, so one
line still costs bounded work.
"""

from __future__ import annotations

import re
from typing import Any

try:  # google-re2: linear-time matching
    import re2 as _re2
except ImportError:  # pragma: no cover - a dependency; the fallback keeps sleuth usable without it
    _re2 = None

__all__ = ["FALLBACK_CHARS", "UnsafePattern", "compile_user", "has_re2"]

FALLBACK_CHARS = 4096  # without RE2, how much of one text a user pattern may look at


class UnsafePattern(re.error):
    """A pattern that cannot be run in guaranteed linear time (or is not a valid regex at all)."""


def has_re2() -> bool:
    """Whether user patterns run on RE2 (linear time) rather than on capped Python `re`."""
    return _re2 is not None


class _Capped:
    """Python `re` on the first FALLBACK_CHARS of each text (only used when RE2 is missing)."""

    def __init__(self, regex: re.Pattern[Any]) -> None:
        self._regex = regex
        self.pattern = regex.pattern

    def search(self, text: Any, pos: int = 0, endpos: int | None = None) -> Any:
        end = len(text) if endpos is None else endpos
        return self._regex.search(text, pos, min(end, pos + FALLBACK_CHARS))

    def match(self, text: Any, pos: int = 0, endpos: int | None = None) -> Any:
        end = len(text) if endpos is None else endpos
        return self._regex.match(text, pos, min(end, pos + FALLBACK_CHARS))

    def finditer(self, text: Any, pos: int = 0, endpos: int | None = None) -> Any:
        # A buffer of many lines: scanned in FALLBACK_CHARS slices would split matches; bound by lines instead.
        end = len(text) if endpos is None else endpos
        nl: Any = b"\n" if isinstance(text, bytes | bytearray | memoryview) else "\n"
        start = pos
        while start < end:
            stop = text.find(nl, start, end)
            stop = end if stop < 0 else stop
            yield from self._regex.finditer(text, start, min(stop, start + FALLBACK_CHARS))
            start = stop + 1


def _why_not_re2(pattern: str | bytes, error: Exception) -> str:
    text = pattern.decode("utf-8", "replace") if isinstance(pattern, bytes) else pattern
    reason = str(error.args[0] if error.args else error)
    if isinstance(error.args[0] if error.args else None, bytes):
        reason = error.args[0].decode("utf-8", "replace")
    if re.search(r"\(\?<?[=!]", text):
        feature = "look-around ((?=...), (?!...), (?<=...), (?<!...))"
    elif re.search(r"\\[1-9]|\(\?P=", text):
        feature = "back-references (\\1, (?P=name))"
    elif re.search(r"[*+?}]\+|\(\?>", text):
        feature = "possessive or atomic groups"
    else:
        feature = None
    if feature is not None:
        return (f"pattern {text!r} uses {feature}, which sleuth does not run on log text: such patterns can take "
                f"exponential time on a crafted line. Rewrite it without them (RE2 syntax)")
    return f"pattern {text!r} is not valid here ({reason}); sleuth uses RE2 syntax for patterns on log text"


def compile_user(pattern: str | bytes, *, ignore_case: bool = False, multiline: bool = False) -> Any:
    """Compile a user-supplied pattern for linear-time matching.

    The result has the `re.Pattern` methods sleuth uses (`search`, `match`, `finditer`, `pattern`); matches
    have `group`, `start`, `end`, `span`.

    Raises:
        UnsafePattern: If the pattern is invalid, or needs a feature RE2 lacks (look-around, back-references).
    """
    try:
        python = re.compile(pattern, (re.I if ignore_case else 0) | (re.M if multiline else 0))
    except re.error as error:
        text = pattern.decode("utf-8", "replace") if isinstance(pattern, bytes) else pattern
        raise UnsafePattern(f"{text!r} is not a valid regular expression: {error}") from None
    if _re2 is None:
        return _Capped(python)
    options = _re2.Options()
    options.log_errors = False  # RE2 would print its own parse errors to stderr
    options.case_sensitive = not ignore_case
    options.never_nl = False
    prefix: str | bytes = "(?m)" if multiline else ""
    if isinstance(pattern, bytes):
        prefix = prefix.encode() if isinstance(prefix, str) else prefix
    try:
        return _re2.compile(prefix + pattern, options)  # type: ignore[operator]
    except Exception as error:  # noqa: BLE001 - re2 raises its own error type (re2._re2.Error)
        raise UnsafePattern(_why_not_re2(pattern, error)) from None
