"""The diff detector through the real audit path: failed run vs good run, line by line."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.base import DetectorError
from detectors.diff import line_key
from detectors.pipeline import AuditOptions, audit

GOOD = [
    "01: Server created",
    "02: Bootloader loaded in 0.52 s",
    "03: Kernel booted",
    "04: Init called",
    "05: Network up on eth0 10.0.0.7",
    "06: Shell started",
    "07: Tests executed: 120 passed",
    "08: Job finished, result: SUCCESS",
]


def _write(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_line_key_keeps_words_drops_numbers_dates_and_random_tokens() -> None:
    key = line_key("2017-06-24 13:36:02,950 DEBUG: Bad exit status from /var/tmp/rpm-tmp.rhaVaW (%install) pid 4242")
    assert key == "debug bad exit status from var tmp rpm-tmp install pid"
    assert line_key("Jun 20 05:43:49 host-7 chronyd[637]: Selected source 212.129.9.36") == "chronyd selected source"
    assert line_key("-----  12345 ----") == ""


def test_a_17_line_failed_run_gets_its_new_lines_as_blocks(tmp_path: Path) -> None:
    good = _write(tmp_path / "run.good", GOOD * 2)
    failed = GOOD[:3] + ["03: Kernel panic - not syncing: VFS: unable to mount root fs",
                         "04: Call trace: do_mount_root mount_block_root"] + GOOD[3:] * 2
    failed = failed[:17]
    fail = _write(tmp_path / "run.fail", failed)
    result = audit([fail], AuditOptions(baseline=(good,), state_dir=None))
    report = result.report
    assert report.detector == "diff"  # chosen automatically because a baseline was given
    assert len(report.anomalies) == 1  # the two consecutive new lines are one finding
    a = report.anomalies[0]
    assert a.window == f"{fail}:4-5"
    assert a.line in (4, 5) and "Kernel panic" in " ".join(c.text for c in a.context)
    near = [e for e in a.evidence if e.kind == "nearest_baseline"]
    assert near and all("closest in the good run" in e.summary for e in near)
    assert near[0].where is not None and near[0].where.startswith(good)
    assert report.totals.anomalous_windows == 2
    assert "cosine distance" in report.threshold_rule


def test_a_changed_word_is_found_and_known_lines_stay_quiet(tmp_path: Path) -> None:
    good = _write(tmp_path / "job.good", GOOD)
    failed = [line.replace("SUCCESS", "FAILURE") for line in GOOD]
    failed[1] = "02: Bootloader loaded in 0.97 s"  # a number changed: not new
    fail = _write(tmp_path / "job.fail", failed)
    report = audit([fail], AuditOptions(detector="diff", baseline=(good,), state_dir=None)).report
    assert [a.line for a in report.anomalies] == [8]
    assert "result: SUCCESS" in report.anomalies[0].evidence[1].summary  # the closest good line, read back


def test_an_identical_run_reports_nothing(tmp_path: Path) -> None:
    good = _write(tmp_path / "a.good", GOOD)
    fail = _write(tmp_path / "a.fail", GOOD)
    result = audit([fail], AuditOptions(baseline=(good,), state_dir=None))
    assert result.report.anomalies == [] and result.report.totals.anomalous_windows == 0


def test_a_baseline_of_another_system_is_refused_not_flagged_everywhere(tmp_path: Path) -> None:
    good = _write(tmp_path / "web.good", [f"GET /index.html 200 {i} bytes served to client" for i in range(30)])
    fail = _write(tmp_path / "db.fail", [f"checkpoint complete: wrote {i} buffers, WAL segment recycled"
                                         for i in range(5)] + ["replication slot lag exceeds limit"] * 3)
    with pytest.raises(DetectorError, match="nothing in common"):
        audit([fail], AuditOptions(baseline=(good,), state_dir=None))


def test_a_baseline_in_another_format_is_refused(tmp_path: Path) -> None:
    bgl = ("- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL "
           "INFO instruction cache parity error corrected")
    good = _write(tmp_path / "bgl.good", [bgl] * 20)
    fail = _write(tmp_path / "app.fail", [f"Jun 20 05:43:{i:02d} host sshd[12]: Accepted publickey for user{i}"
                                          for i in range(20)])
    with pytest.raises(DetectorError, match="another log format"):
        audit([fail], AuditOptions(detector="classical", baseline=(good,), state_dir=None))


def test_diff_without_a_baseline_says_what_to_give(tmp_path: Path) -> None:
    fail = _write(tmp_path / "x.log", GOOD)
    with pytest.raises(DetectorError, match="--baseline"):
        audit([fail], AuditOptions(detector="diff", state_dir=None))


def test_diff_threshold_is_an_option(tmp_path: Path) -> None:
    good = _write(tmp_path / "t.good", GOOD)
    fail = _write(tmp_path / "t.fail", [line.replace("SUCCESS", "FAILURE") for line in GOOD])
    strict = audit([fail], AuditOptions(baseline=(good,), state_dir=None, detector_options={"threshold": 0.9}))
    assert strict.report.anomalies == []
    with pytest.raises(DetectorError, match="threshold"):
        audit([fail], AuditOptions(baseline=(good,), state_dir=None, detector_options={"threshold": 1.5}))
