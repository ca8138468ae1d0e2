"""Foundation benchmarks: `sleuth bench ingest` (speed, memory) and `sleuth bench logs` (quality on BGL_20k).

Baselines run in the same command on the same data. Nothing here is tuned on test labels: thresholds come from the
detectors' own label-free rules, and best-F1 (which does peek at labels) is printed only as a reference column.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from detectors.base import DetectorError
from lab.paths import child_env


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def ingest_child(path: str, window: str = "count:20:10") -> dict[str, Any]:
    """Run one audit in this process and return lines/s and peak RSS (called in a fresh subprocess)."""
    from detectors.pipeline import AuditOptions, audit

    started = time.perf_counter()
    result = audit([path], AuditOptions(window=window, state_dir=None))
    seconds = time.perf_counter() - started
    return {"lines": result.stats.lines, "seconds": seconds, "lines_per_s": result.stats.lines / seconds,
            "rss_mb": _rss_mb(), "templates": result.report.totals.templates,
            "cache_hits": result.templates.cache_hits}


def _in_subprocess(path: str) -> dict[str, Any]:
    code = f"import json; from lab.bench import ingest_child; print(json.dumps(ingest_child({path!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=child_env())
    if out.returncode != 0:
        raise RuntimeError(f"ingest benchmark child failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def plain_drain3(messages: list[str]) -> float:
    """Lines/s of plain Drain3 (`TemplateMiner.add_log_message` per line, same masking), the baseline."""
    from drain3 import TemplateMiner

    from detectors.templates import _config

    miner = TemplateMiner(config=_config(0.4, 4))
    started = time.perf_counter()
    for m in messages:
        miner.add_log_message(m)
    return len(messages) / (time.perf_counter() - started)


def _messages(path: Path, limit: int) -> list[str]:
    from detectors.events import ReadStats
    from detectors.readers import read_events

    out = []
    for e in read_events([str(path)], stats=ReadStats()):
        out.append(e.text)
        if len(out) >= limit:
            break
    return out


def bench_ingest(console: Console, *, lines: int = 1_000_000, data: Path | None = None) -> dict[str, Any]:
    """Print lines/s and peak RSS of the audit pipeline vs plain Drain3 on BGL_20k and a generated file."""
    from lab.synth import generate_logs

    rows: list[tuple[str, str, str, str]] = []
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sleuth-bench-") as tmp:
        files: list[tuple[str, Path]] = []
        if data is not None and (data / "loghub_bgl" / "BGL_20k.log").exists():
            files.append(("BGL_20k", data / "loghub_bgl" / "BGL_20k.log"))
        small = Path(tmp) / "gen_100k.log"
        big = Path(tmp) / f"gen_{lines // 1000}k.log"
        console.print(f"generating {small.name} and {big.name} …")
        generate_logs(small, lines=min(100_000, lines), seed=1)
        generate_logs(big, lines=lines, seed=1)
        files += [("generated 100k", small), (f"generated {lines // 1000}k", big)]
        for name, path in files:
            ours = _in_subprocess(str(path))
            msgs = _messages(path, 100_000)
            base = plain_drain3(msgs)
            results[name] = {"sleuth": ours, "drain3_lines_per_s": base}
            rows.append((name, f"{ours['lines']:,}", f"{ours['lines_per_s']:,.0f} ({ours['seconds']:.1f} s)",
                         f"{base:,.0f}  →  {ours['lines_per_s'] / base:.2f}×"))
            results[name]["rss_mb"] = ours["rss_mb"]
    table = Table(title="sleuth bench ingest — read → template → window → score (end to end, 2 cores)")
    for col in ("input", "lines", "sleuth lines/s (wall)", "plain Drain3 lines/s (templating only) → speed-up"):
        table.add_column(col)
    for r in rows:
        table.add_row(*r)
    console.print(table)
    small_rss = results["generated 100k"]["rss_mb"]
    big_rss = results[f"generated {lines // 1000}k"]["rss_mb"]
    console.print(f"peak RSS: {small_rss:.0f} MB at 100k lines, {big_rss:.0f} MB at {lines:,} lines "
                  f"→ ratio {big_rss / small_rss:.2f} (goal ≤ 1.2)")
    console.print("goals: ≥ 2× plain Drain3, ≥ 100k lines/s end to end")
    return results


# -- quality ---------------------------------------------------------------------------------------------------


def _sorted_copy(src: Path, dst: Path) -> None:
    """BGL_20k is not in time order: write a copy sorted by its epoch field (stable)."""
    lines: list[bytes] = src.read_bytes().splitlines()

    def key(line: bytes) -> int:
        parts = line.split(b" ", 2)
        try:
            return int(parts[1])
        except (IndexError, ValueError):
            return 0

    dst.write_bytes(b"\n".join(sorted(lines, key=key)) + b"\n")


def _metrics(y: np.ndarray, score: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import precision_recall_curve, precision_recall_fscore_support, roc_auc_score

    auroc = float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else float("nan")
    p, r, f, _ = precision_recall_fscore_support(y, pred, average="binary", zero_division=0)
    pc, rc, _ = precision_recall_curve(y, score)
    best = float(np.nanmax(2 * pc * rc / np.maximum(pc + rc, 1e-12)))
    return {"auroc": auroc, "precision": float(p), "recall": float(r), "f1": float(f), "best_f1": best,
            "flagged": int(pred.sum())}


LOG_PARTS = ("bgl", "diff", "quiet")


def bench_logs(console: Console, *, data: Path, fit_fraction: float = 0.5,
               parts: tuple[str, ...] = LOG_PARTS) -> dict[str, Any]:
    """The log benchmarks, each part optional: `bgl` (BGL_20k, time-ordered: fit on the earliest `fit_fraction`, score
    the rest; line and window metrics), `diff` (failed run vs good run on the logreduce cases, and the diff on
    splits of the Loghub samples), `quiet` (the 13 Loghub samples audited with no flags)."""
    unknown = sorted(set(parts) - set(LOG_PARTS))
    if unknown or not parts:
        raise ValueError(f"unknown bench logs part(s) {', '.join(unknown) or '(none given)'}: choose from "
                         f"{', '.join(LOG_PARTS)}")
    out: dict[str, Any] = {}
    if "bgl" in parts:
        out.update(_bench_bgl(console, data=data, fit_fraction=fit_fraction))
    # Failed run vs good run (logreduce CI cases) and logs without incidents (Loghub), same command.
    from lab.bench_diff import bench_diff_splits, bench_failed_vs_good, bench_quiet

    if "diff" in parts:
        out["failed_vs_good"] = bench_failed_vs_good(console, data=data)
        out["diff_splits"] = bench_diff_splits(console, data=data)
    if "quiet" in parts:
        out["quiet"] = bench_quiet(console, data=data)
    return out


def _bench_bgl(console: Console, *, data: Path, fit_fraction: float) -> dict[str, Any]:
    """BGL_20k, time-ordered: fit on the earliest `fit_fraction`, score the rest; line and window metrics."""
    from sklearn.ensemble import IsolationForest

    from detectors.pipeline import AuditOptions, audit

    src = data / "loghub_bgl" / "BGL_20k.log"
    if not src.exists():
        raise FileNotFoundError(f"{src} not found: `sleuth bench logs` needs ../shared/data (pass --data)")
    icad, icad_error, icad_s = None, "", 0.0
    with tempfile.TemporaryDirectory(prefix="sleuth-bench-") as tmp:
        sorted_path = Path(tmp) / "BGL_20k.sorted.log"
        _sorted_copy(src, sorted_path)
        started = time.perf_counter()
        result = audit([str(sorted_path)], AuditOptions(window="count:20:10", fit_fraction=fit_fraction, state_dir=None))
        seconds = time.perf_counter() - started
        # ICAD-LLM through the same audit path (same windows, same fit part), when torch and its checkpoint load.
        try:
            icad = audit([str(sorted_path)], AuditOptions(detector="icad", window="count:20:10",
                                                          fit_fraction=fit_fraction, state_dir=None))
            icad_s = time.perf_counter() - started - seconds
        except (ImportError, DetectorError) as exc:  # torch / peft / the checkpoint missing: say so, keep the rest
            icad_error = str(exc)
    table, windows = result.events, result.windows
    det: Any = result.detector  # the classical detector: its window features feed the Isolation Forest baseline
    y_line = (table.label == 1).astype(int)
    n = len(table)
    cut = int(np.floor(n * fit_fraction))
    test = np.arange(n) >= cut
    firsts = windows.window_of_events()
    test_w = firsts >= cut
    offsets, members = windows.offsets, windows.members
    y_win = np.array([int(y_line[members[offsets[w]:offsets[w + 1]]].any()) for w in range(len(windows))])

    def audited(res: Any) -> dict[str, dict[str, float]]:
        """Line and window metrics of one audit's scores at its detector's own label-free threshold."""
        thr = res.detector.threshold
        return {"line": _metrics(y_line[test], res.line_scores[test], res.line_scores[test] >= thr),
                "window": _metrics(y_win[test_w], res.scores[test_w], res.scores[test_w] >= thr)}

    # sleuth classical: window scores, and line scores (each window's score shared out by template rarity).
    rows: dict[str, dict[str, dict[str, float]]] = {"sleuth classical (rarity + IForest)": audited(result)}
    if icad is not None:
        rows[f"sleuth icad (ICAD-LLM, {icad_s:.0f} s)"] = audited(icad)
    else:
        console.print(f"[yellow]icad row skipped: {icad_error}[/]")
    # Baseline 1: loglizer-style Isolation Forest on window count vectors, sklearn's default (label-free) threshold.
    # Template counts only (the detector's last column, severe lines, is not part of this baseline).
    X_fit = det._features(*_csr_of(windows, ~test_w))[:, :-1]
    X_all = det._features(offsets, table.template[members])[:, :-1]
    forest = IsolationForest(n_estimators=100, random_state=0).fit(X_fit)
    iso = -forest.score_samples(X_all)
    iso_pred = forest.predict(X_all) == -1
    iso_line = np.full(n, -np.inf)
    np.maximum.at(iso_line, members, np.repeat(iso, np.diff(offsets)))
    iso_line_pred = np.zeros(n, bool)
    np.logical_or.at(iso_line_pred, members, np.repeat(iso_pred, np.diff(offsets)))
    rows["window Isolation Forest (loglizer)"] = {
        "line": _metrics(y_line[test], iso_line[test], iso_line_pred[test]),
        "window": _metrics(y_win[test_w], iso[test_w], iso_pred[test_w]),
    }
    # Baseline 2: a level rule (the line's level is ERROR or FATAL).
    lvl = (table.level >= 5).astype(float)
    lvl_win = np.array([lvl[members[offsets[w]:offsets[w + 1]]].max() if offsets[w + 1] > offsets[w] else 0
                        for w in range(len(windows))])
    rows["level rule (ERROR/FATAL)"] = {
        "line": _metrics(y_line[test], lvl[test], lvl[test] > 0),
        "window": _metrics(y_win[test_w], lvl_win[test_w], lvl_win[test_w] > 0),
    }

    out = Table(title=f"sleuth bench logs — BGL_20k sorted by time; fit on the earliest {fit_fraction:.0%} "
                      f"({cut:,} lines), score the rest ({n - cut:,} lines, {int(y_line[test].sum())} alerts); "
                      f"windows of 20 lines, step 10")
    for col in ("detector", "level", "AUROC", "precision", "recall", "F1 (label-free thr.)", "best F1 (ref.)", "flagged"):
        out.add_column(col)
    for name, levels in rows.items():
        for lvl_name, m in levels.items():
            out.add_row(name, lvl_name, f"{m['auroc']:.3f}", f"{m['precision']:.3f}", f"{m['recall']:.3f}",
                        f"{m['f1']:.3f}", f"{m['best_f1']:.3f}", str(m["flagged"]))
    console.print(out)
    unseen = len(set(table.template[test].tolist()) - set(table.template[~test].tolist()))
    console.print(f"templates in the test part never seen in the fit part: {unseen} of "
                  f"{len(set(table.template[test].tolist()))}; audit took {seconds:.1f} s; "
                  f"threshold rule: {det.threshold_rule()}")
    return rows


def _csr_of(windows: Any, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sub = windows.subset(np.nonzero(which)[0])
    return sub.offsets, sub.table.template[sub.members]
