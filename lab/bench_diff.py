"""`sleuth bench logs`, failed run vs good run: the logreduce CI cases (shared/data/logreduce_ci).

Each case has a good run, a failed run and the failed log's annotated lines (substrings, logreduce's own test
layout). Every row runs on the same files and reports, over all cases, the annotated lines found inside what it
reports, the share of the failed logs' lines it reports (blank lines are not counted as reported) and the line
AUROC of its scores. Thresholds are each method's own label-free rule; nothing here reads the annotations before
scoring.

Rows:
- `sleuth audit FAILED --baseline GOOD` (auto: the diff detector), through the audit path;
- the same audit with `--detector classical` (window scores shared out to lines, as the audit reports them);
- kNN baseline (logreduce-style, outside sleuth): lines masked with sleuth's template masks, hashing vectors,
  cosine distance to the nearest good line (scikit-learn), threshold at the 99th percentile of the good run's own
  leave-one-out distances.

A second table runs the same diff and kNN rows on pairs with nothing injected: each of the 13 Loghub 2k samples cut
in two runs of one system (interleaved lines, and earlier vs later half), the first as the baseline of the second.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table


@dataclass
class Case:
    name: str
    good: Path
    fail: Path
    lines: list[str]
    y: np.ndarray  # 1 = the line holds an annotated string (required or optional)


@dataclass
class Row:
    found: int = 0
    annotated: int = 0
    reported: int = 0
    lines: int = 0
    seconds: float = 0.0
    scores: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    per_case: list[str] = field(default_factory=list)
    case_reported: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    error: str = ""

    def add(self, case: Case, reported: np.ndarray, scores: np.ndarray) -> None:
        nonblank = np.array([bool(s.strip()) for s in case.lines])
        reported = reported & nonblank
        found = int((reported & (case.y == 1)).sum())
        self.found += found
        self.annotated += int(case.y.sum())
        self.reported += int(reported.sum())
        self.lines += len(case.lines)
        self.scores.append(scores)
        self.labels.append(case.y)
        self.per_case.append(f"{case.name} {found}/{int(case.y.sum())} ({int(reported.sum())} rep.)")
        self.case_reported.append(int(reported.sum()))

    def auroc(self) -> float:
        from sklearn.metrics import roc_auc_score

        if not self.scores:
            return float("nan")
        y, s = np.concatenate(self.labels), np.concatenate(self.scores)
        return float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else float("nan")


def load_cases(data: Path) -> list[Case]:
    """The cases under `data/logreduce_ci`, with each failed-log line's annotation flag."""
    import yaml

    root = data / "logreduce_ci"
    if not root.is_dir():
        raise FileNotFoundError(f"{root} not found: the failed-vs-good bench needs shared/data/logreduce_ci (--data)")
    cases = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        fails, goods = sorted(folder.glob("*.fail")), sorted(folder.glob("*.good"))
        if not fails or not goods or not (folder / "inf.yaml").exists():
            continue
        spec = yaml.safe_load((folder / "inf.yaml").read_text(encoding="utf-8")) or {}
        wanted = [str(a["line"]).strip() for a in spec.get("anomalies", []) if a.get("line")]
        lines = fails[0].read_text(encoding="utf-8", errors="replace").splitlines()
        y = np.array([int(any(w in line for w in wanted)) for line in lines], dtype=int)
        cases.append(Case(folder.name, goods[0], fails[0], lines, y))
    return cases


def _audit_row(cases: list[Case], detector: str) -> Row:
    from detectors.base import DetectorError
    from detectors.pipeline import AuditOptions, audit

    row = Row()
    started = time.perf_counter()
    for case in cases:
        try:
            options = AuditOptions(detector=detector, baseline=(str(case.good),), state_dir=None)
            if hasattr(options, "incidents"):
                options.incidents = False
            res = audit([str(case.fail)], options)
        except DetectorError as error:
            row.error = f"{case.name}: {error}"
            row.errors.append(case.name)
            row.add(case, np.zeros(len(case.lines), bool), np.zeros(len(case.lines)))
            continue
        table = res.events
        scores = np.full(len(case.lines), float(np.min(res.line_scores)) if len(res.line_scores) else 0.0)
        reported = np.zeros(len(case.lines), bool)
        starts = table.line.astype(np.int64) - 1
        ends = np.append(starts[1:], len(case.lines))  # an event spans up to the next event's first line
        for i in range(len(table)):
            scores[starts[i]:ends[i]] = res.line_scores[i]
        blocks = getattr(res.detector, "all_blocks", None)
        if blocks is not None:  # the diff detector reports blocks of lines
            for b in blocks:
                reported[int(table.line[b.first]) - 1:b.last_line] = True
        else:  # window detectors report every line of a flagged window
            thr = res.detector.threshold
            for w in np.nonzero(res.scores >= thr)[0]:
                for e in res.windows.members[res.windows.offsets[w]:res.windows.offsets[w + 1]]:
                    reported[starts[e]:ends[e]] = True
        row.add(case, reported, scores)
    row.seconds = time.perf_counter() - started
    return row


