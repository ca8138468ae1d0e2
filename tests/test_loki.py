"""Issue 20: `loki://` sources.

`test_real_loki_*` start Grafana Loki on 127.0.0.1, push generated logs through its push API and audit them
back. Grafana Loki is in none of the registries this project installs from (Debian's package named `loki` is a
genetics program), so these run where a `loki` binary that reports itself as Grafana Loki is on PATH (or named
by $SLEUTH_LOKI_BIN), and skip saying so elsewhere.

The other tests run everywhere against a small loopback HTTP server that answers `/loki/api/v1/query_range`
the way Loki documents it (streams, forward direction, start inclusive, end exclusive, `limit` per request) —
a stand-in, not Loki — to pin the client's paging, its limit, and one-line errors for 4xx / 5xx / non-JSON /
oversize answers and an unreachable port (that last one is real).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from detectors.events import ReadStats
from detectors.readers import context_lines, read_events
from detectors.sources import SourceError
from detectors.sources import loki as loki_mod
from detectors.sources.loki import parse_loki, query_entries

T0 = 1_714_557_600  # 2024-05-01T10:00:00Z


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------- the stand-in


class _Store:
    def __init__(self) -> None:
        self.entries: list[tuple[int, dict[str, str], str]] = []
        self.requests: list[dict[str, str]] = []
        self.fail: tuple[int, str] | None = None


def _serve(store: _Store) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            store.requests.append(q)
            if store.fail is not None:
                status, body = store.fail
                return self._send(status, body.encode())
            if url.path != "/loki/api/v1/query_range":
                return self._send(404, b"404 page not found")
            start, end, limit = int(q["start"]), int(q["end"]), int(q.get("limit", "100"))
            hits = sorted((e for e in store.entries if start <= e[0] < end), key=lambda e: e[0])[:limit]
            streams: dict[str, dict] = {}
            for ts, labels, line in hits:
                key = json.dumps(labels, sort_keys=True)
                streams.setdefault(key, {"stream": labels, "values": []})["values"].append([str(ts), line])
            body = {"status": "success", "data": {"resultType": "streams", "result": list(streams.values())}}
            self._send(200, json.dumps(body).encode())

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def standin():
    store = _Store()
    server, hostport = _serve(store)
    yield store, hostport
    server.shutdown()
    server.server_close()


def _fill(store: _Store, n: int) -> None:
    for i in range(n):
        host = "web1" if i % 2 else "web2"
        level = "error" if i % 50 == 49 else "info"
        ts = (T0 + i) * 10**9
        store.entries.append((ts, {"app": "api", "host": host, "level": level}, f"GET /orders/{i} 200"))
    # three entries in one nanosecond: a page boundary falls inside them
    for k in range(3):
        store.entries.append(((T0 + n) * 10**9, {"app": "api", "host": "web1", "level": "info"}, f"burst {k}"))


def _src(hostport: str, extra: str = "") -> str:
    return f'loki://{hostport}/{{app="api"}}?start={T0}&end={T0 + 10_000}{extra}'


def test_pages_through_the_whole_range_without_loss_or_repeat(standin):
    store, hostport = standin
    _fill(store, 250)
    got = list(query_entries(parse_loki(_src(hostport, "&page=101"))))
    assert len(got) == 253
    assert [line for _, _, line in got[:2]] == ["GET /orders/0 200", "GET /orders/1 200"]
    assert sorted(line for _, _, line in got[-3:]) == ["burst 0", "burst 1", "burst 2"]
    assert len(store.requests) >= 3 and all(int(r["limit"]) <= 101 for r in store.requests)
    assert all(r["direction"] == "forward" for r in store.requests)


def test_limit_stops_the_query(standin):
    store, hostport = standin
    _fill(store, 250)
    got = list(query_entries(parse_loki(_src(hostport, "&page=40&limit=90"))))
    assert len(got) == 90


def test_loki_source_is_read_with_labels_as_host_service_level(standin):
    store, hostport = standin
    _fill(store, 120)
    src = _src(hostport, "&page=50")
    stats = ReadStats()
    events = list(read_events([src], stats=stats))
    assert not stats.skips, stats.skips
    assert len(events) == 123
    first = events[0]
    assert (first.text, first.host, first.service, first.level) == ("GET /orders/0 200", "web2", "api", "INFO")
    assert first.ts == pytest.approx(T0)
    assert events[49].level == "ERROR"
    assert events[49].where == f"{src}:50"
    assert "GET /orders/49 200" in dict(context_lines(src, 50, 0, 0))[50]


def test_json_lines_in_loki_keep_their_fields(standin):
    store, hostport = standin
    store.entries = [((T0 + i) * 10**9, {"app": "api", "host": "web1"},
                      json.dumps({"msg": "request done", "status": 503 if i == 3 else 200, "route": "/orders/1",
                                  "level": "error" if i == 3 else "info", "time": "1999-01-01T00:00:00Z"}))
                     for i in range(5)]
    stats = ReadStats()
    events = list(read_events([_src(hostport)], stats=stats))
    assert [e.text for e in events] == ["request done"] * 5
    assert events[3].level == "ERROR" and events[3].fields is not None and events[3].fields.status == 503
    assert events[0].ts == pytest.approx(T0)  # Loki's timestamp, not the line's own "time"
    assert events[0].host == "web1" and events[0].service == "api"


@pytest.mark.parametrize("status, body, match", [
    (400, "parse error at line 1, col 5: syntax error", r"answered 400 \(parse error.*fix the LogQL query"),
    (500, "internal error", r"answered 500 .*try again"),
    (200, "<html>not loki</html>", r"did not answer with JSON"),
])
def test_server_errors_are_one_clear_line(standin, status, body, match):
    store, hostport = standin
    store.fail = (status, body)
    stats = ReadStats()
    assert list(read_events([_src(hostport)], stats=stats)) == []
    (skip,) = stats.skips
    assert skip.source == _src(hostport) and "\n" not in skip.message
    assert pytest.raises(SourceError, lambda: list(query_entries(parse_loki(_src(hostport))))).match(match)


def test_oversize_answer_is_refused(standin, monkeypatch):
    store, hostport = standin
    _fill(store, 200)
    monkeypatch.setattr(loki_mod, "MAX_RESPONSE_BYTES", 2000)
    with pytest.raises(SourceError, match="lower page="):
        list(query_entries(parse_loki(_src(hostport))))


def test_unreachable_and_malformed_sources():
    port = _free_port()
    with pytest.raises(SourceError, match=rf"cannot reach Loki at http://127.0.0.1:{port}"):
        list(query_entries(parse_loki(f'loki://127.0.0.1:{port}/{{app="x"}}?since=5m')))
    for bad, match in [("loki://127.0.0.1:3100/", "write loki://HOST:PORT/QUERY"),
                       ('loki://127.0.0.1:3100/app="x"', "must start with a stream selector"),
                       ('loki://127.0.0.1:3100/{app="x"}?colour=red', "unknown option 'colour'"),
                       ('loki://127.0.0.1:3100/{app="x"}?since=soon', "not a duration")]:
        with pytest.raises(SourceError, match=match):
            parse_loki(bad)
    # a regex with a '?' in the query is not taken for options
    q = parse_loki('loki://127.0.0.1:3100/{app="x"} |~ "GET /a?b"')
    assert q.query == '{app="x"} |~ "GET /a?b"'


# ----------------------------------------------------------------------------------------------- real Loki


def _grafana_loki() -> str | None:
    exe = os.environ.get("SLEUTH_LOKI_BIN") or shutil.which("loki")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return exe if "loki, version" in (out.stdout + out.stderr).lower() else None


needs_loki = pytest.mark.skipif(
    _grafana_loki() is None,
    reason="Grafana Loki is not installed (no registry this project uses ships it; Debian's 'loki' package is a "
           "genetics tool): put Grafana's loki binary on PATH or set SLEUTH_LOKI_BIN to run these")

_CONFIG = """auth_enabled: false
server:
  http_listen_address: 127.0.0.1
  http_listen_port: {http}
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: {grpc}
  log_level: warn
