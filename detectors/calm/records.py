"""Parse metric records: CSV `timestamp,value[,series]` or JSON lines `{"timestamp": …, "value": …, "series": …}`.

Timestamps: ISO 8601 (a missing zone is UTC) or epoch seconds / milliseconds. A line that is not a usable record
becomes a `BadRecord` with a reason (counted and reported by the caller, never fatal); a header line is skipped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime

SERIES_KEYS = ("series", "metric", "name")
TIME_KEYS = ("timestamp", "time", "ts")
VALUE_KEYS = ("value", "v", "y")


@dataclass(frozen=True, slots=True)
class Record:
    """One metric point."""

    series: str
    ts: float  # unix seconds
    value: float


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A line that is not a usable point, and why."""

    reason: str  # bad_value | non_numeric | bad_timestamp | malformed
    message: str
    source: str
    line: int
    text: str


def parse_timestamp(raw: object) -> float | None:
    """Unix seconds from ISO 8601 or epoch seconds/ms; None when it is neither."""
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, (int, float)):
        value = float(raw)
    else:
        text = str(raw).strip()
        try:
            value = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                return None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.timestamp()
    if not math.isfinite(value):
        return None
    return value / 1000.0 if value > 1e11 else value  # epoch milliseconds


def _value(raw: object) -> tuple[float | None, str | None]:
    if isinstance(raw, bool) or raw is None:
        return None, "non_numeric"
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None, "non_numeric"
    if not math.isfinite(value):
        return None, "bad_value"
    return value, None


def parse_line(text: str, *, source: str = "-", line: int = 0, default_series: str = "default") -> Record | BadRecord | None:
    """One record, a `BadRecord`, or None for a blank or header line."""
    body = text.strip()
    if not body or body.startswith("#"):
        return None
    if body.startswith("{"):
        try:
            obj = json.loads(body)
        except json.JSONDecodeError as error:
            return BadRecord("malformed", f"not valid JSON ({error.msg})", source, line, body[:200])
        if not isinstance(obj, dict):
            return BadRecord("malformed", "JSON line is not an object", source, line, body[:200])
        ts_raw = next((obj[k] for k in TIME_KEYS if k in obj), None)
        val_raw = next((obj[k] for k in VALUE_KEYS if k in obj), None)
        series = next((str(obj[k]) for k in SERIES_KEYS if obj.get(k) not in (None, "")), default_series)
    else:
        parts = [p.strip() for p in body.split(",")]
        if len(parts) < 2:
            return BadRecord("malformed", "expected timestamp,value[,series]", source, line, body[:200])
        if parts[0].lower() in TIME_KEYS and parts[1].lower() in VALUE_KEYS:
            return None  # header
        ts_raw, val_raw = parts[0], parts[1]
        series = parts[2] if len(parts) > 2 and parts[2] else default_series
    ts = parse_timestamp(ts_raw)
    if ts is None:
        return BadRecord("bad_timestamp", f"timestamp {str(ts_raw)[:40]!r} is not ISO 8601 or epoch seconds/ms",
                         source, line, body[:200])
    value, problem = _value(val_raw)
    if value is None:
        what = "is NaN or infinite" if problem == "bad_value" else "is not a number"
        return BadRecord(problem or "non_numeric", f"value {str(val_raw)[:40]!r} {what}", source, line, body[:200])
    return Record(series, ts, value)
