"""Issue 20: `sleuth investigate ALERT.json LOGS...` — from an Alertmanager payload to the incident report, POSTed
to a webhook receiver started on 127.0.0.1 by the test."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from detectors.sources import SourceError
from detectors.sources.alerts import load_alert, parse_alert, scope_source

STARTS = "2024-05-01T10:10:00Z"
T_START = 1_714_558_200.0
SECRET = "hunter2-Very-Secret-99"


def am_payload(**labels: str) -> dict:
    """An Alertmanager webhook payload (version 4), as Alertmanager sends it."""
    return {
        "version": "4", "groupKey": '{}:{alertname="HighErrorRate"}', "truncatedAlerts": 0, "status": "firing",
        "receiver": "sleuth", "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate", **labels}, "commonAnnotations": {"summary": "5xx above 5%"},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{"status": "firing", "labels": {"alertname": "HighErrorRate", "severity": "page", **labels},
                    "annotations": {"summary": "5xx above 5%"}, "startsAt": STARTS,
                    "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus:9090/graph",
                    "fingerprint": "a1b2c3d4e5f60718"}],
    }


def test_alertmanager_payload_gives_range_hosts_and_services():
    inv = parse_alert(am_payload(instance="web1:9100", job="api"))
    assert inv.title == "HighErrorRate"
    assert (inv.start, inv.end) == (T_START - 1800, T_START + 900)
    assert inv.hosts == ["web1"] and inv.services == ["api"]
    d = inv.to_dict()
    assert d["start"] == "2024-05-01T09:40:00Z" and d["alerts"][0]["summary"] == "5xx above 5%"


def test_plain_alert_and_resolved_alert_use_their_end():
    inv = parse_alert({"startsAt": STARTS, "endsAt": "2024-05-01T11:00:00Z", "labels": {"host": "db1"}},
                      before_s=600)
    assert (inv.start, inv.end) == (T_START - 600, T_START + 3000)
    assert inv.hosts == ["db1"] and inv.services == []


@pytest.mark.parametrize("payload, match", [
    ({"startsAt": STARTS, "labels": {"alertname": "X", "severity": "page"}}, "no label names a host or a service"),
    ({"alerts": []}, "holds no alert"),
    ({"labels": {"host": "a"}}, "not an alert"),
    ({"startsAt": "yesterday", "labels": {"host": "a"}}, "is not a time"),
])
def test_unusable_alerts_say_what_to_change(payload, match):
    with pytest.raises(SourceError, match=match):
        parse_alert(payload, "alert.json")


def test_alert_file_problems(tmp_path):
    bad = tmp_path / "alert.json"
    bad.write_text('{"startsAt": ')
    with pytest.raises(SourceError, match=r"alert.json:1: not valid JSON"):
        load_alert(str(bad))
    with pytest.raises(SourceError, match="no such file"):
        load_alert(str(tmp_path / "missing.json"))


def test_remote_sources_are_narrowed_to_the_alert_window():
    inv = parse_alert(am_payload(instance="web1:9100"))
    j = scope_source("journal:/var/log/journal?unit=nginx.service&since=1h", inv)
    opts = dict(parse_qsl(j.split("?", 1)[1]))
    assert opts == {"unit": "nginx.service", "since": "2024-05-01 09:40:00 UTC", "until": "2024-05-01 10:25:00 UTC"}
    lk = scope_source('loki://127.0.0.1:3100/{app="api"}?since=2h&limit=500', inv)
    assert lk.startswith('loki://127.0.0.1:3100/{app="api"}?') and "since" not in lk
    assert dict(parse_qsl(lk.split("?", 1)[1])) == {"limit": "500", "start": f"{T_START - 1800:.3f}",
                                                   "end": f"{T_START + 900:.3f}"}
    assert scope_source("/var/log/app.log", inv) == "/var/log/app.log"


# ------------------------------------------------------------------------------------------ the command


def write_log(path: Path) -> Path:
    rows = []
    for i in range(600):
        m, s = divmod(i, 60)
        rows.append(f"2024-05-01T10:{m:02d}:{s:02d}Z web1 api[311]: INFO GET /orders/{i % 37} 200 in {20 + i % 7} ms")
    for i in range(40):
        rows.append(f"2024-05-01T10:10:{i:02d}Z web1 api[311]: ERROR db connection refused to 10.0.0.5:5432 "
                    f"(attempt {i}) password={SECRET}")
    path.write_text("\n".join(rows) + "\n")
    return path


class _Receiver:
    def __init__(self, status: int = 200) -> None:
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _cli(args: list[str]):
    from typer.testing import CliRunner

    from cli.main import app

    return CliRunner().invoke(app, args)


def test_investigate_prints_the_report_and_posts_it(tmp_path):
    alert = tmp_path / "alert.json"
    alert.write_text(json.dumps(am_payload(instance="web1:9100", job="api")))
    log = write_log(tmp_path / "api.log")
    receiver = _Receiver()
    try:
        r = _cli(["investigate", str(alert), str(log), "-o", "json", "--post", receiver.url])
    finally:
        receiver.close()
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["alert"]["title"] == "HighErrorRate" and doc["alert"]["hosts_in_logs"] == ["web1"]
    assert doc["report"]["totals"]["events"] == 640
    (posted,) = receiver.bodies
    assert posted["alert"] == doc["alert"]
    assert SECRET not in json.dumps(posted)  # masked before it left the machine


def test_investigate_bad_inputs_exit_2_with_one_line(tmp_path):
    alert = tmp_path / "alert.json"
    alert.write_text(json.dumps({"startsAt": STARTS, "labels": {"alertname": "X"}}))
    log = write_log(tmp_path / "api.log")
    r = _cli(["investigate", str(alert), str(log)])
    assert r.exit_code == 2 and "no label names a host or a service" in r.output and "Traceback" not in r.output
    alert.write_text(json.dumps(am_payload(instance="web1:9100")))
    receiver = _Receiver(status=500)
    try:
        r = _cli(["investigate", str(alert), str(log), "-o", "json", "--post", receiver.url])
    finally:
        receiver.close()
    assert r.exit_code == 2 and "the receiver answered 500" in r.output
    r = _cli(["investigate", str(alert)])
    assert r.exit_code == 2 and "give the logs to triage" in r.output
