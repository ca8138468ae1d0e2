"""Log readers: files, `.gz`, directories and stdin in; one stream of `Event`s out, merged by time.

Each source is read in binary, in 64 KB chunks (memory does not grow with the file), decoded as UTF-8 (bad
bytes become U+FFFD and are counted), split into lines (LF or CRLF, final newline optional), and parsed with
the format detected from its own first lines (`detectors.formats`). Lines that do not start with the format's
header (stack traces, wrapped messages) are folded into the entry before them. Sources are merged with
`heapq.merge` on the timestamp, so each source's own order is kept.

Nothing the user gives makes `read_events` raise: a source that cannot be read becomes one `Skip` in
`ReadStats` with a message that names it and says what to do, and the other sources are still read.
"""

from __future__ import annotations

import atexit
import fnmatch
import glob
import gzip
import heapq
import itertools
import os
import re
import shlex
import stat
import sys
import tempfile
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO

from detectors.events import Event, ReadStats, Skip
from detectors.fields import extract as extract_fields
from detectors.formats import PLAIN, SAMPLE_LINES, Parsed, detect_format, looks_like_continuation, normalize_level
from detectors.sources import SourceError, is_remote, spool_remote
from detectors.sources.otlp import flatten_otlp, looks_like_otlp

STDIN = "-"
CHUNK_BYTES = 1 << 16  # per read; also the memory a source holds between merge steps
BINARY_PROBE_BYTES = 8192
BINARY_RATIO = 0.30  # share of control characters / undecodable bytes that makes a file "binary"
MAX_FOLDED_LINES = 200  # continuation lines per entry; the next ones start a new entry
PROGRESS_EVERY_LINES = 10_000
MAX_OPEN_FILES = 64  # merging many files keeps only this many open; the others are reopened at their offset
MAX_LEADING_UNTIMED = 1_000  # entries held back before a source's first timestamp (see _timed)
PREAMBLE_FACTOR = 8  # a source whose first SAMPLE_LINES lines read as plain is sampled this many times further
_GZIP_MAGIC = b"\x1f\x8b"
_READ_ERRORS = (OSError, EOFError, zlib.error)  # gzip raises all three on damaged input
# Bytes that do not occur in text; \t \n \r \f \b and ESC (ANSI colours) do.
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (8, 9, 10, 12, 13, 27)) + b"\x7f"

# "-" (and remote or flattened OTLP sources) -> the temp file it was spooled to, so context_lines can re-read it.
_SPOOLS: dict[str, str] = {}
_SPOOL_FILES: list[str] = []


@atexit.register
def _remove_spools() -> None:
    for path in _SPOOL_FILES:
        try:
            os.unlink(path)
        except OSError:
            pass


# --- byte sources -----------------------------------------------------------------------------------------

_OPEN: OrderedDict[int, _FileSource] = OrderedDict()  # open file sources, least recently read first


