"""Metric files for the chart: `timestamp,value,series` CSV (the generator's layout) or `timestamp,value`.

The markers are a display aid, not a detector: points whose robust z-score against a rolling median exceeds
`Z_MARK`. The series detectors (CALM) replace them when they land.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

import numpy as np

Z_MARK = 4.0  # |robust z| above this is drawn as a marker
ROLL = 31  # points in the rolling median


class MetricsError(ValueError):
    """A metric file cannot be read; the message names it and says why."""


@dataclass
class Series:
    """One metric series: epoch seconds, values, and the points marked as unusual."""

    name: str
    ts: np.ndarray
    values: np.ndarray
    marked: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def _epoch(text: str) -> float:
    from datetime import datetime

    try:
        return float(text)
    except ValueError:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()


def read_metrics(path: str | Path) -> list[Series]:
    """Read a metric CSV into series (one per `series` value, or one named after the file).

    Raises:
        MetricsError: If the file is missing, has no numeric rows, or lacks a timestamp and value column.
    """
    path = Path(path)
    data: dict[str, tuple[list[float], list[float]]] = {}
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = [f.lower() for f in reader.fieldnames or []]
            if "value" not in fields:
                raise MetricsError(f"{str(path)!r} has no 'value' column (columns: {', '.join(fields) or 'none'}); "
                                   "write timestamp,value[,series]")
            for row in reader:
                row = {k.lower(): v for k, v in row.items() if k}
                try:
                    ts = _epoch(row.get("timestamp") or row.get("time") or "nan")
                    value = float(row["value"])
                except (ValueError, TypeError):
                    continue
                name = row.get("series") or path.stem
                xs, ys = data.setdefault(name, ([], []))
                xs.append(ts)
                ys.append(value)
    except OSError as error:
        raise MetricsError(f"cannot read metrics {str(path)!r}: {error.strerror or error}") from None
    if not data:
        raise MetricsError(f"{str(path)!r} has no numeric rows")
    out = []
    for name, (xs, ys) in data.items():
        s = Series(name, np.asarray(xs), np.asarray(ys))
        s.marked = mark_unusual(s.values)
        out.append(s)
    return out


def mark_unusual(values: np.ndarray, z: float = Z_MARK, window: int = ROLL) -> np.ndarray:
    """Indices whose robust z-score against a centred rolling median exceeds `z`."""
    n = len(values)
    if n < window:
        return np.zeros(0, np.int64)
    pad = window // 2
    padded = np.pad(values, pad, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)
    med = np.median(windows, axis=1)
    resid = values - med
    mad = float(np.median(np.abs(resid - np.median(resid)))) * 1.4826 or float(np.std(resid)) or 1.0
    return np.flatnonzero(np.abs(resid) / mad > z)
