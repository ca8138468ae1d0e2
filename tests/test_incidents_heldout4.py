"""Reader and engine rules found on a fourth set of hand-written held-out folders (a Postgres replica logging in
CET, a Go service whose panics go to the same file as its logger under supervisord, ...): each test builds a small
synthetic input of its own."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from detectors.events import ReadStats
from detectors.formats import parse_timestamp
from detectors.incidents import triage
from detectors.readers import read_events

T0 = datetime(2026, 11, 18, 6, 0, 0, tzinfo=UTC)


def _read(*paths: Path) -> list:
    return list(read_events([str(p) for p in paths], stats=ReadStats()))


def test_a_zone_abbreviation_after_the_time_is_read(tmp_path: Path) -> None:
    """PostgreSQL's %m with log_timezone = 'Europe/Berlin' writes '2026-11-18 10:27:59.241 CET [812] LOG: ...';
    the zone was left in the message and the time read as UTC, an hour late against the primary's UTC log."""
    pri = tmp_path / "primary.log"
    pri.write_text("2026-11-18 09:27:59.240 UTC [4411] replicator@[unknown] ERROR:  requested WAL segment "
                   "00000001000000A70000004E has already been removed\n")
    rep = tmp_path / "replica.log"
    rep.write_text("2026-11-18 10:27:59.241 CET [812] FATAL:  could not receive data from WAL stream\n"
                   "2026-07-18 11:27:59.241 CEST [812] LOG:  started streaming WAL\n"
                   "2026-11-18 04:27:59 EST [812] LOG:  checkpoint starting: time\n")
    by = {(Path(e.source).name, e.line): e for e in _read(pri, rep)}
    want = datetime(2026, 11, 18, 9, 27, 59, 240000, tzinfo=UTC).timestamp()
    assert by[("primary.log", 1)].ts == want
    assert abs(by[("replica.log", 1)].ts - (want + 0.001)) < 1e-6
    assert not by[("replica.log", 1)].text.startswith("CET")
    assert abs(by[("replica.log", 2)].ts - datetime(2026, 7, 18, 9, 27, 59, 241000, tzinfo=UTC).timestamp()) < 1e-6
    assert by[("replica.log", 3)].ts == datetime(2026, 11, 18, 9, 27, 59, tzinfo=UTC).timestamp()
    # (the day-month-year layout too; an ambiguous abbreviation such as CST is not guessed: naive = UTC)
    assert parse_timestamp("18 Nov 2026 10:27:59 CET") == want - 0.240
    assert parse_timestamp("2026-11-18 09:27:59 CST") == want - 0.240


def _go_service(path: Path, crash_at: float) -> None:
    """A Go service's zap console log under supervisord: stderr (its runtime's panics) goes to the same file."""
    rng = random.Random(3)
    lines = []
    t = T0.timestamp()
    end = t + 4 * 3600
    while t < end:
        t += rng.uniform(2, 6)
        stamp = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        if rng.random() < 0.2:
            lines.append(f'{stamp}\tWARN\tupstream/pool.go:144\tretrying upstream\t{{"attempt": 2, "err": '
                         '"context deadline exceeded"}')
        else:
            lines.append(f'{stamp}\tINFO\tproxy/handler.go:91\trequest\t{{"route": "quote", "status": 200}}')
        if crash_at <= t < crash_at + 1800 and rng.random() < 0.3:
            lines += ["panic: runtime error: invalid memory address or nil pointer dereference",
                      "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6c1f3a]", "",
                      "goroutine 41 [running]:", "svc/internal/route.(*Table).Lookup(0x0, {0xc0004a2000, 0x11})",
                      "\t/src/internal/route/table.go:142 +0x3a", "created by net/http.(*Server).Serve in goroutine 1",
                      "\t/usr/local/go/src/net/http/server.go:3086 +0x5cb"]
            lines.append(f"{stamp}\tINFO\tcmd/main.go:40\tstarting svc\t{{\"version\": \"1.31.2\"}}")
    path.write_text("\n".join(lines) + "\n")


def test_a_go_panic_without_the_loggers_header_is_an_event_of_its_own(tmp_path: Path) -> None:
    """The runtime writes 'panic: ...' and the goroutine dump to stderr without the logger's time; it was folded
    into whatever line the logger wrote before it (a 'retrying upstream' WARN became the incident's title)."""
    log = tmp_path / "svc.log"
    crash = T0.timestamp() + 3 * 3600
    _go_service(log, crash)
    evs = _read(log)
    panics = [e for e in evs if e.text.startswith("panic: runtime error")]
    assert panics and all(e.ts is not None and e.ts >= crash - 10 for e in panics)
    assert not any("panic:" in e.text and not e.text.startswith("panic:") for e in evs)
    assert all("goroutine 41 [running]:" in e.text for e in panics)  # the dump stays with its panic
    t = triage([str(log)])
    assert t.incidents and "nil pointer dereference" in t.incidents[0].title


