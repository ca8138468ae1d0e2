"""The log view's model: line offsets per source, rows merged by time, filters and search — no Textual here.

Nothing holds the text of the lines. Each source is indexed once (the byte offset of every line, found with numpy
in large chunks) and memory-mapped; a row is `(source, line)` and its text is read by offset when it is drawn. A
1M-line file costs ~8 MB of offsets plus a few bytes per row for the merged order, scores and filter masks.

Everything here is plain numpy and can run in a worker thread; the widgets only read finished arrays.
"""

from __future__ import annotations

import gzip
import mmap
import os
import re
import shutil
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detectors.saferegex import compile_user
from detectors.terminal import visible

if TYPE_CHECKING:
    from detectors.pipeline import AuditResult
    from detectors.report import Anomaly

CHUNK = 8 << 20  # bytes scanned per step while indexing: big enough for numpy, small enough to report progress
SCAN_LINES = 20_000  # lines a regex scans before yielding to the UI thread
MAX_LINE_CHARS = 2_000  # longer lines are cut when drawn (a 10 MB single line must not freeze a repaint)
LEVELS: tuple[str, ...] = ("", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")  # as detectors.eventtable
_LEADING_LEVEL = re.compile(r"(?:TRACE|DEBUG|INFO|NOTICE|WARN(?:ING)?|ERROR|SEVERE|CRITICAL|FATAL)[:\s]\s*")
# JSON keys shown in the header columns (or as the message), not repeated after the message
_HEADER_KEYS = frozenset({"timestamp", "time", "@timestamp", "ts", "date", "datetime", "t", "level", "severity", "lvl",
                          "loglevel", "log_level", "levelname", "host", "hostname", "message", "msg", "log", "text",
                          "@message"})


def _short(value: object, limit: int = 60) -> str:
    """A JSON value as shown after the message: strings bare, others as JSON, cut at `limit`."""
    import json

    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


class IndexError_(Exception):
    """A source could not be opened or indexed; the message names it and says what to do."""


def expand(paths: Sequence[str]) -> list[str]:
    """The files behind `paths` (directories recursively, sorted), as the audit names them.

    Uses `detectors.readers.expand_sources` when it is there, so the names match the audit's `file:line`s;
    plain files are kept as given without importing the readers (that import is on the way to the first paint).
    """
    if all(p != "-" and os.path.isfile(p) for p in paths):
        return list(dict.fromkeys(paths))
    try:
        from detectors.readers import expand_sources
    except ImportError:  # the readers are being written; a plain walk names files the same way
        expand_sources = None
    if expand_sources is not None:
        try:
            found = list(expand_sources(list(paths), (), ()))
            if found:
                return [str(p) for p in found]
        except Exception:  # noqa: BLE001 - a reader bug must not stop the viewer; fall back to the walk
            pass
    out: list[str] = []
    for p in paths:
        if p != "-" and os.path.isdir(p):
            out.extend(str(f) for f in sorted(Path(p).rglob("*")) if f.is_file())
        else:
            out.append(p)
    return out


@dataclass
class Source:
    """One indexed file: where each line starts, and a memory map to read lines by offset."""

    name: str  # the path as given: the audit's sources use the same string
    file: Path  # what is read: the file itself, or a decompressed copy of a .gz
    bounds: np.ndarray  # int64: bounds[i] is where line i (0-based) starts; bounds[-1] the end of the last line
    size: int = 0  # bytes indexed so far
    _mm: mmap.mmap | None = field(default=None, repr=False)

    @property
    def lines(self) -> int:
        """Lines indexed (a last line without a newline counts)."""
        return max(len(self.bounds) - 1, 0)

    def open(self) -> None:
        """(Re)map the file up to `size` bytes."""
        self.close()
        if self.size == 0:
            return
        with open(self.file, "rb") as fh:  # the map stays valid after the file is closed
            self._mm = mmap.mmap(fh.fileno(), self.size, access=mmap.ACCESS_READ)

    def close(self) -> None:
        """Release the map."""
        if self._mm is not None:
            try:
                self._mm.close()
            except BufferError:  # a scan in a worker still reads it; the map is freed when that ends
                pass
            self._mm = None

    @property
    def buffer(self) -> mmap.mmap | bytes:
        """The mapped bytes (empty for an empty file)."""
        return self._mm if self._mm is not None else b""

    def raw(self, i: int) -> bytes:
        """The bytes of line `i` (0-based) without its line ending, cut at MAX_LINE_CHARS * 4 bytes."""
        start, end = int(self.bounds[i]), int(self.bounds[i + 1])
        end = min(end, start + MAX_LINE_CHARS * 4)
        data = self.buffer[start:end]
        return data.rstrip(b"\r\n")

    def text(self, i: int) -> str:
        """Line `i` (0-based) as printable text: invalid UTF-8 replaced, tabs expanded, control characters shown."""
        s = self.raw(i).decode("utf-8", "replace")
        if len(s) > MAX_LINE_CHARS:
            s = s[:MAX_LINE_CHARS] + "…"
        if "\t" in s:
            s = s.expandtabs(4)
        return visible(s, limit=None, newlines=False)  # controls and bidi characters as visible escapes


def scan_newlines(fh, start: int, on_chunk: Callable[[np.ndarray, int], None] | None = None,
                  cancelled: Callable[[], bool] = lambda: False) -> tuple[np.ndarray, int]:
    """Offsets just after each newline from byte `start` of an open binary file, and the end position.

    Args:
        fh: A binary file positioned anywhere; it is seeked to `start`.
        start: The first byte to scan.
        on_chunk: Called with the offsets found so far and the bytes scanned, after each chunk.
        cancelled: Polled between chunks; scanning stops early when it returns True.
    """
    fh.seek(start)
    parts: list[np.ndarray] = []
    pos = start
    while not cancelled():
        chunk = fh.read(CHUNK)
        if not chunk:
            break
        nl = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
        parts.append(nl.astype(np.int64) + (pos + 1))
        pos += len(chunk)
        if on_chunk is not None:
            on_chunk(np.concatenate(parts) if len(parts) > 1 else parts[0], pos)
    found = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return found, pos


def _bounds(newlines: np.ndarray, end: int) -> np.ndarray:
    """Line bounds from the offsets after each newline: [0, nl1, nl2, ..., end] without an empty last line."""
    b = np.concatenate([np.zeros(1, np.int64), newlines])
    if b[-1] != end:
        b = np.concatenate([b, np.asarray([end], np.int64)])
    return b


def index_source(name: str, workdir: Path | None = None,
                 on_progress: Callable[[Source], None] | None = None,
                 cancelled: Callable[[], bool] = lambda: False) -> Source:
    """Index one file's lines (a .gz is decompressed to `workdir` first).

    Args:
        name: The path as the user gave it.
        workdir: Where decompressed copies go (a temporary folder the caller removes).
        on_progress: Called with the partial source after each chunk, so the view can draw the first lines early.
        cancelled: Polled between chunks.

    Raises:
        IndexError_: If the file cannot be read; the message names it.
    """
    path = Path(name)
    try:
        file = path
        if name.endswith(".gz"):
            target = Path(workdir or tempfile.mkdtemp(prefix="sleuth-tui-")) / (path.name[:-3] or "log")
            try:
                with gzip.open(path, "rb") as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
            except (EOFError, gzip.BadGzipFile, OSError):  # a truncated .gz: keep what decompressed
                if not target.exists():
                    raise
            file = target
        source = Source(name, file, np.zeros(1, np.int64))
        with open(file, "rb") as fh:
            def partial(newlines: np.ndarray, pos: int) -> None:
                source.bounds = np.concatenate([np.zeros(1, np.int64), newlines])
                source.size = int(source.bounds[-1])
                if on_progress is not None and source.lines:
                    source.open()
                    on_progress(source)

            newlines, end = scan_newlines(fh, 0, partial, cancelled)  # end: bytes scanned
    except OSError as error:
        raise IndexError_(f"cannot read {name!r}: {error.strerror or error}; check the path and its permissions") from None
    source.bounds = _bounds(newlines, end)
    source.size = end
    source.open()
    return source


def grow_source(source: Source) -> int:
    """Index the lines appended to `source` since it was indexed (follow mode); returns how many were added.

    A partial last line (no newline yet) is left for the next call. A file that shrank (rotated or truncated)
    is re-indexed from the start.
    """
    try:
        size = os.path.getsize(source.file)
    except OSError:
        return 0
    complete = int(source.bounds[-1]) if source.lines else 0
    if size < source.size:  # truncated or rotated: start again
        complete, source.bounds = 0, np.zeros(1, np.int64)
    if size == complete:
        return 0
    before = source.lines
    with open(source.file, "rb") as fh:
        newlines, _ = scan_newlines(fh, complete)
    if len(newlines) == 0:
        return 0
    # Drop a partial last line indexed earlier, then add the complete lines that follow.
    kept = source.bounds[source.bounds <= complete]
    source.bounds = np.concatenate([kept, newlines])
    source.size = int(source.bounds[-1])
    source.open()
    return source.lines - before


# --------------------------------------------------------------------------------------------------- the query


@dataclass(frozen=True)
class Query:
    """A live filter, parsed from the filter bar: `text -exclude level:warn host:db-01 after:03:10 anomalous`."""

    include: tuple[str, ...] = ()  # regexes a line must all match
    exclude: tuple[str, ...] = ()  # regexes a line must not match
    min_level: int = 0  # index into LEVELS; 0 = any
    hosts: tuple[str, ...] = ()  # any of these hosts
    services: tuple[str, ...] = ()  # any of these services (component / program / logger)
    after: float | None = None  # epoch seconds (inclusive)
    before: float | None = None  # epoch seconds (exclusive)
    anomalous: bool = False  # only lines at or above the detector's threshold
    phrases: tuple[str, ...] = ()  # quoted phrases a line must all contain (literally; smart case)
    fields: tuple[tuple[str, str], ...] = ()  # field:value pairs a line must all have (status:503, user_id:42)
    not_fields: tuple[tuple[str, str], ...] = ()  # -field:value pairs a line must not have

    @property
    def empty(self) -> bool:
        """Whether the query keeps every line."""
        return self == Query()

    @property
    def needs_audit(self) -> bool:
        """Whether the query uses columns only the audit provides (level, host, time, scores)."""
        return bool(self.min_level or self.hosts or self.services or self.after is not None or self.before is not None
                    or self.anomalous)


class QueryError(ValueError):
    """The filter text cannot be used; the message says which part and why."""


def _time_of(text: str, ref: float | None) -> float:
    """Epoch seconds of an ISO timestamp, or of `HH:MM[:SS]` on the day of `ref` (the log's first timestamp)."""
    from datetime import datetime

    m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text)
    if m:
        if ref is None:
            raise QueryError(f"{text!r}: a time of day needs timestamps in the log; give a full ISO time")
        if int(m[1]) > 23 or int(m[2]) > 59 or int(m[3] or 0) > 59:
            raise QueryError(f"{text!r} is not a time of day; use HH:MM between 00:00 and 23:59")
        day = datetime.fromtimestamp(ref, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return day.timestamp() + int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3] or 0)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(f"{text!r} is not a time; use HH:MM, HH:MM:SS or an ISO 8601 timestamp") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


