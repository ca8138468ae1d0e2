"""Time you can trust: each source's range, sources that do not overlap or whose clocks look shifted, and sources
without timestamps (kept, ordered by position, left out of the rate series).

Year-less timestamps get their year while reading (`detectors.readers.year_references`); what the readers noted
comes in as `read_notes` and is passed on.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from detectors import spill
from detectors.eventtable import EventTable
from detectors.incidents import columns

MIN_SHIFT_S = 30 * 60  # a smaller offset between sources is ordinary (services start and stop at other times)


@dataclass
class TimeBase:
    """Per-event times the engine uses, and what it had to say about them."""

    t: np.ndarray  # float64 per event: epoch seconds (corrected), or the position when nothing is timed (may be a
    # read-only view of the table's ts column)
    usable: np.ndarray  # bool per event: counted in the rate series
    timed: bool  # False: no source had timestamps (t is the event's position)
    notes: list[str] = field(default_factory=list)
    shifts: dict[str, float] = field(default_factory=dict)  # source -> seconds added to its times
    # per source: when the group of sources whose time ranges overlap or touch it began and ended logging (NaN:
    # untimed). A key first seen before its group has logged for a while has no "before" to be new against.
    origin: np.ndarray = field(default_factory=lambda: np.zeros(0))
    group_end: np.ndarray = field(default_factory=lambda: np.zeros(0))


_STEP = 1 << 16  # events per chunk


def _fmt(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts))


# A rotated piece of a log: "auth.log.1", "auth.log.2.gz", "messages-20241201", "syslog.1.gz", "app.log.2024-12-01".
_ROTATED = re.compile(r"(?:[.-]\d{8}|\.\d{4}-\d{2}-\d{2}|\.\d{1,3})?(?:\.(?:gz|bz2|xz|zst))?$")


def rotation_families(sources: list[str]) -> dict[int, list[int]]:
    """Sources that are pieces of one rotated log (the same name in the same folder, with logrotate's number, date or
    compression suffix), keyed by the first of them: they cover consecutive periods by design, so their time
    ranges are one range, not sources that fail to overlap."""
    families: dict[str, list[int]] = {}
    for i, source in enumerate(sources):
        families.setdefault(_ROTATED.sub("", source) or source, []).append(i)
    return {members[0]: members for members in families.values()}


def build(table: EventTable, read_notes: list[str] | None = None) -> TimeBase:
    """Check the sources' clocks against each other and choose the time axis."""
    n = len(table)
    notes = list(read_notes or [])
    ts = np.asarray(table.ts, dtype=np.float64)
    finite = spill.empty(n, bool)
    any_inf = False
    for lo, hi in _chunks(n):  # a long log's times are read through a spill file
        finite[lo:hi] = np.isfinite(ts[lo:hi])
        any_inf = any_inf or bool(np.isinf(ts[lo:hi]).any())
    sources = table.sources
    if n == 0:
        return TimeBase(np.zeros(0), np.zeros(0, bool), False, notes)
    if not finite.any():
        notes.append("no source has timestamps the readers could parse: changes are found by position (line order), "
                     "and onsets are given as lines, not times")
        return TimeBase(np.arange(n, dtype=np.float64), np.ones(n, bool), False, notes)
    src = table.source
    ranges: dict[int, tuple[float, float, int]] = {}
    timed = np.zeros(len(sources), dtype=np.int64)  # each source's timed lines
    for lo, hi in _chunks(n):
        timed += np.bincount(src[lo:hi][finite[lo:hi]], minlength=len(sources))
    for s in range(len(sources)):
        cnt = int(timed[s])
        if cnt == 0:
            total = int((src == s).sum())
            if total and not any(sources[s] in note and "no timestamps" in note for note in notes):
                notes.append(f"{sources[s]}: no timestamps; its {total} lines keep their order by position and stay "
                             f"out of the rate series")
            continue
        # The 1st and 99th percentiles of this source's times, keeping only the values they need (a long log's
        # times are read through a spill file a chunk at a time: detectors.spill).
        q01, q99 = columns.quantiles_where(ts, lambda lo, hi, s=s: (src[lo:hi] == s) & finite[lo:hi], cnt,
                                           (0.01, 0.99))
        ranges[s] = (q01, q99, cnt)
    families = rotation_families(list(sources))
    for head, members in families.items():  # the pieces of a rotated log are checked as one source
        got = [ranges.pop(m) for m in members if m in ranges]
        if got:
            ranges[head] = (min(r[0] for r in got), max(r[1] for r in got), sum(r[2] for r in got))
    usable = spill.copy(finite)
    if any_inf:
        t = spill.empty(n, np.float64)
        for lo, hi in _chunks(n):
            t[lo:hi] = np.where(finite[lo:hi], ts[lo:hi], np.nan)
    else:
        t = ts.view()  # the table's own column, not a copy of it (8 bytes per event): read-only here
        t.flags.writeable = False
    shifts: dict[str, float] = {}
    if len(ranges) >= 2:
        for s, (lo, hi, _cnt) in ranges.items():
            others = [r for o, r in ranges.items() if o != s]
            o_lo = float(np.median([r[0] for r in others]))
            o_hi = float(np.median([r[1] for r in others]))
            span = max(o_hi - o_lo, hi - lo, 60.0)
            d_lo, d_hi = lo - o_lo, hi - o_hi
            overlap = min(hi, max(r[1] for r in others)) - max(lo, min(r[0] for r in others))
            members = families[s]
            name = sources[s] if len(members) == 1 else \
                f"{sources[s]} (with its rotated pieces {', '.join(sources[m] for m in members[1:])})"
            mine = _of_sources(src, members)
            if overlap < 0:
                notes.append(f"{name}: covers {_fmt(lo)} to {_fmt(hi)} UTC, which does not overlap the other "
                             f"sources ({_fmt(o_lo)} to {_fmt(o_hi)}); its clock, year or time zone may be off, so its "
                             f"changes are not grouped with theirs")
                others_overlap = len(others) >= 2 and min(r[1] for r in others) >= max(r[0] for r in others)
                if others_overlap:
                    for lo, hi in _chunks(n):
                        usable[lo:hi] &= ~mine(lo, hi)
                continue
            same_shift = abs(d_lo - d_hi) <= max(0.05 * span, 120.0)
            # Only against others that agree among themselves (rotated files cover consecutive periods).
            agree = (len(others) >= 2 and max(r[0] for r in others) - min(r[0] for r in others) <= 0.1 * span
                     and max(r[1] for r in others) - min(r[1] for r in others) <= 0.1 * span)
            if same_shift and abs(d_lo) >= MIN_SHIFT_S and agree:
                shift = (d_lo + d_hi) / 2
                hours = round(shift / 3600.0)
                if hours and abs(shift - hours * 3600.0) <= 300:
                    moved = spill.empty(n, np.float64)  # the shifted copy, a chunk at a time
                    for lo, hi in _chunks(n):
                        moved[lo:hi] = np.where(mine(lo, hi), t[lo:hi] - hours * 3600.0, t[lo:hi])
                    t = moved
                    for m in members:
                        shifts[sources[m]] = -hours * 3600.0
                    notes.append(f"{name}: its times run {hours:+d} h against the other sources over the same "
                                 f"period (a time-zone difference?); shifted by {-hours:+d} h to compare them")
                else:
                    notes.append(f"{name}: its clock looks {shift / 60:+.0f} min off against the other sources "
                                 f"(start and end both shifted); cross-source order with it is not trusted")
    return TimeBase(t, usable, True, notes, shifts, *_groups(t, src, len(sources)))