class _FileSource:
    """The (decompressed) bytes of a regular file, closed and reopened at its offset when many are open."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0  # decompressed bytes handed out
        self.raw_pos = 0  # on-disk bytes consumed (compressed for .gz), for progress
        st = os.stat(path)
        self.size = st.st_size
        self.mtime = st.st_mtime
        self._raw: BinaryIO | None = None
        self._f: BinaryIO | None = None
        self.shrank_to: int | None = None  # the file's size when it was found shorter than at the start
        with open(path, "rb") as f:  # the permission check happens here, before anything is read
            self.gz = f.read(2) == _GZIP_MAGIC

    def _reopen(self) -> None:
        raw = open(self.path, "rb")
        try:
            if self.gz:
                f: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
                if self.offset:
                    f.seek(self.offset)  # re-decompresses up to offset: only after an eviction
            else:
                raw.seek(self.offset)
                f = raw
        except BaseException:
            raw.close()
            raise
        self._raw, self._f = raw, f
        _OPEN[id(self)] = self
        while len(_OPEN) > MAX_OPEN_FILES:
            _, oldest = _OPEN.popitem(last=False)
            oldest._suspend()

    def _suspend(self) -> None:
        if self._raw is not None:
            self.raw_pos = self._raw.tell()
        for f in (self._f, self._raw):
            if f is not None:
                f.close()
        self._raw = self._f = None

    def read(self, n: int) -> bytes:
        if self._f is None:
            self._reopen()
        else:
            _OPEN.move_to_end(id(self))
        assert self._f is not None and self._raw is not None
        data = self._f.read1(n) if self.gz else self._f.read(n)  # type: ignore[attr-defined]
        self.offset += len(data)
        self.raw_pos = self._raw.tell()
        if not data and self.shrank_to is None:
            # The end: a file truncated (or rotated by copytruncate) while it was read ends early, silently.
            try:
                now = os.fstat(self._raw.fileno()).st_size
            except OSError:
                now = self.size
            if now < self.size:
                self.shrank_to = now
        return data

    def consumed(self) -> int:
        return self.raw_pos

    def close(self) -> None:
        _OPEN.pop(id(self), None)
        self._suspend()


class _Spooled:
    """A binary stream read once (stdin, a FIFO), optionally copied to a spool file as it is read."""

    mode = "rb"  # gzip.GzipFile looks at it

    def __init__(self, stream: BinaryIO, spool: BinaryIO | None) -> None:
        self.stream = stream
        self.spool = spool
        self.count = 0
        self.prefix = b""  # bytes peeked at and to be handed out again

    def read(self, n: int = -1) -> bytes:
        if self.prefix:
            if 0 < n < len(self.prefix):  # gzip reads its header a few bytes at a time
                data, self.prefix = self.prefix[:n], self.prefix[n:]
            else:
                data, self.prefix = self.prefix, b""
            return data
        read1 = getattr(self.stream, "read1", None)  # read1: don't wait for a full chunk from a pipe
        data = read1(n if n > 0 else CHUNK_BYTES) if read1 else self.stream.read(n)
        if data and self.spool is not None:
            self.spool.write(data)
            self.spool.flush()  # context_lines may re-read the spool while the stream is still being read
        self.count += len(data)
        return data


class _StreamSource:
    """stdin or a FIFO: read once, gzip detected from the first bytes."""

    size = 0
    gz = False

    def __init__(self, stream: BinaryIO, spool: BinaryIO | None = None) -> None:
        self.raw = _Spooled(stream, spool)
        self.mtime = time.time()
        head = b""
        while len(head) < 2:
            more = self.raw.read(CHUNK_BYTES)
            if not more:
                break
            head += more
        self.raw.prefix = head
        self.gz = head.startswith(_GZIP_MAGIC)
        self._f = gzip.GzipFile(fileobj=self.raw, mode="rb") if self.gz else None  # type: ignore[arg-type]

    def read(self, n: int) -> bytes:
        return self._f.read1(n) if self._f is not None else self.raw.read(n)

    def consumed(self) -> int:
        return self.raw.count

    def close(self) -> None:
        if self.raw.spool is not None:
            self.raw.spool.close()


_Source = _FileSource | _StreamSource


# --- lines ------------------------------------------------------------------------------------------------


class _Lines:
    """Splits a source's bytes into decoded lines, a block of lines at a time, and counts what went wrong."""

    def __init__(self, src: _Source, max_line_bytes: int) -> None:
        self.src = src
        self.max = max_line_bytes
        self.lineno = 0  # lines handed out so far
        self.buf = b""
        self.bad_utf8 = 0
        self.bad_utf8_first = 0
        self.long = 0
        self.long_first = 0
        self.error: BaseException | None = None
        self.error_line = 0
        self.cut_line = 0  # 1 when the line where the data broke off was dropped (not audited half)
        self.nul = 0  # lines holding NUL bytes (shown as \x00 by the terminal sanitiser)
        self.nul_first = 0

    def _read(self) -> bytes:
        if self.error is not None:
            return b""
        try:
            return self.src.read(CHUNK_BYTES)
        except _READ_ERRORS as e:
            self.error = e
            return b""

    def read_head(self) -> bytes:
        """Read the first BINARY_PROBE_BYTES (or all, if fewer) and keep them for `blocks`."""
        while len(self.buf) < BINARY_PROBE_BYTES:
            chunk = self._read()
            if not chunk:
                break
            self.buf += chunk
        return self.buf[:BINARY_PROBE_BYTES]

    def blocks(self) -> Iterator[list[str]]:
        """Lists of decoded lines, without line ends, in file order."""
        buf, self.buf = self.buf, b""
        skipping = False  # inside an over-long line whose head was already handed out
        while True:
            chunk = self._read()
            if chunk:
                if skipping:
                    i = chunk.find(b"\n")
                    if i < 0:
                        continue
                    chunk, skipping = chunk[i + 1:], False
                buf = buf + chunk if buf else chunk
            cut = buf.rfind(b"\n")
            if cut >= 0:
                block, buf = buf[:cut + 1], buf[cut + 1:]
                yield self._decode(block)
            if len(buf) > self.max:
                # No line end within max_line_bytes: keep the head, drop the rest up to the next line end,
                # so memory stays bounded whatever the line's length.
                yield self._decode(buf + b"\n")
                buf, skipping = b"", True
            if not chunk:
                break
        if buf and (self.error is not None or getattr(self.src, "shrank_to", None) is not None):
            # Where a .gz (or a disk read) broke off, or the file was cut under us, the last line is cut: auditing
            # half a line makes a bogus "new" message (it ranked first in a test), so it is dropped and counted.
            self.cut_line = 1
        elif buf:
            yield self._decode(buf + b"\n")  # the last line had no line end
        if self.error is not None:
            self.error_line = self.lineno + 1

    def _decode(self, block: bytes) -> list[str]:
        if b"\x00" in block:
            self._count_nul(block)
        if b"\r" in block:
            block = block.replace(b"\r\n", b"\n")
        if len(block) <= self.max + 1:
            try:
                lines = block.decode("utf-8").split("\n")
            except UnicodeDecodeError:
                pass
            else:
                lines.pop()  # after the final "\n"
                self.lineno += len(lines)
                return lines
        return self._decode_slowly(block)

    def _count_nul(self, block: bytes) -> None:
        """Count the lines of `block` that hold NUL bytes (past the binary check: a partly binary file)."""
        for k, raw in enumerate(block.split(b"\n")[:-1]):
            if b"\x00" in raw:
                self.nul += 1
                self.nul_first = self.nul_first or self.lineno + k + 1

    def _decode_slowly(self, block: bytes) -> list[str]:
        """Line by line: truncate over-long lines, replace bad UTF-8, note the first line of each problem."""
        out = []
        for raw in block.split(b"\n")[:-1]:
            self.lineno += 1
            if len(raw) > self.max:
                cut = self.max
                while cut > 0 and raw[cut] & 0xC0 == 0x80:  # don't cut a UTF-8 character in two
                    cut -= 1
                raw = raw[:cut]
                self.long += 1
                self.long_first = self.long_first or self.lineno
            try:
                out.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                out.append(raw.decode("utf-8", "replace"))
                self.bad_utf8 += 1
                self.bad_utf8_first = self.bad_utf8_first or self.lineno
        return out


