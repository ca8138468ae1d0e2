"""Layouts and incidents the generator never writes, found on hand-written held-out folders (issue 16): Ruby's
Logger (Rails), Traefik's and Caddy's JSON access logs, Elasticsearch's server log, a Python traceback that journald
split into one entry a line, a token rejected because a clock jumped, a dpkg.log that keeps last week's lines, and a
cron job's own output."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from detectors.events import ReadStats
from detectors.incidents import semantics, triage
from detectors.incidents.engine import _job_output
from detectors.readers import read_events

T0 = datetime(2026, 12, 6, 10, 0, 0, tzinfo=UTC)
ONSET = T0 + timedelta(minutes=75)
END = T0 + timedelta(minutes=120)


def _events(path: Path) -> list:
    return list(read_events([str(path)], stats=ReadStats()))


def test_ruby_logger_lines_and_a_fatal_whose_message_is_on_the_next_line(tmp_path: Path) -> None:
    log = tmp_path / "production.log"
    log.write_text(
        "I, [2026-12-04T13:00:00.205767 #2219]  INFO -- : [6e88] Started GET \"/products/2908\" for 198.51.100.7\n"
        "I, [2026-12-04T13:00:00.302767 #2214]  INFO -- : [6e88] Completed 200 OK in 97ms (Views: 48.5ms)\n"
        "F, [2026-12-04T13:00:01.000001 #2214] FATAL -- : [ab12]   \n"
        "[ab12] ActiveRecord::StatementInvalid (PG::ReadOnlySqlTransaction: ERROR:  cannot execute INSERT in a "
        "read-only transaction\n"
        "):\n"
        "[ab12] app/models/order.rb:41:in `save!'\n")
    evs = _events(log)
    assert [e.fmt for e in evs] == ["ruby_logger"] * 3
    assert evs[0].ts == datetime(2026, 12, 4, 13, 0, 0, 205767, tzinfo=UTC).timestamp()
    assert evs[0].text.startswith("[6e88] Started GET")  # no "I, [ #2219]  INFO -- :" left in the message
    assert evs[1].fields is not None and evs[1].fields.status == 200
    assert evs[2].level == "FATAL"
    assert evs[2].text.startswith("[ab12] ActiveRecord::StatementInvalid")  # not the tags-only header
    assert "[ab12]   " in evs[2].raw


def test_traefik_and_caddy_json_access_logs_give_status_route_and_latency(tmp_path: Path) -> None:
    traefik = tmp_path / "access.json"
    traefik.write_text(json.dumps({
        "ClientHost": "198.51.100.45", "DownstreamContentSize": 1477, "DownstreamStatus": 503,
        "Duration": 97578420, "OriginStatus": 503, "RequestMethod": "POST", "RequestPath": "/orders/812",
        "RouterName": "shop@docker", "level": "info", "msg": "", "time": "2026-12-04T13:00:00Z"}) + "\n")
    caddy = tmp_path / "caddy.json"
    caddy.write_text(json.dumps({
        "level": "info", "ts": 1796551200.265972, "logger": "http.log.access.log0", "msg": "handled request",
        "request": {"remote_ip": "192.0.2.130", "method": "GET", "host": "shop.example.com", "uri": "/v1/cart/77",
                    "headers": {"Accept": ["application/json"]}},
        "duration": 0.047, "size": 904, "status": 401}) + "\n")
    t = _events(traefik)[0]
    assert t.text == "POST /orders/812 503"  # not the whole JSON object: one template for all such requests
    assert t.fields.status == 503 and t.fields.route == "POST /orders/{id}"
    assert abs(t.fields.latency_ms - 97.57842) < 1e-6  # Go's Duration: nanoseconds, not 27 hours of milliseconds
    c = _events(caddy)[0]
    assert c.fields.status == 401 and c.fields.route == "GET /v1/cart/{id}"


def test_elasticsearch_server_log_names_its_node_as_the_host(tmp_path: Path) -> None:
    log = tmp_path / "es.json"
    log.write_text(json.dumps({
        "type": "server", "timestamp": "2026-12-03T09:05:17,911Z", "level": "WARN",
        "component": "o.e.c.r.a.DiskThresholdMonitor", "cluster.name": "logs-prod", "node.name": "es-master-1",
        "message": "flood stage disk watermark [95%] exceeded on [pQ7v][es-data-1][/var/lib/elasticsearch]"}) + "\n")
    e = _events(log)[0]
    assert e.host == "es-master-1" and e.service == "o.e.c.r.a.DiskThresholdMonitor" and e.level == "WARN"
    assert e.ts == datetime(2026, 12, 3, 9, 5, 17, 911000, tzinfo=UTC).timestamp()


def test_a_traceback_split_one_line_per_journal_entry_is_one_event_led_by_its_exception(tmp_path: Path) -> None:
    log = tmp_path / "journal.txt"
    p = "Dec 02 06:25:14 web-1 payments-api[51040]:"
    log.write_text(
        "Dec 02 06:25:11 web-1 systemd[1]: Started Payments API (uvicorn).\n"
        f"{p} Traceback (most recent call last):\n"
        f'{p}   File "/opt/payments/app/acquirer.py", line 22, in <module>\n'
        f'{p}     ctx.load_cert_chain("/etc/payments/client.pem")\n'
        f"{p} ssl.SSLError: [SSL: CA_MD_TOO_WEAK] ca md too weak (_ssl.c:3900)\n"
        "Dec 02 06:25:14 web-1 systemd[1]: payments-api.service: Main process exited, code=exited, "
        "status=1/FAILURE\n"
        "Dec 02 06:25:15 web-1 payments-api[51040]: Traceback (most recent call last):\n")
    evs = _events(log)
    assert len(evs) == 4
    trace = evs[1]
    assert trace.line == 2 and trace.service == "payments-api"
    assert trace.text.split("\n")[0] == "ssl.SSLError: [SSL: CA_MD_TOO_WEAK] ca md too weak (_ssl.c:3900)"
    assert "load_cert_chain" in trace.text and trace.fields is not None and trace.fields.exc == "SSLError"
    assert evs[2].text.startswith("payments-api.service: Main process exited")  # systemd's line is its own
    assert evs[3].text == "Traceback (most recent call last):"  # a trace with nothing after it stays as it is


def test_a_failed_check_of_a_token_is_no_change_and_a_clock_jump_is_one() -> None:
    assert semantics.change_kind("token validation failed: token has invalid claims: token used before issued") \
        is None
    assert semantics.change_kind("x509: certificate has expired or is not yet valid") is None
    assert semantics.change_kind("certificate for api.internal renewed, valid until 2027-03-01") == "certificate"
    assert semantics.change_kind("chronyd: Forward time jump detected!") == "clock"
    assert semantics.change_kind("chronyd: System clock wrong by -93.211644 seconds, adjustment started") == "clock"
    assert semantics.change_kind("chronyd: Selected source 10.0.0.123 (ntp1.internal)") is None


def test_a_job_output_is_told_by_the_command_not_by_the_user_it_runs_as() -> None:
    assert _job_output("(root) CMD (/usr/local/bin/db-backup.sh --incremental)", "db-backup")
    assert not _job_output("(postgres) CMD (/usr/local/bin/rebuild_order_stats.sh >> /var/log/r.log 2>&1)",
                           "postgres")
    assert not _job_output("(root) CMD (/usr/local/bin/db-backup.sh)", "payments-api")


def _clock_folder(folder: Path, seed: int = 3, stale_dpkg: bool = False) -> None:
    """Users' tokens come from auth-1 or auth-2. At ONSET auth-2's clock jumps 90 s forward (its journal stamps
    the jump with the new time); tokens it issues are "used before issued" at the api, which answers 401 (and
    502 on checkout). Background: expired tokens all along, a flapping health check on another service."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    access, api, journal, consul = [], [], [], []
    t = T0
    while t < END:
        t += timedelta(seconds=rng.expovariate(0.8))
        bad = ONSET <= t < END - timedelta(minutes=10) and rng.random() < 0.45
        route = rng.choice(["/v1/cart", "/v1/cart", "/v1/checkout"])
        method = "POST" if route == "/v1/checkout" else "GET"
        status = 200
        stamp = f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z"
        if bad:
            status = 502 if route == "/v1/checkout" else 401
            what = "pricing call failed" if status == 502 else "token validation failed"
            api.append((t, f'time={stamp} level={"ERROR" if status == 502 else "WARN"} msg="{what}" '
                           f'err="token has invalid claims: token used before issued" path={route}'))
        elif rng.random() < 0.01:
            status = 401
            api.append((t, f'time={stamp} level=WARN msg="token validation failed" '
                           f'err="token has invalid claims: token is expired" path={route}'))
        api.append((t, f"time={stamp} level=INFO msg=request method={method} path={route} status={status}"))
        access.append((t, f'192.0.2.{rng.randint(2, 250)} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "{method} {route} '
                          f'HTTP/1.1" {status} {rng.randint(100, 900)} "-" "Mozilla/5.0"'))
    t = T0
    while t < END:
        t += timedelta(seconds=rng.uniform(5, 40))
        shown = t + timedelta(seconds=90) if t >= ONSET else t
        journal.append((t, f"{shown:%Y-%m-%dT%H:%M:%S}+00:00 auth-2 auth-svc[900]: level=info msg=\"token issued\" "
                           f"sub=u{rng.randint(1000, 9999)} kid=k1"))
    jump = ONSET + timedelta(seconds=1)
    journal.append((jump, f"{jump + timedelta(seconds=90):%Y-%m-%dT%H:%M:%S}+00:00 auth-2 chronyd[612]: "
                          f"Forward time jump detected!"))
    for minute in range(0, 120, 20):
        m = T0 + timedelta(minutes=minute, seconds=7)
        journal.append((m, f"{m:%Y-%m-%dT%H:%M:%S}+00:00 auth-2 chronyd[612]: Selected source 10.0.0.123"))
    t = ONSET - timedelta(minutes=40)
    while t < END:
        t += timedelta(seconds=rng.uniform(20, 60))
        consul.append((t, f"{t:%Y-%m-%dT%H:%M:%S}.000Z [WARN]  agent: Check is now critical: "
                          f"check=service:search-1-http"))
    for name, rows in (("access.log", access), ("api.log", api), ("journal-auth-2.txt", journal),
                       ("consul.log", consul)):
        rows.sort(key=lambda r: r[0])
        (folder / name).write_text("\n".join(r for _, r in rows) + "\n")
    if stale_dpkg:
        # last week's upgrade, then today's (both in the one file dpkg keeps)
        lines = []
        for day in (T0 - timedelta(days=7), T0 + timedelta(minutes=5)):
            lines += [f"{day + timedelta(seconds=i):%Y-%m-%d %H:%M:%S} {w}" for i, w in enumerate(
                ["startup archives unpack", "upgrade tzdata:all 2024a-0 2024a-1", "status installed tzdata:all"])]
        (folder / "dpkg.log").write_text("\n".join(lines) + "\n")


