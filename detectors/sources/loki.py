"""Grafana Loki sources: `loki://HOST:PORT/{app="api"} |= "error"?since=2h&limit=100000`.

The LogQL query is run through `GET /loki/api/v1/query_range` (direction forward), page by page: each page asks
for at most `page` entries (Loki's own cap is usually 5000), the next page starts at the last timestamp seen
and skips the entries of that nanosecond already written. Entries are written to the spool file as they arrive,
one JSON object a line — `ts` (ns), `message`, `host` / `service` / `level` taken from the stream's labels, and
`labels` — so memory stays bounded whatever the query returns; the total stops at `limit`.

Options after the last `?`: `since` (`2h`, `30m`, `1d`; default 1h) or `start` / `end` (ISO 8601 or epoch
seconds), `limit` (total entries, default 1,000,000), `page` (entries a request, default 5000), `tenant`
(`X-Scope-OrgID`), `timeout` (seconds a request, default 30). `lokis://` uses HTTPS. A bearer token, when
needed, comes from `$SLEUTH_LOKI_TOKEN` (never from the URL, so it is not written into reports).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from detectors.sources.errors import SourceError

__all__ = ["LokiQuery", "parse_loki", "query_entries", "spool_loki"]

MAX_RESPONSE_BYTES = 64 << 20  # one page's JSON; larger answers are refused (lower `page`)
_OPTIONS = {"since", "start", "end", "limit", "page", "tenant", "timeout"}
_HOST_LABELS = ("host", "hostname", "instance", "node", "nodename", "pod", "host_name")
_SERVICE_LABELS = ("service_name", "service", "app", "application", "job", "container", "component", "unit")
_LEVEL_LABELS = ("level", "detected_level", "severity", "lvl", "loglevel")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Keys of a JSON log line that would shadow what sleuth writes for the entry (or that the jsonl format would
# read as the time, host or service instead of the labels).
_OWN_KEYS = frozenset(("ts", "time", "timestamp", "@timestamp", "message", "msg", "log", "text", "host", "hostname",
                       "service", "app", "logger", "component", "name", "level", "severity", "lvl", "labels"))


@dataclass(frozen=True, slots=True)
class LokiQuery:
    """A parsed `loki://` source."""

    source: str
    base_url: str  # http(s)://host:port
    query: str  # LogQL
    start_ns: int
    end_ns: int
    limit: int = 1_000_000
    page: int = 5000
    tenant: str | None = None
    timeout: float = 30.0


def duration_s(text: str) -> float | None:
    """Seconds of `90s`, `30m`, `2h`, `1d`, `1w` (or a bare number of seconds); None when not a duration."""
    t = text.strip().lower()
    if t and t[-1] in _UNITS:
        num, unit = t[:-1], _UNITS[t[-1]]
    else:
        num, unit = t, 1
    try:
        value = float(num)
    except ValueError:
        return None
    return value * unit if value > 0 else None


def instant_s(text: str) -> float | None:
    """Epoch seconds of an ISO 8601 time or an epoch number (seconds, ms or ns), None when neither."""
    from detectors.formats import parse_timestamp

    return parse_timestamp(text.strip())


def split_options(source: str, spec: str, known: set[str]) -> tuple[str, dict[str, str]]:
    """`QUERY?k=v&...` -> (QUERY, options); a `?` inside the query itself (a regex) is left alone.

    Raises:
        SourceError: For an option name that is not in `known`.
    """
    body, sep, tail = spec.rpartition("?")
    if not sep:
        return spec, {}
    pairs = parse_qsl(tail, keep_blank_values=True)
    if not pairs or "=" not in tail:
        return spec, {}
    unknown = [k for k, _ in pairs if k not in known]
    if unknown:
        raise SourceError(f"{source}: unknown option {unknown[0]!r}; use {', '.join(sorted(known))}")
    return body, dict(pairs)


def time_range(source: str, opts: dict[str, str], now: float | None = None) -> tuple[float, float]:
    """(start, end) in epoch seconds from a source's `start` / `end` / `since` options (default: the last hour).

    Raises:
        SourceError: A value that is not a time or a duration, or an empty range (one line, what to change).
    """
    now = time.time() if now is None else now
    end = instant_s(opts["end"]) if "end" in opts else now
    if end is None:
        raise SourceError(f"{source}: end={opts['end']!r} is not a time; use ISO 8601 or epoch seconds")
    if "start" in opts:
        start = instant_s(opts["start"])
        if start is None:
            raise SourceError(f"{source}: start={opts['start']!r} is not a time; use ISO 8601 or epoch seconds")
    else:
        span = duration_s(opts.get("since", "1h"))
        if span is None:
            raise SourceError(f"{source}: since={opts.get('since')!r} is not a duration; use e.g. 30m, 2h, 1d")
        start = end - span
    if start >= end:
        raise SourceError(f"{source}: the time range is empty (start is not before end); widen since/start")
    return start, end


def parse_loki(source: str, now: float | None = None) -> LokiQuery:
    """The query a `loki://` / `lokis://` source names.

    Raises:
        SourceError: A missing host or query, an unknown option or a bad value (one line, what to change).
    """
    scheme, _, rest = source.partition("://")
    host, slash, spec = rest.partition("/")
    if not host or not slash or not spec.strip():
        raise SourceError(f"{source}: write loki://HOST:PORT/QUERY, e.g. loki://127.0.0.1:3100/{{app=\"api\"}}")
    query, opts = split_options(source, spec, _OPTIONS)
    query = unquote(query) if query.startswith("%7B") or query.startswith("%7b") else query
    if not query.lstrip().startswith("{"):
        raise SourceError(f"{source}: the LogQL query must start with a stream selector such as {{app=\"api\"}}")
    start, end = time_range(source, opts, now)

    def positive(name: str, default: float) -> float:
        try:
            v = float(opts.get(name, default))
        except ValueError:
            v = -1
        if v <= 0:
            raise SourceError(f"{source}: {name}={opts.get(name)!r} must be a positive number")
        return v

    base = ("https" if scheme == "lokis" else "http") + "://" + host
    return LokiQuery(source, base, query, int(start * 1e9), int(end * 1e9), int(positive("limit", 1_000_000)),
                     int(positive("page", 5000)), opts.get("tenant") or None, positive("timeout", 30.0))


def fetch_capped(client: Any, url: str, params: dict[str, Any], *, source: str, what: str, timeout: float,
                 too_big: str) -> tuple[int, str]:
    """(status, body text) of one streamed GET, the body capped at MAX_RESPONSE_BYTES; a timeout, a connection
    failure or an oversize body is a SourceError that names the source and what to change (`too_big` says it)."""
    import httpx

    try:
        with client.stream("GET", url, params=params) as r:
            body = bytearray()
            for part in r.iter_bytes():
                body += part
                if len(body) > MAX_RESPONSE_BYTES:
                    raise SourceError(f"{source}: {too_big}")
            status = r.status_code
    except httpx.TimeoutException:
        raise SourceError(f"{source}: {what} did not answer within {timeout:g} s; raise timeout= or narrow "
                          f"the query") from None
    except httpx.HTTPError as e:
        reason = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise SourceError(f"{source}: cannot reach {what} ({reason}); check the host and port") from None
    return status, bytes(body).decode("utf-8", "replace")


def _get_json(q: LokiQuery, path: str, params: dict[str, Any], client: Any) -> dict[str, Any]:
    """One GET answered with JSON, the body capped at MAX_RESPONSE_BYTES; every failure is a SourceError."""
    what = f"Loki at {q.base_url}"
    status, text = fetch_capped(client, q.base_url + path, params, source=q.source, what=what, timeout=q.timeout,
                                too_big=f"one page of the answer is over {MAX_RESPONSE_BYTES >> 20} MB; "
                                        f"lower page= (now {q.page})")
    if status >= 400:
        detail = " ".join(text.split())[:200] or "no detail"
        hint = {400: "fix the LogQL query", 401: "set $SLEUTH_LOKI_TOKEN", 403: "check the token and tenant=",
                404: "check the host and port (is it Loki?)", 429: "narrow the query or lower page="}.get(
            status, "the server failed; try again or narrow the query" if status >= 500 else "check the query")
        raise SourceError(f"{q.source}: {what} answered {status} ({detail}); {hint}")
    try:
        data = json.loads(text)
    except ValueError:
        raise SourceError(f"{q.source}: {what} did not answer with JSON; check that the URL points at Loki") from None
    if not isinstance(data, dict) or data.get("status") not in (None, "success"):
        raise SourceError(f"{q.source}: {what} reported {str(data.get('error') if isinstance(data, dict) else data)[:160]}")
    return data


def _client(q: LokiQuery) -> Any:
    import httpx

    headers = {"Accept": "application/json"}
    if q.tenant:
        headers["X-Scope-OrgID"] = q.tenant
    token = os.environ.get("SLEUTH_LOKI_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(headers=headers, timeout=q.timeout, follow_redirects=False)


def query_entries(q: LokiQuery) -> Iterator[tuple[int, dict[str, str], str]]:
    """(ns timestamp, stream labels, line) of every entry of the query in time order, fetched page by page.

    Stops after `q.limit` entries. Raises SourceError on any failure (the entries before it were yielded).
    """
    start, sent = q.start_ns, 0
    seen_at_start: set[tuple[str, str]] = set()  # entries at exactly `start` already yielded
    with _client(q) as client:
        while sent < q.limit:
            want = min(q.page, q.limit - sent + len(seen_at_start))
            data = _get_json(q, "/loki/api/v1/query_range", {"query": q.query, "start": str(start),
                                                             "end": str(q.end_ns), "limit": str(want),
                                                             "direction": "forward"}, client)
            result = (data.get("data") or {})
            if result.get("resultType") not in (None, "streams"):
                raise SourceError(f"{q.source}: this is a metric query ({result.get('resultType')}); give a log "
                                  f"query (a selector and line filters), or read it as metrics with prom://")
            page: list[tuple[int, dict[str, str], str]] = []
            for stream in result.get("result") or []:
                labels = stream.get("stream") or {}
                for ts, line, *_ in stream.get("values") or []:
                    page.append((int(ts), labels, line))
            page.sort(key=lambda e: e[0])
            fresh = 0
            for ts, labels, line in page:
                key = (json.dumps(labels, sort_keys=True), line)
                if ts == start and key in seen_at_start:
                    continue
                if ts != start:
                    start, seen_at_start = ts, set()
                seen_at_start.add(key)
                yield ts, labels, line
                fresh += 1
                sent += 1
                if sent >= q.limit:
                    return
            if len(page) < want or fresh == 0:
                return  # the last page (or only repeats of one nanosecond: nothing more to page through)


def _first_label(labels: dict[str, str], names: tuple[str, ...]) -> str | None:
    for n in names:
        v = labels.get(n)
        if v:
            return v
    return None


def entry_record(ts: int, labels: dict[str, str], line: str) -> dict[str, Any]:
    """The JSON object written for one entry (what the readers' jsonl format reads back)."""
    rec: dict[str, Any] = {"ts": str(ts), "message": line}
    host, service, level = (_first_label(labels, n) for n in (_HOST_LABELS, _SERVICE_LABELS, _LEVEL_LABELS))
    if line.startswith("{"):
        try:
            inner = json.loads(line)
        except ValueError:
            inner = None
        if isinstance(inner, dict):  # a JSON log line: its fields are kept; its own message and level win
            rec = {k: v for k, v in inner.items() if k not in _OWN_KEYS} | rec
            msg = next((inner[k] for k in ("message", "msg", "log", "text") if isinstance(inner.get(k), str)), None)
            if msg is not None:
                rec["message"] = msg
            level = next((str(inner[k]) for k in ("level", "severity", "lvl") if inner.get(k)), level)
    if host:
        rec["host"] = host
    if service:
        rec["service"] = service
    if level:
        rec["level"] = level
    rec["labels"] = labels
    return rec


def _progress(source: str, n: int, done: bool = False) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r{source}: {n:,} lines fetched" + ("\n" if done else ""))
        sys.stderr.flush()


def spool_loki(source: str, out_path: str, on_progress: Callable[[int], None] | None = None) -> int:
    """Run the query of `source` and write its entries to `out_path`; returns how many were written.

    Raises:
        SourceError: One line naming the source and what to change (unreachable, 4xx/5xx, bad query, too big).
    """
    q = parse_loki(source)
    n = 0
    report = on_progress or (lambda k: _progress(source, k))
    with open(out_path, "w", encoding="utf-8") as out:
        for ts, labels, line in query_entries(q):
            out.write(json.dumps(entry_record(ts, labels, line), ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
            if n % 10_000 == 0:
                report(n)
    if on_progress is None and n >= 10_000:
        _progress(source, n, done=True)
    if n == 0:
        raise SourceError(f"{source}: the query matched no lines in its time range; widen since= or check the "
                          f"selector's labels")
    return n
