"""Windows over an event table: by session key, by time span, or by a sliding count of lines.

A window set is stored as CSR arrays (`offsets`, `members` = event indices), so a million events make a few
megabytes of windows; `LogWindow` samples are built only when a detector or a report asks for one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from detectors import spill
from detectors.base import DetectorError, LogWindow
from detectors.eventtable import EventTable
from detectors.saferegex import compile_user

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


class WindowError(DetectorError):
    """A window specification that cannot be used."""


def _span(text: str, spec: str) -> float:
    m = _SPAN.match(text.strip())
    if not m:
        raise WindowError(f"bad time span {text!r} in window {spec!r}; use e.g. 30s, 5m, 1h")
    return float(m.group(1)) * _UNIT[m.group(2)]


@dataclass(frozen=True)
class WindowSpec:
    """How to cut events into windows; parse it from `count:20[:10]`, `time:5m[:1m]` or `session:REGEX`."""

    kind: str  # "count" | "time" | "session"
    size: float = 20  # lines (count) or seconds (time)
    step: float = 10  # lines or seconds between window starts
    pattern: str = ""  # session key regex

    @classmethod
    def parse(cls, spec: str) -> WindowSpec:
        """Parse a window specification.

        Raises:
            WindowError: If the specification is malformed; the message shows the accepted forms.
        """
        kind, _, rest = spec.partition(":")
        kind = kind.strip().lower()
        if kind == "count":
            parts = rest.split(":") if rest else ["20"]
            try:
                size = int(parts[0])
                step = int(parts[1]) if len(parts) > 1 else max(1, size // 2)
            except ValueError:
                raise WindowError(f"bad count window {spec!r}; use count:SIZE or count:SIZE:STEP, e.g. count:20:10") from None
            if size < 1 or step < 1:
                raise WindowError(f"count window {spec!r} needs SIZE >= 1 and STEP >= 1")
            return cls("count", size, step)
        if kind == "time":
            parts = rest.split(":") if rest else ["5m"]
            size = _span(parts[0], spec)
            step = _span(parts[1], spec) if len(parts) > 1 else size
            if size <= 0 or step <= 0:
                raise WindowError(f"time window {spec!r} needs a positive span and step")
            return cls("time", size, step)
        if kind == "session":
            if not rest:
                raise WindowError(f"session window {spec!r} needs a key regex, e.g. session:blk_-?\\d+")
            try:
                compile_user(rest)  # RE2: linear time on any log line
            except re.error as error:
                raise WindowError(f"bad session regex {rest!r}: {error}") from None
            return cls("session", 0, 0, rest)
        raise WindowError(f"unknown window kind {kind!r} in {spec!r}; use count:20:10, time:5m or session:REGEX")

    def describe(self) -> str:
        """A phrase for the report, e.g. "sliding windows of 20 lines, step 10"."""
        if self.kind == "count":
            return f"sliding windows of {int(self.size)} lines, step {int(self.step)}"
        if self.kind == "time":
            return f"time windows of {self.size:g} s, step {self.step:g} s"
        return f"session windows keyed by /{self.pattern}/"


class Windows(Sequence[LogWindow]):
    """A set of windows over an event table, as CSR arrays; indexing builds a `LogWindow`."""

    def __init__(self, table: EventTable, offsets: np.ndarray, members: np.ndarray, keys: list[str] | None,
                 spec: WindowSpec, starts: np.ndarray | None = None) -> None:
        self.table = table
        self.offsets = offsets  # int64, len = n + 1
        self._members: np.ndarray | None = members
        self.spec = spec
        self._keys = keys
        self._starts = starts  # first event index (count/time), for keys

    @property
    def members(self) -> np.ndarray:
        """Event indices of every window, window after window (int32 when the table has fewer than 2**30 events).

        Windows that are ranges of the table (count and time windows) rebuild it when `release` let it go."""
        if self._members is None:
            assert self._starts is not None  # only ranges are released
            self._members = _range_members(self.offsets, self._starts, len(self.table))
        return self._members

    def release(self) -> None:
        """Let the members array go when it can be rebuilt (count and time windows: each is a range of the table),
        so that it does not stay in memory after scoring (4 bytes per event and window holding it); the next use
        of `members` rebuilds it, the same."""
        if self._starts is not None and len(self._starts) == len(self):
            self._members = None

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def key(self, i: int) -> str:
        """The window's key: the session key, or its line range / time span."""
        if self._keys is not None:
            return self._keys[i]
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        if hi <= lo:
            return f"window {i} (empty)"
        first, last = int(self.members[lo]), int(self.members[hi - 1])
        return f"{self.table.where(first)}..{self.table.where(last)}"

    @overload
    def __getitem__(self, i: int) -> LogWindow: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[LogWindow]: ...
    def __getitem__(self, i: int | slice) -> LogWindow | Sequence[LogWindow]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        idx = self.members[self.offsets[i]:self.offsets[i + 1]]
        return LogWindow(id=i, key=self.key(i), events=idx, templates=self.table.template[idx])

    def slice(self, lo: int, hi: int) -> Windows:
        """Windows lo..hi-1 as a view (no copy of the members)."""
        a = int(self.offsets[lo])
        keys = self._keys[lo:hi] if self._keys is not None else None
        return Windows(self.table, self.offsets[lo:hi + 1] - a, self.members[a:int(self.offsets[hi])], keys, self.spec)

    def subset(self, which: np.ndarray) -> Windows:
        """The windows at indices `which`, as a new window set over the same table."""
        which = np.asarray(which, dtype=np.int64)
        lengths = self.offsets[which + 1] - self.offsets[which]
        offsets = np.zeros(len(which) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        members = np.concatenate([self.members[self.offsets[w]:self.offsets[w + 1]] for w in which]) \
            if len(which) else np.zeros(0, np.int64)
        keys = [self.key(int(w)) for w in which] if self._keys is not None else None
        return Windows(self.table, offsets, members, keys, self.spec)

    def window_of_events(self) -> np.ndarray:
        """For each window, its first event index (the window's position in time)."""
        firsts = np.full(len(self), -1, dtype=np.int64)
        nonempty = self.offsets[1:] > self.offsets[:-1]
        firsts[nonempty] = self.members[self.offsets[:-1][nonempty]]
        return firsts


def make_windows(table: EventTable, spec: WindowSpec, sessions: np.ndarray | None = None,
                 session_keys: list[str] | None = None) -> Windows:
    """Cut the (frozen) event table into windows.

    Args:
        table: The events, in the order they were read (time-merged).
        spec: The window specification.
        sessions: For session windows: the session id of each event (-1 = no session key).
        session_keys: For session windows: the key text of each session id.
    """
    n = len(table)
    if spec.kind == "count":
        size, step = int(spec.size), int(spec.step)
        starts = np.arange(0, max(n - size, 0) + 1, step, dtype=np.int64) if n else np.zeros(0, np.int64)
        if n and (len(starts) == 0 or starts[-1] + size < n):
            starts = np.append(starts, max(n - size, 0))  # the tail is always covered
        ends = np.minimum(starts + size, n)
        return _ranges(table, starts, ends, spec)
    if spec.kind == "time":
        ts = table.ts
        if n == 0 or np.isnan(ts).all():
            raise WindowError("time windows need timestamps, and none were found in these logs; use --window count:20:10")
        filled = _ffill(ts)
        t0, t1 = float(np.nanmin(filled)), float(np.nanmax(filled))
        # Events are merged in time order, so each window is a contiguous range of the table.
        order_ok = bool(np.all(np.diff(filled) >= 0))
        if not order_ok:
            raise WindowError("time windows need events in time order; these sources are not (use count windows)")
        begins = np.arange(t0, t1 + spec.step, spec.step)
        starts = np.searchsorted(filled, begins, side="left").astype(np.int64)
        ends = np.searchsorted(filled, begins + spec.size, side="left").astype(np.int64)
        keep = ends > starts
        return _ranges(table, starts[keep], ends[keep], spec)
    if sessions is None or session_keys is None:
        raise WindowError("session windows need the session ids extracted while reading")
    has = sessions >= 0
    idx = np.nonzero(has)[0].astype(_index_dtype(n))
    order = np.argsort(sessions[idx], kind="stable")
    members = idx[order]
    counts = np.bincount(sessions[idx], minlength=len(session_keys))
    offsets = np.zeros(len(session_keys) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Windows(table, offsets, members, list(session_keys), spec)


def _ffill(ts: np.ndarray) -> np.ndarray:
    out = ts.copy()
    mask = np.isnan(out)
    if mask.all():
        return np.zeros_like(out)
    idx = np.where(~mask, np.arange(len(out)), 0)
    np.maximum.accumulate(idx, out=idx)
    out = out[idx]
    first = np.argmax(~mask)
    out[:first] = out[first]
    return out


def _index_dtype(n: int) -> type[np.signedinteger]:
    """The dtype of event indices into a table of n events: int32 when they fit, else int64."""
    return np.int32 if n < 2**30 else np.int64  # offsets - starts (up to 2 n) fit too


def _ranges(table: EventTable, starts: np.ndarray, ends: np.ndarray, spec: WindowSpec) -> Windows:
    lengths = ends - starts
    offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Windows(table, offsets, _range_members(offsets, starts, len(table)), None, spec, starts)


def _range_members(offsets: np.ndarray, starts: np.ndarray, n_events: int) -> np.ndarray:
    """The members of windows that are ranges starts[i] .. starts[i] + (offsets[i+1] - offsets[i]) of the table."""
    lengths = np.diff(offsets)
    total = int(offsets[-1])
    # members = concat(arange(s, e)) without a Python loop, as int32 (event indices) when they fit: overlapping
    # windows hold each line more than once, and this array is the largest one kept per line.
    # A long log's members go to a temporary file (detectors.spill), written a block of windows at a time.
    dtype = _index_dtype(n_events)
    members = spill.empty(total, dtype)
    shift = (offsets[:-1] - starts).astype(dtype)
    for lo in range(0, len(starts), 1 << 14):  # a block of windows at a time: no second array of that size
        hi = min(lo + (1 << 14), len(starts))
        a, b = int(offsets[lo]), int(offsets[hi])
        members[a:b] = np.arange(a, b, dtype=dtype)
        members[a:b] -= np.repeat(shift[lo:hi], lengths[lo:hi])
        spill.release()
    return members