def test_a_token_used_before_issued_is_traced_to_the_clock_that_jumped_on_another_host(tmp_path: Path) -> None:
    _clock_folder(tmp_path)
    t = triage([str(tmp_path)])
    inc = t.incidents[0]
    top = inc.candidates[0]
    assert top.kind == "change" and "time jump" in top.text, [(c.kind, c.text) for c in inc.candidates]
    assert top.file.endswith("journal-auth-2.txt") and "check of time" in " ".join(top.reasons)
    assert "time jump" in inc.title
    assert abs(inc.onset_ts - ONSET.timestamp()) <= 300
    # the api's failures are never called a certificate change
    assert all(c.kind != "certificate" for c in inc.changed_before)


def test_a_few_lines_dated_a_week_before_do_not_stretch_the_time_axis(tmp_path: Path) -> None:
    _clock_folder(tmp_path, stale_dpkg=True)
    t = triage([str(tmp_path)])
    assert any("lie long before the other lines" in n for n in t.notes), t.notes
    assert t.start_ts == T0.timestamp() or abs(t.start_ts - T0.timestamp()) < 60
    inc = t.incidents[0]
    assert abs(inc.onset_ts - ONSET.timestamp()) <= 300, inc.onset
    assert "time jump" in inc.title


def _es_folder(folder: Path, seed: int = 7) -> None:
    """An ingest API bulk-writes to Elasticsearch behind envoy. At ONSET a data node passes the flood-stage
    watermark; the master (which alone logs it, once a minute) marks the indices read-only, the API's bulk writes
    fail quoting the block's reason, and clients get 503. Red herring: GC pressure on another node since 40
    minutes before."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    master, data2, app, envoy = [], [], [], []

    def es(rows: list, t: datetime, node: str, level: str, comp: str, msg: str) -> None:
        rows.append((t, json.dumps({"type": "server", "timestamp": f"{t:%Y-%m-%dT%H:%M:%S},{t.microsecond // 1000:03d}Z",
                                    "level": level, "component": comp, "cluster.name": "logs-prod",
                                    "node.name": node, "message": msg})))

    t = T0
    while t < END:
        t += timedelta(seconds=rng.uniform(100, 300))
        es(master, t, "es-master-1", "INFO", "o.e.c.m.MetadataMappingService", "[orders-000042/x1] update_mapping [_doc]")
    t = ONSET + timedelta(seconds=40)
    while t < END:
        es(master, t, "es-master-1", "WARN", "o.e.c.r.a.DiskThresholdMonitor",
           "flood stage disk watermark [95%] exceeded on [pQ7v][es-data-1][/var/lib/elasticsearch] free: 4.1gb[4%], "
           "all indices on this node will be marked read-only")
        t += timedelta(seconds=60)
    t = ONSET - timedelta(minutes=40)
    while t < END:
        t += timedelta(seconds=rng.uniform(8, 30))
        d = rng.uniform(1.1, 4.8)
        es(data2, t, "es-data-2", "WARN", "o.e.m.j.JvmGcMonitorService",
           f"[gc][{int(t.timestamp()) % 100000}] overhead, spent [{d:.1f}s] collecting in the last [{d + 0.4:.1f}s]")
    t = T0
    while t < END:
        t += timedelta(seconds=rng.uniform(3, 7))
        stamp = f"[{t:%Y-%m-%d %H:%M:%S},{t.microsecond // 1000:03d}]"
        if t >= ONSET + timedelta(seconds=5):
            app.append((t, f"{stamp} ERROR in writer: bulk request failed: {rng.randint(200, 500)} document(s) failed "
                           f"to index."))
            app.append((t, f"{stamp} ERROR in writer: first failure: {{'index': {{'_index': 'orders-000042', "
                           f"'status': 429, 'error': {{'type': 'cluster_block_exception', 'reason': 'index "
                           f"[orders-000042] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage "
                           f"watermark, index has read-only-allow-delete block];'}}}}}}"))
        else:
            app.append((t, f"{stamp} INFO in writer: bulk indexed {rng.randint(200, 500)} docs into orders-000042 "
                           f"in {rng.randint(80, 400)}ms"))
    t = T0
    while t < END:
        t += timedelta(seconds=rng.expovariate(0.8))
        post = rng.random() < 0.6
        status = 503 if post and t >= ONSET + timedelta(seconds=5) else (202 if post else 200)
        path = "/api/v1/events" if post else "/api/v1/events/search"
        envoy.append((t, f'[{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z] "{"POST" if post else "GET"} {path} '
                         f'HTTP/1.1" {status} - 2048 57 12 11 "10.20.1.7" "fluent-bit/2.2.0" "id" "ingest" '
                         f'"10.0.3.31:8000"'))
    for name, rows in (("es-master-1_server.json", master), ("es-data-2_server.json", data2),
                       ("ingest-api.log", app), ("envoy-access.log", envoy)):
        rows.sort(key=lambda r: r[0])
        (folder / name).write_text("\n".join(r for _, r in rows) + "\n")


def test_a_server_condition_that_the_clients_errors_quote_is_on_the_path_and_ranks_first(tmp_path: Path) -> None:
    _es_folder(tmp_path)
    t = triage([str(tmp_path)])
    inc = t.incidents[0]
    top = inc.candidates[0]
    assert top.file.endswith("es-master-1_server.json") and "flood stage disk watermark" in top.text, \
        [(c.text[:60], c.reasons) for c in inc.candidates]
    assert any("repeats this line's words" in r for r in top.reasons)
    assert "flood stage" in inc.title
    assert not any("es-data-2" in (c.file or "") for c in inc.candidates[:1])
    assert any((u.file or "").endswith("es-data-2_server.json") for u in t.unrelated)
