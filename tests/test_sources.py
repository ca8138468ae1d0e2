"""Issue 20: logs that live in the systemd journal and in OpenTelemetry files, read through the real tools.

The journal tests write a real journal file with Debian's `systemd-journal-remote` (from the Journal Export
Format) and read it back through `journalctl`; they skip, saying so, where those are not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from detectors.events import ReadStats
from detectors.readers import context_lines, expand_sources, read_events

BASE_US = 1_714_557_600_000_000  # 2024-05-01T10:00:00Z in microseconds


def _journal_remote() -> str | None:
    for p in ("/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote"):
        if Path(p).exists():
            return p
    return shutil.which("systemd-journal-remote")


needs_journal = pytest.mark.skipif(
    _journal_remote() is None or shutil.which("journalctl") is None,
    reason="systemd-journal-remote / journalctl not installed (apt-get install systemd systemd-journal-remote); "
           "CI installs them")


def _export_entry(i: int, msg: str, prio: int, unit: str, host: str = "web1") -> str:
    return (f"__REALTIME_TIMESTAMP={BASE_US + i * 1_000_000}\n__MONOTONIC_TIMESTAMP={i * 1_000_000 + 7}\n"
            f"_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME={host}\n_SYSTEMD_UNIT={unit}\n"
            f"SYSLOG_IDENTIFIER={unit.split('.')[0]}\nPRIORITY={prio}\nMESSAGE={msg}\n\n")


def write_journal(tmp: Path, entries: list[tuple[str, int, str]]) -> Path:
    """A real .journal file holding `entries` (message, priority, unit), one second apart."""
    export = tmp / "in.export"
    export.write_text("".join(_export_entry(i, m, p, u) for i, (m, p, u) in enumerate(entries)))
    out = tmp / "jr" / "system.journal"
    out.parent.mkdir()
    subprocess.run([_journal_remote(), "-o", str(out), str(export)], check=True, capture_output=True, timeout=60)
    return out


def read(sources: list[str]) -> tuple[list, ReadStats]:
    stats = ReadStats()
    return list(read_events(sources, stats=stats)), stats


ENTRIES = [("nginx started", 6, "nginx.service"), ("connect() to 10.0.0.5:8080 failed (111: Connection refused)",
                                                    3, "nginx.service"),
           ("Out of memory: Killed process 4242 (java)", 2, "kernel.scope"), ("session opened for user root", 6,
                                                                                "sshd.service")]


@needs_journal
def test_journal_file_is_read_through_journalctl(tmp_path):
    journal = write_journal(tmp_path, ENTRIES)
    src = f"journal:{journal}"
    assert expand_sources([src]) == [src]
    events, stats = read([src])
    assert not stats.skips, stats.skips
    assert stats.formats == {"journald": 1}
    assert [e.text for e in events] == [m for m, _, _ in ENTRIES]
    assert [e.level for e in events] == ["INFO", "ERROR", "FATAL", "INFO"]
    assert [e.service for e in events] == ["nginx", "nginx", "kernel", "sshd"]
    assert {e.host for e in events} == {"web1"}
    assert events[0].ts == pytest.approx(BASE_US / 1e6)
    assert events[1].where == f"{src}:2"
    # the cited line can be shown again after the stream was consumed
    assert "Connection refused" in dict(context_lines(src, 2, 0, 0))[2]


@needs_journal
def test_journal_directory_and_options(tmp_path):
    journal = write_journal(tmp_path, ENTRIES)
    events, stats = read([f"journal:{journal.parent}?unit=nginx.service"])
    assert not stats.skips, stats.skips
    assert [e.service for e in events] == ["nginx", "nginx"]


@needs_journal
def test_journalctl_json_output_is_a_format(tmp_path):
    journal = write_journal(tmp_path, ENTRIES)
    dump = tmp_path / "journal.json"
    with open(dump, "wb") as f:
        subprocess.run(["journalctl", "--file", str(journal), "-o", "json", "--no-pager"], stdout=f, check=True)
    events, stats = read([str(dump)])
    assert stats.formats == {"journald": 1}
    assert [(e.line, e.level, e.service) for e in events][:2] == [(1, "INFO", "nginx"), (2, "ERROR", "nginx")]


@needs_journal
def test_bad_journal_sources_are_one_clear_skip_each(tmp_path):
    notjournal = tmp_path / "x.journal"
    notjournal.write_text("hello\n")
    good = write_journal(tmp_path, ENTRIES[:1])
    events, stats = read([f"journal:{notjournal}", f"journal:{tmp_path / 'missing'}",
                          f"journal:{good}?colour=red", f"journal:{good}"])
    assert len(events) == 1  # the good one is still read
    msgs = {s.source: s.message for s in stats.skips}
    assert "journalctl failed" in msgs[f"journal:{notjournal}"]
    assert "does not exist" in msgs[f"journal:{tmp_path / 'missing'}"]
    assert "unknown option 'colour'" in msgs[f"journal:{good}?colour=red"]
    assert all("\n" not in m for m in msgs.values())


def _otlp_batch(service: str, host: str, records: list[dict]) -> dict:
    return {"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}},
                                    {"key": "host.name", "value": {"stringValue": host}}]},
        "scopeLogs": [{"scope": {"name": "app.logger"}, "logRecords": records}]}]}


def _rec(sec: int, sev: int, text: str, trace: str = "") -> dict:
    r = {"timeUnixNano": str(BASE_US * 1000 + sec * 10**9), "severityNumber": sev,
         "severityText": {9: "INFO", 17: "ERROR", 13: "WARN"}.get(sev, ""), "body": {"stringValue": text},
         "attributes": [{"key": "http.status_code", "value": {"intValue": "503"}}]}
    if trace:
        r["traceId"] = trace
        r["spanId"] = trace[:16]
    return r


def test_otlp_file_exporter_layout_is_read_one_record_a_line(tmp_path):
    trace = "5b8efff798038103d269b633813fc60c"
    path = tmp_path / "otel-logs.json"
    batches = [_otlp_batch("checkout", "node-3", [_rec(0, 9, "order placed"), _rec(1, 17, "payment failed", trace)]),
               _otlp_batch("cart", "node-4", [_rec(2, 13, "slow cart lookup")])]
    path.write_text("".join(json.dumps(b) + "\n" for b in batches))
    events, stats = read([str(path)])
    assert not stats.skips, stats.skips
    assert stats.formats == {"otlp": 1}
    assert [(e.line, e.text, e.level, e.service, e.host) for e in events] == [
        (1, "order placed", "INFO", "checkout", "node-3"), (2, "payment failed", "ERROR", "checkout", "node-3"),
        (3, "slow cart lookup", "WARN", "cart", "node-4")]
    assert events[1].ts == pytest.approx(BASE_US / 1e6 + 1)
    # the trace id stays with the record: in the event and in the context shown for its file:line
    assert trace in events[1].raw
    assert trace in dict(context_lines(str(path), 2, 0, 0))[2]
    assert "http.status_code" in events[1].raw
    # the record's attributes are the event's fields: the incident engine keys on the status class
    assert events[1].fields is not None and events[1].fields.status == 503
    assert (events[1].fields.attrs or {}).get("trace_id") == trace


@needs_journal
def test_remote_sources_become_local_files_for_the_dashboard(tmp_path):
    from detectors.sources import materialize_sources

    journal = write_journal(tmp_path, ENTRIES)
    plain = tmp_path / "app.log"
    plain.write_text("hello\n")
    local, kept = materialize_sources([f"journal:{journal}", str(plain)])
    assert kept == str(plain) and Path(local).is_file() and local.endswith(".jsonl")
    events, stats = read([local])
    assert stats.formats == {"journald": 1} and len(events) == len(ENTRIES)