_TERM = re.compile(r"""(?P<neg>[-!](?=\S))?(?:(?P<key>[A-Za-z_@][\w.@/-]*):(?=\S))?"""
                   r"""(?:"(?P<dq>[^"]*)"?|'(?P<sq>[^']*)'?|(?P<bare>\S+))""")
_KNOWN_KEYS = frozenset({"level", "host", "service", "svc", "after", "since", "from", "before", "until", "to"})


def number_pattern(digits: str) -> str:
    """A regex for a bare number typed in the filter: the number as a value (`503` in `" 503 "`, `"status":503`),
    never a piece of a timestamp, a date, an IP address or a longer number (`03:50:35.503`, `2026-05-03`).
    RE2 syntax (no look-around): the characters around the number are matched, not peeked at."""
    return r"(?:^|[\"']: ?|[^\w:.\-+/])" + re.escape(digits) + r"(?:$|[^\w:.\-]|\.(?:$|\D))"


def parse_query(text: str, ref_ts: float | None = None) -> Query:
    """Parse the filter bar's text.

    Terms (space separated): `REGEX` keep matching lines; `"a phrase"` keep lines containing it literally; a bare
    number (`503`) matches it as a value, not inside timestamps; `-TERM` or `!TERM` drop matching lines;
    `level:warn` keep WARN and above; `host:a,b` / `service:api` keep those hosts / services; `after:03:10` /
    `before:2026-11-23T04:00` keep a time range; `FIELD:VALUE` (any other name) keep lines whose structured field
    has that value — `status:503`, `status:5xx`, `user_id:42`, `route:/api/orders`, `exc:TimeoutError`,
    `msg:"no space"` — from JSON lines, key=value pairs and the fields the readers parse; `anomalous` (or `!!`)
    keep lines the detector flagged. Text that is all lower case matches case-insensitively.

    Raises:
        QueryError: If a term is not valid; the message names it.
    """
    include: list[str] = []
    exclude: list[str] = []
    phrases: list[str] = []
    fields: list[tuple[str, str]] = []
    not_fields: list[tuple[str, str]] = []
    min_level, hosts, services, after, before, anomalous = 0, (), (), None, None, False
    for m in _TERM.finditer(text):
        neg = bool(m["neg"])
        key = m["key"]
        quoted = m["dq"] is not None or m["sq"] is not None
        value = m["dq"] if m["dq"] is not None else m["sq"] if m["sq"] is not None else (m["bare"] or "")
        term = m[0]
        if key is not None:
            low = key.lower()
            if low in _KNOWN_KEYS and not neg:
                if low == "level":
                    names = [n for n in LEVELS if n and n.startswith(value.upper()[:4])]
                    if not names:
                        raise QueryError(f"level:{value}: use one of trace, debug, info, warn, error, fatal")
                    min_level = LEVELS.index(names[0])
                elif low == "host":
                    hosts = tuple(h for h in value.split(",") if h)
                elif low in ("service", "svc"):
                    services = tuple(h for h in value.split(",") if h)
                elif low in ("after", "since", "from"):
                    after = _time_of(value, ref_ts)
                else:
                    before = _time_of(value, ref_ts)
                continue
            if not value:
                raise QueryError(f"{term!r}: give a value after the colon, e.g. status:503")
            (not_fields if neg else fields).append((key, value))
            continue
        if not quoted and (term == "!!" or (not neg and value == "anomalous")):
            anomalous = True
            continue
        if term in ("-", "!"):
            continue
        if quoted:
            if not value:
                continue
            if neg:
                exclude.append(re.escape(value))
            else:
                phrases.append(value)
            continue
        pattern = number_pattern(value) if value.isdigit() else _checked(value)
        (exclude if neg else include).append(pattern)
    return Query(tuple(include), tuple(exclude), min_level, hosts, services, after, before, anomalous,
                 tuple(phrases), tuple(fields), tuple(not_fields))