common:
  instance_addr: 127.0.0.1
  path_prefix: {dir}
  storage:
    filesystem:
      chunks_directory: {dir}/chunks
      rules_directory: {dir}/rules
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory
schema_config:
  configs:
    - from: 2020-10-24
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
limits_config:
  reject_old_samples: false
  allow_structured_metadata: false
"""


@pytest.fixture(scope="module")
def real_loki(tmp_path_factory):
    import httpx

    exe = _grafana_loki()
    tmp = tmp_path_factory.mktemp("loki")
    http, grpc = _free_port(), _free_port()
    cfg = tmp / "loki.yaml"
    cfg.write_text(_CONFIG.format(http=http, grpc=grpc, dir=tmp))
    log = open(tmp / "loki.log", "wb")
    proc = subprocess.Popen([exe, f"-config.file={cfg}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{http}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("loki did not become ready: " + Path(tmp / "loki.log").read_text()[-800:])
            time.sleep(0.5)
        yield f"127.0.0.1:{http}"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@needs_loki
def test_real_loki_push_then_audit_back(real_loki):
    import httpx

    now = int(time.time()) - 600
    values_api = [[str((now + i) * 10**9), f"GET /orders/{i} 200"] for i in range(300)]
    values_db = [[str((now + 200 + i) * 10**9), f"connection refused to 10.0.0.5:5432 attempt {i}"] for i in range(20)]
    push = {"streams": [{"stream": {"app": "api", "host": "web1", "level": "info"}, "values": values_api},
                        {"stream": {"app": "api", "host": "db1", "level": "error"}, "values": values_db}]}
    r = httpx.post(f"http://{real_loki}/loki/api/v1/push", json=push, timeout=30)
    assert r.status_code == 204, r.text
    src = f'loki://{real_loki}/{{app="api"}}?start={now - 1}&end={now + 1000}&page=64'
    deadline = time.monotonic() + 60
    while True:  # the ingester makes pushed lines queryable within a moment
        stats = ReadStats()
        events = list(read_events([src], stats=stats))
        if len(events) == 320 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not stats.skips, stats.skips
    assert len(events) == 320
    assert {e.host for e in events} == {"web1", "db1"} and {e.service for e in events} == {"api"}
    assert [e.level for e in events if e.host == "db1"] == ["ERROR"] * 20
    bad = ReadStats()
    assert list(read_events([f'loki://{real_loki}/{{app="api" |= ?since=1h'], stats=bad)) == []
    assert "answered 400" in bad.skips[0].message


@needs_loki
def test_real_loki_through_the_audit(real_loki):
    from detectors.pipeline import AuditOptions, audit

    src = f'loki://{real_loki}/{{app="api"}}?since=2h'
    result = audit([src], AuditOptions())
    assert result.report.totals.events >= 320
    assert any("connection refused" in (a.text or "") for a in result.report.anomalies)


def test_audit_of_an_unreachable_loki_exits_2_with_one_clear_message():
    from typer.testing import CliRunner

    from cli.main import app

    port = _free_port()
    r = CliRunner().invoke(app, ["audit", f'loki://127.0.0.1:{port}/{{app="x"}}?since=1h', "--no-explain", "--no-state"])
    assert r.exit_code == 2
    text = " ".join(r.output.split())
    assert f"cannot reach Loki at http://127.0.0.1:{port}" in text and "check the host and port" in text
    assert "Traceback" not in r.output
