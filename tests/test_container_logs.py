"""Container logs as `docker compose logs` and `kubectl logs --prefix` print them: each line opens with the
container's name, then whatever layout that container writes. The name is the line's service; the rest is read as
usual (its timestamp, its level, a JSON object, an HTTP request written without quotes)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from detectors.fields import extract
from detectors.formats import detect_format, get_format
from detectors.incidents import triage

COMPOSE = [
    "web-1     | 2025-03-14T10:22:35.118Z info: GET /checkout 200 56ms",
    "api-1     | 2025-03-14T10:22:35.201Z ERROR [api.db] could not connect to server: Connection refused",
    "postgres-1  | 2025-03-14 10:22:35.000 UTC [27] LOG:  checkpoint starting: time",
    "redis-1   | 1:M 14 Mar 2025 10:22:33.676 * 100 changes in 300 seconds. Saving...",
    'worker_1  | {"ts": "2025-03-14T10:22:36Z", "level": "warning", "msg": "retrying task send_email"}',
]


def test_compose_lines_are_detected_and_name_their_service() -> None:
    fmt = detect_format(COMPOSE)
    assert fmt.name == "container"
    parse = get_format("container").make_parser(None)
    ts, level, host, service, text, _ = parse(COMPOSE[1])[:6]
    assert service == "api-1" and level == "ERROR" and text.startswith("[api.db] could not connect")
    assert ts == datetime(2025, 3, 14, 10, 22, 35, 201000, tzinfo=UTC).timestamp()
    pg = parse(COMPOSE[2])
    assert pg[3] == "postgres-1" and pg[0] == datetime(2025, 3, 14, 10, 22, 35, tzinfo=UTC).timestamp()
    js = parse(COMPOSE[4])
    assert js[3] == "worker_1" and js[1] == "WARN" and js[4] == "retrying task send_email"


def test_kubectl_prefix_gives_pod_and_container() -> None:
    line = "[pod/checkout-7d9f5c-x2k4q/checkout] 2025-03-14T10:22:35.118Z ERROR payment gateway timeout"
    got = get_format("container").make_parser(None)(line)
    assert got is not None and got[2] == "checkout-7d9f5c-x2k4q" and got[3] == "checkout" and got[1] == "ERROR"
    # Not a container log: a HealthApp line's bars have no space before them, a zuul console's "|" follows a time.
    assert detect_format(["20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579"] * 5).name \
        == "healthapp"
    assert detect_format(["2017-11-12 14:26:49.982092 | [Zuul] Launched by managesf"] * 5).name == "iso8601"


def test_requests_written_without_quotes_and_rate_windows() -> None:
    f = extract("info: GET /checkout/42 502 1952ms", "container")
    assert f is not None and f.status == 502 and f.route == "GET /checkout/{id}" and f.latency_ms == 1952.0
    f = extract("GET /api/users 200 5.123 ms - 12", "plain")
    assert f is not None and f.status == 200 and f.latency_ms == 5.123
    f = extract("Completed 500 Internal Server Error in 12ms (ActiveRecord: 2.1ms)", "plain")
    assert f is not None and f.status == 500 and f.latency_ms == 12.0
    # "100 changes in 300 seconds" is a count over a window, not an operation that took 300 s.
    assert extract("1:M 14 Mar 2025 10:22:33.676 * 100 changes in 300 seconds. Saving...", "plain") is None
    f = extract("order 1234 priced in 12 ms", "plain")
    assert f is not None and f.latency_ms == 12.0


def _compose_incident(path: Path, seed: int = 3) -> datetime:
    """Two hours of a compose stack; the database's disk fills, the api cannot reach it, the front door answers
    502. Nothing logs the api as the front's upstream."""
    rng = random.Random(seed)
    t0 = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)
    onset = t0 + timedelta(minutes=80)
    out: list[tuple[datetime, str]] = []

    def iso(t: datetime) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    t = t0
    while t < t0 + timedelta(hours=2):
        t += timedelta(seconds=rng.uniform(0.3, 1.5))
        down = t >= onset + timedelta(seconds=20)
        status = 502 if down and rng.random() < 0.6 else 200
        ms = rng.randint(900, 2500) if status == 502 else rng.randint(15, 90)
        out.append((t, f"web-1     | {iso(t)} info: GET /cart 200 {ms}ms".replace(" 200 ", f" {status} ")))
        if rng.random() < 0.5:
            msg = ('ERROR [api.db] could not connect to server: Connection refused. Is the server running on host '
                   '"db" and accepting TCP/IP connections on port 5432?') if down and rng.random() < 0.7 \
                else f"INFO [api.cart] cart {rng.randint(100, 999)} priced in {rng.randint(3, 30)} ms"
            out.append((t, f"api-1     | {iso(t)} {msg}"))
        if rng.random() < 0.02:
            out.append((t, f"worker-1  | {iso(t)} WARNING retrying task send_email (attempt 2/5): SMTP timeout"))
    for i, msg in enumerate(['ERROR:  could not extend file "base/16384/2619": No space left on device',
                             "PANIC:  could not write to file \"pg_wal/xlogtemp.31\": No space left on device",
                             "LOG:  database system is shut down"]):
        tt = onset + timedelta(seconds=4 * i)
        out.append((tt, f"db-1  | {tt.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]} UTC [31] {msg}"))
    out.sort(key=lambda x: x[0])
    path.write_text("\n".join(line for _, line in out) + "\n")
    return onset


def test_a_compose_stack_incident_crosses_its_containers(tmp_path: Path) -> None:
    onset = _compose_incident(tmp_path / "compose.log")
    res = triage([str(tmp_path / "compose.log")])
    assert res.incidents, res.notes
    inc = res.incidents[0]
    assert "No space left on device" in inc.candidates[0].text, [c.text for c in inc.candidates]
    assert inc.impact.status_5xx and inc.impact.status_5xx > 100
    services = [s.service for s in inc.chain]
    # db -> api (a client naming the failed database is on the path, though no line names the api) -> web
    assert services[0] == "db-1" and "api-1" in services and services[-1] == "web-1", services
    assert inc.onset is not None and abs((inc.onset - onset).total_seconds()) <= 60