def _looks_utf16(head: bytes) -> bool:
    """Text in UTF-16 (a byte-order mark, or every other byte NUL) that decodes to mostly plain ASCII text."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        enc, body = ("utf-16-le" if head[:2] == b"\xff\xfe" else "utf-16-be"), head[2:514]
    else:
        body = head[:512]
        if len(body) < 16:
            return False
        if body[1::2].count(0) > 0.9 * len(body[1::2]):
            enc = "utf-16-le"
        elif body[0::2].count(0) > 0.9 * len(body[0::2]):
            enc = "utf-16-be"
        else:
            return False
    text = body[: len(body) // 2 * 2].decode(enc, "replace")
    plain = sum(1 for ch in text if ch in "\t\r\n" or " " <= ch <= "~")
    return len(text) >= 8 and plain >= 0.8 * len(text)


def _looks_binary(head: bytes) -> bool:
    """NUL bytes, or mostly control characters / undecodable bytes, in the first bytes of a source."""
    if not head:
        return False
    if b"\x00" in head:
        return True
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    text = head.decode("utf-8", "replace")
    return (controls + text.count("\ufffd")) > BINARY_RATIO * len(text)


# --- sources ----------------------------------------------------------------------------------------------


def _skip_for_error(source: str, e: BaseException) -> Skip:
    """A Skip for a source that could not be opened."""
    if isinstance(e, FileNotFoundError):
        return Skip(source, None, "not found", f"{source}: no such file or directory; check the path")
    if isinstance(e, PermissionError):
        return Skip(source, None, "permission denied",
                    f"{source}: permission denied; make it readable (chmod +r) or run as a user who can read it")
    if isinstance(e, IsADirectoryError):
        return Skip(source, None, "not a file", f"{source}: is a directory; pass it as a directory to read its logs")
    reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return Skip(source, None, "unreadable", f"{source}: cannot read it ({reason}); check the file and try again")


def _new_spool(prefix: str) -> str:
    with tempfile.NamedTemporaryFile(prefix=prefix, suffix=".jsonl", delete=False) as f:
        _SPOOL_FILES.append(f.name)
        return f.name


def _spooled(source: str, fill: Callable[[str], object]) -> _FileSource:
    """A source written to a spool file by `fill(path)` first (a journal, a Loki query, an OTLP file)."""
    path = _new_spool("sleuth-src-")
    fill(path)
    _SPOOLS[source] = path
    return _FileSource(path)


def _flatten_to(source: str, path: str) -> int:
    with open(path, "w", encoding="utf-8") as out:
        return flatten_otlp(source, out)


def _open_source(source: str, stdin: BinaryIO | None) -> _Source:
    if is_remote(source):
        return _spooled(source, lambda path: spool_remote(source, path))
    if source == STDIN:
        stream = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise OSError(9, "no standard input to read")
        spool = tempfile.NamedTemporaryFile(prefix="sleuth-stdin-", suffix=".log", delete=False)
        _SPOOL_FILES.append(spool.name)
        _SPOOLS[STDIN] = spool.name
        return _StreamSource(stream, spool)  # type: ignore[arg-type]
    mode = os.stat(source).st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(21, "Is a directory", source)
    if stat.S_ISREG(mode):
        with open(source, "rb") as f:
            head = f.read(256)
        if looks_like_otlp(head):  # nested OTLP JSON: read one log record a line
            return _spooled(source, lambda path: _flatten_to(source, path))
        return _FileSource(source)
    return _StreamSource(open(source, "rb"))  # a FIFO or device the user named: read once, as a stream


# Kubernetes' container log files: /var/log/pods/<namespace>_<pod>_<pod uid>/<container>/<restart>.log (rotated:
# 0.log.20241201-101010, .gz) and the links /var/log/containers/<pod>_<namespace>_<container>-<container id>.log.
_KUBE_POD_LOG = re.compile(r"(?:^|/)[a-z0-9][a-z0-9-]{0,62}_([a-z0-9][a-z0-9.-]{0,252})_[0-9a-f]{8}(?:-[0-9a-f]{4}){3}"
                           r"-[0-9a-f]{12}/([a-z0-9][a-z0-9-]{0,62})/\d+\.log(?:\.[\w.-]+)?$")
_KUBE_CONTAINER_LOG = re.compile(r"(?:^|/)([a-z0-9][a-z0-9.-]{0,252})_[a-z0-9][a-z0-9-]{0,62}_([a-z0-9][a-z0-9-]{0,62})"
                                 r"-[0-9a-f]{64}\.log$")


def kube_place(source: str) -> tuple[str, str] | None:
    """(pod, container) of a Kubernetes container log file, from its path; None for other files. A pod is the
    place its containers run (its own address, the hostname its processes see), the container the service."""
    path = source.replace("\\", "/")
    m = _KUBE_POD_LOG.search(path) or _KUBE_CONTAINER_LOG.search(path)
    return (m.group(1), m.group(2)) if m else None


def _source_events(source: str, stats: ReadStats, stdin: BinaryIO | None,
                   on_progress: Callable[[int], None] | None, max_line_bytes: int,
                   ref_ts: float | None = None) -> Iterator[Event]:
    """All events of one source in file order; every problem becomes a Skip."""
    try:
        src = _open_source(source, stdin)
    except _READ_ERRORS as e:
        stats.skip(_skip_for_error(source, e))
        return
    except SourceError as e:
        stats.skip(Skip(source, None, "source error", str(e)))
        return
    lines = _Lines(src, max_line_bytes)
    reported_line = reported_pos = 0
    place = kube_place(source)
    try:
        for event in _events(source, src, lines, stats, ref_ts):
            if place is not None:
                # A container's own line rarely says where it runs; Kubernetes' file layout does.
                if event.host is None:
                    event.host = place[0]
                if event.service is None:
                    event.service = place[1]
            yield event
            if on_progress is not None and lines.lineno - reported_line >= PROGRESS_EVERY_LINES:
                pos = src.consumed()
                on_progress(pos - reported_pos)
                reported_line, reported_pos = lines.lineno, pos
    except Exception as e:  # noqa: BLE001 - a bug in one source must not end a long audit of the others
        stats.skip(Skip(source, lines.lineno or None, "internal error",
                        f"{source}:{lines.lineno}: reading stopped on an unexpected error ({e!r}); the events "
                        f"before it were kept; please report this with the file's first lines"))
    finally:
        src.close()
        _report_problems(source, lines, stats)
        if on_progress is not None:
            end = max(src.consumed(), src.size)  # a skipped or broken file still counts as done on the bar
            if end > reported_pos:
                on_progress(end - reported_pos)


def _report_problems(source: str, lines: _Lines, stats: ReadStats) -> None:
    """One Skip per kind of problem met in a source, with its first line and count."""
    if lines.bad_utf8:
        stats.skip(Skip(source, lines.bad_utf8_first, "invalid UTF-8",
                        f"{source}:{lines.bad_utf8_first}: {lines.bad_utf8} line(s) are not valid UTF-8 and were "
                        f"read with U+FFFD for the bad bytes; convert the file (iconv -f <encoding> -t utf-8) "
                        f"if it uses another encoding"))
    if lines.long:
        stats.skip(Skip(source, lines.long_first, "line too long",
                        f"{source}:{lines.long_first}: {lines.long} line(s) longer than {lines.max} bytes were "
                        f"cut: the first {lines.max} bytes of each were audited, the rest dropped"))
    if lines.nul:
        stats.skip(Skip(source, lines.nul_first, "NUL bytes",
                        f"{source}:{lines.nul_first}: {lines.nul} line(s) hold NUL bytes (shown as \\x00); the file "
                        f"may be partly binary or preallocated; the lines were audited as they are"))
    shrank = getattr(lines.src, "shrank_to", None)
    if shrank is not None:
        stats.skip(Skip(source, lines.lineno + 1, "file shrank",
                        f"{source}:{lines.lineno + 1}: the file shrank from {lines.src.size:,} to {shrank:,} bytes while "
                        f"it was read (truncated or rotated); only its first {lines.lineno:,} line(s) were audited; "
                        f"audit it again once it is stable (or audit the rotated copy)"))
    if lines.error is not None:
        e, n = lines.error, lines.error_line or lines.lineno + 1
        cut = " (the cut-off line itself was dropped)" if lines.cut_line else ""
        if getattr(lines.src, "gz", False):
            reason = "truncated gzip" if isinstance(e, EOFError) else "corrupt gzip"
            stats.skip(Skip(source, n, reason,
                            f"{source}:{n}: the compressed data breaks off here ({e or type(e).__name__}); the "
                            f"{n - 1} line(s) before it were kept{cut}; check the file with `gzip -t` and copy it "
                            f"again"))
        else:
            stats.skip(Skip(source, n, "read error",
                            f"{source}:{n}: reading failed here ({e}); the {n - 1} line(s) before it were kept; "
                            f"check the disk or the file and try again"))


def _events(source: str, src: _Source, lines: _Lines, stats: ReadStats, ref: float | None = None) -> Iterator[Event]:
    """Detect the format, then parse, fold and time-fill a source's entries."""
    head = lines.read_head()
    if not head:
        if lines.error is None:
            stats.skip(Skip(source, None, "empty file", f"{source}: the file is empty; nothing to read"))
        return
    if _looks_utf16(head):
        stats.skip(Skip(source, None, "UTF-16 text",
                        f"{source}: UTF-16 text (as Windows PowerShell's > and Out-File write it), which is not read; "
                        f"convert it to UTF-8 first: iconv -f UTF-16 -t UTF-8 {shlex.quote(source)} > "
                        f"{shlex.quote(os.path.basename(source) + '.utf8.log')}"))
        return
    if _looks_binary(head):
        stats.skip(Skip(source, None, "binary file",
                        f"{source}: looks binary (NUL bytes or mostly non-text in its first 8 KB), skipped; "
                        f"pass a text log, or leave it out with --exclude"))
        return

    # The sample: the first SAMPLE_LINES non-blank lines, from the blocks that are then read again below.
    blocks = lines.blocks()
    first_blocks: list[list[str]] = []
    sample: list[str] = []
    for block in blocks:
        first_blocks.append(block)
        for ln in block:
            if ln and not ln.isspace():
                sample.append(ln)
                if len(sample) >= SAMPLE_LINES:
                    break
        if len(sample) >= SAMPLE_LINES:
            break
    if not sample:
        stats.lines += sum(map(len, first_blocks))
        if lines.error is None:
            stats.skip(Skip(source, None, "empty file", f"{source}: only blank lines; nothing to read"))
        return
    ref_ts = src.mtime if ref is None else ref
    fmt = detect_format(sample, ref_ts)
    structured = fmt.structured
    if fmt is PLAIN and len(sample) >= SAMPLE_LINES:
        # A preamble (a CI job's banner and shell trace before its timestamped build log) can fill the first
        # lines: look further before calling the whole source plain. Such a source mixes headed lines with
        # lines of its own (shell trace, rsync's file list), so only what looks like a continuation is folded.
        wanted = SAMPLE_LINES * PREAMBLE_FACTOR
        longer = [ln for block in first_blocks for ln in block if ln and not ln.isspace()][:wanted]
        while len(longer) < wanted and (block := next(blocks, None)) is not None:
            first_blocks.append(block)
            longer.extend(ln for ln in block if ln and not ln.isspace())
        for at in range(SAMPLE_LINES, min(len(longer), wanted), SAMPLE_LINES):
            later = detect_format(longer[at:at + SAMPLE_LINES], ref_ts)
            if later is not PLAIN:
                fmt, sample, structured = later, longer[:wanted], False
                break
    parse = fmt.make_parser(ref_ts)
    stats.sources.append(source)
    stats.formats[fmt.name] += 1
    timed = any((p := parse(ln)) is not None and p[0] is not None for ln in sample)
    if not timed:
        stats.notes.append(f"{source}: no timestamps the readers could parse; its lines keep their order by "
                           f"position and stay out of time-based views")
    entries = _entries(source, itertools.chain(first_blocks, blocks), parse, structured, fmt.name,
                       lines.max, stats, ref_ts)
    yield from _timed(entries, stats) if timed else _count(entries, stats)


