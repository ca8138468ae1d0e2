"""Memory and throughput of the remote sources on big queries (issue 20): `python -m lab.sources_bench`.

- Loki: N lines (default 1,000,000) paged out of a loopback server that answers `query_range` the way Loki does
  (entries generated from the requested start, so the server holds nothing), spooled by `spool_loki`.
- Prometheus: one series of M points (default 100,000) backfilled with promtool into a real Prometheus on
  127.0.0.1, fetched by `fetch_to_csv` in chunks of 10,000 steps.

For each: lines/points, seconds, the Python heap's peak (tracemalloc) and the process's peak RSS growth, and,
as the baseline in the same run, the heap peak of holding the same answer in memory at once (one json.loads of
the whole range, what a non-paged client does).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

T0_NS = 1_714_557_600 * 10**9
GAP_NS = 1_000_000  # 1 ms between generated entries


def _line(i: int) -> str:
    return f"2024-05-01 web{i % 7} api: GET /orders/{i % 997} 200 in {i % 300} ms user={i % 5000}"


def _loki_server() -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            start, end, limit = int(q["start"]), int(q["end"]), int(q["limit"])
            first = max(0, -(-(start - T0_NS) // GAP_NS))
            values = []
            i = first
            while len(values) < limit and T0_NS + i * GAP_NS < end:
                values.append([str(T0_NS + i * GAP_NS), _line(i)])
                i += 1
            body = json.dumps({"status": "success", "data": {"resultType": "streams", "result": [
                {"stream": {"app": "api", "host": "web1"}, "values": values}]}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"127.0.0.1:{server.server_address[1]}"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(fn, trace: bool = True) -> tuple[object, float, float]:
    if not trace:  # tracemalloc slows a big run several times; the peak RSS growth is reported instead
        t = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - t, float("nan")
    tracemalloc.start()
    t = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return out, seconds, peak


def bench_loki(n: int, tmp: Path, trace: bool = False) -> dict:
    from detectors.sources.loki import spool_loki

    server, hostport = _loki_server()
    try:
        end_s = (T0_NS + n * GAP_NS) / 1e9
        src = f'loki://{hostport}/{{app="api"}}?start={T0_NS / 1e9}&end={end_s}&limit={n}'
        rss0 = _rss_mb()
        ticks: list[int] = []
        got, seconds, peak = _measure(lambda: spool_loki(src, str(tmp / "loki.jsonl"), ticks.append), trace)
        rss = _rss_mb() - rss0
        size = (tmp / "loki.jsonl").stat().st_size / 2**20
        # baseline: the same entries as one in-memory answer
        k = min(n, 100_000)
        _, _, base_peak = _measure(lambda: json.loads(json.dumps(
            {"values": [[str(T0_NS + i * GAP_NS), _line(i)] for i in range(k)]})))
    finally:
        server.shutdown()
        server.server_close()
    return {"source": "loki", "lines": got, "seconds": round(seconds, 1), "heap_peak_mb": round(peak, 1),
            "rss_growth_mb": round(rss, 1), "spool_mb": round(size, 1), "progress_calls": len(ticks),
            "baseline_in_memory_heap_mb": round(base_peak * n / k, 1), "baseline_lines_measured": k}


def bench_prom(m: int, tmp: Path) -> dict | None:
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        return None
    import httpx

    from detectors.sources.prom import fetch_to_csv

    base, step = 1_714_557_600, 15
    with open(tmp / "s.om", "w") as fh:
        fh.write("# TYPE bench_value gauge\n")
        for i in range(m):
            fh.write(f'bench_value{{job="bench"}} {i % 100} {base + i * step}\n')
        fh.write("# EOF\n")
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(tmp / "s.om"), str(tmp / "data")],
                   check=True, capture_output=True)
    (tmp / "p.yml").write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["prometheus", f"--config.file={tmp / 'p.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
                             "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        src = f"prom://127.0.0.1:{port}/bench_value?start={base}&end={base + (m - 1) * step}&step={step}s"
        ticks: list[int] = []
        got, seconds, peak = _measure(lambda: fetch_to_csv(src, str(tmp / "p.csv"), ticks.append))
    finally:
        proc.terminate()
        proc.wait(20)
    return {"source": "prometheus", "points": got, "seconds": round(seconds, 1), "heap_peak_mb": round(peak, 1),
            "requests": len(ticks)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.sources_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--trace", action="store_true", help="also measure the Loki run's heap peak (slow)")
    ns = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sleuth-sources-bench-") as d:
        tmp = Path(d)
        print(json.dumps(bench_loki(ns.lines, tmp, ns.trace)), flush=True)
        print(json.dumps(bench_prom(ns.points, tmp) or {"source": "prometheus", "skipped": "not installed"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
