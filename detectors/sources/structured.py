"""Line parsers for journald's JSON export and OpenTelemetry log records (imported by `detectors.formats`).

`journalctl -o json` writes one object per entry with upper-case field names: MESSAGE, __REALTIME_TIMESTAMP
(microseconds), PRIORITY (syslog severity 0-7), _HOSTNAME, _SYSTEMD_UNIT, SYSLOG_IDENTIFIER. MESSAGE is a list
of byte values when the message is not valid UTF-8, and null when too large for journalctl to print.

An OTLP log record (the collector's file exporter nests them in resourceLogs/scopeLogs/logRecords; sleuth
flattens those files to one record a line, see `detectors.sources.otlp`) has body, timeUnixNano,
observedTimeUnixNano, severityText, severityNumber (1-24), attributes, traceId and spanId; the flattened form
adds the resource's attributes as `resource`. The whole record stays in the event's `raw`, so a trace id is
evidence next to the line it belongs to.

`detectors.formats` hands its timestamp and level helpers to the factories (this module imports nothing from
`detectors`: it is loaded while `detectors.formats` itself is).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

__all__ = ["any_value", "attributes_dict", "json_object", "logfmt_object", "make_journald", "make_otlp", "otlp_severity"]

# syslog severity (PRIORITY) -> level
_PRIORITY = ("FATAL", "FATAL", "FATAL", "ERROR", "WARN", "INFO", "INFO", "DEBUG")


def json_object(line: str, *markers: str) -> dict[str, Any] | None:
    """The JSON object a log line holds, or None: the line (stripped) must start with "{", contain one of `markers`
    when any are given (a cheap test before parsing), and parse as a JSON object."""
    s = line.strip()
    if not s.startswith("{") or (markers and not any(m in s for m in markers)):
        return None
    # json.loads(s), less its wrapper's checks (s starts with "{": no BOM, no leading white space); text after the
    # object is an error there too.
    try:
        obj, end = _DECODE(s)
    except ValueError:
        return None
    return obj if end == len(s) and isinstance(obj, dict) else None


_DECODE = json.JSONDecoder().raw_decode

# logfmt (Go's logrus/zap/slog text handlers, Heroku, Grafana's own logs): key=value pairs, values bare or double-quoted
# with backslash escapes. Linear: a key, "=", then a quoted string or a run of non-space, non-quote characters.
_LOGFMT_PAIR = re.compile(r'([A-Za-z_@][\w.@/-]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)(?:\s+|$)')
_LOGFMT_KEYS = frozenset({"msg", "message", "level", "lvl", "severity", "time", "ts", "timestamp", "t", "err", "error"})
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def logfmt_object(line: str) -> dict[str, Any] | None:
    """A logfmt line (`time=2024-05-01T10:00:00Z level=error msg="disk full" host=db1`) as a dict, or None.

    The whole line must be pairs (at least three), one of them a message, level or time key: text that merely holds
    a `k=v` or two is not logfmt. Numeric values become numbers, quoted ones are unescaped.
    """
    text = line.strip()
    if text.count("=") < 3 or text[:1] in "{[":
        return None
    out: dict[str, Any] = {}
    pos = 0
    match = _LOGFMT_PAIR.match
    # Pair by pair from where the last one ended (a search from every later position, as finditer does when the
    # text is no logfmt, is quadratic: 105 s on a 54 kB line of "password=password=...").
    while pos < len(text):
        m = match(text, pos)
        if m is None or m.end() == pos:
            return None
        pos = m.end()
        key, raw = m.group(1), m.group(2)
        if raw.startswith('"'):
            try:
                value: Any = json.loads(raw)
            except ValueError:
                value = raw[1:-1]
        elif _NUMBER.fullmatch(raw):
            value = float(raw) if "." in raw else int(raw)
        else:
            value = raw
        out[key] = value
    if pos != len(text) or len(out) < 3 or not (_LOGFMT_KEYS & out.keys()):
        return None
    return out


def _message(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, list) and all(isinstance(b, int) and 0 <= b < 256 for b in v):
        return bytes(v).decode("utf-8", "replace")  # journald's form of a non-UTF-8 message
    return None


def _journal_service(obj: dict[str, Any]) -> str | None:
    unit = obj.get("_SYSTEMD_UNIT") or obj.get("UNIT")
    ident = obj.get("SYSLOG_IDENTIFIER")
    if isinstance(unit, str) and unit.endswith(".service"):
        return unit[: -len(".service")]
    for v in (ident, unit, obj.get("_COMM")):
        if isinstance(v, str) and v:
            return v
    return None


def make_journald(ref_ts: float | None, parse_timestamp: Callable[[Any, float | None], float | None]):  # noqa: ANN201
    """A LineParser of `journalctl -o json` lines."""

    def parse(line: str):  # noqa: ANN202
        obj = json_object(line, '"MESSAGE"', '"__REALTIME_TIMESTAMP"')
        if obj is None:
            return None
        text = _message(obj.get("MESSAGE"))
        if text is None:
            text = "" if obj.get("MESSAGE") is None else str(obj.get("MESSAGE"))
        ts = parse_timestamp(obj.get("__REALTIME_TIMESTAMP") or obj.get("_SOURCE_REALTIME_TIMESTAMP"), ref_ts)
        level = None
        prio = obj.get("PRIORITY")
        try:
            p = int(prio) if prio is not None else -1
        except (TypeError, ValueError):
            p = -1
        if 0 <= p < len(_PRIORITY):
            level = _PRIORITY[p]
        host = obj.get("_HOSTNAME")
        return (ts, level, host if isinstance(host, str) else None, _journal_service(obj), text.rstrip("\r\n"),
                None)

    return parse


def any_value(v: Any) -> Any:
    """An OTLP AnyValue ({"stringValue": "x"}, {"intValue": "3"}, kvlist, array) as a plain value."""
    if not isinstance(v, dict):
        return v
    for key in ("stringValue", "boolValue", "doubleValue", "bytesValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        try:
            return int(v["intValue"])
        except (TypeError, ValueError):
            return v["intValue"]
    if "arrayValue" in v:
        return [any_value(x) for x in (v["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in v:
        return attributes_dict((v["kvlistValue"] or {}).get("values", []))
    return None if not v else v


def attributes_dict(attrs: Any) -> dict[str, Any]:
    """OTLP attributes ([{"key": k, "value": AnyValue}]) or an already plain dict, as a dict."""
    if isinstance(attrs, dict):
        return attrs
    out: dict[str, Any] = {}
    if isinstance(attrs, list):
        for a in attrs:
            if isinstance(a, dict) and isinstance(a.get("key"), str):
                out[a["key"]] = any_value(a.get("value"))
    return out


def otlp_severity(number: Any, text: Any, normalize_level: Callable[[Any], str | None]) -> str | None:
    """A level from severityNumber (1-4 TRACE ... 21-24 FATAL) or, failing that, severityText."""
    try:
        n = int(number)
    except (TypeError, ValueError):
        n = 0
    if 1 <= n <= 24:
        return ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")[(n - 1) // 4]
    return normalize_level(text) if isinstance(text, str) else None


def make_otlp(ref_ts: float | None, parse_timestamp: Callable[[Any, float | None], float | None],
              normalize_level: Callable[[Any], str | None]):  # noqa: ANN201
    """A LineParser of OTLP JSON log records, one a line."""

    def parse(line: str):  # noqa: ANN202
        obj = json_object(line, '"timeUnixNano"', '"observedTimeUnixNano"')
        if obj is None or "body" not in obj and "severityNumber" not in obj:
            return None
        body = any_value(obj.get("body"))
        text = body if isinstance(body, str) else ("" if body is None else json.dumps(body, sort_keys=True))
        t = obj.get("timeUnixNano")
        if t in (None, "", "0", 0):
            t = obj.get("observedTimeUnixNano")
        ts = parse_timestamp(t, ref_ts)
        resource = attributes_dict(obj.get("resource") or {})
        if "attributes" in resource and len(resource) == 1:  # {"attributes": [...]} as in the nested layout
            resource = attributes_dict(resource["attributes"])
        attrs = attributes_dict(obj.get("attributes") or {})
        host = resource.get("host.name") or attrs.get("host.name")
        service = resource.get("service.name") or attrs.get("service.name")
        # A 7th element, the record's attributes and trace ids: the readers make them the event's fields (status,
        # route, latency, ...; trace_id / span_id kept as attributes, so an anomaly's evidence names its trace).
        fields = {k: v for k, v in attrs.items() if isinstance(v, (str, int, float, bool))}
        for key, name in (("traceId", "trace_id"), ("spanId", "span_id")):
            if isinstance(obj.get(key), str) and obj[key]:
                fields[name] = obj[key]
        return (ts, otlp_severity(obj.get("severityNumber"), obj.get("severityText"), normalize_level),
                host if isinstance(host, str) else None, service if isinstance(service, str) else None,
                text.rstrip("\r\n"), None, fields)

    return parse
