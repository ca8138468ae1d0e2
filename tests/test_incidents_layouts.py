"""The incident engine on layouts unlike the generator's: a Spring Boot service whose loggers (Tomcat's bracketed
ones among them) are not places of their own, a server's access and error logs as one server, runtime pause reports
and kubectl's output as (non-)changes, and a failure that only comes and goes inside the incident."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from detectors.events import ReadStats
from detectors.formats import get_format
from detectors.incidents import semantics, triage
from detectors.readers import read_events

T0 = datetime(2025, 3, 14, 9, 0, 0, tzinfo=UTC)
ONSET = T0 + timedelta(minutes=70)
END = T0 + timedelta(minutes=110)


def _write(folder: Path, name: str, rows: list[tuple[datetime, str]]) -> None:
    rows.sort(key=lambda r: r[0])
    (folder / name).write_text("\n".join(r for _, r in rows) + "\n")


def _spring(t: datetime, level: str, thread: str, logger: str, msg: str) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S}.{t.microsecond // 1000:03d} {level:>5} 4711 --- [{thread:>15}] {logger:<40} : {msg}"


def spring_heap_folder(folder: Path, seed: int = 1) -> None:
    """A Spring Boot shop behind nginx. At ONSET its heap runs out: Tomcat's request logger reports minute-long
    requests, the thread pool is exhausted, a job dies with OutOfMemoryError, nginx times out (error log) and serves
    504s (access log). Background: inventory retries and validation errors all along; a mail sender in another
    service fails loudly from 35 minutes before the onset."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    app: list[tuple[datetime, str]] = []
    access: list[tuple[datetime, str]] = []
    error: list[tuple[datetime, str]] = []
    mail: list[tuple[datetime, str]] = []
    t = T0
    while t < END:
        t += timedelta(seconds=rng.expovariate(1.0))
        route = rng.choice(["/api/orders", "/api/cart", f"/api/products/{rng.randint(1, 9999)}"])
        failing = ONSET + timedelta(seconds=20) <= t and rng.random() < 0.5
        if failing:
            access.append((t, f'10.2.0.{rng.randint(1, 250)} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "GET {route} '
                              f'HTTP/1.1" 504 {rng.randint(200, 900)} "-" "Mozilla/5.0"'))
            error.append((t, f"{t:%Y/%m/%d %H:%M:%S} [error] 2231#2231: *{rng.randint(10 ** 6, 10 ** 7)} upstream "
                             f"timed out (110: Connection timed out) while reading response header from upstream, "
                             f'request: "GET {route} HTTP/1.1", upstream: "http://10.0.3.21:8080{route}"'))
            if rng.random() < 0.3:
                app.append((t, _spring(t, "WARN", f"nio-8080-exec-{rng.randint(1, 200)}",
                                       "o.a.c.c.C.[Tomcat].[localhost]",
                                       f"Request processing for [{route}] took 61234 ms, client disconnected")))
            if rng.random() < 0.3:
                app.append((t, _spring(t, "WARN", "http-nio-8080-Acceptor", "o.a.tomcat.util.threads.ThreadPoolExecutor",
                                       "Thread pool exhausted: maxThreads=200, active=200; rejecting request")))
        else:
            access.append((t, f'10.2.0.{rng.randint(1, 250)} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "GET {route} '
                              f'HTTP/1.1" 200 {rng.randint(200, 9000)} "-" "Mozilla/5.0"'))
            if rng.random() < 0.3:
                app.append((t, _spring(t, "INFO", f"nio-8080-exec-{rng.randint(1, 200)}",
                                       "c.e.shop.web.OrderController", f"GET {route} completed status=200")))
        if rng.random() < 0.02:
            app.append((t, _spring(t, "WARN", "nio-8080-exec-7", "c.e.shop.client.InventoryClient",
                                   f"Retrying inventory lookup for sku={rng.randint(1000, 9999)}: Read timed out")))
        if rng.random() < 0.005:
            app.append((t, _spring(t, "ERROR", "nio-8080-exec-9", "c.e.shop.web.ErrorHandler",
                                   "Validation failed for order request: quantity must be greater than 0")))
        if t >= T0 + timedelta(minutes=35) and rng.random() < 0.08:
            mail.append((t, _spring(t, "ERROR", "task-3", "c.e.notify.mail.SmtpSender",
                                    "Mail server connection failed: Couldn't connect to host smtp.example.com:587")))
    t = ONSET + timedelta(seconds=90)
    app.append((t, _spring(t, "ERROR", "scheduling-3", "c.e.shop.jobs.ReportExportJob",
                           "ReportExportJob failed: java.lang.OutOfMemoryError: Java heap space")))
    _write(folder, "shop-svc.log", app)
    _write(folder, "nginx_access.log", access)
    _write(folder, "nginx_error.log", error)
    _write(folder, "notify-svc.log", mail)