def _checked(pattern: str) -> str:
    try:
        compile_bytes(pattern)
    except re.error as error:
        raise QueryError(f"{pattern!r} is not a valid regex: {error}") from None
    return pattern


def compile_bytes(pattern: str) -> Any:
    """The byte regex for a user pattern: case-insensitive when the pattern has no capital letter (smart case).
    Compiled with RE2 (`detectors.saferegex`): a search over a file of hostile lines stays linear."""
    return compile_user(pattern.encode("utf-8"), ignore_case=not any(c.isupper() for c in pattern), multiline=True)


# --------------------------------------------------------------------------------------------------- the model


@dataclass
class AuditColumns:
    """The audit's per-event columns laid over the base rows (one value per row)."""

    event: np.ndarray  # int32: the event a row belongs to (continuation lines share their entry's), -1 if none
    score: np.ndarray  # float32: the line score (0 for lines outside any window)
    ts: np.ndarray  # float64: forward-filled timestamps (NaN before the first)
    level: np.ndarray  # int8 index into LEVELS
    host: np.ndarray  # int32 index into `hosts`
    hosts: list[str]
    service: np.ndarray  # int32 index into `services`
    services: list[str]
    threshold: float
    status: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))  # HTTP status per row (0: none)
    route: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # index into `routes`
    routes: list[str] = field(default_factory=list)
    exc: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # index into `excs`
    excs: list[str] = field(default_factory=list)
    attr_event: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # (event, "field=value") pairs
    attr_code: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    attrs: list[str] = field(default_factory=list)

    def field_rows(self, key: str, value: str) -> np.ndarray:
        """Which rows have structured field `key` equal to `value` (case-insensitive; `5xx` for a status class,
        a trailing `*` for a prefix; routes and exception classes match a part)."""
        k, v = key.lower(), value.lower()
        n = len(self.event)
        has = self.event >= 0
        ev = np.where(has, self.event, 0)
        if k in ("status", "code", "status_code", "http_status") and len(self.status) == n:
            if re.fullmatch(r"[1-5]xx", v):
                lo = int(v[0]) * 100
                return (self.status >= lo) & (self.status < lo + 100)
            if v.isdigit():
                return self.status == int(v)
        if k == "route" and self.routes:
            codes = [i for i, r in enumerate(self.routes) if r and v in r.lower()]
            return has & np.isin(self.route, codes) if len(self.route) == n else np.zeros(n, bool)
        if k in ("exc", "exception") and self.excs:
            codes = [i for i, e in enumerate(self.excs) if e and v in e.lower()]
            return has & np.isin(self.exc, codes) if len(self.exc) == n else np.zeros(n, bool)
        if not self.attrs or not len(self.attr_event):
            return np.zeros(n, bool)
        prefix = v.endswith("*")
        want = v.rstrip("*")
        codes = []
        for i, a in enumerate(self.attrs):
            name, _, val = a.partition("=")
            if name.lower() != k and not name.lower().endswith("." + k):
                continue
            val = val.lower()
            if val == want or (prefix and val.startswith(want)):
                codes.append(i)
        if not codes:
            return np.zeros(n, bool)
        events = np.unique(self.attr_event[np.isin(self.attr_code, codes)])
        return has & np.isin(ev, events)