# A line that opens with a date or time ("2015-07-29 17:41", "[Sun Dec 04 04:47:44 2005]", "Jun 14 15:16:01",
# "081109 203615", "17/06/09 20:10:40"): it may head an entry of another layout than the source's.
_HEADISH = re.compile(r"\[?(?:\d{2,4}[-/.]\d{1,2}[-/.]\d{1,4}|\d{6,}[ T]|\d{1,2}:\d{2}:\d{2}"
                      r"|(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,? +)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
                      r"[a-z]* +\d|(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,? +\d)", re.I)
MAX_REDETECT = 64  # lines of another layout tried per source without finding it (a bound on the cost)
# A Go program's death as its runtime writes it to stderr, without the logger's header ("panic: runtime error: ...",
# "fatal error: concurrent map writes", then the goroutine dump): where stderr goes to the same file as the logger
# (supervisord, runit, `2>&1`), it is the process's last words, not more of the line the logger wrote before it.
_CRASH_HEAD = re.compile(r"(?:panic|fatal error): \S")


def _entries(source: str, blocks: Iterator[list[str]], parse: Callable[[str], Parsed | None], structured: bool,
             fmt: str, max_chars: int, stats: ReadStats, ref_ts: float | None = None) -> Iterator[Event]:
    """Events in file order: one per header line, continuation lines folded in; ts as parsed (may be None).

    A line without the source's header that is not shaped like a continuation but opens with a date is tried
    against the other layouts: logs concatenated into one file (`cat app.log db.log`, a service whose log layout
    changed at an upgrade) keep one event per line of the second layout instead of being folded, 200 lines at a
    time, into the last entry of the first."""
    lineno = 0
    other: tuple[Callable[[str], Parsed | None], str] | None = None  # the other layout found in this source
    tries = 0
    first_fmt = fmt
    first: str | None = None  # the current entry's first line
    first_no = 0
    parsed: Parsed | None = None
    folded: list[str] | None = None  # its continuation lines
    folded_chars = 0
    blanks: list[str] = []  # blank lines after it: kept only if a continuation line follows them
    for block in blocks:
        stats.lines += len(block)
        for line in block:
            lineno += 1
            if not line or line.isspace():
                if first is not None:
                    blanks.append(line)
                continue
            p = parse(line)
            line_fmt = fmt
            if p is None and structured and first is not None and not looks_like_continuation(line) \
                    and _HEADISH.match(line):
                if other is not None:
                    p = other[0](line)
                if p is None and tries < MAX_REDETECT:
                    found = detect_format([line], ref_ts)
                    if found is not PLAIN and found.name != fmt:
                        other = (found.make_parser(ref_ts), found.name)
                        p = other[0](line)
                    if p is None:
                        tries += 1
                if p is not None and other is not None:
                    line_fmt = other[1]
            # Structured formats: a line without the header continues the entry. Plain text has no header to
            # go by, so only what looks like a continuation (indented, a stack frame) is folded.
            if first is not None and p is not None and parsed is not None and _same_writer_trace(parsed, p, folded):
                line = p[4]  # a stack trace that syslog / journald split into one entry a line: its message goes on
                p = None
            if first is not None and (p is None and not _CRASH_HEAD.match(line) if structured
                                      else looks_like_continuation(line)):
                if folded is None:
                    folded, folded_chars = [], len(first)
                if len(folded) < MAX_FOLDED_LINES and folded_chars < max_chars:
                    if blanks:
                        folded += blanks
                        stats.folded += len(blanks)
                        blanks.clear()
                    folded.append(line)
                    folded_chars += len(line)
                    stats.folded += 1
                    continue
            if first is not None:
                yield _event(source, first_no, first, parsed, folded, first_fmt)
            if blanks:
                blanks.clear()
            first, first_no, parsed, folded, first_fmt = line, lineno, p, None, line_fmt
    if first is not None:
        yield _event(source, first_no, first, parsed, folded, first_fmt)


