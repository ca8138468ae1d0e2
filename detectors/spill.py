"""Columns as long as the log, kept in a temporary file instead of the process's memory.

An audit keeps a few dozen bytes per event (the event table's columns, each line's score, the incident engine's
keys and time bins). On a long log that is most of the process's memory, and it grows with the log. Past
`SPILL_MIN` elements such a column is written to an unlinked temporary file under the cache folder and mapped back
(`mmap`): it reads and writes as any numpy array, the kernel keeps in memory only the pages in use, and
`release()`, called between chunks of work, hands those pages back (they stay in the page cache, from which the
next access reads them). Peak memory then follows the work in hand, not the length of the log; the temporary
files go when the arrays do, and take about as much disk as the columns would have taken memory (less than the
logs themselves).

Shorter columns stay ordinary arrays, so small audits, the TUI and the tests never touch the disk for this.
"""

from __future__ import annotations

import mmap
import os
import tempfile
import weakref
from array import array
from pathlib import Path

import numpy as np

SPILL_MIN = 1 << 18  # elements: columns shorter than this stay in memory
_live: weakref.WeakSet[mmap.mmap] = weakref.WeakSet()
_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)


def spill_dir() -> Path:
    """Where the temporary files go: $SLEUTH_SPILL_DIR, else the user cache folder (a disk, rarely a tmpfs)."""
    env = os.environ.get("SLEUTH_SPILL_DIR")
    if env:
        return Path(env)
    from detectors.paths import cache_dir

    return cache_dir() / "spill"


def _mapped(nbytes: int) -> mmap.mmap | None:
    """A shared writable mapping of a new unlinked file of `nbytes`, or None where one cannot be made."""
    try:
        folder = spill_dir()
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix="sleuth-spill-") as f:
            f.truncate(nbytes)
            mm = mmap.mmap(f.fileno(), nbytes)  # keeps its own descriptor; the file is already unlinked
    except (OSError, ValueError):
        return None  # no room, no cache folder, no mmap: the column stays in memory
    _live.add(mm)
    return mm


def empty(n: int, dtype: np.dtype | type) -> np.ndarray:
    """An uninitialised column of `n` elements: in a temporary file when long, in memory when short."""
    dt = np.dtype(dtype)
    if n >= SPILL_MIN:
        mm = _mapped(n * dt.itemsize)
        if mm is not None:
            return np.frombuffer(mm, dtype=dt, count=n)
    return np.empty(n, dtype=dt)


def full(n: int, value: float | int, dtype: np.dtype | type) -> np.ndarray:
    """A column of `n` elements set to `value` (filled a few MB at a time when spilled)."""
    out = empty(n, dtype)
    if n < SPILL_MIN:
        out.fill(value)
        return out
    step = max(1, (1 << 22) // max(out.itemsize, 1))
    for lo in range(0, n, step):
        out[lo:lo + step] = value
        release()
    return out


def copy(values: np.ndarray, dtype: np.dtype | type | None = None) -> np.ndarray:
    """`values` (cast to `dtype`) as a column: spilled when long, a chunk at a time."""
    out = empty(len(values), dtype or values.dtype)
    step = max(1, (1 << 22) // max(out.itemsize, 1))
    for lo in range(0, len(values), step):
        out[lo:lo + step] = values[lo:lo + step]
        release()
    return out


def is_spilled(a: np.ndarray) -> bool:
    """Whether `a` (or the array it views) lives in a spill file."""
    base: object = a
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return isinstance(base, mmap.mmap)


def release() -> None:
    """Hand back the pages of every spilled column to the kernel (their contents stay in the file)."""
    if _DONTNEED is None:
        return
    for mm in list(_live):
        try:
            mm.madvise(_DONTNEED)
        except (OSError, ValueError):
            pass


class Appender:
    """A growing column, written to a temporary file a chunk at a time once it is long (see `SPILL_MIN`)."""

    FLUSH = 1 << 16  # elements buffered in memory between writes

    def __init__(self, typecode: str) -> None:
        self.buf = array(typecode)
        self._file: tempfile._TemporaryFileWrapper[bytes] | None = None  # type: ignore[type-arg]
        self._written = 0

    def __len__(self) -> int:
        return self._written + len(self.buf)

    def append(self, value: float) -> None:
        self.buf.append(value)  # type: ignore[arg-type]

    def extend(self, values: object) -> None:
        self.buf.extend(values)  # type: ignore[arg-type]

    def frombytes(self, data: bytes) -> None:
        self.buf.frombytes(data)

    def maybe_flush(self) -> None:
        if len(self.buf) < self.FLUSH or len(self) < SPILL_MIN:
            return
        if self._file is None:
            try:
                folder = spill_dir()
                folder.mkdir(parents=True, exist_ok=True)
                self._file = tempfile.TemporaryFile(dir=folder, prefix="sleuth-spill-")  # type: ignore[assignment]
            except OSError:
                return  # stays in memory
        assert self._file is not None
        self._file.write(self.buf.tobytes())
        self._written += len(self.buf)
        self.buf = array(self.buf.typecode)

    def freeze(self, dtype: np.dtype | type) -> np.ndarray:
        """The whole column as an array of `dtype` (the buffer's own type, or a narrower one that holds it)."""
        dt = np.dtype(dtype)
        own = np.dtype(self.buf.typecode)
        if self._file is None:
            arr = np.frombuffer(self.buf, dtype=own) if len(self.buf) else np.zeros(0, own)
            if own == dt:
                return arr  # a view of the buffer, no copy
            out = arr.astype(dt)
            self._written, self.buf = len(self.buf), array(self.buf.typecode)  # the wider copy goes
            return out
        self._file.write(self.buf.tobytes())
        self._written += len(self.buf)
        self.buf = array(self.buf.typecode)
        f, self._file = self._file, None
        n = self._written
        try:
            f.flush()
            if own == dt:
                mm = mmap.mmap(f.fileno(), n * own.itemsize)
                _live.add(mm)
                return np.frombuffer(mm, dtype=dt, count=n)
            # The narrower copy is read through a map that release() knows, so its pages go back as copied.
            mm = mmap.mmap(f.fileno(), n * own.itemsize, access=mmap.ACCESS_READ)
            _live.add(mm)
            src = np.frombuffer(mm, dtype=own, count=n)
            out = copy(src, dt)
            del src
            _live.discard(mm)
            mm.close()
            return out
        finally:
            f.close()