def _knn_row(cases: list[Case], quantile: float = 0.99) -> Row:
    """logreduce-style kNN outside sleuth: masked tokens, hashing vectors, cosine nearest good line."""
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.neighbors import NearestNeighbors

    from detectors.templates import mask

    row = Row()
    started = time.perf_counter()
    hv = HashingVectorizer(n_features=1 << 18, lowercase=True, binary=True, norm="l2", alternate_sign=False)
    for case in cases:
        good = [mask(s) for s in case.good.read_text(encoding="utf-8", errors="replace").splitlines() if s.strip()]
        G = hv.transform(good)
        k = min(2, len(good))
        own = NearestNeighbors(n_neighbors=k, metric="cosine", algorithm="brute").fit(G).kneighbors(G)[0][:, k - 1]
        thr = float(np.quantile(own, quantile))
        d = NearestNeighbors(n_neighbors=1, metric="cosine", algorithm="brute").fit(G).kneighbors(
            hv.transform([mask(s) for s in case.lines]))[0][:, 0]
        d[[not s.strip() for s in case.lines]] = 0.0
        row.add(case, d > thr, d)
    row.seconds = time.perf_counter() - started
    return row


def bench_failed_vs_good(console: Console, *, data: Path) -> dict[str, Any]:
    """Print the failed-vs-good table: annotated lines found, share of lines reported, line AUROC."""
    cases = load_cases(data)
    if not cases:
        raise FileNotFoundError(f"no case folders under {data / 'logreduce_ci'}")
    rows = {
        "sleuth audit --baseline (auto: diff)": _audit_row(cases, "auto"),
        "sleuth audit --baseline --detector classical": _audit_row(cases, "classical"),
        "kNN baseline (masked, hashing, cosine; thr p99 of good run)": _knn_row(cases),
    }
    n_lines = sum(len(c.lines) for c in cases)
    table = Table(title=f"sleuth bench logs — failed run vs good run: {len(cases)} logreduce CI cases, {n_lines:,} "
                        f"failed-log lines, {sum(int(c.y.sum()) for c in cases)} annotated")
    for col in ("method", "annotated found", "lines reported", "line AUROC", "per case (found/annotated)", "s"):
        table.add_column(col)
    out: dict[str, Any] = {}
    for name, r in rows.items():
        share = r.reported / max(r.lines, 1)
        table.add_row(name, f"{r.found}/{r.annotated} ({r.found / max(r.annotated, 1):.0%})",
                      f"{r.reported} ({share:.2%})", f"{r.auroc():.3f}", "; ".join(r.per_case), f"{r.seconds:.1f}")
        out[name] = {"found": r.found, "annotated": r.annotated, "reported": r.reported, "lines": r.lines,
                     "auroc": r.auroc(), "error": r.error}
        if r.error:
            console.print(f"[yellow]{name}: {r.error}[/]")
    console.print(table)
    console.print("goal: ≥ 90 % of the annotated lines found, ≤ 2 % of the failed logs' lines reported")
    return out