_TRACE_HEAD = "Traceback (most recent call last):"
# The last line of a Python traceback: "ssl.SSLError: [SSL] ...", "KeyError: 'x'", "SystemExit: 1".
_TRACE_END = re.compile(r"(?:[A-Za-z_][\w]*\.)*[A-Z]\w*(?:Error|Exception|Exit|Interrupt|Warning|Fault)\b(?::|$)")


def _same_writer_trace(head: Parsed, p: Parsed, folded: list[str] | None) -> bool:
    """Whether entry `p` continues a Python traceback that the same writer (host and program, same second) began
    in `head`: syslog and journald give each line of a program's stderr its own header."""
    if not head[4].startswith(_TRACE_HEAD) or p[3] != head[3] or p[2] != head[2] or p[3] is None:
        return False
    if head[0] is None or p[0] is None or abs(p[0] - head[0]) > 2.0:
        return False
    if folded and _TRACE_END.match(folded[-1]):
        return False  # the trace has ended with its exception line
    msg = p[4]
    return msg[:1] in (" ", "\t") or bool(_TRACE_END.match(msg)) or msg.startswith(("During handling",
                                                                                   "The above exception"))


_EMPTY_HEAD = re.compile(r"\s*(?:\[[^\]\n]{0,80}\]\s*)*")  # nothing but bracketed tags (request ids)
_LEADING_LEVEL = re.compile(r"\[?(TRACE|DEBUG|INFO|NOTICE|WARN(?:ING)?|ERROR|SEVERE|CRITICAL|FATAL)\]?[:\s]")


