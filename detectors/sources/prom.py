"""Prometheus metrics: `prom://HOST:9090/QUERY?since=2h&step=15s` read through `/api/v1/query_range`.

The matrix answer becomes sleuth's metric CSV (`timestamp,value,series`, what the TUI chart, the incident engine
and `sleuth watch` read), one row a point, written as it arrives. Prometheus caps a request at 11,000 points a
series, so the range is asked for in chunks of `chunk` steps (default 10,000): a query of 100k points is ten
requests, and memory holds one chunk at a time. A series is named after its metric and labels
(`http_requests_total{instance=web1 job=api}`, no commas so the CSV stays one field).

Options after the last `?`: `since` (default 1h) or `start` / `end`, `step` (default: the range over 1,000
points, at least 1 s), `chunk`, `timeout` (seconds a request, default 30). `proms://` uses HTTPS; a bearer
token, when needed, comes from `$SLEUTH_PROM_TOKEN`.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from detectors.sources.errors import SourceError
from detectors.sources.loki import MAX_RESPONSE_BYTES, duration_s, fetch_capped, split_options, time_range

__all__ = ["PromQuery", "fetch_to_csv", "is_prom", "materialize_metrics", "parse_prom", "points", "series_name"]

_OPTIONS = {"since", "start", "end", "step", "chunk", "timeout"}
_TEMP_FILES: list[str] = []


@atexit.register
def _remove_temp_files() -> None:
    for path in _TEMP_FILES:
        with contextlib.suppress(OSError):
            os.unlink(path)


def is_prom(spec: str) -> bool:
    """Whether a metrics argument names a Prometheus query rather than a CSV file."""
    return spec.startswith(("prom://", "proms://"))


@dataclass(frozen=True, slots=True)
class PromQuery:
    """A parsed `prom://` source."""

    source: str
    base_url: str
    query: str
    start: float
    end: float
    step: float
    chunk: int = 10_000
    timeout: float = 30.0


def parse_prom(source: str, now: float | None = None) -> PromQuery:
    """The query a `prom://` / `proms://` source names.

    Raises:
        SourceError: A missing host or query, an unknown option or a bad value.
    """
    scheme, _, rest = source.partition("://")
    host, slash, spec = rest.partition("/")
    if not host or not slash or not spec.strip():
        raise SourceError(f"{source}: write prom://HOST:PORT/QUERY, e.g. prom://127.0.0.1:9090/rate(errors_total[5m])")
    query, opts = split_options(source, spec, _OPTIONS)
    start, end = time_range(source, opts, now)
    if "step" in opts:
        step = duration_s(opts["step"])
        if step is None:
            raise SourceError(f"{source}: step={opts['step']!r} is not a duration; use e.g. 15s, 1m")
    else:
        step = max(1.0, math.ceil((end - start) / 1000))
    try:
        chunk = int(opts.get("chunk", 10_000))
        timeout = float(opts.get("timeout", 30))
    except ValueError:
        raise SourceError(f"{source}: chunk and timeout must be numbers") from None
    if not 1 <= chunk <= 11_000 or timeout <= 0:
        raise SourceError(f"{source}: chunk must be 1..11000 (Prometheus' cap) and timeout positive")
    base = ("https" if scheme == "proms" else "http") + "://" + host
    return PromQuery(source, base, query.strip(), float(start), float(end), float(step), chunk, timeout)


def series_name(metric: dict[str, str]) -> str:
    """`name{k=v k2=v2}` with no commas or quotes (labels sorted), or `value` for an unnamed expression."""
    name = metric.get("__name__", "")
    labels = " ".join(f"{k}={v}" for k, v in sorted(metric.items()) if k != "__name__")
    text = f"{name}{{{labels}}}" if labels else (name or "value")
    return text.replace(",", ";").replace('"', "'")


def _get(q: PromQuery, client: Any, params: dict[str, str]) -> dict[str, Any]:

    what = f"Prometheus at {q.base_url}"
    status, text = fetch_capped(client, q.base_url + "/api/v1/query_range", params, source=q.source, what=what,
                                timeout=q.timeout,
                                too_big=f"one chunk of the answer is over {MAX_RESPONSE_BYTES >> 20} MB; "
                                        f"lower chunk= (now {q.chunk}) or select fewer series")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if status >= 400 or not isinstance(data, dict) or data.get("status") != "success":
        detail = data.get("error") if isinstance(data, dict) and data.get("error") else " ".join(text.split())
        hint = ("fix the PromQL query" if status in (400, 422) else
                "set $SLEUTH_PROM_TOKEN" if status in (401, 403) else
                "check the host and port (is it Prometheus?)" if status == 404 or data is None else
                "the server failed; try again or narrow the query")
        raise SourceError(f"{q.source}: {what} answered {status} ({str(detail)[:200] or 'no detail'}); {hint}")
    return data


def points(q: PromQuery, on_chunk: Callable[[int], None] | None = None) -> Iterator[tuple[float, float, str]]:
    """(timestamp, value, series) of the whole range, chunk by chunk; NaN and ±Inf samples are left out."""
    import httpx

    headers = {"Accept": "application/json"}
    token = os.environ.get("SLEUTH_PROM_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    span = q.step * (q.chunk - 1)
    t0 = q.start
    with httpx.Client(headers=headers, timeout=q.timeout, follow_redirects=False) as client:
        while t0 <= q.end:
            t1 = min(q.end, t0 + span)
            data = _get(q, client, {"query": q.query, "start": repr(t0), "end": repr(t1), "step": repr(q.step)})
            result = data.get("data") or {}
            kind = result.get("resultType")
            if kind != "matrix":
                raise SourceError(f"{q.source}: the query gave a {kind}, not a range of samples; give an "
                                  f"expression that returns series (an instant vector)")
            n = 0
            for s in result.get("result") or []:
                name = series_name(s.get("metric") or {})
                for ts, value in s.get("values") or []:
                    try:
                        v = float(value)
                    except (TypeError, ValueError):
                        continue
                    if math.isfinite(v):
                        n += 1
                        yield float(ts), v, name
            if on_chunk is not None:
                on_chunk(n)
            t0 = t1 + q.step


def _progress(source: str, n: int) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r{source}: {n:,} points fetched")
        sys.stderr.flush()


def fetch_to_csv(source: str, out_path: str, on_progress: Callable[[int], None] | None = None) -> int:
    """Write the points of `source` to a metric CSV at `out_path`; returns how many.

    Raises:
        SourceError: One line naming the source and what to change (unreachable, 4xx/5xx, bad query, empty).
    """
    q = parse_prom(source)
    total = 0

    def chunk_done(k: int) -> None:
        nonlocal total
        total += k
        (on_progress or (lambda n: _progress(source, n)))(total)

    n = 0
    with open(out_path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "value", "series"])
        for ts, v, name in points(q, chunk_done):
            w.writerow([f"{ts:.3f}", repr(v), name])
            n += 1
    if on_progress is None and sys.stderr.isatty():
        sys.stderr.write("\n")
    if n == 0:
        raise SourceError(f"{source}: the query returned no samples in its time range; widen since= or check "
                          f"the metric name")
    return n


def materialize_metrics(specs: Sequence[str], tmpdir: str | None = None) -> list[str]:
    """Metric arguments as CSV paths: `prom://` ones fetched to temp CSV files, the others as given.

    Raises:
        SourceError: For the first Prometheus source that cannot be read.
    """
    out = []
    for spec in specs:
        if is_prom(str(spec)):
            fd, path = tempfile.mkstemp(prefix="sleuth-prom-", suffix=".csv", dir=tmpdir)
            os.close(fd)
            _TEMP_FILES.append(path)
            fetch_to_csv(str(spec), path)
            out.append(path)
        else:
            out.append(str(spec))
    return out
