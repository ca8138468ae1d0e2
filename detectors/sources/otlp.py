"""OpenTelemetry log files: the collector's file exporter layout flattened to one log record a line.

The file exporter (and `otlp/json` dumps) write one ExportLogsServiceRequest a line:
`{"resourceLogs": [{"resource": {"attributes": [...]}, "scopeLogs": [{"scope": {...}, "logRecords": [...]}]}]}`.
Each record is written out on its own line with its resource's attributes as a plain `resource` dict and its
scope's name as `scope`, so `detectors.formats`' `otlp` format reads it, and line N of the source is its Nth
log record (what `file:line` citations and `context_lines` use for such a file).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from detectors.sources.structured import attributes_dict

__all__ = ["flatten_otlp", "looks_like_otlp", "records"]


def looks_like_otlp(head: bytes) -> bool:
    """Whether a file's first bytes are the nested OTLP JSON layout (`{"resourceLogs": ...`)."""
    s = head.lstrip()[:200]
    return s.startswith(b"{") and b'"resourceLogs"' in s


def records(batch: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The log records of one ExportLogsServiceRequest, each with `resource` (dict) and `scope` added."""
    for rl in batch.get("resourceLogs") or []:
        if not isinstance(rl, dict):
            continue
        resource = attributes_dict((rl.get("resource") or {}).get("attributes") or [])
        for sl in rl.get("scopeLogs") or rl.get("instrumentationLibraryLogs") or []:
            if not isinstance(sl, dict):
                continue
            scope = (sl.get("scope") or sl.get("instrumentationLibrary") or {}).get("name")
            for rec in sl.get("logRecords") or []:
                if isinstance(rec, dict):
                    out = dict(rec)
                    out["resource"] = resource
                    if scope:
                        out["scope"] = scope
                    yield out


def flatten_otlp(path: str, out: Any, on_progress: Callable[[int], None] | None = None) -> int:
    """Write the records of an OTLP JSON file to the text stream `out`, one a line; returns how many.

    A line that is not JSON is written through as it is (the reader then treats it as a continuation or as
    plain text), so nothing in the file is silently dropped.
    """
    n = 0
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                batch = json.loads(line)
            except ValueError:
                batch = None
            if not isinstance(batch, dict) or "resourceLogs" not in batch:
                out.write(line + "\n")
                n += 1
                continue
            for rec in records(batch):
                out.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
                n += 1
            if on_progress is not None:
                on_progress(len(raw))
    return n