class LogModel:
    """Sources, the base rows (all lines, merged by time once the audit has timestamps) and the filtered view.

    `view` holds indices into the base rows; the widget draws `view[scroll_y : scroll_y + height]`.
    """

    def __init__(self, sources: Sequence[Source] = ()) -> None:
        self.sources: list[Source] = list(sources)
        self.row_src = np.zeros(0, np.int16)
        self.row_line = np.zeros(0, np.int32)
        self.columns: AuditColumns | None = None
        self.view = np.zeros(0, np.int64)
        self.query = Query()
        self.anomalies: list[Anomaly] = []
        self.anomaly_rows: dict[str, int] = {}  # anomaly id -> base row of its focus line
        self.incidents: list[dict[str, Any]] = []  # the incident engine's incidents (Triage.to_dict()["incidents"])
        self._row_of: list[np.ndarray] = []  # per source: the base row of each line
        self._view_cache: dict[str, object] = {}  # per-view derived arrays (time span, flagged runs), by view id
        self._match_cache: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
        self._parsers: dict[int, Callable[[str], Any] | None] = {}
        self.rebuild_rows()

    # -- rows -----------------------------------------------------------------------------------------------

    def rebuild_rows(self) -> None:
        """Base rows in file order (source after source): what the view shows before the audit has timestamps."""
        src = [np.full(s.lines, i, np.int16) for i, s in enumerate(self.sources)]
        line = [np.arange(s.lines, dtype=np.int32) for s in self.sources]
        self.row_src = np.concatenate(src) if src else np.zeros(0, np.int16)
        self.row_line = np.concatenate(line) if line else np.zeros(0, np.int32)
        starts = np.cumsum([0] + [s.lines for s in self.sources])
        self._row_of = [np.arange(starts[i], starts[i + 1], dtype=np.int64) for i in range(len(self.sources))]
        self.columns = None
        self._parsers = {}
        self.view = np.arange(len(self.row_src), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.view)

    @property
    def total(self) -> int:
        """All rows, filtered or not."""
        return len(self.row_src)

    def base_row(self, y: int) -> int:
        """The base row shown at view position `y`."""
        return int(self.view[y])

    def text(self, y: int) -> str:
        """The text of the row at view position `y`."""
        r = int(self.view[y])
        return self.sources[int(self.row_src[r])].text(int(self.row_line[r]))

    def where(self, y: int) -> str:
        """`file:line` (1-based) of the row at view position `y`."""
        r = int(self.view[y])
        return f"{self.sources[int(self.row_src[r])].name}:{int(self.row_line[r]) + 1}"

    def score(self, y: int) -> float:
        """The line score at view position `y` (0 before the audit)."""
        if self.columns is None:
            return 0.0
        return float(self.columns.score[int(self.view[y])])

    def ts(self, y: int) -> float:
        """The timestamp at view position `y` (NaN when unknown)."""
        if self.columns is None:
            return float("nan")
        return float(self.columns.ts[int(self.view[y])])

    def find_row(self, source: str, line: int) -> int | None:
        """The base row of `source:line` (1-based), or None when that line is not indexed."""
        for i, s in enumerate(self.sources):  # noqa: B007 (i is used after the loop)
            if s.name == source:
                break
        else:
            base = os.path.basename(source)
            same = [i for i, s in enumerate(self.sources) if os.path.basename(s.name) == base]
            if len(same) != 1:
                return None
            i = same[0]
        rows = self._row_of[i]
        return int(rows[line - 1]) if 1 <= line <= len(rows) else None

    def view_pos(self, base_row: int, nearest: bool = True) -> int | None:
        """The view position of a base row: exact when it passes the filter, else the next one (if `nearest`)."""
        if len(self.view) == 0:
            return None
        i = int(np.searchsorted(self.view, base_row))
        if i < len(self.view) and int(self.view[i]) == base_row:
            return i
        if not nearest:
            return None
        return min(i, len(self.view) - 1)

    # -- the audit ------------------------------------------------------------------------------------------

    def attach_audit(self, result: AuditResult) -> None:
        """Lay the audit's columns over the rows and merge the sources by time, in one step (tests, benches)."""
        self.install(self.prepare(result))

    def prepare(self, result: AuditResult) -> dict[str, object]:
        """Compute the merged rows and the audit's columns without touching the model (run it in a worker).

        Returns:
            What `install` swaps in, on the UI thread.
        """
        table = result.events
        names = {name: i for i, name in enumerate(table.sources)}
        n = sum(s.lines for s in self.sources)
        ev_of_src: list[np.ndarray] = []
        for s in self.sources:
            k = names.get(s.name)
            rows_event = np.full(s.lines, -1, np.int64)
            if k is not None and len(table):
                idx = np.flatnonzero(table.source == k)
                idx = idx[np.argsort(table.line[idx], kind="stable")]
                lines = table.line[idx].astype(np.int64) - 1
                cover = np.searchsorted(lines, np.arange(s.lines), side="right") - 1
                ok = cover >= 0
                rows_event[ok] = idx[cover[ok]]
            ev_of_src.append(rows_event)
        event = np.concatenate(ev_of_src) if ev_of_src else np.zeros(0, np.int64)
        src = np.concatenate([np.full(s.lines, i, np.int16) for i, s in enumerate(self.sources)]) if n else np.zeros(0, np.int16)
        line = np.concatenate([np.arange(s.lines, dtype=np.int32) for s in self.sources]) if n else np.zeros(0, np.int32)
        has = event >= 0
        ts = np.full(n, np.nan)
        ts[has] = table.ts[event[has]]
        ts = _ffill_by_source(ts, src)
        if len(self.sources) > 1:
            # Merge by time: stable, so lines of one source keep their order; untimed lines sort first.
            key = np.where(np.isnan(ts), -np.inf, ts)
            order = np.lexsort((line, src, key))
            event, src, line, ts = event[order], src[order], line[order], ts[order]
        else:
            order = np.arange(n)
        score = np.zeros(n, np.float32)
        score[event >= 0] = result.line_scores[event[event >= 0]]
        level = np.zeros(n, np.int8)
        level[event >= 0] = table.level[event[event >= 0]]
        host = np.zeros(n, np.int32)
        host[event >= 0] = table.host[event[event >= 0]]
        service = np.zeros(n, np.int32)
        service[event >= 0] = table.service[event[event >= 0]]
        inv = np.arange(n, dtype=np.int64)
        if len(self.sources) > 1:
            inv = np.empty(n, np.int64)
            inv[order] = np.arange(n, dtype=np.int64)
        starts = np.cumsum([0] + [s.lines for s in self.sources])
        return {
            "row_src": src, "row_line": line,
            "row_of": [inv[starts[i]:starts[i + 1]] for i in range(len(self.sources))],
            "columns": AuditColumns(event.astype(np.int32), score, ts, level, host, list(table.hosts), service,
                                    list(table.services), float(result.detector.threshold), **_field_columns(table, event)),
            "anomalies": list(result.report.anomalies),
            "incidents": list((getattr(result.report, "incidents", None) or {}).get("incidents") or []),
            "total": n,
        }

    def install(self, prepared: dict[str, object]) -> None:
        """Swap in what `prepare` computed; the view is reset to every row (re-apply the query afterwards)."""
        if prepared["total"] != self.total:  # the files grew meanwhile (follow mode): keep the file-order rows
            return
        self.row_src = prepared["row_src"]  # type: ignore[assignment]
        self.row_line = prepared["row_line"]  # type: ignore[assignment]
        self._row_of = prepared["row_of"]  # type: ignore[assignment]
        self.columns = prepared["columns"]  # type: ignore[assignment]
        self.anomalies = prepared["anomalies"]  # type: ignore[assignment]
        self.incidents = prepared.get("incidents") or []  # type: ignore[assignment]
        self.anomaly_rows = {}
        for a in self.anomalies:
            r = self.find_row(a.source, a.line)
            if r is not None:
                self.anomaly_rows[a.id] = r
        self._match_cache.clear()
        self.query = Query()
        self.view = np.arange(self.total, dtype=np.int64)

    @property
    def threshold(self) -> float:
        """The detector's threshold (inf before the audit)."""
        return self.columns.threshold if self.columns is not None else float("inf")

    @property
    def first_ts(self) -> float | None:
        """The earliest timestamp, for `after:HH:MM` filters."""
        if self.columns is None:
            return None
        finite = self.columns.ts[np.isfinite(self.columns.ts)]
        return float(finite.min()) if len(finite) else None

    # -- filters and search ---------------------------------------------------------------------------------

    def matches(self, pattern: str, cancelled: Callable[[], bool] = lambda: False) -> np.ndarray:
        """A boolean mask over the base rows: rows whose line matches `pattern` (cached per pattern and size)."""
        key = (pattern, self.total, len(self.sources))
        hit = self._match_cache.get(key)
        if hit is not None:
            self._match_cache.move_to_end(key)
            return hit
        rx = compile_bytes(pattern)
        per_source: list[np.ndarray] = []
        for s in self.sources:
            lines = np.zeros(s.lines, bool)
            buf = s.buffer
            # Scan in line-aligned slices and yield between them: `re` holds the interpreter lock while it
            # runs, and the UI thread must get a turn every few milliseconds to stay responsive.
            for first in range(0, s.lines, SCAN_LINES):
                last = min(first + SCAN_LINES, s.lines)
                lo, hi = int(s.bounds[first]), int(s.bounds[last])
                starts = np.fromiter((m.start() for m in rx.finditer(buf, lo, hi)), dtype=np.int64)
                if len(starts):
                    at = np.searchsorted(s.bounds, starts, side="right") - 1
                    lines[at[(at >= 0) & (at < s.lines)]] = True
                if cancelled():
                    return np.zeros(self.total, bool)
                time.sleep(0)
            per_source.append(lines)
        mask = np.zeros(self.total, bool)
        for i, lines in enumerate(per_source):
            sel = self.row_src == i
            mask[sel] = lines[self.row_line[sel]]
        self._match_cache[key] = mask
        while len(self._match_cache) > 8:
            self._match_cache.popitem(last=False)
        return mask

    def filter_mask(self, query: Query, cancelled: Callable[[], bool] = lambda: False) -> np.ndarray:
        """Which base rows pass `query` (level, host, time and score tests are skipped before the audit)."""
        keep = np.ones(self.total, bool)
        for p in query.include:
            keep &= self.matches(p, cancelled)
        for p in query.exclude:
            keep &= ~self.matches(p, cancelled)
        for p in query.phrases:
            keep &= self.matches(phrase_pattern(p), cancelled)
        for k, v in query.fields:
            keep &= self.field_mask(k, v, cancelled)
        for k, v in query.not_fields:
            keep &= ~self.field_mask(k, v, cancelled)
        c = self.columns
        if c is not None:
            if query.min_level:
                keep &= c.level >= query.min_level
            if query.hosts:
                keep &= np.isin(c.host, _codes(c.hosts, query.hosts))
            if query.services:
                keep &= np.isin(c.service, _codes(c.services, query.services))
            if query.after is not None:
                keep &= c.ts >= query.after
            if query.before is not None:
                keep &= c.ts < query.before
            if query.anomalous:
                keep &= c.score >= c.threshold
        return keep

    def field_mask(self, key: str, value: str, cancelled: Callable[[], bool] = lambda: False) -> np.ndarray:
        """Rows whose structured field `key` has `value`: the fields the readers parsed (after the audit), or
        `key=value` / `"key": value` written in the line."""
        mask = self.matches(field_pattern(key, value), cancelled)
        if self.columns is not None:
            mask = mask | self.columns.field_rows(key, value)
        return mask

    def apply(self, query: Query, view: np.ndarray) -> None:
        """Install a filtered view computed by `filter_mask` (done in a worker)."""
        self.query = query
        self.view = view

    def next_match(self, mask: np.ndarray, y: int, forward: bool = True) -> int | None:
        """The next (or previous) view position after `y` whose base row is set in `mask`."""
        hits = np.flatnonzero(mask[self.view])
        if len(hits) == 0:
            return None
        if forward:
            i = int(np.searchsorted(hits, y, side="right"))
            return int(hits[i]) if i < len(hits) else None
        i = int(np.searchsorted(hits, y, side="left")) - 1
        return int(hits[i]) if i >= 0 else None

    def anomaly_stops(self) -> np.ndarray:
        """View positions `n`/`N` stop at: each ranked anomaly's line, and the first line of each flagged stretch."""
        if self.columns is None or len(self.view) == 0:
            return np.zeros(0, np.int64)
        flagged = self.columns.score[self.view] >= self.columns.threshold
        starts = np.flatnonzero(flagged & ~np.concatenate([[False], flagged[:-1]]))
        ranked = [self.view_pos(r, nearest=False) for r in self.anomaly_rows.values()]
        extra = np.asarray([p for p in ranked if p is not None], np.int64)
        return np.unique(np.concatenate([starts.astype(np.int64), extra]))

    def ranked_rows(self) -> list[int]:
        """Base rows in ranking order, for `n` / `N`: each incident's chain (earliest failing step to the symptom),
        strongest incident first, then the ranked anomalies A1, A2, …; a row appears once."""
        out: list[int] = []
        for inc in self.incidents:
            for step in inc.get("chain") or []:
                r = self.find_row(str(step.get("file") or ""), int(step.get("line") or 0))
                if r is not None and r not in out:
                    out.append(r)
        for a in self.anomalies:
            r = self.anomaly_rows.get(a.id)
            if r is not None and r not in out:
                out.append(r)
        return out

    def parsed(self, y: int) -> tuple[str, str, str, str, str, bool]:
        """The row at view position `y` split for a message-first display: (time, source, host, level, message,
        continuation). The header comes from the audit's columns when there are some, else from the line's format;
        JSON lines show their message first, then their other fields as key=value."""
        r = int(self.view[y])
        k = int(self.row_src[r])
        src = self.sources[k]
        raw = src.text(int(self.row_line[r]))
        parse = self._parser(k)
        p = parse(raw) if parse is not None and raw.strip() else None
        if p is None:
            return "", "", "", "", raw, True
        ts, level, host, service, message = p[0], p[1], p[2], p[3], p[4]
        extra = p[6] if len(p) > 6 and isinstance(p[6], dict) else None
        c = self.columns
        if c is not None and int(c.event[r]) >= 0:
            ts = float(c.ts[r]) if np.isfinite(c.ts[r]) else ts
            level = LEVELS[int(c.level[r])] or level
            host = c.hosts[int(c.host[r])] if int(c.host[r]) < len(c.hosts) and c.hosts[int(c.host[r])] else host
        message = visible((message or "").replace("\n", " ⏎ "), limit=None, newlines=False)
        m = _LEADING_LEVEL.match(message)
        if m and level:
            message = message[m.end():]  # the level is in its column already
        if extra:
            shown = {str(v) for v in (message,)}
            rest = [f"{key}={_short(val)}" for key, val in extra.items()
                    if key.lower() not in _HEADER_KEYS and _short(val) not in shown]
            message = " ".join([message, *rest]) if rest else message
        when = ""
        if ts is not None and ts == ts:
            from datetime import datetime

            when = datetime.fromtimestamp(float(ts), tz=UTC).strftime("%m-%d %H:%M:%S" if self.multi_day else "%H:%M:%S")
        return when, os.path.basename(src.name), str(host or service or ""), level or "", message, False

    @property
    def multi_day(self) -> bool:
        """Whether the audited lines cover more than one (UTC) day: a time column then needs the date too (on a
        month of syslog "02:04:59" follows "15:16:02" and says nothing of which day it is)."""
        c = self.columns
        if c is None or not len(c.ts):
            return False
        cached = getattr(self, "_multi_day", None)
        if cached is not None and cached[0] is c:
            return bool(cached[1])
        finite = c.ts[np.isfinite(c.ts)]
        multi = bool(len(finite)) and int(finite.min() // 86_400) != int(finite.max() // 86_400)
        self._multi_day = (c, multi)
        return multi

    def _parser(self, k: int) -> Callable[[str], Any] | None:
        """The line parser of source `k` (its format detected from its first lines), cached."""
        if k in self._parsers:
            return self._parsers[k]
        parse = None
        try:
            from detectors.formats import detect_format

            src = self.sources[k]
            sample = [src.text(i) for i in range(min(src.lines, 50))]
            fmt = detect_format(sample)
            if fmt.name != "plain":
                parse = fmt.make_parser(None)
        except Exception:  # noqa: BLE001 - an unknown layout is shown as it is
            parse = None
        self._parsers[k] = parse
        return parse

    def _cached(self, name: str, compute: Callable[[], object]) -> object:
        """A value derived from the current view, recomputed only when the view array changes."""
        if self._view_cache.get("view") is not self.view:
            self._view_cache = {"view": self.view}
        if name not in self._view_cache:
            self._view_cache[name] = compute()
        return self._view_cache[name]

    def _runs(self) -> np.ndarray:
        """Per base row: the id (>0) of the flagged stretch of base rows it is in, 0 when not flagged."""
        c = self.columns
        if c is None:
            return np.zeros(self.total, np.int64)
        flagged = c.score >= c.threshold
        starts = flagged & ~np.concatenate([[False], flagged[:-1]])
        return np.where(flagged, np.cumsum(starts), 0)

    def anomaly_at(self, y: int) -> Anomaly | None:
        """The ranked anomaly whose line is at view position `y`, else the ranked one nearest to it in the same
        flagged stretch, else None."""
        if not self.anomalies or len(self.view) == 0 or self.columns is None:
            return None
        r = int(self.view[y])
        for a in self.anomalies:
            if self.anomaly_rows.get(a.id) == r:
                return a
        runs = self._cached("runs", self._runs)
        assert isinstance(runs, np.ndarray)
        run = int(runs[r])
        if run == 0:
            return None
        near = [(abs(ar - r), a) for a in self.anomalies
                if (ar := self.anomaly_rows.get(a.id)) is not None and int(runs[ar]) == run]
        return min(near, key=lambda t: t[0])[1] if near else None

    def buckets(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The timeline: `n` buckets over the view (by time when known, else by position).

        Returns:
            The highest line score per bucket, and the first view position of each bucket (-1 when empty).
        """
        m = len(self.view)
        peaks = np.zeros(n)
        firsts = np.full(n, -1, np.int64)
        if m == 0 or n <= 0 or self.columns is None:
            return peaks, firsts
        scores = self.columns.score[self.view].astype(np.float64)
        ts = self.columns.ts[self.view]
        finite = np.isfinite(ts)
        if finite.sum() > 1 and np.nanmax(ts) > np.nanmin(ts):
            lo, hi = float(np.nanmin(ts)), float(np.nanmax(ts))
            pos = np.where(finite, ts, lo)
            b = np.minimum(((pos - lo) / (hi - lo) * n).astype(np.int64), n - 1)
        else:
            b = np.minimum(np.arange(m) * n // m, n - 1)
        np.maximum.at(peaks, b, scores)
        firsts = np.full(n, m, np.int64)
        np.minimum.at(firsts, b, np.arange(m, dtype=np.int64))
        firsts[firsts == m] = -1
        return peaks, firsts

    def _span(self) -> tuple[float, float] | None:
        if self.columns is None:
            return None
        ts = self.columns.ts[self.view]
        finite = ts[np.isfinite(ts)]
        if len(finite) > 1 and finite.max() > finite.min():
            return float(finite.min()), float(finite.max())
        return None

    def bucket_of(self, y: int, n: int) -> int:
        """The timeline bucket that view position `y` falls in."""
        m = len(self.view)
        if m == 0 or n <= 0:
            return 0
        span = self._cached("span", self._span)
        if span is not None and self.columns is not None:
            lo, hi = span  # type: ignore[misc]
            t = self.columns.ts[int(self.view[y])]
            if np.isfinite(t):
                return min(int((t - lo) / (hi - lo) * n), n - 1)
        return min(y * n // m, n - 1)

    def context(self, y: int, before: int = 10, after: int = 10) -> tuple[str, list[tuple[int, str, bool]]]:
        """The lines around the row at `y` in its own file (not the merged view): (source, [(line, text, focus)])."""
        r = int(self.view[y])
        s = self.sources[int(self.row_src[r])]
        i = int(self.row_line[r])
        lo, hi = max(0, i - before), min(s.lines, i + after + 1)
        return s.name, [(k + 1, s.text(k), k == i) for k in range(lo, hi)]

    def rows_pass(self, rows: np.ndarray, query: Query) -> np.ndarray:
        """Which of a few base rows pass `query`, testing their text one by one (for lines appended in follow mode)."""
        keep = np.ones(len(rows), bool)
        inc = [compile_bytes(p) for p in (*query.include, *(phrase_pattern(x) for x in query.phrases),
                                            *(field_pattern(k, v) for k, v in query.fields))]
        exc = [compile_bytes(p) for p in query.exclude]
        for k, r in enumerate(rows):
            raw = self.sources[int(self.row_src[r])].raw(int(self.row_line[r]))
            if any(rx.search(raw) is None for rx in inc) or any(rx.search(raw) for rx in exc):
                keep[k] = False
        c = self.columns
        if c is not None:
            if query.min_level:
                keep &= c.level[rows] >= query.min_level
            if query.anomalous:
                keep &= c.score[rows] >= c.threshold
        return keep

    def grow(self) -> int:
        """Follow mode: index lines appended to the sources; new rows go at the end. Returns the rows added."""
        added = 0
        for i, s in enumerate(self.sources):
            before = s.lines
            n = grow_source(s)
            if n <= 0:
                continue
            if s.lines < before:  # truncated: simplest honest view is to start again from the files
                self.rebuild_rows()
                return s.lines
            start = self.total
            added += n
            self.row_src = np.concatenate([self.row_src, np.full(n, i, np.int16)])
            self.row_line = np.concatenate([self.row_line, np.arange(before, s.lines, dtype=np.int32)])
            self._row_of[i] = np.concatenate([self._row_of[i], np.arange(start, start + n, dtype=np.int64)])
            if self.columns is not None:
                c = self.columns
                last_ts = c.ts[-1] if len(c.ts) else np.nan
                c.event = np.concatenate([c.event, np.full(n, -1, np.int32)])
                c.score = np.concatenate([c.score, np.zeros(n, np.float32)])
                c.ts = np.concatenate([c.ts, np.full(n, last_ts)])
                c.level = np.concatenate([c.level, np.zeros(n, np.int8)])
                c.host = np.concatenate([c.host, np.zeros(n, np.int32)])
                c.service = np.concatenate([c.service, np.zeros(n, np.int32)])
        if added:
            self._match_cache.clear()
            new_rows = np.arange(self.total - added, self.total, dtype=np.int64)
            if not self.query.empty:
                new_rows = new_rows[self.rows_pass(new_rows, self.query)]
            self.view = np.concatenate([self.view, new_rows])
        return added

    def close(self) -> None:
        """Release every memory map."""
        for s in self.sources:
            s.close()


def phrase_pattern(phrase: str) -> str:
    """The regex of a quoted phrase: the text literally (case-insensitive when it is all lower case)."""
    return re.escape(phrase)


def field_pattern(key: str, value: str) -> str:
    """A regex for `key=value`, `key: value` or `"key": "value"` written in a line (JSON, logfmt)."""
    v = re.escape(value.rstrip("*")) + (r"[^\s\",}]*" if value.endswith("*") else "")
    if re.fullmatch(r"[1-5]xx", value.lower()):
        v = value[0] + r"\d\d"
    return (r"(?i)[\"']?\b" + re.escape(key) + r"[\"']?\s*[:=]\s*[\"']?" + v + r"(?:$|[^\w.])")


def _field_columns(table: Any, event: np.ndarray) -> dict[str, Any]:
    """The structured-field columns of the audit, one value per row (rows outside any event get none)."""
    n = len(event)
    has = event >= 0
    ev = np.where(has, event, 0)

    def per_row(col: Any, dtype: Any) -> np.ndarray:
        out = np.zeros(n, dtype)
        if col is not None and len(col):
            out[has] = np.asarray(col)[ev[has]]
        return out

    return {"status": per_row(getattr(table, "status", None), np.int16),
            "route": per_row(getattr(table, "route", None), np.int32), "routes": list(getattr(table, "routes", [])),
            "exc": per_row(getattr(table, "exc", None), np.int32), "excs": list(getattr(table, "excs", [])),
            "attr_event": np.asarray(getattr(table, "attr_event", np.zeros(0, np.int32))),
            "attr_code": np.asarray(getattr(table, "attr_code", np.zeros(0, np.int32))),
            "attrs": list(getattr(table, "attrs", []))}


def _codes(names: list[str], wanted: tuple[str, ...]) -> list[int]:
    """Indices of the names equal to, or starting with, one of `wanted`."""
    return [i for i, n in enumerate(names) if n and any(n == w or n.startswith(w) for w in wanted)]


def _ffill_by_source(ts: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Carry each source's last known timestamp forward over its untimed lines (rows are in file order here)."""
    out = ts.copy()
    for k in np.unique(src):
        sel = np.flatnonzero(src == k)
        part = out[sel]
        idx = np.where(np.isfinite(part), np.arange(len(part)), 0)
        np.maximum.accumulate(idx, out=idx)
        filled = part[idx]
        filled[~np.isfinite(part) & (np.cumsum(np.isfinite(part)) == 0)] = np.nan
        out[sel] = filled
    return out


def sources_label(names: Iterable[str]) -> str:
    """A short title for the sources: one name, or the first and a count."""
    names = [os.path.basename(n) for n in names]
    if not names:
        return "no sources"
    return names[0] if len(names) == 1 else f"{names[0]} +{len(names) - 1}"