def _event(source: str, line_no: int, first: str, parsed: Parsed | None, folded: list[str] | None,
           fmt: str) -> Event:
    obj = None
    if parsed is None:
        ts = level = host = service = label = None
        text = first
    else:
        ts, level, host, service, text, label = parsed[:6]
        if len(parsed) > 6:
            obj = parsed[6]  # type: ignore[misc]  # a JSON line's object (detectors.formats._make_jsonl)
    if level is None:
        # Many layouts (rsyslog, plain app logs) put the level as the message's first word.
        m = _LEADING_LEVEL.match(text)
        if m is not None:
            level = normalize_level(m.group(1))
    raw = first
    if folded:
        rest = "\n".join(folded)
        raw = first + "\n" + rest
        if text.startswith(_TRACE_HEAD) and folded and _TRACE_END.match(folded[-1]):
            # A bare traceback (a process's stderr): its exception line says what failed; it leads the message.
            text = folded[-1] + "\n" + text + "\n" + "\n".join(folded[:-1])
        elif _EMPTY_HEAD.fullmatch(text):
            # A header with no message of its own, only tags (Rails' FATAL "[req-id]   " before the error on the
            # next lines): the first folded line is the message.
            text = rest
        else:
            text = text + "\n" + rest
    fields = extract_fields(text, fmt, obj)
    if level is None and fields is not None and fields.exc is not None and "\n" in text:
        level = "ERROR"  # an entry that carries a stack trace and no level of its own
    return Event(source, line_no, ts, text, raw, level, host, service, fmt, False, label, fields)


def _count(events: Iterator[Event], stats: ReadStats) -> Iterator[Event]:
    for e in events:
        stats.events += 1
        yield e


def _timed(events: Iterator[Event], stats: ReadStats) -> Iterator[Event]:
    """Fill missing timestamps: an entry takes its predecessor's (ts_inferred=True).

    Entries before a source's first timestamp take that first timestamp instead (also marked inferred), so
    a banner line does not sort before every other source; they are held back for at most
    MAX_LEADING_UNTIMED entries, and keep ts=None beyond that.
    """
    last: float | None = None
    leading: list[Event] = []
    for e in events:
        if e.ts is None:
            if last is not None:
                e.ts, e.ts_inferred = last, True
            elif len(leading) < MAX_LEADING_UNTIMED:
                leading.append(e)
                continue
        else:
            last = e.ts
            if leading:
                for held in leading:
                    held.ts, held.ts_inferred = last, True
                    stats.events += 1
                    yield held
                leading.clear()
        stats.events += 1
        yield e
    for held in leading:
        stats.events += 1
        yield held


# --- public API -------------------------------------------------------------------------------------------


def _matches(rel: str, globs: Sequence[str]) -> bool:
    base = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(base, g) for g in globs)