def test_spring_boot_loggers_with_brackets_and_an_application_name_are_read() -> None:
    iso = get_format("iso8601").make_parser(None)
    got = iso("2025-03-14 10:12:37.001  WARN 4711 --- [nio-8080-exec-2] o.a.c.c.C.[Tomcat].[localhost]           : "
              "Request processing for [/api/cart] took 61234 ms")
    assert got is not None and got[1] == "WARN" and got[3] == "o.a.c.c.C.[Tomcat].[localhost]"
    assert got[4] == "Request processing for [/api/cart] took 61234 ms"
    got = iso("2025-03-14 10:12:37.001 ERROR 4711 --- [nio-8080-exec-1] o.a.c.c.C.[.[.[/].[dispatcherServlet]    : "
              "Servlet.service() for servlet [dispatcherServlet] threw exception")
    assert got is not None and got[3] == "o.a.c.c.C.[.[.[/].[dispatcherServlet]"
    assert got[4] == "Servlet.service() for servlet [dispatcherServlet] threw exception"
    # Spring Boot 3.2+: the application's name in brackets before the thread's
    got = iso("2024-01-01T10:00:00.000Z  INFO 1234 --- [orders] [           main] o.s.b.w.e.tomcat.TomcatWebServer  : "
              "Tomcat started on port 8080 (http)")
    assert got is not None and got[3] == "o.s.b.w.e.tomcat.TomcatWebServer"
    assert got[4] == "Tomcat started on port 8080 (http)"


def test_runtime_pauses_broker_replicas_and_kubectl_output_as_changes() -> None:
    kind = semantics.change_kind
    # a collector's pause is housekeeping, whatever words it uses ("Compaction", "stopped")
    assert kind("[2025-03-14T10:12:37.001+0000][9357.463s][info][gc] GC(293) Pause Full (G1 Compaction Pause) "
                "4095M->4012M(4096M) 3861.037ms") is None
    assert kind("Total time for which application threads were stopped: 0.0123 seconds") is None
    assert kind("compaction started on table users") == "scheduled-job"
    # a broker's replicas falling behind are not a scaling change; replicas that were set are
    assert kind("[Partition orders-0 broker=1] Shrinking ISR from 1,2,3 to 1,3. Out of sync replicas: "
                "(brokerId: 2, endOffset: 5460621).") is None
    assert kind("desired replicas: 6") == "scaling"
    assert kind("scaled deployment web to 5 replicas") is not None
    # kubectl's report of what it changed; a job that announces its start
    assert kind("configmap/checkout-config configured") == "config-management"
    assert kind("secret/db-credentials created") == "config-management"
    assert kind("deployment.apps/checkout restarted") == "deploy"
    assert kind("ReportExportJob started: exporting all orders for tenant=acme") == "scheduled-job"
    assert kind("lock released") is None


def test_loggers_of_one_service_and_both_nginx_logs_stay_on_the_chain(tmp_path: Path) -> None:
    folder = tmp_path / "spring"
    spring_heap_folder(folder)
    t = triage([str(folder)])
    assert t.incidents, t.notes
    inc = t.incidents[0]
    files = {Path(s.file).name for s in inc.chain}
    texts = " | ".join(s.text for s in inc.chain)
    # the failing service's own loggers and nginx's error log are steps of the incident, not "no path to it"
    assert {"nginx_access.log", "nginx_error.log", "shop-svc.log"} <= files, texts
    assert "Thread pool exhausted" in texts and "upstream timed out" in texts, texts
    off = [u for u in t.unrelated if u.reason.startswith("no path")]
    assert not [u for u in off if Path(u.file).name in ("shop-svc.log", "nginx_error.log")], \
        [(u.text, u.reason) for u in off]
    # the mail sender that failed all along is dismissed, never blamed
    assert all("Mail server" not in c.text for c in inc.candidates[:1])
    assert any("Mail server" in u.text for u in t.unrelated)
    onset = inc.onset
    assert onset is not None and abs((onset - ONSET).total_seconds()) <= 300