def _chunks(n: int) -> Iterator[tuple[int, int]]:
    """Chunks of _STEP events, the pages of a long log's spilled columns handed back after each."""
    return columns.spans(n, _STEP)


def _of_sources(src: np.ndarray, members: list[int]) -> Callable[[int, int], np.ndarray]:
    """The mask of events lo..hi that belong to one of `members` (a source and its rotated pieces)."""
    ids = np.asarray(members, dtype=src.dtype)
    return lambda lo, hi: np.isin(src[lo:hi], ids)


def _groups(t: np.ndarray, src: np.ndarray, n_sources: int) -> tuple[np.ndarray, np.ndarray]:
    """Per source, the start of its group: sources whose (corrected) time ranges overlap, or follow each other
    within a gap of an hour or 5 % of a source's median span (rotated files), are one group. An error log whose first line
    comes at the incident is in the group of the access log that ran all along, so its first lines can be new; a
    source from another day or year, alone in its group, only starts."""
    origin = np.full(n_sources, np.nan)
    end = np.full(n_sources, np.nan)
    # Each source's first and last time, one pass a chunk of events at a time.
    low, high = np.full(n_sources, np.inf), np.full(n_sources, -np.inf)
    n = len(t)
    for lo, hi in _chunks(n):
        tt, ss = t[lo:hi], src[lo:hi]
        ok = np.isfinite(tt)
        np.minimum.at(low, ss[ok], tt[ok])
        np.maximum.at(high, ss[ok], tt[ok])
    spans = [(float(low[s]), float(high[s]), s) for s in range(n_sources) if low[s] <= high[s]]
    if not spans:
        return origin, end
    spans.sort()
    gap = max(0.05 * float(np.median([hi - lo for lo, hi, _ in spans])), 3600.0)
    group_start, reach = spans[0][0], spans[0][1]
    members: list[int] = []
    for lo, hi, s in spans:
        if lo > reach + gap:
            origin[members], end[members] = group_start, reach
            group_start, members = lo, []
        members.append(s)
        reach = max(reach, hi)
    origin[members], end[members] = group_start, reach
    return origin, end
