"""Metric inputs of the engine: `--metrics FILE` series (read here), and anomalies CALM already judged (`Signal`s).

Layouts read: a wide CSV with a header (`timestamp,cpu,mem,...`: one series per numeric column), the long CSV
`timestamp,value[,series]` and JSON lines `{"timestamp": ..., "value": ..., "series": ...}` that `sleuth watch`
reads (`detectors.calm.records`). Bad rows are counted and named in a note, never fatal.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detectors.formats import parse_timestamp as _parse_ts
from detectors.incidents.model import MetricSeries, Signal

TIME_KEYS = ("timestamp", "time", "ts", "@timestamp", "date", "datetime")


def parse_timestamp(raw: Any) -> float | None:
    """Epoch seconds of an ISO 8601 / epoch (s, ms, us, ns) value; None otherwise."""
    if isinstance(raw, str):
        raw = raw.strip()
        if not raw or not (raw[0].isdigit() or raw[0] in "+-"):
            return None
    return _parse_ts(raw, None)

MAX_METRIC_BYTES = 200 * 1024 * 1024


def read_metrics(path: str | Path, notes: list[str] | None = None) -> list[MetricSeries]:
    """The series of one metrics file; problems become `notes` (never an exception)."""
    path = Path(path)
    notes = notes if notes is not None else []
    try:
        size = path.stat().st_size
        if size > MAX_METRIC_BYTES:
            notes.append(f"{path}: {size >> 20} MB is more than this reads as metrics ({MAX_METRIC_BYTES >> 20} MB); "
                         f"resample it first")
            return []
        data = path.read_bytes()
    except OSError as e:
        notes.append(f"{path}: cannot read the metrics file ({e.strerror or e}); check the path")
        return []
    if b"\x00" in data[:8192]:
        notes.append(f"{path}: looks binary, not a metrics CSV or JSON-lines file; skipped")
        return []
    text = data.decode("utf-8", "replace")
    points: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    bad = 0
    first_bad = 0
    lines = text.splitlines()
    head = next((ln for ln in lines if ln.strip() and not ln.startswith("#")), "")
    if head.lstrip().startswith("{"):
        for i, ln in enumerate(lines, 1):
            if not ln.strip():
                continue
            try:
                obj: Any = json.loads(ln)
                ts = parse_timestamp(next((obj[k] for k in TIME_KEYS if k in obj), None))
                if ts is None:
                    raise ValueError
                series = str(next((obj[k] for k in ("series", "metric", "name") if obj.get(k)), "value"))
                if "value" in obj:
                    points[series].append((ts, float(obj["value"]), i))
                else:
                    for k, v in obj.items():
                        if k not in TIME_KEYS and isinstance(v, (int, float)) and not isinstance(v, bool):
                            points[k].append((ts, float(v), i))
            except (ValueError, TypeError, KeyError, AttributeError):
                bad += 1
                first_bad = first_bad or i
    else:
        rows = csv.reader(io.StringIO(text))
        header: list[str] | None = None
        for i, row in enumerate(rows, 1):
            if not row or row[0].startswith("#"):
                continue
            if header is None:
                if parse_timestamp(row[0]) is None:
                    header = [c.strip() for c in row]
                    continue
                header = ["timestamp", "value", "series"]
            ts = parse_timestamp(row[0])
            if ts is None:
                bad += 1
                first_bad = first_bad or i
                continue
            long = [h.lower() for h in header[:3]] == ["timestamp", "value", "series"] or (
                len(header) >= 2 and header[1].lower() in ("value", "v", "y") and len(row) >= 3)
            try:
                if long:
                    name = row[2].strip() if len(row) > 2 and row[2].strip() else "value"
                    points[name].append((ts, float(row[1]), i))
                else:
                    for name, cell in zip(header[1:], row[1:], strict=False):
                        cell = cell.strip()
                        if cell:
                            points[name].append((ts, float(cell), i))
            except ValueError:
                bad += 1
                first_bad = first_bad or i
    if bad:
        notes.append(f"{path}:{first_bad}: {bad} metric row(s) without a usable timestamp or number were skipped")
    out = []
    for name, pts in points.items():
        pts.sort()
        arr = np.asarray(pts, dtype=np.float64)
        vals = arr[:, 1]
        if not np.isfinite(vals).any():
            continue
        out.append(MetricSeries(name=name, ts=arr[:, 0], values=vals, source=str(path),
                                lines=arr[:, 2].astype(np.int64)))
    if not out and not bad:
        notes.append(f"{path}: no metric series found (expected a CSV with a timestamp column, or JSON lines)")
    return out


def looks_like_metrics(path: str | Path) -> bool:
    """Whether a file reads as metrics (a CSV whose first column is a time and the others numbers)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096).decode("utf-8", "replace").splitlines()
    except OSError:
        return False
    rows = [r for r in csv.reader(head[:6]) if r]
    if len(rows) < 2:
        return False
    body = rows[1:] if parse_timestamp(rows[0][0]) is None else rows
    for r in body[:4]:
        if len(r) < 2 or parse_timestamp(r[0]) is None:
            return False
        try:
            [float(c) for c in r[1:2]]
        except ValueError:
            return False
    return True


def signals_from_calm(events: Iterable[Any]) -> list[Signal]:
    """CALM's judged anomalies (`CalmEvent`s or their dicts of kind anomaly/judgment) as engine inputs.

    A judgment that dismissed the anomaly (decision "normal"/"dismiss") is left out.
    """
    out: list[Signal] = []
    for e in events:
        d = e.to_dict() if hasattr(e, "to_dict") else dict(e)
        if d.get("kind") not in ("anomaly", "judgment") or d.get("timestamp") is None:
            continue
        decision = str(d.get("decision") or "").lower()
        if decision in ("normal", "dismiss", "dismissed", "benign", "expected"):
            continue
        out.append(Signal(name=str(d.get("series", "")), start=float(d["timestamp"]), end=None,
                          score=float(d.get("score") or 1.0), origin="calm",
                          summary=str(d.get("reason") or d.get("message") or "")))
    return out


def resample(series: MetricSeries, t0: float, width: float, n_bins: int) -> np.ndarray:
    """Mean value per bin (NaN where the series has no point)."""
    b = np.floor((series.ts - t0) / width).astype(np.int64)
    ok = (b >= 0) & (b < n_bins) & np.isfinite(series.values)
    s = np.bincount(b[ok], weights=series.values[ok], minlength=n_bins)
    c = np.bincount(b[ok], minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(c > 0, s / np.maximum(c, 1), np.nan)


def split_metrics_paths(paths: Sequence[str], metrics: Sequence[str]) -> list[str]:
    """The log paths without those also given as metrics (a file is read once, as metrics)."""
    import os

    mset = {os.path.realpath(m) for m in metrics}
    return [p for p in paths if p == "-" or os.path.realpath(p) not in mset]