def go_fd_folder(folder: Path, seed: int = 5, audit_per_min: float = 0.5, minutes: float = 110) -> None:
    """A Go gateway behind HAProxy runs out of file descriptors at ONSET: accept and dial errors, HAProxy 503s, and
    a sparse audit-log failure (one line every two minutes or so) that only happens during the incident."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    gw: list[tuple[datetime, str]] = []
    lb: list[tuple[datetime, str]] = []

    def go(t: datetime, msg: str) -> tuple[datetime, str]:
        return t, f"{t:%Y/%m/%d %H:%M:%S} {msg}"

    def poisson(start: datetime, end: datetime, per_min: float) -> list[datetime]:
        out, t = [], start
        while True:
            t += timedelta(seconds=rng.expovariate(per_min / 60))
            if t >= end:
                return out
            out.append(t)

    incident_end = ONSET + timedelta(minutes=35)
    end = T0 + timedelta(minutes=minutes)
    for t in poisson(T0, end, 40):
        failing = ONSET + timedelta(seconds=20) <= t < incident_end and rng.random() < 0.5
        status = 503 if failing else rng.choice([200] * 40 + [404])
        lb.append((t, f"{t:%b %d %H:%M:%S} lb-1 haproxy[1904]: 10.3.0.{rng.randint(1, 250)}:{rng.randint(30000, 65000)} "
                      f"[{t:%d/%b/%Y:%H:%M:%S}.000] public~ gateway/gw-1 0/0/1/12/13 {status} 512 - - ---- 3/3/0/0/0 0/0 "
                      f'"GET /api/v2/quote HTTP/1.1"'))
    gw += [go(t, f"upstream rates-provider responded slowly ({rng.randint(1100, 3000)}ms), retrying once")
           for t in poisson(T0, end, 1)]
    gw += [go(t, "http: TLS handshake error from 10.3.0.9:40000: EOF") for t in poisson(T0, end, 0.3)]
    gw += [go(t, "http: Accept error: accept tcp [::]:8080: accept4: too many open files; retrying in 20ms")
           for t in poisson(ONSET, incident_end, 8)]
    gw += [go(t, "quote: fetch rates: dial tcp 10.0.7.4:9000: socket: too many open files")
           for t in poisson(ONSET + timedelta(seconds=30), incident_end, 3)]
    gw += [go(t, "audit: open /var/log/gateway/audit.log: too many open files")
           for t in poisson(ONSET + timedelta(minutes=1), incident_end, audit_per_min)]
    gw += [go(t, "audit: open /var/log/gateway/audit.log: too many open files")
           for t in poisson(ONSET + timedelta(minutes=22), ONSET + timedelta(minutes=26), 4)]
    _write(folder, "gateway.log", gw)
    _write(folder, "haproxy.log", lb)


def test_a_failure_that_only_comes_and_goes_inside_the_incident_is_not_called_routine(tmp_path: Path) -> None:
    """A sparse failure seen only after the onset comes and goes (gaps between its lines): that is not "flaps all
    through the log", which only its bursts before the onset could show."""
    folder = tmp_path / "fd"
    go_fd_folder(folder)
    t = triage([str(folder)])
    assert t.incidents and "too many open files" in t.incidents[0].title
    routine = [(u.text, u.reason) for u in t.unrelated if "flaps" in u.reason and "too many open files" in u.text]
    assert not routine, routine


