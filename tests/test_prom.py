"""Issue 20: metrics read from a real Prometheus (Debian's package) started on 127.0.0.1 by the test.

The server's TSDB is backfilled with `promtool tsdb create-blocks-from openmetrics` from generated series, then
`prometheus` serves it; `prom://` sources read it back through `/api/v1/query_range`.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import socket
import subprocess
import time

import pytest

from detectors.sources import SourceError
from detectors.sources.prom import fetch_to_csv, materialize_metrics, parse_prom

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None,
    reason="prometheus / promtool not installed (apt-get install prometheus); CI installs them")

BASE = 1_714_557_600  # 2024-05-01T10:00:00Z
STEP = 15
N = 2000  # points a series
SPIKE = range(1500, 1560)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _value(series: int, i: int) -> float:
    return round(50 + 10 * series + 5 * math.sin(i / 20) + (200 if series == 0 and i in SPIKE else 0), 3)


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    """(host:port) of a Prometheus serving two backfilled series, stopped after the module."""
    tmp = tmp_path_factory.mktemp("prom")
    om = tmp / "series.om"
    rows = ["# HELP req_latency_ms request latency\n# TYPE req_latency_ms gauge\n"]
    for s, inst in enumerate(("web1", "web2")):
        rows += [f'req_latency_ms{{job="api",instance="{inst}"}} {_value(s, i)} {BASE + i * STEP}\n' for i in range(N)]
    rows.append("# TYPE cpu_small gauge\n")  # a short series with one spike, for the (slow) CALM watch
    rows += [f'cpu_small{{job="api"}} {100 + (25 if i == 120 else 0) + (i % 3) * 0.5} {BASE + i * 60}\n'
             for i in range(150)]
    rows.append("# EOF\n")
    om.write_text("".join(rows))
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(om), str(tmp / "data")],
                   check=True, capture_output=True, timeout=120)
    (tmp / "prom.yml").write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    port = _free_port()
    log = open(tmp / "prom.log", "wb")
    proc = subprocess.Popen(["prometheus", f"--config.file={tmp / 'prom.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
                             "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("prometheus did not become ready: " + (tmp / "prom.log").read_text()[-800:])
            time.sleep(0.3)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _range(q: str) -> str:
    return f"{q}?start={BASE}&end={BASE + (N - 1) * STEP}&step={STEP}s"


def test_query_range_in_chunks_becomes_the_metric_csv(prom, tmp_path):
    out = tmp_path / "m.csv"
    chunks: list[int] = []
    n = fetch_to_csv(f"prom://{prom}/" + _range("req_latency_ms") + "&chunk=300", str(out), chunks.append)
    assert n == 2 * N
    assert len(chunks) == math.ceil(N / 300)  # one request a chunk, progress after each
    rows = list(csv.DictReader(out.read_text().splitlines()))
    by_series: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        by_series.setdefault(r["series"], []).append((float(r["timestamp"]), float(r["value"])))
    assert sorted(by_series) == ["req_latency_ms{instance=web1 job=api}", "req_latency_ms{instance=web2 job=api}"]
    web1 = by_series["req_latency_ms{instance=web1 job=api}"]
    assert [t for t, _ in web1] == [BASE + i * STEP for i in range(N)]  # no gap, no repeat at chunk edges
    assert [v for _, v in web1] == pytest.approx([_value(0, i) for i in range(N)])


def test_prom_metrics_feed_the_tui_chart(prom, tmp_path):
    from tui.metrics import read_metrics

    paths = materialize_metrics([f"prom://{prom}/" + _range('req_latency_ms{instance="web1"}')],
                                tmpdir=str(tmp_path))
    series = read_metrics(paths[0])
    assert len(series) == 1 and len(series[0].values) == N
    assert series[0].name == "req_latency_ms{instance=web1 job=api}"
    assert series[0].ts.tolist() == [BASE + i * STEP for i in range(N)]
    assert series[0].values.tolist() == pytest.approx([_value(0, i) for i in range(N)])


def test_bad_prometheus_sources_are_one_clear_line(prom, tmp_path):
    out = str(tmp_path / "x.csv")
    with pytest.raises(SourceError, match=r"answered 400 .*fix the PromQL query"):
        fetch_to_csv(f"prom://{prom}/" + _range("req_latency_ms{"), out)
    with pytest.raises(SourceError, match="returned no samples"):
        fetch_to_csv(f"prom://{prom}/" + _range("no_such_metric"), out)
    with pytest.raises(SourceError, match="cannot reach Prometheus"):
        fetch_to_csv(f"prom://127.0.0.1:{_free_port()}/up?since=5m", out)
    with pytest.raises(SourceError, match="unknown option 'colour'"):
        parse_prom(f"prom://{prom}/up?colour=red")
    with pytest.raises(SourceError, match="not a duration"):
        parse_prom(f"prom://{prom}/up?since=yesterday")


def test_watch_reads_a_prometheus_query(prom, tmp_path):
    pytest.importorskip("apache_beam", reason="apache-beam not installed; CI installs it")
    from typer.testing import CliRunner

    from cli.main import app

    out = tmp_path / "events.jsonl"
    src = f"prom://{prom}/cpu_small?start={BASE}&end={BASE + 149 * 60}&step=60s"
    r = CliRunner().invoke(app, ["watch", src, "--out", str(out), "--no-adapt", "--model-dir", str(tmp_path / "models")])
    assert r.exit_code in (0, 1), r.output
    events = [json.loads(line) for line in out.read_text().splitlines()]
    anomalies = [e for e in events if e["kind"] == "anomaly"]
    assert {e["series"] for e in events if e.get("series")} == {"cpu_small{job=api}"}
    assert any(e["timestamp"] == BASE + 120 * 60 for e in anomalies)  # the spike
    bad = CliRunner().invoke(app, ["watch", f"prom://127.0.0.1:{_free_port()}/up?since=5m"])
    assert bad.exit_code == 2 and "cannot reach Prometheus" in " ".join(bad.output.split())
