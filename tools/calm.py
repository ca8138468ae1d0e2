"""CALM agent tools: the forecast band of a metric at a time, a KEEP/REMOVE judgment of a point, the model history.

Metric files are CSV or JSON lines `timestamp,value[,series]` (what `sleuth watch` reads). The judge here is the
deterministic rule judge: the agent itself is the language model, and can weigh its numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import Field

from tools.base import MAX_ITEMS, Tool, ToolArgs, ToolInputError, ToolOutput
from tools.workspace import Workspace


class ForecastBandArgs(ToolArgs):
    """Arguments of calm_forecast_band."""

    path: str = Field(description="metric file: CSV or JSON lines with timestamp,value[,series]")
    time: str = Field(description="ISO 8601 time or epoch seconds of the point to check")
    series: str | None = Field(None, description="series name when the file holds several")


class JudgeArgs(ForecastBandArgs):
    """Arguments of calm_judge_anomaly."""


class HistoryArgs(ToolArgs):
    """Arguments of calm_model_history."""

    model_dir: str | None = Field(None, description="model directory (default: sleuth's data directory)")
    limit: int = Field(10, ge=1, le=MAX_ITEMS, description="how many versions to list, newest first")


def _load(path: str, series: str | None) -> tuple[str, np.ndarray, np.ndarray]:
    from detectors.calm.records import Record, parse_line

    p = Path(path)
    if not p.is_file():
        raise ToolInputError(f"no such file: {path!r}; give a CSV or JSON-lines metric file")
    by_series: dict[str, dict[float, float]] = {}
    with open(p, encoding="utf-8", errors="replace") as handle:
        for i, line in enumerate(handle, 1):
            rec = parse_line(line, source=path, line=i, default_series=p.stem)
            if isinstance(rec, Record):
                by_series.setdefault(rec.series, {}).setdefault(rec.ts, rec.value)
    if not by_series:
        raise ToolInputError(f"{path!r} has no timestamp,value records")
    if series is None:
        if len(by_series) > 1:
            raise ToolInputError(f"{path!r} holds several series; pass series= one of {sorted(by_series)[:20]}")
        series = next(iter(by_series))
    if series not in by_series:
        raise ToolInputError(f"{path!r} has no series {series!r}; it has {sorted(by_series)[:20]}")
    points = sorted(by_series[series].items())
    return series, np.array([t for t, _ in points]), np.array([v for _, v in points])


def _index(ts: np.ndarray, when: str) -> int:
    from detectors.calm.records import parse_timestamp

    t = parse_timestamp(when)
    if t is None:
        raise ToolInputError(f"time {when!r} is not ISO 8601 or epoch seconds")
    return int(np.argmin(np.abs(ts - t)))  # the nearest point


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _band(path: str, series: str | None, when: str) -> dict[str, float | str | bool]:
    """The point nearest `when` scored as `sleuth watch` scores it: the series streamed through CALM's robust
    residual scorer up to that point (seasonal expectation, robust spread, flagging band in the series' units)."""
    from detectors.calm.residual import RobustResidualScorer

    name, ts, values = _load(path, series)
    i = _index(ts, when)
    scorer = RobustResidualScorer()
    if len(ts) > 1:
        scorer.set_step(float(np.median(np.diff(ts))))
    for v in values[:i]:
        scorer.push(float(v))
    res = scorer.push(float(values[i]))
    if np.isnan(res.z):
        raise ToolInputError(f"{name}: the point at {_iso(ts[i])} has only {i} points before it; CALM needs "
                             f"{scorer.config.warmup} to score one")
    lo, hi = res.expected - res.half_width, res.expected + res.half_width
    return {"series": name, "time": _iso(ts[i]), "index": i, "actual": float(values[i]), "predicted": res.expected,
            "lower": lo, "upper": hi, "z": res.z, "score": abs(res.deviation) / res.half_width,
            "seasonal": res.seasonal, "outside": bool(res.flagged)}


def calm_forecast_band(ws: Workspace, args: ForecastBandArgs) -> ToolOutput:
    """The forecast band for the point nearest `time` and whether the actual value is outside it."""
    b = _band(args.path, args.series, args.time)
    verdict = "OUTSIDE the band (anomalous)" if b["outside"] else "inside the band"
    text = (f"{b['series']} at {b['time']}: actual {b['actual']:.4g}, expected {b['predicted']:.4g}"
            f"{' (daily pattern)' if b['seasonal'] else ''}, band [{b['lower']:.4g}, {b['upper']:.4g}]; {verdict}, "
            f"{b['z']:.1f} robust sd from the expected value, {b['score']:.2f}x the band's half-width (flag above 1)")
    return ToolOutput(text, dict(b), count=1)


def calm_judge_anomaly(ws: Workspace, args: JudgeArgs) -> ToolOutput:
    """KEEP (sustained shift) or REMOVE (transient noise) for the point nearest `time`, with the statistics."""
    from detectors.calm.judge import JudgeCase, RuleJudge

    b = _band(args.path, args.series, args.time)
    _, _, values = _load(args.path, args.series)
    i = int(b["index"])  # type: ignore[arg-type]
    case = JudgeCase(str(b["series"]), 0.0, float(b["actual"]), float(b["predicted"]), float(b["lower"]),
                     float(b["upper"]), list(values[max(0, i - 32) : i]), list(values[i + 1 : i + 17]))
    judgment = RuleJudge().judge(case)
    note = "" if b["outside"] else " (note: this point is inside the forecast band, so CALM would not flag it)"
    text = f"{b['series']} at {b['time']}: {judgment.decision} — {judgment.reason}{note}"
    return ToolOutput(text, {"decision": judgment.decision, "reason": judgment.reason, **case.stats(), **b}, count=1)


def calm_model_history(ws: Workspace, args: HistoryArgs) -> ToolOutput:
    """The CALM model versions: which served, which were rejected and why, with validation figures."""
    from detectors.calm.store import ModelStore, default_model_dir

    folder = Path(args.model_dir) if args.model_dir else default_model_dir()
    if not folder.is_dir():
        raise ToolInputError(f"no CALM model directory at {str(folder)!r}; run `sleuth watch` first or pass model_dir")
    history = ModelStore(folder).history()
    if not history:
        return ToolOutput(f"no model versions in {folder}", {"versions": []}, count=0)
    rows = [f"{len(history)} CALM model version(s) in {folder}, newest first:"]
    for info in list(reversed(history))[: args.limit]:
        val = info.validation
        new = val.get("new", val)
        figures = ", ".join(f"{k} {new[k]:.3g}" for k in ("coverage", "width", "loss") if isinstance(new.get(k), (int, float)))
        why = "; ".join(val.get("problems", [])) if val.get("problems") else ""
        rows.append(f"- v{info.version:04d} [{val.get('state', '?')}] parent {info.parent if info.parent is not None else '-'}"
                    f", {info.train.get('kind', 'trained')}, {figures}{' — rejected: ' + why if why else ''}")
    return ToolOutput("\n".join(rows), {"versions": [i.version for i in history]}, count=len(history))


TOOLS: tuple[Tool, ...] = (
    Tool("calm_forecast_band", "Expected value and flagging band of a metric series at a time, as CALM's streaming "
                               "detector (sleuth watch) computes them, and whether the actual value there is anomalous.",
         ForecastBandArgs, calm_forecast_band),
    Tool("calm_judge_anomaly", "Judge the metric point at a time: KEEP (the start of a sustained shift, a new normal) "
                               "or REMOVE (transient noise), with the before/after means and deviations.",
         JudgeArgs, calm_judge_anomaly),
    Tool("calm_model_history", "List CALM's model versions (shipped, fine-tuned, rejected) with their validation "
                               "coverage, interval width and loss.", HistoryArgs, calm_model_history),
)