def test_a_long_wrapped_error_keeps_its_root_cause_in_the_title(tmp_path: Path) -> None:
    """Go's wrapped errors (and AWS SDK v2's) name the operation first and the root cause last: a title cut at its
    end would read 'upload failed: operation error S3: PutObject, https response error StatusCode: 403, Req...'."""
    rng = random.Random(2)
    folder = tmp_path / "token"
    folder.mkdir()
    access: list[tuple[datetime, str]] = []
    app: list[tuple[datetime, str]] = []
    t = T0
    while t < END:
        t += timedelta(seconds=rng.expovariate(1.0))
        failing = t >= ONSET and rng.random() < 0.4
        access.append((t, f'10.1.0.{rng.randint(1, 250)} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "POST /v1/uploads HTTP/1.1" '
                          f'{500 if failing else 200} 512 "-" "uploader-cli/2.3"'))
        stamp = f"time={t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z"
        if failing:
            rid = f"{rng.getrandbits(48):012X}"
            app.append((t, f'{stamp} level=error msg="upload failed" err="operation error S3: PutObject, https response '
                           f'error StatusCode: 403, RequestID: {rid}, HostID: {rid.lower()}, api error ExpiredToken: '
                           f'The provided token has expired."'))
        elif rng.random() < 0.02:
            app.append((t, f'{stamp} level=warn msg="retrying S3 request" attempt=2 err="RequestTimeout: socket '
                           f'not read from within the timeout period"'))
    _write(folder, "nginx_access.log", access)
    _write(folder, "uploader.log", app)
    tr = triage([str(folder)])
    assert tr.incidents
    title = tr.incidents[0].title
    assert "upload failed" in title and "ExpiredToken" in title, title


def test_json_access_logs_and_compact_json_keep_their_time_and_level() -> None:
    jsonl = get_format("jsonl").make_parser(None)
    # Envoy's JSON access log: the time is "start_time"
    got = jsonl('{"start_time": "2025-03-14T10:08:38.171Z", "method": "POST", "path": "/api/pay", '
                '"response_code": 503, "response_flags": "URX", "duration": 5001}')
    assert got is not None and got[0] is not None and abs(got[0] - 1741946918.171) < 1e-3
    # Serilog's compact JSON (CLEF): "@t", "@m" / "@mt", "@l"
    got = jsonl('{"@t": "2025-03-14T10:08:38.1710000Z", "@mt": "Payment {Id} failed", "@l": "Error", "Id": 7}')
    assert got is not None and got[0] is not None and got[1] == "ERROR" and got[4] == "Payment {Id} failed"
    # nginx's JSON log_format with $time_iso8601
    got = jsonl('{"time_iso8601": "2025-03-14T10:08:38+00:00", "status": 200, "request_uri": "/"}')
    assert got is not None and got[0] == 1741946918.0


def test_an_iso_time_then_a_bracketed_level_is_not_syslog_with_a_host(tmp_path: Path) -> None:
    """'2025-03-14T10:08:30Z [ERROR] plugin/errors: ...' (CoreDNS under kubectl logs --timestamps, many Go and
    Rust services) is a level and a message, not host '[ERROR]' running 'plugin/errors'."""
    path = tmp_path / "coredns.log"
    t = T0
    lines = []
    for i in range(40):
        t += timedelta(seconds=7)
        lines.append(f"{t:%Y-%m-%dT%H:%M:%S}.{i:06d}000Z [INFO] 10.244.1.{i + 2}:4{i:04d} - {i} "
                     f'"A IN api.svc.cluster.local. udp 62 false 512" NOERROR qr,aa,rd 118 0.000{i + 100}s')
        if i % 5 == 0:
            lines.append(f"{t:%Y-%m-%dT%H:%M:%S}.{i:06d}000Z [ERROR] plugin/errors: 2 api.svc.cluster.local. A: "
                         f"read udp 10.244.0.5:4{i:04d}->10.0.0.2:53: i/o timeout")
    path.write_text("\n".join(lines) + "\n")
    events = list(read_events([str(path)], stats=ReadStats()))
    errors = [e for e in events if "i/o timeout" in e.text]
    assert errors and all(e.level == "ERROR" and e.host is None for e in errors), \
        [(e.level, e.host, e.service) for e in errors[:3]]
    assert all(e.level == "INFO" and e.host is None for e in events if "NOERROR" in e.text)
