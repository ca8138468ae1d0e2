"""What the readers produce: one event per log entry, and the account of what was skipped."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from detectors.fields import Fields


@dataclass(slots=True)
class Event:
    """One log entry (a line, or a line with its folded continuation lines).

    `line` is the 1-based number of the entry's first physical line in `source`.
    `ts` is seconds since the epoch (UTC) or None when the entry carries no timestamp
    the reader could parse (readers then carry the previous entry's time forward in `ts`
    and set `ts_inferred`).
    """

    source: str  # the file's path as the user gave it, or "-" for stdin
    line: int  # 1-based line number of the first physical line
    ts: float | None  # epoch seconds, UTC
    text: str  # the message without its header (what templates are mined from)
    raw: str  # the whole entry as read (continuation lines joined with "\n")
    level: str | None = None  # normalised: TRACE DEBUG INFO WARN ERROR FATAL, or None
    host: str | None = None
    service: str | None = None  # component / program / logger
    fmt: str = "plain"  # the format the reader detected, e.g. "bgl", "syslog3164", "jsonl"
    ts_inferred: bool = False
    label: str | None = None  # ground-truth label when the format carries one (BGL's first field)
    fields: Fields | None = None  # HTTP status, route, latency, exception class, structured attributes

    @property
    def where(self) -> str:
        """`file:line`, the evidence id of this event."""
        return f"{self.source}:{self.line}"


@dataclass(frozen=True, slots=True)
class Skip:
    """Something the readers could not use, and what the user can do about it."""

    source: str
    line: int | None  # None when the whole source was skipped
    reason: str  # short category, e.g. "binary file", "invalid UTF-8", "not found"
    message: str  # one line naming the file (and line) and what to do


@dataclass(slots=True)
class ReadStats:
    """Totals for the report: what was read, what was skipped and why."""

    sources: list[str] = field(default_factory=list)  # sources actually read
    lines: int = 0  # physical lines read
    events: int = 0  # entries emitted (after multi-line folding)
    folded: int = 0  # continuation lines folded into the entry before them
    skips: list[Skip] = field(default_factory=list)
    skipped_by_reason: Counter[str] = field(default_factory=Counter)
    formats: Counter[str] = field(default_factory=Counter)  # detected format -> number of sources
    notes: list[str] = field(default_factory=list)  # how time was read: years inferred, sources without time

    def skip(self, skip: Skip, *, keep: int = 200) -> None:
        """Count a skip; keep the first `keep` of them verbatim for the report."""
        self.skipped_by_reason[skip.reason] += 1
        if len(self.skips) < keep:
            self.skips.append(skip)
