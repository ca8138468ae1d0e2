"""Fields that carry meaning beyond a line's template: HTTP status, method and route, latency, exception class, and
the other fields of a structured (JSON) line.

The template of `{"msg": "request completed", "status": 503}` is the template of the 200s (numbers are masked), and
an access log's 503 is masked the same way; these helpers pull such fields out of an entry once, while it is read,
so the event table can keep them as compact columns (`detectors.eventtable`) and the incident engine can key on
them (`detectors.incidents`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Fields", "exception_class", "extract", "normalize_route", "status_class"]

# JSON keys, lower-cased, as many loggers spell them (plain, ECS / OpenTelemetry dotted names).
STATUS_KEYS = ("status", "status_code", "statuscode", "http_status", "http.status_code", "http.response.status_code",
               "response_code", "resp_status", "code_http",
               # Traefik's access log: what the client got, then what the backend said
               "downstreamstatus", "originstatus")
LATENCY_KEYS = ("latency_ms", "duration_ms", "elapsed_ms", "response_time_ms", "took_ms", "time_ms", "latency",
                "duration", "elapsed", "response_time", "request_time", "took", "rt", "upstream_response_time",
                "event.duration", "originduration")
# (Traefik: RequestPath/RequestMethod; Caddy nests the request: {"request": {"method": "GET", "uri": "/x"}})
ROUTE_KEYS = ("route", "http.route", "path", "url.path", "endpoint", "uri", "url", "request_path", "request_uri",
              "requestpath", "request.uri", "request.path")
METHOD_KEYS = ("method", "http.method", "http.request.method", "verb", "request_method", "requestmethod",
               "request.method")
ERROR_KEYS = ("err", "error", "error.message", "exception", "exc", "error_message", "reason")
# Keys the formats already use for the header (time, level, host, service) or the message: not attributes.
HEADER_KEYS = frozenset((
    "message", "msg", "log", "text", "event", "@message", "timestamp", "time", "@timestamp", "ts", "date",
    "datetime", "t", "level", "severity", "lvl", "loglevel", "log_level", "levelname", "log.level", "host",
    "hostname", "host.name", "service", "logger", "component", "logger_name", "app", "service.name", "name",
    "stack", "stack_trace", "stacktrace", "traceback", "@m", "@mt", "@t", "@l", "start_time", "time_iso8601",
    "time_local", "asctime", "timemillis", "eventtime",
))
MAX_ATTR_VALUE = 64  # longer values are not attributes (they are messages or payloads)

# An access-log request: "GET /api/orders/123?x=1 HTTP/1.1" 503 (Common / Combined Log Format, nginx, envoy).
_REQUEST = re.compile(r'"([A-Z]{3,7}) (\S{1,512}) HTTP/[\d.]{1,3}" (\d{3})\b')
# HAProxy's HTTP log: the timers TR/Tw/Tc/Tr/Ta (ms, -1 when not reached) and the status come before the request:
# `... be_api/api-1 0/0/1/12/13 503 212 - - sH-- 1/1/0/0/0 0/0 "GET /api/orders/1 HTTP/1.1"`.
_HAPROXY = re.compile(r"\s-?\d{1,9}/-?\d{1,9}/-?\d{1,9}/-?\d{1,9}/\+?(\d{1,9}) (\d{3}) \d")
_HAPROXY_REQUEST = re.compile(r'"([A-Z]{3,7}) (\S{1,512}) HTTP/[\d.]{1,3}"')
# Latency written at the end of an access line: `rt=0.123`, `request_time=0.5`, `123ms`, or a bare float last.
_TRAILING_LATENCY = re.compile(
    r"(?:\b(?:rt|request_time|upstream_response_time|urt|duration|latency|took)[=:]\s?\"?(\d{1,7}(?:\.\d{1,6})?)"
    r"|\b(\d{1,7}(?:\.\d{1,6})?)\s?ms\b)")
_LATENCY_LAST = re.compile(r"\s(\d{1,4}\.\d{3,6})\s*$")
# ("... in 300 seconds" after a count of things is a rate's window, not a duration: "100 changes in 300 seconds")
_TEXT_LATENCY = re.compile(r"(?<!\d [a-z]{2}s )(?<!\d [a-z]{3}s )(?<!\d [a-z]{4}s )(?<!\d [a-z]{5}s )(?<!\d [a-z]{6}s )"
                           r"(?<!\d [a-z]{7}s )(?<!\d [a-z]{8}s )(?<!\d [a-z]{9}s )"
                           r"\b(?:duration|took|elapsed|latency|response time|in)[:=]?\s{0,2}(\d{1,9}(?:\.\d{1,6})?)"
                           r"\s?(ms|milliseconds|msec|s|sec|secs|seconds)\b", re.I)
# A request without the quoted request line: "GET /checkout 502 2004ms" (Express/morgan, Go, Flask dev servers),
# "POST /loki/api/v1/push (500) 28.3ms" (Go kit's / Weaveworks' middleware: Loki, Cortex, Mimir, Tempo),
# "Completed 500 Internal Server Error in 12ms" (Rails).
_BARE_REQUEST = re.compile(r"\b(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS) (/\S{0,512}) (?:- )?(?:([1-5]\d\d)\b|\(([1-5]\d\d)\))")
_RAILS_COMPLETED = re.compile(r"\bCompleted ([1-5]\d\d) [A-Za-z' -]{2,40}? in (\d{1,7}(?:\.\d{1,3})?)ms\b")
# Exception classes: "java.net.ConnectException: ...", "Caused by: x.y.SQLTimeoutException", "KeyError: 'a'".
_EXC = re.compile(r"\b((?:[a-z_][\w$]*\.)*[A-Z][\w$]*(?:Exception|Error|Fault|Failure|Timeout|Refused|Exhausted))"
                  r"(?=:|\s|$|\))")
# The same class name searched anywhere in a text: from the class name itself, without the package, since only the
# last component is kept. Searching with the package prefix retried the prefix from every dot of a long dotted
# run ("a.a.a.a..."), quadratic in the run.
_EXC_NAME = re.compile(r"\b([A-Z][\w$]*(?:Exception|Error|Fault|Failure|Timeout|Refused|Exhausted))(?=:|\s|$|\))")
_CAUSED_BY = re.compile(r"Caused by: ((?:[\w$]+\.)*[\w$]+)")


@dataclass(slots=True)
class Fields:
    """What an entry says beyond its message: kept as columns of the event table."""

    status: int = 0  # HTTP status, 0 when none
    latency_ms: float | None = None
    route: str | None = None  # "GET /api/orders/{id}"
    exc: str | None = None  # exception class, the deepest cause of a trace when it names one
    attrs: dict[str, str] | None = None  # other low-cardinality fields of a structured line, as text


def status_class(status: int) -> int:
    """1..5 for 1xx..5xx, 0 for none."""
    return status // 100 if 100 <= status <= 599 else 0


# A path segment that is an id: holds a digit, and is not a short word like v1, s3, api2.
_ID_SEGMENT = re.compile(r"(?<=/)(?![A-Za-z][A-Za-z0-9]{0,3}(?:/|$))[^/]*\d[^/]*|(?<=/)[0-9a-f]{16,}(?=/|$)")


_ROUTES: dict[str, str] = {}  # path as written -> normalised route (the same few routes come back line after line)
_CACHE_LIMIT = 4_096  # entries per cache; a cache is simply cleared past this (small: see detectors.formats)


def normalize_route(path: str) -> str:
    """`/api/orders/123/items?x=1` -> `/api/orders/{id}/items`: ids masked, query dropped."""
    route = _ROUTES.get(path)
    if route is None:
        route = _normalize_route(path)
        if len(_ROUTES) >= _CACHE_LIMIT:
            _ROUTES.clear()
        _ROUTES[path] = route
    return route


def _normalize_route(path: str) -> str:
    path = path.split("?", 1)[0].split("#", 1)[0]
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    if len(path) > 300:
        path = path[:300]
    return _ID_SEGMENT.sub("{id}", path)


def exception_class(text: str) -> str | None:
    """The exception class an entry names: the last `Caused by:` of a Java trace, the last line of a Python
    traceback, else the first class-like name that ends in Exception/Error/... in the text."""
    if "xception" not in text and "rror" not in text and "Caused by" not in text and "Fault" not in text \
            and "Timeout" not in text and "Refused" not in text and "Exhausted" not in text:
        return None
    caused = _CAUSED_BY.findall(text)
    if caused:
        return caused[-1].rsplit(".", 1)[-1]
    if "\n" in text and "Traceback" in text:
        for line in reversed(text.split("\n")):
            m = _EXC.match(line.strip())
            if m:
                return m.group(1).rsplit(".", 1)[-1]
    m = _EXC_NAME.search(text[:2000])
    return m.group(1).rsplit(".", 1)[-1] if m else None


def _lower_items(obj: dict[str, Any]) -> dict[str, Any]:
    for k, v in obj.items():
        if type(v) is dict or not k.islower():
            break
    else:
        return obj
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if isinstance(v, dict) and len(v) <= 16:  # ECS / OTel nesting: {"http": {"status_code": 503}}
            for k2, v2 in v.items():
                if not isinstance(v2, (dict, list)):
                    out.setdefault(f"{k}.{k2}".lower(), v2)
        else:
            out.setdefault(k.lower(), v)
    return out


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        s = v.strip().removesuffix("ms").removesuffix("s").strip()
        try:
            return float(s)
        except ValueError:
            return None
    return None


def _latency_of(key: str, v: Any) -> float | None:
    x = _number(v)
    if x is None or x < 0:
        return None
    if isinstance(v, str) and v.strip().endswith("ms"):
        return x
    if key.endswith("_ms") or key in ("took", "rt_ms"):
        return x
    if key.endswith(("_us", "_micros")):
        return x / 1000.0
    if key in ("event.duration", "originduration"):  # ECS, Traefik: nanoseconds
        return x / 1e6
    if float(x).is_integer() and x >= 1e6 and not isinstance(v, str):
        # A bare integer duration of a million or more: Go's time.Duration as JSON (Traefik's "Duration"), in
        # nanoseconds; as milliseconds it would be a request of 16 minutes and more.
        return x / 1e6
    if isinstance(v, str) and v.strip().endswith("s"):
        return x * 1000.0
    # Bare "duration"/"latency": seconds when fractional and small, else milliseconds.
    return x * 1000.0 if (x < 60 and not float(x).is_integer()) else x


_ROLE: dict[str, tuple[str, int]] = {}
for _rank, _k in enumerate(STATUS_KEYS):
    _ROLE[_k] = ("status", _rank)
for _rank, _k in enumerate(LATENCY_KEYS):
    _ROLE[_k] = ("latency", _rank)
for _rank, _k in enumerate(ROUTE_KEYS):
    _ROLE[_k] = ("route", _rank)
for _rank, _k in enumerate(METHOD_KEYS):
    _ROLE[_k] = ("method", _rank)
for _rank, _k in enumerate(ERROR_KEYS):
    _ROLE[_k] = ("error", _rank)
for _rank, _k in enumerate(("stack", "stack_trace", "stacktrace", "traceback")):
    _ROLE[_k] = ("stack", _rank)
for _rank, _k in enumerate(("exception.type", "error.type", "exc_type", "error_type", "error.kind")):
    _ROLE[_k] = ("exc_type", _rank)


_KEYS: dict[str, tuple[tuple[str, int] | None, bool]] = {}  # key -> (its role, whether it may be an attribute)
_SKIP: tuple[tuple[str, int] | None, bool] = (None, False)  # a key with no role that is no attribute (the header)


def _key_info(k: str) -> tuple[tuple[str, int] | None, bool]:
    info = _KEYS.get(k)
    if info is None:
        role = _ROLE.get(k)
        attr = not (role is not None and role[0] in ("status", "route", "method", "stack", "latency")) \
            and k not in HEADER_KEYS
        info = (role, attr) if role is not None or attr else _SKIP
        if len(_KEYS) >= _CACHE_LIMIT:
            _KEYS.clear()
        _KEYS[k] = info
    return info


def from_json(obj: dict[str, Any]) -> Fields:
    """Fields of a JSON line's object (the message and header keys are left to the format)."""
    f = Fields()
    best: dict[str, tuple[int, str, Any]] = {}
    attrs: dict[str, str] = {}
    key_info = _KEYS.get
    for k, v in _lower_items(obj).items():
        info = key_info(k) or _key_info(k)
        if info is _SKIP or v is None or v == "":
            continue
        role = info[0]
        if role is not None:
            name, rank = role
            if name not in best or rank < best[name][0]:
                best[name] = (rank, k, v)
        if not info[1]:
            continue
        if type(v) is str:
            sv = v
        elif isinstance(v, (dict, list)):
            continue
        else:
            sv = ("true" if v else "false") if isinstance(v, bool) else str(v)
        if len(sv) <= MAX_ATTR_VALUE and "\n" not in sv:
            attrs[k] = sv
    if "status" in best:
        x = _number(best["status"][2])
        if x is not None and 100 <= x <= 599:
            f.status = int(x)
        else:
            attrs[best["status"][1]] = str(best["status"][2])[:MAX_ATTR_VALUE]
    if "latency" in best:
        f.latency_ms = _latency_of(best["latency"][1], best["latency"][2])
    route = best.get("route")
    if route is not None and isinstance(route[2], str):
        method = best.get("method")
        r = normalize_route(route[2])
        f.route = f"{str(method[2]).upper()} {r}" if method is not None else r
    for name in ("stack", "error"):
        if name in best and isinstance(best[name][2], str):
            f.exc = exception_class(best[name][2])
            if f.exc:
                break
    if f.exc is None and "exc_type" in best and isinstance(best["exc_type"][2], str):
        f.exc = best["exc_type"][2].rsplit(".", 1)[-1][:80]
    f.attrs = attrs or None
    return f


