"""The incident engine (detectors.incidents) on small, realistic multi-source folders written here."""

from __future__ import annotations

import json
import os
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from detectors.fields import exception_class, extract, normalize_route
from detectors.incidents import Triage, read_metrics, semantics, triage

T0 = datetime(2025, 3, 14, 8, 0, 0, tzinfo=UTC)
ONSET = T0 + timedelta(hours=2, minutes=10)


def _syslog_ts(t: datetime) -> str:
    return t.strftime("%b %e %H:%M:%S")


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_incident(folder: Path, *, seed: int = 1, with_cause: bool = True, hours: float = 3.0) -> dict:
    """A 4-source folder: syslog (no year) with an ssh brute force that starts an hour in and goes on, cron runs
    and a database host; nginx access log; JSON app log; metrics.csv. At ONSET a config change on db-1 lowers its
    connection limit: the database refuses connections, the app's queries fail, nginx serves 503s."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    end = T0 + timedelta(hours=hours)
    syslog: list[tuple[datetime, str]] = []
    access: list[tuple[datetime, str]] = []
    app: list[tuple[datetime, str]] = []
    t = T0
    while t < end:
        # cron every 5 minutes on db-1 and bastion-1
        if t.minute % 5 == 0 and t.second == 0:
            syslog.append((t, f"{_syslog_ts(t)} bastion-1 CRON[{rng.randint(1000, 9999)}]: (root) CMD (run-parts /etc/cron.hourly)"))
        # background chatter
        if rng.random() < 0.01:
            syslog.append((t, f"{_syslog_ts(t)} bastion-1 cupsd[811]: REQUEST localhost - - \"POST / HTTP/1.1\" 200 182 Renew-Subscription successful-ok"))
        if rng.random() < 0.008:
            syslog.append((t, f"{_syslog_ts(t)} bastion-1 systemd-udevd[402]: link_config: autonegotiation is unset or enabled, the speed and duplex are not writable."))
        # ssh brute force from 1 h in, loud, to the end
        if t >= T0 + timedelta(hours=1) and rng.random() < 0.3:
            ip = f"203.0.113.{rng.randint(1, 254)}"
            syslog.append((t, f"{_syslog_ts(t)} bastion-1 sshd[{rng.randint(2000, 30000)}]: Failed password for invalid user admin from {ip} port {rng.randint(30000, 65000)} ssh2"))
        # db heartbeat
        if t.second % 30 == 0:
            syslog.append((t, f"{_syslog_ts(t)} db-1 postgres[2211]: LOG:  checkpoint complete: wrote {rng.randint(10, 500)} buffers"))
        failing = with_cause and t >= ONSET and t < ONSET + timedelta(minutes=25)
        if with_cause and t == ONSET - timedelta(minutes=2):
            syslog.append((t, f"{_syslog_ts(t)} db-1 postgres[2211]: LOG:  parameter \"max_connections\" changed to \"20\""))
            syslog.append((t, f"{_syslog_ts(t)} db-1 postgres[2211]: LOG:  received SIGHUP, reloading configuration files"))
        if failing and rng.random() < 0.5:
            syslog.append((t, f"{_syslog_ts(t)} db-1 postgres[{rng.randint(3000, 9000)}]: FATAL:  remaining connection slots are reserved for non-replication superuser connections"))
        # requests: about one every 2 s
        if rng.random() < 0.5:
            oid = rng.randint(1000, 99999)
            route = rng.choice(["/api/orders/", "/api/orders/", "/api/cart/", "/health"])
            path = route + (str(oid) if route != "/health" else "")
            latency = rng.uniform(0.01, 0.08)
            status = 200
            if failing and route != "/health" and rng.random() < 0.6:
                status = 503
                latency = rng.uniform(1.0, 3.0)
                app.append((t, json.dumps({"ts": _iso(t), "level": "error", "service": "orders", "host": "app-1",
                                           "msg": "query failed", "err": "pq: sorry, too many clients already",
                                           "route": path, "status": 503, "latency_ms": round(latency * 1000),
                                           "trace_id": f"{rng.getrandbits(64):016x}"})))
            else:
                app.append((t, json.dumps({"ts": _iso(t), "level": "info", "service": "orders", "host": "app-1",
                                           "msg": "request completed", "route": path, "status": status,
                                           "latency_ms": round(latency * 1000),
                                           "trace_id": f"{rng.getrandbits(64):016x}"})))
            stamp = t.strftime("%d/%b/%Y:%H:%M:%S +0000")
            access.append((t, f'10.0.{rng.randint(0, 9)}.{rng.randint(1, 254)} - - [{stamp}] "GET {path} HTTP/1.1" '
                              f'{status} {rng.randint(200, 5000)} "-" "curl/8.0" rt={latency:.3f}'))
        # pre-existing warnings with a stack trace, all along
        if rng.random() < 0.003:
            app.append((t, json.dumps({"ts": _iso(t), "level": "warn", "service": "orders", "host": "app-1",
                                       "msg": "cache miss storm, retrying", "attempt": rng.randint(1, 3)})))
        t += timedelta(seconds=1)
    (folder / "syslog").write_text("\n".join(x for _, x in sorted(syslog, key=lambda p: p[0])) + "\n")
    (folder / "nginx-access.log").write_text("\n".join(x for _, x in access) + "\n")
    (folder / "orders.jsonl").write_text("\n".join(x for _, x in app) + "\n")
    rows = ["timestamp,db_connections,cpu_pct"]
    t = T0
    while t < end:
        conns = 18 + rng.uniform(-3, 3)
        if with_cause and ONSET <= t < ONSET + timedelta(minutes=25):
            conns = 20
        rows.append(f"{_iso(t)},{conns:.1f},{30 + rng.uniform(-5, 5):.1f}")
        t += timedelta(seconds=30)
    (folder / "metrics.csv").write_text("\n".join(rows) + "\n")
    # mtime in the next year, as when logs are copied later: the syslog year must come from the other sources.
    later = (T0 + timedelta(days=400)).timestamp()
    os.utime(folder / "syslog", (later, later))
    return {"onset": ONSET}


@pytest.fixture(scope="module")
def incident_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("incident")
    write_incident(folder)
    return folder


@pytest.fixture(scope="module")
def result(incident_folder: Path) -> Triage:
    return triage([str(incident_folder)])


# --- fields ---------------------------------------------------------------------------------------------------


def test_access_line_fields() -> None:
    f = extract('10.0.0.1 - - "GET /api/orders/12345?x=1 HTTP/1.1" 503 120 "-" "curl" rt=1.204', "timestamped")
    assert f is not None and f.status == 503 and f.route == "GET /api/orders/{id}"
    assert f.latency_ms == pytest.approx(1204.0)


def test_json_fields_and_exception() -> None:
    f = extract("query failed", "jsonl", {"msg": "query failed", "status": "503", "duration": "1.5s",
                                          "http": {"method": "POST", "route": "/pay/abc123def456"}, "user": "bob",
                                          "error": "java.net.ConnectException: Connection refused"})
    assert f is not None and f.status == 503 and f.latency_ms == pytest.approx(1500.0)
    assert f.route == "POST /pay/{id}" and f.exc == "ConnectException"
    assert f.attrs is not None and f.attrs["user"] == "bob"
    trace = "Error handling request\nTraceback (most recent call last):\n  File \"a.py\", line 1\nKeyError: 'x'"
    assert exception_class(trace) == "KeyError"
    java = "failed\njava.lang.RuntimeException: x\n\tat a.b(C.java:1)\nCaused by: java.sql.SQLTimeoutException: t"
    assert exception_class(java) == "SQLTimeoutException"
    assert normalize_route("/v1/users/550e8400-e29b-41d4-a716-446655440000/orders") == "/v1/users/{id}/orders"


def test_semantics() -> None:
    assert semantics.change_kind("Deployed orders v2.4.1 to production") == "deploy"
    assert semantics.change_kind("received SIGHUP, reloading configuration files") == "config"
    assert semantics.change_kind("Finished catalog run in 12.3 seconds (puppet-agent)") == "config-management"
    assert semantics.change_kind("request completed") is None
    assert semantics.badness("Connection refused", 0, 0, False) > 0.5
    assert semantics.badness("request completed", 3, 2, False) < 0.2
    assert semantics.is_background("sshd", "Failed password for root from <IP>")


# --- the engine on a folder -----------------------------------------------------------------------------------


def test_finds_the_incident_with_its_onset(result: Triage) -> None:
    assert result.incidents, result.notes
    inc = result.incidents[0]
    assert inc.onset_ts is not None
    assert abs(inc.onset_ts - ONSET.timestamp()) <= 5 * 60, inc.onset
    assert inc.impact.status_5xx > 50


def test_cause_is_the_database_not_the_red_herring(result: Triage) -> None:
    inc = result.incidents[0]
    top = inc.candidates[0]
    text = (top.text + " " + (top.host or "")).lower()
    assert "db-1" in text or "connection" in text or "max_connections" in text, inc.candidates[:3]
    assert "db-1" in inc.title or "max_connections" in inc.title or "connection slots" in inc.title, inc.title
    for c in inc.candidates[:3]:
        assert "sshd" not in (c.service or "") and "Failed password" not in c.text, c
    assert not any("Failed password" in s.text for s in inc.chain)


def test_chain_crosses_hosts_to_the_symptom_with_lines(result: Triage, incident_folder: Path) -> None:
    inc = result.incidents[0]
    assert len(inc.chain) >= 2
    times = [s.ts for s in inc.chain]
    assert times == sorted(times)
    assert inc.chain[-1].role == "symptom" or any(s.role == "symptom" for s in inc.chain)
    assert {"db-1", "app-1"} <= set(inc.hosts) or len(inc.sources) >= 2
    for s in inc.chain:
        lines = Path(s.file).read_text().splitlines()
        assert lines[s.line - 1].strip(), s.where
        assert s.text and s.text[-20:] in lines[s.line - 1], s


def test_change_before_and_red_herring_dismissed(result: Triage) -> None:
    inc = result.incidents[0]
    kinds = {c.kind.split(" ")[0] for c in inc.changed_before}
    assert "config" in kinds, inc.changed_before
    herring = [u for u in result.unrelated if "Failed password" in u.text]
    assert herring, [u.text for u in result.unrelated]
    assert "before" in herring[0].reason or "steady" in herring[0].reason or "routine" in herring[0].reason


def test_year_of_syslog_comes_from_the_other_sources(result: Triage) -> None:
    assert any("carry no year" in n and "2025" in n for n in result.notes), result.notes
    assert result.start_ts is not None and datetime.fromtimestamp(result.start_ts, UTC).year == 2025


def test_field_values_explain_the_spike(result: Triage) -> None:
    shifts = result.incidents[0].impact.explained_by
    assert any(s.field == "status" and s.value == "5xx" for s in shifts) or any(
        "api/orders" in s.value or s.value == "db-1" for s in shifts), shifts


def test_json_round_trip(result: Triage) -> None:
    d = json.loads(result.to_json())
    assert d["incidents"][0]["onset_time"].endswith("Z")
    back = Triage.from_dict(d)
    assert back.incidents[0].title == result.incidents[0].title
    assert back.incidents[0].chain[0].where == result.incidents[0].chain[0].where


def test_metrics_read_once_as_metrics(incident_folder: Path) -> None:
    notes: list[str] = []
    series = read_metrics(incident_folder / "metrics.csv", notes)
    assert {s.name for s in series} == {"db_connections", "cpu_pct"} and not notes
    res = triage([str(incident_folder / "orders.jsonl"), str(incident_folder / "metrics.csv")],
                 metrics=[str(incident_folder / "metrics.csv")])
    assert all("metrics.csv" not in s for s in res.sources)


# --- quiet logs and bad input ---------------------------------------------------------------------------------


def test_quiet_logs_have_no_incident(tmp_path: Path) -> None:
    write_incident(tmp_path, with_cause=False, hours=2.0)
    res = triage([str(tmp_path / "orders.jsonl"), str(tmp_path / "nginx-access.log")])
    assert not res.incidents or res.incidents[0].confidence != "high", res.incidents[0].title


def test_bad_inputs_give_notes_not_tracebacks(tmp_path: Path) -> None:
    (tmp_path / "empty.log").write_text("")
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 40)
    res = triage([str(tmp_path)])
    assert not res.incidents
    assert any("empty" in n for n in res.notes) and any("binary" in n for n in res.notes), res.notes
    untimed = tmp_path / "plain.log"
    untimed.write_text("\n".join(["worker started"] * 300 + ["ERROR worker crashed: out of memory"] * 80
                                 + ["worker started"] * 100) + "\n")
    res = triage([str(untimed)])
    assert not res.timed and any("no timestamps" in n for n in res.notes)
    if res.incidents:
        assert res.incidents[0].onset is None
        assert "out of memory" in res.incidents[0].title


def test_clock_shift_is_noted(tmp_path: Path) -> None:
    write_incident(tmp_path, hours=3.0)
    # The access log written in local time, two hours ahead.
    src = tmp_path / "nginx-access.log"
    out = []
    for line in src.read_text().splitlines():
        a, b = line.index("["), line.index("]")
        t = datetime.strptime(line[a + 1:b], "%d/%b/%Y:%H:%M:%S %z") + timedelta(hours=2)
        out.append(line[:a + 1] + t.strftime("%d/%b/%Y:%H:%M:%S") + line[b:])
    src.write_text("\n".join(out) + "\n")
    res = triage([str(tmp_path)])
    assert any("nginx-access.log" in n and ("+2 h" in n or "off" in n) for n in res.notes), res.notes


def test_engine_speed_is_reported(result: Triage) -> None:
    assert result.seconds > 0 and result.events > 1000
    assert result.resolution_s in (30.0, 60.0, 120.0)
    assert isinstance(np.float64(result.seconds), np.floating) and time.time() > 0


def test_audit_report_leads_with_incidents_and_hypotheses_come_from_them(incident_folder: Path) -> None:
    from agent.hypotheses import form_hypotheses
    from detectors.pipeline import AuditOptions, audit
    from detectors.render import render_html, render_markdown
    from detectors.report import Report

    metrics = str(incident_folder / "metrics.csv")
    res = audit([str(incident_folder)], AuditOptions(state_dir=None, metrics=(metrics,)))
    assert all("metrics.csv" not in s for s in res.report.sources)  # read once, as metrics
    assert res.triage is not None and res.report.incidents and res.report.incidents["incidents"]
    md = render_markdown(res.report)
    assert md.index("## Incidents") < md.index("## Anomalies")
    assert "Also seen, judged unrelated" in md and "Failed password" in md
    assert "<h2>Incidents</h2>" in render_html(res.report)
    back = Report.from_json(res.report.to_json())
    hyps = form_hypotheses(back)
    assert hyps[0]["kind"] == "incident" and hyps[0]["title"] == res.triage.incidents[0].title
    assert hyps[0]["chain"] and all(":" in w for w in hyps[0]["chain"])
    assert not any("Failed password" in h["title"] for h in hyps)
    skip = audit([str(incident_folder)], AuditOptions(state_dir=None, incidents=False))
    assert skip.report.incidents is None and "## Incidents" not in render_markdown(skip.report)


def test_metric_series_and_calm_signals_are_inputs(incident_folder: Path) -> None:
    from detectors.incidents import MetricSeries, signals_from_calm, triage

    t = np.arange(T0.timestamp(), T0.timestamp() + 3 * 3600, 30.0)
    v = np.where(t >= ONSET.timestamp() - 120, 95.0, 40.0) + np.random.default_rng(0).normal(0, 1, len(t))
    pool = MetricSeries("db_pool_in_use_pct", t, v, source="metrics.csv")
    calm = [{"kind": "judgment", "series": "db_cpu", "timestamp": ONSET.timestamp() - 60, "score": 4.0,
             "decision": "keep", "reason": "cpu saturated"},
            {"kind": "judgment", "series": "noise", "timestamp": ONSET.timestamp(), "score": 2.0,
             "decision": "dismiss"}]
    signals = signals_from_calm(calm)
    assert [s.name for s in signals] == ["db_cpu"]
    res = triage([str(incident_folder / "syslog"), str(incident_folder / "orders.jsonl")], metrics=[pool],
                 signals=signals)
    metric = [c for c in res.incidents[0].candidates if c.kind == "metric"]
    assert any("db_pool_in_use_pct rose" in c.text for c in metric), res.incidents[0].candidates
    assert any(abs((c.ts or 0) - (ONSET.timestamp() - 120)) <= 180 for c in metric)


def _timed_lines(start: datetime, minutes: float, every_s: int, text) -> list[str]:
    out, t, end = [], start, start + timedelta(minutes=minutes)
    i = 0
    while t < end:
        out.append(f"{t.strftime('%Y-%m-%dT%H:%M:%S')}Z {text(i)}")
        t += timedelta(seconds=every_s)
        i += 1
    return out


def test_a_source_from_another_time_only_starts_its_first_lines_are_not_new(tmp_path: Path) -> None:
    # Logs from different months, none overlapping (as when Loghub samples are audited together): the later one
    # opens with a flood of errors. With nothing logged before them in its own time they are not a change.
    t = datetime(2020, 7, 9, 4, 0, tzinfo=UTC)
    old = [f"{t.strftime('%Y-%m-%dT%H:%M:%S')}Z ERROR mod_jk child workerEnv in error state {i % 7}"
           for i in range(300)]
    old += _timed_lines(t + timedelta(seconds=40), 600, 20, lambda i: f"INFO jk2_init() found child {i} in slot 3")
    (tmp_path / "apache.log").write_text("\n".join(old) + "\n")
    t2 = datetime(2020, 3, 1, 0, 0, tzinfo=UTC)
    onset = t2 + timedelta(minutes=400)
    lines = _timed_lines(t2, 600, 15, lambda i: f"INFO worker {i % 5} heartbeat ok")
    lines += _timed_lines(onset, 10, 10, lambda i: f"ERROR worker {i % 5} lost connection to queue broker")
    lines.sort()
    (tmp_path / "worker.log").write_text("\n".join(lines) + "\n")
    res = triage([str(tmp_path)])
    assert any("apache.log" in n and "does not overlap" in n for n in res.notes), res.notes
    for inc in res.incidents:
        for where in [s.where for s in inc.chain] + [c.where or "" for c in inc.candidates]:
            assert "apache.log" not in where, (inc.title, where)


def test_an_error_log_that_begins_at_the_incident_can_be_new(tmp_path: Path) -> None:
    # The error log is written only when things go wrong: its first line comes at the incident, while the access
    # log beside it ran all along. Its lines are new against that before-period.
    t = datetime(2025, 5, 2, 8, 0, tzinfo=UTC)
    (tmp_path / "app.log").write_text("\n".join(
        _timed_lines(t, 240, 5, lambda i: f"INFO request handled user={i % 40} in {5 + i % 9} ms")) + "\n")
    onset = t + timedelta(minutes=150)
    (tmp_path / "app-error.log").write_text("\n".join(
        _timed_lines(onset, 40, 6, lambda i: f"ERROR payment gateway timeout after 30000 ms (attempt {i % 3})"))
        + "\n")
    res = triage([str(tmp_path)])
    assert res.incidents, res.notes
    inc = res.incidents[0]
    assert "app-error.log" in inc.chain[0].where
    assert inc.onset is not None and abs((inc.onset - onset).total_seconds()) <= 300


def test_group_by_key_matches_a_lexsort_by_key_then_time() -> None:
    """The chunked counting sort gives what one lexsort of (key, time) gave: groups in time order, NaN last,
    ties in position order, across chunk edges and for keys logged out of time order."""
    from detectors.incidents import columns

    rng = np.random.default_rng(7)
    n, n_keys = 3 * columns.CHUNK + 123, 40
    key_of = rng.integers(-1, n_keys, n).astype(np.int32)
    t = np.round(np.sort(rng.random(n)) * 500, 1)  # ties
    t[: n // 3] = t[: n // 3][::-1].copy()  # a source whose clock runs backwards
    t[rng.random(n) < 0.02] = np.nan
    got, start = columns.group_by_key(key_of, t, n_keys)
    ok = key_of >= 0
    want = np.flatnonzero(ok)[np.lexsort((t[ok], key_of[ok]))]
    assert np.array_equal(got, want)
    assert np.array_equal(start, np.concatenate(([0], np.cumsum(np.bincount(key_of[ok], minlength=n_keys)))))
