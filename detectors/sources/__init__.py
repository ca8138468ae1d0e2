"""Where logs and metrics live besides local files: journald, OpenTelemetry, Loki, Prometheus.

This package is imported by `detectors.formats` (the journald and OTLP line formats) and by `detectors.readers`
(sources named by a URL-like prefix), so its `__init__` imports nothing from `detectors` at module level.

A *remote* source (`journal:PATH`, `loki://HOST:PORT/QUERY`) is fetched page by page and written as it
arrives to a spool file of one JSON object per line (bounded memory whatever its size); the readers then read
that file like any other, and `file:line` citations name the source as the user wrote it, with the line number
of the entry in the fetched stream (`context_lines` re-reads the same spool).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence

from detectors.sources.errors import SourceError

__all__ = ["SourceError", "is_remote", "materialize_sources", "remote_kind", "spool_remote"]

_PREFIXES = {"journal:": "journald", "loki://": "loki", "lokis://": "loki"}


def remote_kind(source: str) -> str | None:
    """'journald' or 'loki' for a source named by its prefix, else None (a path)."""
    for prefix, kind in _PREFIXES.items():
        if source.startswith(prefix):
            return kind
    return None


def is_remote(source: str) -> bool:
    """Whether `source` names a journal or a Loki query rather than a file."""
    return remote_kind(source) is not None


def spool_remote(source: str, out_path: str, on_progress: Callable[[int], None] | None = None) -> int:
    """Fetch a remote source into `out_path` (JSON lines); returns the number of lines written.

    Raises:
        SourceError: With one line naming the source and what to change.
    """
    kind = remote_kind(source)
    if kind == "journald":
        from detectors.sources.journald import spool_journal

        return spool_journal(source, out_path, on_progress)
    if kind == "loki":
        from detectors.sources.loki import spool_loki

        return spool_loki(source, out_path, on_progress)
    raise SourceError(f"{source}: not a remote source; name a file, journal:PATH or loki://HOST:PORT/QUERY")


_TEMP_DIRS: list[str] = []


@atexit.register
def _remove_temp_dirs() -> None:
    for d in _TEMP_DIRS:
        shutil.rmtree(d, ignore_errors=True)


def materialize_sources(sources: Sequence[str]) -> list[str]:
    """Sources as local paths: remote ones fetched into files of a temp folder (removed at exit), the rest as
    given. For views that read files directly by offset (the TUI's log index).

    Raises:
        SourceError: For the first remote source that cannot be read.
    """
    out = []
    folder: str | None = None
    for source in sources:
        if not is_remote(source):
            out.append(source)
            continue
        if folder is None:
            folder = tempfile.mkdtemp(prefix="sleuth-sources-")
            _TEMP_DIRS.append(folder)
        name = re.sub(r"[^\w.-]+", "_", source.split("://", 1)[-1].split(":", 1)[-1]).strip("_")[:80] or "source"
        path = os.path.join(folder, f"{remote_kind(source)}-{len(out)}-{name}.jsonl")
        spool_remote(source, path)
        out.append(path)
    return out
