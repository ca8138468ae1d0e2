"""The ICAD agent tool: compare metric series or table rows with normal reference data and say what differs.

Logs go through `audit_source` with `detector="icad"`; this tool covers the other two modalities ICAD handles:
a metric CSV (one column per channel; windows of the series are scored) or a table (CSV or Parquet; rows are
scored). Normal data is a separate `reference` file, or else the earliest `fit_fraction` of the target itself.
Error messages never quote file contents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from detectors.base import DetectorError
from tools.base import MAX_ITEMS, Tool, ToolArgs, ToolInputError, ToolOutput, clip
from tools.workspace import Workspace


class ICADCompareArgs(ToolArgs):
    """Arguments of icad_compare."""

    path: str = Field(description="metric CSV (kind=series) or table CSV/Parquet (kind=table) to check")
    kind: Literal["series", "table"] = Field(description="series: windows of metric columns; table: rows")
    reference: str | None = Field(None, description="file of normal data with the same columns (default: the "
                                                    "earliest fit_fraction of `path`)")
    fit_fraction: float = Field(0.3, gt=0.05, lt=0.95, description="share of `path` used as normal data when no "
                                                                     "reference is given")
    columns: list[str] | None = Field(None, max_length=64, description="numeric columns to use (default: all numeric)")
    limit: int = Field(5, ge=1, le=MAX_ITEMS, description="how many anomalies to list, best first")


def read_numeric(path: str, columns: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """The numeric columns of a CSV or Parquet file as float32 (rows, columns) and their names.

    Raises:
        ToolInputError: If the file is missing, unreadable, or has no numeric column.
    """
    p = Path(path)
    if not p.is_file():
        raise ToolInputError(f"no such file: {path!r}; give the path of a CSV or Parquet file")
    try:
        table = _read_columns(p)
    except Exception as error:  # any parser failure is the caller's file, not a bug here
        raise ToolInputError(f"cannot read {path!r} as a table ({type(error).__name__}); give a CSV or Parquet file") from None
    if columns:
        unknown = [c for c in columns if c not in table]
        if unknown:
            raise ToolInputError(f"{path!r} has no column(s) {unknown}; it has {list(table)[:20]}")
        table = {c: table[c] for c in columns}
    numeric = {name: arr for name, col in table.items() if (arr := _as_float(col)) is not None}
    if not numeric:
        raise ToolInputError(f"{path!r} has no numeric column to compare")
    return np.stack(list(numeric.values()), 1).astype(np.float32), list(numeric)


def _read_columns(p: Path) -> dict[str, list[object]]:
    if p.suffix.lower() in {".parquet", ".pq"}:
        import pyarrow.parquet as pq

        return {str(k): v for k, v in pq.read_table(p).to_pydict().items()}
    import csv

    with open(p, newline="", encoding="utf-8", errors="replace") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise ValueError("empty file")
    header, body = rows[0], rows[1:]
    return {h: [r[i] if i < len(r) else "" for r in body] for i, h in enumerate(header)}


def _as_float(col: list[object]) -> np.ndarray | None:
    """The column as floats (empty cells -> NaN), or None when a cell is not a number."""
    out = np.empty(len(col), np.float64)
    for i, v in enumerate(col):
        if v is None or v == "":
            out[i] = np.nan
            continue
        try:
            out[i] = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
    return out


def icad_compare(ws: Workspace, args: ICADCompareArgs) -> ToolOutput:
    """Score `path` against normal reference data with ICAD; the top anomalies and the channels/features behind them."""
    from detectors.base import SeriesWindow, TableRow
    from detectors.icad.detector import ICADDetector

    x, names = read_numeric(args.path, args.columns)
    if args.reference:
        ref, ref_names = read_numeric(args.reference, names)
        if ref_names != names:
            raise ToolInputError("the reference file does not have the same numeric columns as the target")
        target_offset = 0
    else:
        cut = int(len(x) * args.fit_fraction)
        ref, x, target_offset = x[:cut], x[cut:], cut
    det = ICADDetector()
    try:
        if args.kind == "table":
            samples = [TableRow(i, f"row {i + target_offset + 1}", v, tuple(names)) for i, v in enumerate(x)]
            det.fit([TableRow(i, f"ref {i}", v, tuple(names)) for i, v in enumerate(ref)])
        else:
            length, step = det.model.cfg.series_len, det.model.cfg.series_patch
            if len(ref) < length + 6 * step or len(x) < length:
                raise ToolInputError(f"series too short: need at least {length + 6 * step} normal points and "
                                     f"{length} target points")
            det.fit([SeriesWindow(i, "ref", s, ref[s:s + length], channels=tuple(names))
                     for i, s in enumerate(range(0, len(ref) - length + 1, step))])
            samples = [SeriesWindow(i, f"points {s + target_offset + 1}-{s + target_offset + length}", s,
                                    x[s:s + length], channels=tuple(names))
                       for i, s in enumerate(range(0, len(x) - length + 1, step))]
        scores = det.score(samples)
    except DetectorError as error:
        raise ToolInputError(f"icad cannot score {args.path!r}: {error}") from None
    flagged = np.nonzero(scores >= det.threshold)[0]
    order = flagged[np.argsort(-scores[flagged], kind="stable")][: args.limit]
    rows = [f"icad on {len(samples)} {'rows' if args.kind == 'table' else 'windows'} of {args.path}: "
            f"{len(flagged)} at or above the label-free threshold {det.threshold:.3g}"]
    found = []
    for i in order:
        v = det.verdict(samples[int(i)], float(scores[i]))
        drivers = [e.data.get("name", "") for e in v.evidence if e.kind == "residual"]
        rows.append(f"- {v.sample}: score {v.score:.3g} ({v.severity}); differs most in {', '.join(drivers) or '-'}")
        rows += [f"    {clip(e.summary, 160)}" for e in v.evidence[1:3]]
        found.append({"sample": v.sample, "score": v.score, "drivers": drivers})
    return ToolOutput("\n".join(rows), {"threshold": det.threshold, "flagged": int(len(flagged)), "top": found},
                      count=int(len(flagged)))


TOOLS: tuple[Tool, ...] = (
    Tool("icad_compare", "Compare a metric CSV (kind=series) or a table (kind=table, CSV/Parquet) with normal reference "
                         "data using the ICAD in-context detector; lists anomalous windows/rows and the "
                         "channels/features that differ from their nearest normal counterparts.",
         ICADCompareArgs, icad_compare),
)
