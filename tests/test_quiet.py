"""The default detector stays quiet on logs without incidents and still flags a rare error (issue 18)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from detectors.pipeline import AuditOptions, audit

ROUTINE = [
    "INFO worker: job {n} picked up from queue default",
    "INFO worker: job {n} finished in {m} ms",
    "ERROR proxy: upstream keepalive closed for conn {n}",  # a routine error: a third of the windows have it
    "INFO api: GET /health 200 in {m} ms",
    "DEBUG cache: evicted {n} entries",
]


def _normal_log(rng: np.random.Generator, lines: int) -> list[str]:
    out = []
    for i in range(lines):
        k = int(rng.choice(len(ROUTINE), p=[0.3, 0.3, 0.05, 0.25, 0.1]))
        if i % 97 == 0:  # a few odd but harmless INFO lines
            out.append(f"INFO config: reloaded settings file version {i}")
        else:
            out.append(ROUTINE[k].format(n=int(rng.integers(1, 9999)), m=int(rng.integers(1, 80))))
    return [f"2024-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z {line}" for i, line in enumerate(out)]


def test_a_log_without_incident_is_quiet(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_text("\n".join(_normal_log(np.random.default_rng(3), 2000)) + "\n", encoding="utf-8")
    report = audit([str(path)], AuditOptions(state_dir=None)).report
    assert report.detector == "classical"
    assert report.totals.anomalous_windows / report.totals.windows <= 0.02
    assert "quiet" in report.threshold_rule


def test_a_rare_error_is_flagged_and_leads_the_report(tmp_path: Path) -> None:
    lines = _normal_log(np.random.default_rng(4), 2000)
    lines[1500] = lines[1500].split(" ", 1)[0] + " ERROR db: connection pool exhausted, 64 of 64 in use"
    path = tmp_path / "app.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = audit([str(path)], AuditOptions(state_dir=None)).report
    assert report.anomalies and report.anomalies[0].line == 1501
    assert report.totals.anomalous_windows / report.totals.windows <= 0.02