def _bare_request(text: str, b: re.Match[str]) -> Fields:
    """The fields of a `_BARE_REQUEST` match: status, route, and a latency written right after it."""
    method, path, status, paren = b.groups()
    f = Fields(status=int(status or paren), route=f"{method} {normalize_route(path)}")
    tail = text[b.end():b.end() + 200]
    lm = _TRAILING_LATENCY.search(tail) if "ms" in tail or "took" in tail or "duration" in tail else None
    if lm is not None and lm.group(2) is not None:  # "2004ms", "5.123 ms"
        f.latency_ms = float(lm.group(2))
    elif lm is not None:  # "took=0.25" (seconds when a small decimal, as in the access lines above)
        v = float(lm.group(1))
        f.latency_ms = v * 1000.0 if ("." in lm.group(1) and v < 100) else v
    return f


def extract(text: str, fmt: str, json_obj: dict[str, Any] | None = None) -> Fields | None:
    """The fields of one entry (`text` is the message with folded continuation lines), or None when it has none."""
    if json_obj is not None:
        f = from_json(json_obj)
        if not f.status and " /" in text and (b := _BARE_REQUEST.search(text, 0, 800)) is not None:
            # the request is in the structured line's message ({"msg": "POST /push (500) 28.3ms", ...})
            r = _bare_request(text, b)
            f.status, f.route = r.status, r.route
            f.latency_ms = f.latency_ms if f.latency_ms is not None else r.latency_ms
        if f.exc is None:
            f.exc = exception_class(text)
        return f
    f = None
    if "HTTP/" in text:
        m = _REQUEST.search(text, 0, 2000)
        if m is None and (h := _HAPROXY.search(text, 0, 600)) is not None:
            r = _HAPROXY_REQUEST.search(text, h.end(), h.end() + 1200)
            f = Fields(status=int(h.group(2)), latency_ms=float(h.group(1)),
                       route=f"{r.group(1)} {normalize_route(r.group(2))}" if r is not None else None)
        elif m is not None:
            method, path, status = m.groups()
            f = Fields(status=int(status), route=f"{method} {normalize_route(path)}")
            tail = text[m.end():m.end() + 400]
            # The `in` tests say cheaply when neither pattern can match (each needs one of these words or a "."
            # before a last number); most access lines have no latency field at all.
            lm = _TRAILING_LATENCY.search(tail) if ("ms" in tail or "rt" in tail or "_time" in tail
                                                    or "took" in tail or "duration" in tail
                                                    or "latency" in tail) else None
            if lm is not None:
                if lm.group(1) is not None:
                    v = float(lm.group(1))
                    f.latency_ms = v * 1000.0 if ("." in lm.group(1) and v < 100) else v
                else:
                    f.latency_ms = float(lm.group(2))
            else:
                lm2 = _LATENCY_LAST.search(tail) if "." in tail and tail.rstrip()[-1:].isdigit() else None
                if lm2 is not None:
                    f.latency_ms = float(lm2.group(1)) * 1000.0
    elif (" /" in text and (b := _BARE_REQUEST.search(text, 0, 800)) is not None) \
            or ("Completed " in text and (b := _RAILS_COMPLETED.search(text, 0, 800)) is not None):
        if b.re is _RAILS_COMPLETED:
            f = Fields(status=int(b.group(1)), latency_ms=float(b.group(2)))
        else:
            f = _bare_request(text, b)
    elif ("ms" in text or "sec" in text) and (m := _TEXT_LATENCY.search(text, 0, 600)) is not None:
        # "duration: 29509.586 ms", "took 2.5s", "elapsed=1200ms": the time an operation took, in the message.
        v = float(m.group(1))
        unit = m.group(2).lower()
        f = Fields(latency_ms=v if unit.startswith("m") else v * 1000.0)
    exc = exception_class(text)
    if exc is not None:
        f = f or Fields()
        f.exc = exc
    return f
