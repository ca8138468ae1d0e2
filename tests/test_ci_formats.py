"""Issue 20 conventions: `sleuth audit --format github|jsonl`, NO_COLOR, `sleuth watch --metrics-port`."""

from __future__ import annotations

import json
import re
import socket
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from detectors.render_ci import github_escape_data, github_escape_property


def write_log(path: Path) -> Path:
    rows = []
    for i in range(600):
        m, s = divmod(i, 60)
        rows.append(f"2024-05-01T10:{m:02d}:{s:02d}Z web1 api[311]: INFO GET /orders/{i % 37} 200 in {20 + i % 7} ms")
    for i in range(30):
        rows.append(f"2024-05-01T10:10:{i:02d}Z web1 api[311]: ERROR db connection refused to 10.0.0.5:5432 (attempt {i})")
    # a folded continuation line that tries to issue a workflow command of its own
    rows.append("2024-05-01T10:10:40Z web1 api[311]: ERROR worker crashed: 100% cpu, a,b")
    rows.append("  ::add-mask::leaked")
    path.write_text("\n".join(rows) + "\n")
    return path


def _audit(args: list[str], **kw):
    return CliRunner().invoke(app, ["audit", *args, "--no-explain", "--no-state"], **kw)


def test_github_annotations(tmp_path):
    log = write_log(tmp_path / "api.log")
    r = _audit([str(log), "--format", "github", "--fail-on", "never"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    commands = [ln for ln in lines if ln.startswith("::")]
    assert commands == lines  # nothing but workflow commands on stdout
    kinds = Counter(ln.split(" ", 1)[0] for ln in commands)
    assert kinds["::notice"] >= 1 and kinds["::error"] + kinds["::warning"] >= 1
    located = [ln for ln in commands if "file=" in ln]
    assert located and all(re.match(r"::(error|warning|notice) file=[^,]*api.log,line=\d+,title=", ln) for ln in located)
    assert not any(ln.startswith("::add-mask") for ln in lines)
    crashed = [ln for ln in commands if "worker crashed" in ln]
    assert crashed and all("100%25 cpu" in ln and "\n" not in ln for ln in crashed)  # escaped as the runner wants


def test_github_escaping_rules():
    assert github_escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert github_escape_property("a:b,c") == "a%3Ab%2Cc"
    assert github_escape_data("bell\x07 and \x1b[31mred") == "bell and [31mred"


def test_jsonl_lines(tmp_path):
    log = write_log(tmp_path / "api.log")
    r = _audit([str(log), "--format", "jsonl", "--fail-on", "never"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert rows[-1]["kind"] == "summary" and rows[-1]["events"] == 631
    kinds = [row["kind"] for row in rows[:-1]]
    assert set(kinds) <= {"incident", "anomaly", "window"} and "window" in kinds
    assert kinds == sorted(kinds, key=["incident", "anomaly", "window"].index)  # in that order
    assert rows[-1]["windows_listed"] == "flagged"
    assert any(row["kind"] == "anomaly" and row["where"].startswith(str(log)) for row in rows)


def test_no_color_is_respected(tmp_path):
    log = write_log(tmp_path / "api.log")
    colour = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|9[0-7]|38|48)[;m]")
    coloured = _audit([str(log), "--fail-on", "never"], env={"FORCE_COLOR": "1", "TERM": "xterm-256color"})
    plain = _audit([str(log), "--fail-on", "never"], env={"FORCE_COLOR": "1", "TERM": "xterm-256color", "NO_COLOR": "1"})
    assert plain.exit_code == 0, plain.output
    if not colour.search(coloured.stdout):
        pytest.skip("this terminal setup prints no colour even when forced; nothing to compare")
    assert not colour.search(plain.stdout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_watch_metrics_exporter_serves_prometheus_text(tmp_path):
    pytest.importorskip("prometheus_client", reason="prometheus-client not installed; CI installs it")
    import httpx
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.parser import text_string_to_metric_families

    from detectors.calm.exporter import WatchCollector, start_exporter

    counts = Counter({"events_point": 120, "events_anomaly": 3, "events_judgment": 3, "events_judgment_keep": 1,
                      "events_judgment_remove": 2, "events_model": 1})
    last = {"timestamp": 1_714_557_600.0, "written": 1_714_557_630.5, "model_version": 4.0}
    registry = CollectorRegistry()
    registry.register(WatchCollector(counts, last))
    port = _free_port()
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        counts["events_anomaly"] += 1  # read live: the next scrape sees it
        text2 = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        server.shutdown()
        server.server_close()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
    assert samples[("sleuth_watch_events_total", (("kind", "anomaly"),))] == 3
    assert samples[("sleuth_watch_events_total", (("kind", "point"),))] == 120
    assert samples[("sleuth_watch_judgments_total", (("decision", "keep"),))] == 1
    assert samples[("sleuth_watch_judgments_total", (("decision", "remove"),))] == 2
    assert samples[("sleuth_watch_model_version", ())] == 4
    assert samples[("sleuth_watch_lag_seconds", ())] == pytest.approx(30.5)
    assert 'sleuth_watch_events_total{kind="anomaly"} 4.0' in text2
    with pytest.raises(ValueError, match="loopback only"):
        start_exporter(_free_port(), host="0.0.0.0")


def test_watch_metrics_port_end_to_end(tmp_path):
    pytest.importorskip("apache_beam", reason="apache-beam not installed; CI installs it")
    pytest.importorskip("prometheus_client", reason="prometheus-client not installed; CI installs it")
    import math

    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    t0, step = 1_790_000_000, 60
    rows = [f"{t0 + step * i},{100 + 3 * math.sin(i / 30) + (25 if i == 120 else 0):.3f}" for i in range(150)]
    csv = tmp_path / "cpu.csv"
    csv.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    port = _free_port()
    r = CliRunner().invoke(app, ["watch", str(csv), "--metrics-port", str(port), "--no-adapt", "--out",
                                 str(tmp_path / "events.jsonl"), "--model-dir", str(tmp_path / "models")])
    assert r.exit_code in (0, 1), r.output
    # the exporter's thread outlives the command inside this test process: scrape what the run counted
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    anomalies = sum(1 for e in events if e["kind"] == "anomaly")
    assert anomalies >= 1
    assert samples[("sleuth_watch_events_total", (("kind", "anomaly"),))] >= anomalies
    assert ("sleuth_watch_model_version", ()) in samples and ("sleuth_watch_lag_seconds", ()) in samples