def _split_cases(data: Path, tmp: Path, how: str) -> list[Case]:
    """Each Loghub 2k sample cut in two runs of the same system, with nothing injected: `interleaved` (even lines the
    good run, odd lines the audited one: same period, same mix) or `halves` (earlier half good, later half audited)."""
    root = data / "loghub_2k"
    systems = sorted(p.name for p in root.iterdir() if p.is_dir() and (p / f"{p.name}_2k.log").exists()) \
        if root.is_dir() else []
    cases = []
    for name in systems:
        lines = (root / name / f"{name}_2k.log").read_text(encoding="utf-8", errors="replace").splitlines()
        good, fail = (lines[0::2], lines[1::2]) if how == "interleaved" else \
            (lines[:len(lines) // 2], lines[len(lines) // 2:])
        paths = tmp / f"{name}.{how}.good", tmp / f"{name}.{how}.fail"
        for path, part in zip(paths, (good, fail), strict=True):
            path.write_text("\n".join(part) + "\n", encoding="utf-8")
        cases.append(Case(name, paths[0], paths[1], fail, np.zeros(len(fail), dtype=int)))
    return cases


def bench_diff_splits(console: Console, *, data: Path) -> dict[str, Any]:
    """The diff on pairs with no failure in them: each Loghub 2k sample split in two runs of the same system, the
    first given as --baseline of the second. Whatever is reported is a false alarm or a genuinely one-off line of
    the sample; the kNN baseline (same rule as in the failed-vs-good table) beside it."""
    import tempfile

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sleuth-bench-split-") as tmp:
        rows: dict[str, tuple[list[Case], Row, Row]] = {}
        for how in ("interleaved", "halves"):
            cases = _split_cases(data, Path(tmp), how)
            if not cases:
                raise FileNotFoundError(f"no Loghub 2k samples under {data / 'loghub_2k'} (--data)")
            rows[how] = (cases, _audit_row(cases, "auto"), _knn_row(cases))
    table = Table(title="sleuth bench logs — the diff on runs with nothing injected: each Loghub 2k sample split in "
                        "two (interleaved: even lines good, odd lines audited; halves: earlier half good, later half "
                        "audited); share of the audited lines reported")
    for col in ("system", "diff, interleaved", "kNN, interleaved", "diff, halves", "kNN, halves"):
        table.add_column(col)
    names = [c.name for c in rows["interleaved"][0]]
    for i, name in enumerate(names):
        cells = []
        for how in ("interleaved", "halves"):
            cases, diff, knn = rows[how]
            n = len(cases[i].lines)
            refused = " (refused)" if name in diff.errors else ""
            cells += [f"{diff.case_reported[i] / n:.1%}{refused}", f"{knn.case_reported[i] / n:.1%}"]
            out.setdefault(name, {})[how] = {"diff": diff.case_reported[i] / n, "knn": knn.case_reported[i] / n,
                                             "refused": bool(refused)}
        table.add_row(name, *cells)
    total = []
    for how in ("interleaved", "halves"):
        _, diff, knn = rows[how]
        total += [f"{diff.reported / max(diff.lines, 1):.1%} ({diff.seconds:.1f} s)",
                  f"{knn.reported / max(knn.lines, 1):.1%} ({knn.seconds:.1f} s)"]
        out[f"all_{how}"] = {"diff": diff.reported / max(diff.lines, 1), "knn": knn.reported / max(knn.lines, 1)}
    table.add_row("all", *total)
    console.print(table)
    return out


def bench_quiet(console: Console, *, data: Path) -> dict[str, Any]:
    """Logs without labelled incidents (the 13 Loghub 2k samples), audited as a user would (no flags): the share of
    windows flagged by the default detector, with the level rule (a window with an ERROR/FATAL line) beside it."""
    from detectors.pipeline import AuditOptions, audit

    root = data / "loghub_2k"
    systems = sorted(p.name for p in root.iterdir() if p.is_dir() and (p / f"{p.name}_2k.log").exists()) \
        if root.is_dir() else []
    if not systems:
        raise FileNotFoundError(f"no Loghub 2k samples under {root} (--data)")
    table = Table(title="sleuth bench logs — logs without labelled incidents (13 Loghub 2k samples), audited with no "
                        "flags: share of windows flagged (goal ≤ 2 % each)")
    for col in ("system", "windows", "sleuth audit (default)", "level rule (ERROR/FATAL)", "s"):
        table.add_column(col)
    out: dict[str, Any] = {}
    for name in systems:
        started = time.perf_counter()
        options = AuditOptions(state_dir=None)
        if hasattr(options, "incidents"):
            options.incidents = False  # the detector's verdicts only
        res = audit([str(root / name / f"{name}_2k.log")], options)
        seconds = time.perf_counter() - started
        w = res.windows
        severe = (res.events.level >= 5).astype(np.int64)
        per_window = np.add.reduceat(severe[w.members], w.offsets[:-1]) if len(w.members) else np.zeros(0)
        level_rate = float((per_window > 0).mean()) if len(per_window) else 0.0
        rate = res.report.totals.anomalous_windows / max(res.report.totals.windows, 1)
        out[name] = {"flagged": rate, "level_rule": level_rate, "windows": res.report.totals.windows}
        table.add_row(name, str(res.report.totals.windows), f"{rate:.1%}", f"{level_rate:.1%}", f"{seconds:.1f}")
    rates = [v["flagged"] for v in out.values()]
    table.add_row("max / mean", "", f"{max(rates):.1%} / {np.mean(rates):.1%}",
                  f"{max(v['level_rule'] for v in out.values()):.1%} / "
                  f"{np.mean([v['level_rule'] for v in out.values()]):.1%}", "")
    console.print(table)
    return out
