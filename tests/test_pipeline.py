"""`audit` end to end: the injected incident is found; real BGL alerts rank above normal lines."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from detectors.base import DetectorError
from detectors.pipeline import AuditOptions, audit
from lab.synth import generate_logs


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("incident") / "incident.log"
    return generate_logs(path, lines=8000, seed=3)


def test_audit_finds_the_injected_incident(incident) -> None:
    result = audit([incident.path], AuditOptions(top=10))
    report = result.report
    assert report.anomalies, "the audit found nothing in a log with an injected incident"
    shown = {a.line for a in report.anomalies}
    assert len(shown & incident.anomalous_lines) >= len(report.anomalies) // 2
    top = report.anomalies[0]
    assert top.where == f"{incident.path}:{top.line}"
    assert top.score >= top.threshold and top.severity in ("low", "medium", "high")
    assert top.template and top.text and any(c.focus for c in top.context)
    assert all(e.id.startswith(top.id + ".e") for e in top.evidence)
    # The line-level view ranks injected lines above the rest.
    y = np.zeros(len(result.events), bool)
    lines = result.events.line
    y[np.isin(lines, list(incident.anomalous_lines))] = True
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, result.line_scores) > 0.8
    totals = report.totals
    assert totals.lines == incident.lines and totals.templates > 10 and totals.windows > 100


def test_gzip_and_plain_give_the_same_report(incident, tmp_path: Path) -> None:
    gz = tmp_path / "incident.log.gz"
    gz.write_bytes(gzip.compress(Path(incident.path).read_bytes()))
    plain = audit([incident.path], AuditOptions(top=5)).report
    packed = audit([str(gz)], AuditOptions(top=5)).report
    assert [a.line for a in plain.anomalies] == [a.line for a in packed.anomalies]


def test_baseline_logs_are_used_for_fitting(tmp_path: Path) -> None:
    good = generate_logs(tmp_path / "good.log", lines=3000, seed=11, incident=False)
    bad = generate_logs(tmp_path / "bad.log", lines=3000, seed=12)
    report = audit([bad.path], AuditOptions(baseline=(good.path,), top=5)).report
    assert "baseline" in report.fit
    assert {a.line for a in report.anomalies} & bad.anomalous_lines


def test_second_run_reuses_templates(incident, tmp_path: Path) -> None:
    opts = AuditOptions(state_dir=tmp_path, top=3)
    first = audit([incident.path], opts).report
    second = audit([incident.path], opts).report
    assert first.totals.new_templates == first.totals.templates
    assert second.totals.new_templates == 0
    assert list((tmp_path / "drain3").glob("*.bin"))


def test_session_windows_are_reported(tmp_path: Path) -> None:
    log = tmp_path / "hdfs.log"
    lines = []
    for b in range(60):
        for step in ("Receiving block", "PacketResponder 1 for block", "Received block"):
            lines.append(f"081109 2036{b % 60:02d} 148 INFO dfs.DataNode$PacketResponder: {step} blk_{1000 + b} of size 67108864")
    lines.append("081109 203700 148 WARN dfs.DataNode$DataXceiver: writeBlock blk_1007 received exception java.io.IOException: Connection reset")
    log.write_text("\n".join(lines) + "\n")
    result = audit([str(log)], AuditOptions(window=r"session:blk_-?\d+"))
    assert "session" in result.report.windowing
    assert len(result.windows) == 60
    assert result.report.anomalies and result.report.anomalies[0].window == "blk_1007"


def test_too_few_lines_is_a_clear_error(tmp_path: Path) -> None:
    log = tmp_path / "tiny.log"
    log.write_text("2026-01-01T00:00:00Z host app: hello\n")
    with pytest.raises(DetectorError, match="window"):
        audit([str(log)], AuditOptions(incidents=False))


def test_a_log_too_short_to_fit_on_is_still_triaged(tmp_path: Path) -> None:
    """A failed CI job's 19 lines make one window of 20: too few to fit the detector on. The audit said only 'only 1
    window(s) to fit on' and stopped; now no anomaly is scored, the report says why, and the incident engine reads
    the lines (the job's failure is its incident)."""
    log = tmp_path / "job.log"
    log.write_text("\n".join(["TASK [Gathering Facts] ****", "ok: [web-1]", "TASK [Install app] ****",
                              'fatal: [web-1]: FAILED! => {"msg": "No package matching \'appd\' found", "rc": 1}',
                              "PLAY RECAP ****", "web-1 : ok=1 changed=0 unreachable=0 failed=1"]) + "\n")
    result = audit([str(log)], AuditOptions(state_dir=None))
    assert result.report.anomalies == [] and "too few to learn what is normal" in result.report.fit
    assert result.triage is not None and result.triage.incidents
    assert "No package matching" in result.triage.incidents[0].candidates[0].text


@pytest.mark.data
def test_bgl_alerts_rank_above_normal_lines(shared_data: Path) -> None:
    """The floor later detectors must beat: on BGL_20k (fit on itself), alerts score above normal lines."""
    from sklearn.metrics import roc_auc_score

    result = audit([str(shared_data / "loghub_bgl" / "BGL_20k.log")], AuditOptions())
    labels = result.events.label
    assert result.events.has_labels()
    assert roc_auc_score(labels == 1, result.line_scores) > 0.75