def test_a_few_stray_5xx_long_before_the_storm_are_not_its_onset(tmp_path: Path) -> None:
    """One proxy key holds every 5xx: a couple of 502s each time a static backend flaps (from 25 min before), then
    504s by the hundred on /search when the search node stalls. The onset was the first stray 502, and the chain
    was built around it (the stall was not in it)."""
    rng = random.Random(5)
    t0 = T0.timestamp()
    storm = t0 + 3 * 3600
    acc, app = [], []

    def clf(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")

    t = t0
    while t < t0 + 4 * 3600:
        t += rng.expovariate(1.0)
        path = rng.choice(("/search?q=lamp", "/products/12", "/static/a.png"))
        st = 504 if path.startswith("/search") and storm <= t < storm + 1500 and rng.random() < 0.6 else 200
        acc.append((t, f'10.0.0.{rng.randint(2, 250)} - - [{clf(t)}] "GET {path} HTTP/1.1" {st} 512 "-" "curl/8.0"'))
    t = storm - 1500
    while t < t0 + 4 * 3600:
        acc.append((t, f'10.0.0.9 - - [{clf(t)}] "GET /static/b.png HTTP/1.1" 502 0 "-" "curl/8.0"'))
        t += rng.uniform(240, 420)
    for k in range(40):
        ts = storm + k * 30 + 0.5
        stamp = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
        app.append(f"{stamp} WARN  [jvm-monitor] c.s.search.GcMonitor - overhead, spent [6.1s] collecting in the "
                   "last [6.6s]")
    (tmp_path / "access.log").write_text("\n".join(line for _, line in sorted(acc)) + "\n")
    (tmp_path / "search.log").write_text("\n".join(app) + "\n")
    tri = triage([str(tmp_path / "access.log"), str(tmp_path / "search.log")])
    assert tri.incidents
    inc = tri.incidents[0]
    assert inc.onset_ts is not None and abs(inc.onset_ts - storm) < 300, (inc.onset, inc.title)
    assert any("overhead, spent" in (s.text or "") for s in inc.chain), [s.text for s in inc.chain]


def _clf(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def test_a_burst_inside_a_long_unrelated_trickle_is_an_incident_of_its_own_and_first(tmp_path: Path) -> None:
    """Exports time out (504) a few times a minute from 40 min before a burst of 401s on every route (with the
    API's 'token used before issued') to the logs' end. The burst was skipped (it began inside the export
    incident's span), so the only incident was the trickle."""
    rng = random.Random(9)
    t0 = T0.timestamp()
    burst = t0 + 3 * 3600
    acc, api = [], []
    t = t0
    while t < t0 + 4 * 3600:
        t += rng.expovariate(2.0)
        path = rng.choice(("/api/orders", "/api/profile", "/api/addresses", "/api/cart"))
        st = 200
        stamp = datetime.fromtimestamp(t, UTC).isoformat()
        if burst <= t < burst + 1500 and rng.random() < 0.5:
            st = 401
            api.append((t, f"ts={stamp} level=error msg=\"token validation failed\" err=\"Token used before "
                           f"issued\" path={path}"))
        else:
            api.append((t, f"ts={stamp} level=info msg=request path={path} status=200 dur_ms={rng.randint(3, 90)}"))
        acc.append((t, f'10.0.{rng.randint(0, 9)}.{rng.randint(2, 250)} - - [{_clf(t)}] "GET {path} HTTP/1.1" {st} 61 '
                       '"-" "Mozilla/5.0"'))
    t = burst - 2400
    while t < t0 + 4 * 3600:
        acc.append((t, f'10.0.5.9 - - [{_clf(t)}] "GET /api/v2/export?fmt=csv HTTP/1.1" 504 167 "-" "python-requests/2.31"'))
        t += rng.uniform(5, 15)
    (tmp_path / "access.log").write_text("\n".join(x for _, x in sorted(acc)) + "\n")
    (tmp_path / "orders.log").write_text("\n".join(x for _, x in sorted(api)) + "\n")
    tri = triage([str(tmp_path / "access.log"), str(tmp_path / "orders.log")])
    assert tri.incidents
    first = tri.incidents[0]
    assert first.onset_ts is not None and abs(first.onset_ts - burst) < 300, [(i.title, i.onset) for i in tri.incidents]
    assert "used before issued" in first.title or any("used before issued" in c.text for c in first.candidates[:1])
    assert [i.id for i in tri.incidents] == [f"I{n}" for n in range(1, len(tri.incidents) + 1)]
    assert any(i.onset_ts is not None and abs(i.onset_ts - (burst - 2400)) < 300 for i in tri.incidents[1:])


def test_logs_that_end_just_inside_a_bin_do_not_drop_at_the_end(tmp_path: Path) -> None:
    """A busy access log whose last line falls a second into a new bin: that bin counted as a whole one, and every
    window reaching it saw a 'drop' (an incident 'fewer successful requests' in the logs' last minutes)."""
    from detectors.incidents import rates

    rng = random.Random(2)
    t0 = T0.timestamp()
    span = 4 * 3600.0
    width = rates.bin_width(span)
    span = (span // width) * width + 1.0  # the last line 1 s into the last bin
    lines, t = [], t0
    while t < t0 + span:
        lines.append(f'10.0.0.{rng.randint(2, 250)} - - [{_clf(t)}] "GET /api/orders HTTP/1.1" 200 512 "-" "curl/8"')
        t += rng.expovariate(3.0)
    lines.append(f'10.0.0.7 - - [{_clf(t0 + span)}] "GET /api/orders HTTP/1.1" 200 512 "-" "curl/8"')
    (tmp_path / "access.log").write_text("\n".join(lines) + "\n")
    tri = triage([str(tmp_path / "access.log")])
    assert not tri.incidents, [(i.title, i.onset, i.impact.summary) for i in tri.incidents]


def test_a_request_in_a_structured_lines_message_gives_its_status(tmp_path: Path) -> None:
    """Go kit's request logging (Loki, Cortex, Mimir, Tempo) writes the request in a logfmt message:
    'msg="POST /loki/api/v1/push (500) 28.315ms Response: ..."'. The status in parentheses, and any request in a
    structured line's message, were not read: the distributor's 500s were 'errors in distributor.log', no
    user-facing symptom."""
    from detectors.fields import extract

    log = tmp_path / "distributor.log"
    log.write_text('level=warn ts=2026-11-23T11:12:47.181Z caller=logging.go:86 msg="POST /loki/api/v1/push (500) '
                   '28.315ms Response: \\"rpc error: code = Unknown desc = ingester buffer full\\\\n\\" ws: false; '
                   '" traceID=09bb52ef8c8c1156 orgID=team-ops\n'
                   'level=info ts=2026-11-23T11:12:47.200Z caller=logging.go:86 msg="GET /ready (200) 1.1ms"\n')
    app = tmp_path / "app.jsonl"
    app.write_text('{"time": "2026-11-23T11:12:48Z", "level": "info", "msg": "GET /checkout 502 2004ms"}\n'
                   '{"time": "2026-11-23T11:12:49Z", "level": "info", "msg": "GET /checkout", "status": 200}\n')
    evs = _read(log) + _read(app)
    assert [(e.fields.status, e.fields.route) for e in evs] == [
        (500, "POST /loki/api/v1/push"), (200, "GET /ready"), (502, "GET /checkout"), (200, None)]
    assert evs[0].fields.latency_ms == 28.315
    assert extract("GET /x (200 items) sent", "plain") is None  # a count in parentheses is no status


def test_a_redis_sentinel_failover_is_the_cause_of_its_clients_read_only_errors(tmp_path: Path) -> None:
    """Sentinel moves the master ('+switch-master mymaster A 6379 B 6379'); the API keeps writing to the old one,
    now a replica: 'ReadOnlyError: You can't write against a read only replica.' and 500s. The failover was not a
    change at all (and a file that names no host or daemon gave it no kind of server to link to its clients)."""
    from detectors.incidents.semantics import change_kind

    assert change_kind("+switch-master mymaster 10.0.3.11 6379 10.0.3.12 6379") == "failover"
    rng = random.Random(4)
    t0 = T0.timestamp()
    fo = t0 + 3 * 3600
    (tmp_path / "redis").mkdir()
    sen = []
    for k in range(0, 4 * 3600, 1800):
        ts = t0 + k + 7
        stamp = datetime.fromtimestamp(ts, UTC).strftime("%d %b %Y %H:%M:%S.%f")[:-3]
        sen.append(f"1:X {stamp} # +sdown slave 10.0.3.13:6379 10.0.3.13 6379 @ mymaster 10.0.3.11 6379")
    stamp = datetime.fromtimestamp(fo, UTC).strftime("%d %b %Y %H:%M:%S.%f")[:-3]
    sen.append(f"1:X {stamp} # +switch-master mymaster 10.0.3.11 6379 10.0.3.12 6379")
    sen.sort(key=lambda x: datetime.strptime(x[4:24], "%d %b %Y %H:%M:%S").timestamp())
    (tmp_path / "redis" / "sentinel.log").write_text("\n".join(sen) + "\n")
    app = []
    t = t0
    while t < t0 + 4 * 3600:
        t += rng.expovariate(1.5)
        stamp = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
        if fo + 20 <= t < fo + 1800 and rng.random() < 0.5:
            app.append(f"{stamp} ERROR [cart.store] POST /cart/items: redis write failed: ReadOnlyError: You can't "
                       "write against a read only replica.")
            app.append(f"{stamp} INFO [cart.access] POST /cart/items 500 3ms")
        else:
            app.append(f"{stamp} INFO [cart.access] GET /cart 200 {rng.randint(2, 30)}ms")
    (tmp_path / "app.log").write_text("\n".join(app) + "\n")
    tri = triage([str(tmp_path / "redis" / "sentinel.log"), str(tmp_path / "app.log")])
    assert tri.incidents
    top = tri.incidents[0].candidates[0]
    assert "+switch-master" in (top.text or ""), [(c.text, c.reasons) for c in tri.incidents[0].candidates]
