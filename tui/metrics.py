"""Metric files for the charts, read as the incident engine reads them (long or wide CSV, JSON lines).

The markers are a display aid, not a detector: points whose robust z-score against a rolling median exceeds
`Z_MARK`. The series detectors (CALM) replace them when they land.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


def read_metrics(path: str | Path) -> list[Series]:
    """Read a metric file into series: every layout the incident engine reads (`detectors.incidents.read_metrics`:
    long `timestamp,value[,series]`, wide `timestamp,cpu,mem,...`, JSON lines), one series per metric.

    Raises:
        MetricsError: If the file is missing or holds no numeric series; the message names it and says why.
    """
    from detectors.incidents import read_metrics as engine_read

    path = Path(path)
    notes: list[str] = []
    found = engine_read(path, notes)
    if not found:
        why = notes[0] if notes else f"{str(path)!r} has no numeric series; write timestamp,value[,series] or " \
                                      "timestamp,metric1,metric2,..."
        raise MetricsError(why)
    out = []
    for m in found:
        ts = np.asarray(m.ts, np.float64)
        values = np.asarray(m.values, np.float64)
        order = np.argsort(ts, kind="stable")
        s = Series(m.name, ts[order], values[order])
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
