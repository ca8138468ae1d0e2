"""Every flagged window in machine-readable output: the report's `windows`, JSONL, --all-windows, session checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detectors.pipeline import AuditOptions, audit
from detectors.render import render_json, render_jsonl
from detectors.report import Report
from detectors.windows import WindowError


def _sessions_log(path: Path) -> str:
    """40 ordinary request sessions and two that fail, each session's lines keyed by req-N."""
    lines = []
    for i in range(42):
        lines.append(f"2024-05-01 10:{i // 60:02d}:{i % 60:02d} INFO api: req-{i} accepted from client")
        lines.append(f"2024-05-01 10:{i // 60:02d}:{i % 60:02d} INFO db: req-{i} query ran in {i % 7 + 3} ms")
        if i in (17, 33):
            lines.append(f"2024-05-01 10:{i // 60:02d}:{i % 60:02d} ERROR db: req-{i} deadlock detected, "
                         f"transaction rolled back")
            lines.append(f"2024-05-01 10:{i // 60:02d}:{i % 60:02d} ERROR api: req-{i} returned status 500")
        else:
            lines.append(f"2024-05-01 10:{i // 60:02d}:{i % 60:02d} INFO api: req-{i} returned status 200")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_every_flagged_session_is_listed_with_its_key_and_evidence(tmp_path: Path) -> None:
    log = _sessions_log(tmp_path / "api.log")
    result = audit([log], AuditOptions(window=r"session:req-\d+", state_dir=None))
    report = result.report
    listed = {w.key for w in report.windows}
    assert {"req-17", "req-33"} <= listed
    assert len(report.windows) == report.totals.anomalous_windows
    for w in report.windows:
        assert w.flagged and w.score >= w.threshold and w.severity != "none"
        assert w.start and w.end and w.focus and w.events >= 1
    bad = next(w for w in report.windows if w.key == "req-17")
    assert bad.anomaly in {a.id for a in report.anomalies}
    # The JSON report round-trips with the windows.
    again = Report.from_json(render_json(report))
    assert [w.key for w in again.windows] == [w.key for w in report.windows]


def test_jsonl_is_one_verdict_per_line_then_a_summary(tmp_path: Path) -> None:
    log = _sessions_log(tmp_path / "api.log")
    report = audit([log], AuditOptions(window=r"session:req-\d+", state_dir=None)).report
    text = render_jsonl(report)
    rows = [json.loads(line) for line in text.splitlines()]
    kinds = [r["kind"] for r in rows]
    # One writer for the audit's JSON lines: incidents, grouped anomalies, one verdict per flagged window, summary.
    assert kinds == (["incident"] * kinds.count("incident") + ["anomaly"] * len(report.anomalies)
                     + ["window"] * len(report.windows) + ["summary"])
    windows = [r for r in rows if r["kind"] == "window"]
    assert {"req-17", "req-33"} <= {r["key"] for r in windows} and all(r["flagged"] for r in windows)
    assert rows[-1]["totals"]["anomalous_windows"] == rows[-1]["anomalous_windows"] == len(report.windows)
    from detectors.render_ci import render_jsonl as ci_jsonl

    assert ci_jsonl(report) == text  # the CI module writes through the same function


def test_all_windows_adds_the_unflagged_scores(tmp_path: Path) -> None:
    log = _sessions_log(tmp_path / "api.log")
    report = audit([log], AuditOptions(window=r"session:req-\d+", all_windows=True, state_dir=None)).report
    assert report.windows_listed == "all"
    assert len(report.windows) == report.totals.windows == 42
    assert sum(w.flagged for w in report.windows) == report.totals.anomalous_windows
    assert any(not w.flagged and w.severity == "none" for w in report.windows)


def test_a_session_regex_that_matches_nothing_says_so(tmp_path: Path) -> None:
    log = _sessions_log(tmp_path / "api.log")
    with pytest.raises(WindowError, match=r"matched none of the 128 lines"):
        audit([log], AuditOptions(window=r"session:blk_-?\d+", state_dir=None))


def test_diff_blocks_are_the_flagged_windows(tmp_path: Path) -> None:
    good = tmp_path / "run.good"
    good.write_text("\n".join(f"step {i}: compiling module alpha" for i in range(10)) + "\n", encoding="utf-8")
    fail = tmp_path / "run.fail"
    fail.write_text("\n".join([f"step {i}: compiling module alpha" for i in range(5)]
                              + ["linker error: undefined reference to beta_init", "collect2: ld returned exit 1"]
                              + [f"step {i}: compiling module alpha" for i in range(5, 10)]) + "\n", encoding="utf-8")
    report = audit([str(fail)], AuditOptions(baseline=(str(good),), state_dir=None)).report
    assert [w.key for w in report.windows] == [f"{fail}:6-7"]
    assert report.windows[0].anomaly == "A1" and "closest in the good run" in (report.windows[0].evidence or "")
    everything = audit([str(fail)], AuditOptions(baseline=(str(good),), all_windows=True, state_dir=None)).report
    assert len(everything.windows) == 1 + 10  # the block, then each other line with its distance


def test_nearest_reference_detectors_fit_on_the_earlier_part_by_default(tmp_path: Path) -> None:
    """icad (and any detector with default_fit_fraction) fits on the earliest windows without flags, and says so."""
    from detectors.base import register
    from detectors.classical import ClassicalDetector
    from detectors.pipeline import TIME_ORDERED_DEFAULT

    assert TIME_ORDERED_DEFAULT.get("icad") == 0.5

    @register
    class EarlierPart(ClassicalDetector):
        name = "test-earlier-part"
        default_fit_fraction = 0.5

        def fit(self, samples):  # type: ignore[no-untyped-def]
            self.fitted_windows = len(samples)
            return super().fit(samples)

    log = _sessions_log(tmp_path / "api.log")
    result = audit([log], AuditOptions(detector="test-earlier-part", state_dir=None))
    assert result.detector.fitted_windows < result.report.totals.windows * 0.6
    assert "earliest 50%" in result.report.fit and "default" in result.report.fit
    explicit = audit([log], AuditOptions(detector="test-earlier-part", fit_fraction=0.8, state_dir=None))
    assert "default" not in explicit.report.fit