def expand_sources(paths: Sequence[str], include: Sequence[str] = (), exclude: Sequence[str] = (),
                   stats: ReadStats | None = None) -> list[str]:
    """The files to read, in the order they will be read.

    Files and `-` (stdin) are kept as given. Directories are walked recursively in name order, skipping hidden
    files and directories (names starting with "."); `include` / `exclude` are fnmatch globs matched against
    each file's path relative to the directory and against its name (`*.log`, `nova/*`, `*.gz`). A path that
    does not exist but contains glob characters is expanded as a glob. Each file is listed once.

    Args:
        paths: Files, directories, globs or "-".
        include: Keep only directory entries matching one of these (all when empty).
        exclude: Drop directory entries matching one of these.
        stats: Where to record paths that do not exist and unreadable directories (not recorded if None).
    """
    out: list[str] = []
    seen: set[str] = set()

    def add(path: str) -> None:
        key = path if path == STDIN else os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            out.append(path)

    def walk_error(e: OSError) -> None:
        if stats is not None:
            stats.skip(_skip_for_error(e.filename or "?", e))

    for path in paths:
        if path == STDIN or is_remote(path):
            add(path)
        elif os.path.isdir(path):
            for root, dirs, files in os.walk(path, onerror=walk_error):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    full = os.path.join(root, name)
                    rel = os.path.relpath(full, path).replace(os.sep, "/")
                    if (include and not _matches(rel, include)) or (exclude and _matches(rel, exclude)):
                        continue
                    try:
                        regular = stat.S_ISREG(os.stat(full).st_mode)
                    except OSError as e:
                        walk_error(e)
                        continue
                    if regular:
                        add(full)
                    elif stats is not None:
                        stats.skip(Skip(full, None, "not a file",
                                        f"{full}: not a regular file (a FIFO, socket or device), skipped; "
                                        f"name it on its own to read it"))
        elif os.path.lexists(path):
            add(path)  # a file, FIFO or broken link: problems are reported when it is read
        elif glob.has_magic(path) and (found := sorted(glob.glob(path, recursive=True))):
            for p in expand_sources(found, include, exclude, stats):
                add(p)
        elif stats is not None:
            what = "no file matches this pattern" if glob.has_magic(path) else "no such file or directory"
            stats.skip(Skip(path, None, "not found", f"{path}: {what}; check the path"))
    return out


def total_bytes(sources: Sequence[str]) -> int:
    """Bytes `read_events` will report through on_progress (on-disk sizes; compressed for .gz; 0 for stdin)."""
    total = 0
    for source in sources:
        if source == STDIN or is_remote(source):
            continue
        try:
            total += os.path.getsize(source)
        except OSError:
            pass
    return total


def read_events(paths: Sequence[str], *, stats: ReadStats, include: Sequence[str] = (),
                exclude: Sequence[str] = (), stdin: BinaryIO | None = None,
                on_progress: Callable[[int], None] | None = None, max_line_bytes: int = 1_000_000) -> Iterator[Event]:
    """Stream the events of all sources, merged in timestamp order.

    Sources are merged with `heapq.merge` on `ts`, so each source keeps its own order (a source whose lines
    are out of time order stays so). An entry without a timestamp takes its predecessor's (`ts_inferred`);
    a source without any timestamp keeps `ts=None` and its events come first, in file order. Timestamps are
    UTC epoch seconds; naive ones are taken as UTC (see `detectors.formats`).

    Bad input never raises: a missing, unreadable, empty or binary source, invalid UTF-8, over-long lines
    (truncated to `max_line_bytes`, kept) and truncated `.gz` files (the lines before the break are kept)
    each add one `Skip` per source to `stats`, and reading goes on.

    Args:
        paths: Files (plain or gzip), directories, globs, or "-" for stdin (spooled to a temp file so that
            `context_lines("-", ...)` works afterwards).
        stats: Filled with line/event/fold counts, detected formats and skips as the stream is consumed.
        include: fnmatch globs a file found in a directory must match (see `expand_sources`).
        exclude: fnmatch globs that drop files found in directories.
        stdin: The stream read for "-" (default: sys.stdin.buffer).
        on_progress: Called about every 10k lines (and at the end of each source) with the number of
            on-disk bytes read since the previous call; the calls add up to `total_bytes(sources)` for files.
        max_line_bytes: Longer lines are truncated to this many bytes; also the cap of a folded entry.

    Raises:
        ValueError: If max_line_bytes is not positive (a programming error, raised on first use).
    """
    if max_line_bytes < 1:
        raise ValueError(f"max_line_bytes must be at least 1, got {max_line_bytes}")
    sources = expand_sources(paths, include, exclude, stats)
    refs = year_references(sources, stats)
    streams = [_source_events(s, stats, stdin, on_progress, max_line_bytes, refs.get(s)) for s in sources]
    if len(streams) == 1:
        yield from streams[0]
    elif streams:
        yield from heapq.merge(*streams, key=_merge_key)


# --- years for year-less timestamps -------------------------------------------------------------------------

PROBE_BYTES = 1 << 16  # read from each end of a file to find its time range
MAX_PROBED = 256  # sources probed for year inference (beyond: file modification times, as before)
_REF_A, _REF_B = 978_307_200.0 + 180 * 86400, 1_293_840_000.0 + 180 * 86400  # mid-2001, mid-2011


def _probe_lines(path: str, tail: bool) -> list[str]:
    """Lines from the head (or tail, plain files only) of a file; [] when it cannot be read."""
    try:
        with open(path, "rb") as raw:
            gz = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            if gz:
                if tail:
                    return []
                with gzip.GzipFile(fileobj=raw) as f:
                    data = f.read(PROBE_BYTES)
            else:
                if tail:
                    size = os.fstat(raw.fileno()).st_size
                    if size <= PROBE_BYTES:
                        return []
                    raw.seek(size - PROBE_BYTES)
                data = raw.read(PROBE_BYTES)
    except _READ_ERRORS:
        return []
    if b"\x00" in data[:BINARY_PROBE_BYTES]:
        return []
    lines = data.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    if tail:
        lines = lines[1:]  # the first is cut
    return [ln for ln in lines if ln.strip()]


def _stamps(parse: Callable[[str], Parsed | None], lines: Sequence[str]) -> list[float]:
    out = []
    for ln in lines:
        p = parse(ln)
        if p is not None and p[0] is not None:
            out.append(p[0])
    return out


def year_references(sources: Sequence[str], stats: ReadStats | None = None) -> dict[str, float]:
    """Reference times for sources whose timestamps have no year (RFC 3164 syslog, logcat, ...).

    Such a source takes its year from the other sources: the reference is the latest time they reach (from
    each file's head and tail), so a year-less line lands in the year of that range, or the year before when
    it would fall more than two days after it (December lines read next to January ones). With no other dated
    source, the file's modification time is the reference (as before). Each inference becomes a note in
    `stats.notes`.
    """
    yearless: list[tuple[str, float | None]] = []
    latest: float | None = None
    for source in sources[:MAX_PROBED]:
        if source == STDIN:
            continue
        try:
            if not stat.S_ISREG(os.stat(source).st_mode):
                continue
        except OSError:
            continue
        head = _probe_lines(source, tail=False)[:SAMPLE_LINES * 4]
        sample = [ln for ln in head if not looks_like_continuation(ln)][:SAMPLE_LINES]
        if not sample:
            continue
        fmt = detect_format(sample, _REF_A)
        a = _stamps(fmt.make_parser(_REF_A), sample)
        if not a:
            continue
        b = _stamps(fmt.make_parser(_REF_B), sample)
        if b and abs(a[0] - b[0]) > 86400:
            yearless.append((source, None))
            continue
        ends = a + _stamps(fmt.make_parser(_REF_A), _probe_lines(source, tail=True)[-SAMPLE_LINES:])
        top = max(ends)
        latest = top if latest is None else max(latest, top)
    refs: dict[str, float] = {}
    for source, _ in yearless:
        if latest is not None:
            refs[source] = latest
            if stats is not None:
                year = time.gmtime(latest).tm_year
                stats.notes.append(
                    f"{source}: its timestamps carry no year; dated against the other sources (they reach "
                    f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(latest))} UTC): in {year}, or in {year - 1} for "
                    f"a month and day more than two days after that")
        elif stats is not None:
            try:
                mtime = os.stat(source).st_mtime
            except OSError:
                continue
            year = time.gmtime(mtime).tm_year
            stats.notes.append(
                f"{source}: its timestamps carry no year and no other source gives one; dated by the file's "
                f"modification time ({time.strftime('%Y-%m-%d', time.gmtime(mtime))}): in {year}, or in {year - 1} "
                f"for a month and day more than two days after it")
    return refs


def _merge_key(event: Event) -> float:
    ts = event.ts
    return ts if ts is not None else float("-inf")


def context_many(source: str, lines: Sequence[int], before: int = 3, after: int = 3) -> dict[int, list[tuple[int, str]]]:
    """`context_lines` for several lines of one source, in a single pass over it.

    Returns:
        For each requested line, its `(line number, text)` pairs (empty lists when the source cannot be read).
    """
    wanted = sorted(set(lines))
    out: dict[int, list[tuple[int, str]]] = {n: [] for n in wanted}
    path = _SPOOLS.get(source) if source == STDIN or is_remote(source) else _SPOOLS.get(source, source)
    if path is None or not wanted:
        return out
    spans = [(max(1, n - before), n + after, n) for n in wanted]
    last = max(hi for _, hi, _ in spans)
    try:
        src = _FileSource(path)
    except _READ_ERRORS:
        return out
    try:
        reader = _Lines(src, 1_000_000)
        reader.read_head()
        n = 0
        k = 0  # first span that may still need lines
        for block in reader.blocks():
            if k < len(spans) and n + len(block) < spans[k][0]:
                n += len(block)
                continue
            for text in block:
                n += 1
                if n > last:
                    return out
                while k < len(spans) and spans[k][1] < n:
                    k += 1
                j = k
                while j < len(spans) and spans[j][0] <= n:
                    if n <= spans[j][1]:
                        out[spans[j][2]].append((n, text))
                    j += 1
    except _READ_ERRORS:
        pass
    finally:
        src.close()
    return out


def context_lines(source: str, line: int, before: int = 3, after: int = 3) -> list[tuple[int, str]]:
    """The lines around `line` of a source, re-read from disk (or from stdin's spool file for "-").

    Line numbers and decoding match `read_events` (1-based, CRLF stripped, bad UTF-8 as U+FFFD).

    Args:
        source: A path as in `Event.source`, or "-" after stdin was read.
        line: The 1-based line to centre on.
        before: Lines wanted before it.
        after: Lines wanted after it.

    Returns:
        `(line number, text)` pairs in order; fewer near the file's ends, and empty when the source can no
        longer be read (deleted, or "-" before stdin was read).
    """
    return context_many(source, [line], before, after)[line]


__all__ = [
    "STDIN", "context_lines", "context_many", "expand_sources", "read_events", "total_bytes", "year_references"]
