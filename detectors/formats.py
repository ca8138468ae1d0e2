"""Log formats: recognise a source's layout from a sample of its lines, and split a line into header and message.

A format is a per-line parser: it takes one physical line and returns the parsed header
`(ts, level, host, service, text, label)`, or None when the line does not start with the format's header
(the readers then treat the line as a continuation of the entry before it, e.g. a stack trace).
`detect_format` tries every format on the first ~50 lines of a source and keeps the one that parses most of
them; ties go to the more specific format (the order of `FORMATS`).

Timestamps become UTC epoch seconds (floats) without `datetime.strptime`: the seconds part is converted once
with integer slicing and `calendar.timegm` and cached by its text, so a line costs a dict lookup.
Zone rules:
- Naive timestamps (no `Z` or offset) are taken as UTC. A log written in local time is therefore shifted by
  the writer's UTC offset; ordering within a source and across sources in the same zone is unaffected.
- Timestamps without a year (RFC 3164 syslog, Android logcat, Proxifier) take the year of a reference time
  (the file's modification time, or now), or the year before when that would put them more than two days
  after the reference (a log written in December and read in January).
- BGL and Thunderbird carry an epoch field; it is used as is (their local-time field gives only the fraction).
"""

from __future__ import annotations

import calendar
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from detectors.sources import structured as _structured

__all__ = [
    "FORMATS", "LEVELS", "PLAIN", "SAMPLE_LINES", "LineParser", "LogFormat", "Parsed", "detect_format", "get_format",
    "iso_seconds", "looks_like_continuation", "normalize_level", "parse_timestamp",
]

# (ts, level, host, service, text, label); a plain tuple because it is built once per line.
Parsed = tuple[float | None, str | None, str | None, str | None, str, str | None]
LineParser = Callable[[str], Parsed | None]

SAMPLE_LINES = 50  # lines looked at to detect a source's format

# Canonical level names and the spellings that map to them. FAILURE (BGL's worst), CRITICAL, EMERG and ALERT
# are FATAL; SEVERE (java.util.logging's worst, BGL's "severe") is ERROR.
_LEVEL_SPELLINGS: dict[str, tuple[str, ...]] = {
    "TRACE": ("TRACE", "FINEST", "FINER", "VERBOSE"),
    "DEBUG": ("DEBUG", "DBG", "FINE", "CONFIG"),
    "INFO": ("INFO", "INFORMATION", "INFORMATIONAL", "NOTICE", "AUDIT"),
    "WARN": ("WARN", "WARNING"),
    "ERROR": ("ERROR", "ERR", "SEVERE"),
    "FATAL": ("FATAL", "FAILURE", "CRITICAL", "CRIT", "EMERG", "EMERGENCY", "ALERT", "PANIC"),
}
LEVELS: dict[str, str] = {
    spelling: canon
    for canon, spellings in _LEVEL_SPELLINGS.items()
    for word in spellings
    for spelling in (word, word.lower(), word.title())
}
_ANDROID_LEVELS = {"V": "TRACE", "D": "DEBUG", "I": "INFO", "W": "WARN", "E": "ERROR", "F": "FATAL", "A": "FATAL"}
# RFC 5424 severity (PRI & 7) -> level.
_SYSLOG_SEVERITY = ("FATAL", "FATAL", "FATAL", "ERROR", "WARN", "INFO", "INFO", "DEBUG")
# pino / bunyan numeric levels.
_NUMERIC_LEVELS = {10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL"}

MONTHS: dict[str, int] = {
    name: i
    for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
    for name in (m, m.upper(), m.lower())
}

_LVL = r"(TRACE|DEBUG|INFO|NOTICE|WARN(?:ING)?|ERROR|SEVERE|CRITICAL|FATAL|AUDIT)"


def normalize_level(word: Any) -> str | None:
    """Map a level as written (`warning`, `SEVERE`, `30`, `E`) to TRACE/DEBUG/INFO/WARN/ERROR/FATAL, or None."""
    if isinstance(word, bool):
        return None
    if isinstance(word, int):
        if 0 <= word <= 7:
            return _SYSLOG_SEVERITY[word]
        return _NUMERIC_LEVELS.get(word)
    if not isinstance(word, str):
        return None
    level = LEVELS.get(word)
    if level is None:
        level = LEVELS.get(word.strip("[]<>: ").upper())
    return level


# --- timestamps -------------------------------------------------------------------------------------------

# Distinct seconds kept per cache; a cache is simply cleared past this. Small: time stamps come in order, so a few
# thousand recent seconds hit as often as 50,000 did, and entries added all through a long read keep the allocator's
# arenas from going back to the system (at 50,000, 12 MB more resident memory after reading 1M lines).
_CACHE_LIMIT = 4_096
_SECONDS: dict[str, float | None] = {}  # "YYYY-MM-DD?HH:MM:SS" -> epoch seconds (None: not a valid time)


def _civil(y: int, mo: int, d: int, h: int, mi: int, s: int) -> float | None:
    """Epoch seconds of a UTC civil time, or None when a field is out of range."""
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and s <= 60 and 1 <= y <= 9999):
        return None
    return float(calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)))


def iso_seconds(text: str) -> float | None:
    """Epoch seconds of `YYYY-MM-DD?HH:MM:SS` (any separators at positions 4, 7, 10, 13, 16), cached."""
    v = _SECONDS.get(text, -1.0)
    if v != -1.0:
        return v
    try:
        v = _civil(int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]),
                   int(text[17:19]))
    except ValueError:
        v = None
    if len(_SECONDS) > _CACHE_LIMIT:
        _SECONDS.clear()
    _SECONDS[text] = v
    return v


def _frac(digits: str | None) -> float:
    """`"675872"` -> 0.675872 (the digits after the decimal point)."""
    return int(digits) / 10 ** len(digits) if digits else 0.0


# Zone abbreviations written after a time ("2026-11-18 10:27:59.241 CET [812] LOG: ..." is PostgreSQL's %m with
# log_timezone = 'Europe/Berlin'), hours east of UTC. Only the unambiguous ones: CST (US Central or China), IST
# (India, Ireland or Israel) and BST (British Summer or Bangladesh) stay unread, and such a time stays naive (UTC).
ZONE_ABBREVIATIONS = {
    "UTC": 0.0, "GMT": 0.0, "WET": 0.0, "WEST": 1.0, "CET": 1.0, "CEST": 2.0, "MET": 1.0, "MEST": 2.0, "EET": 2.0,
    "EEST": 3.0, "MSK": 3.0, "EST": -5.0, "EDT": -4.0, "CDT": -5.0, "MST": -7.0, "MDT": -6.0, "PST": -8.0,
    "PDT": -7.0, "AKST": -9.0, "AKDT": -8.0, "HST": -10.0, "JST": 9.0, "KST": 9.0, "HKT": 8.0, "SGT": 8.0,
    "AWST": 8.0, "ACST": 9.5, "ACDT": 10.5, "AEST": 10.0, "AEDT": 11.0, "NZST": 12.0, "NZDT": 13.0,
}
_ZONE_NAME = "|".join(sorted(ZONE_ABBREVIATIONS, key=len, reverse=True))


def _zone_offset(zone: str | None) -> int:
    """Seconds east of UTC for `Z`, `UTC`, `CET`, `+02:00`, `-0700`; 0 when absent (naive = UTC)."""
    if not zone or zone in ("Z", "UTC", "GMT", "z"):
        return 0
    zone = zone.lstrip()  # "[2026-12-07 15:02:12 +0000]": an offset after a space
    hours = ZONE_ABBREVIATIONS.get(zone)
    if hours is not None:
        return int(hours * 3600)
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60)


class _NoYear:
    """Converts year-less `month, day, HH:MM:SS` to epoch seconds, inferring the year from a reference time."""

    __slots__ = ("ref", "year", "cache")

    def __init__(self, ref_ts: float | None) -> None:
        self.ref = time.time() if ref_ts is None else ref_ts
        self.year = time.gmtime(self.ref).tm_year
        self.cache: dict[tuple[int, int, str], float | None] = {}

    def __call__(self, month: int, day: int, clock: str) -> float | None:
        key = (month, day, clock)
        v = self.cache.get(key, -1.0)
        if v != -1.0:
            return v
        try:
            h, mi, s = int(clock[0:2]), int(clock[3:5]), int(clock[6:8])
        except ValueError:
            return None
        v = _civil(self.year, month, day, h, mi, s)
        if v is not None and v > self.ref + 2 * 86400:
            v = _civil(self.year - 1, month, day, h, mi, s)
        if len(self.cache) > _CACHE_LIMIT:
            self.cache.clear()
        self.cache[key] = v
        return v


# One pattern per timestamp layout, for the generic "timestamp near the start of the line" format and for
# timestamp values in JSON. Group names: iso*, clf* (Apache access logs), ct* (ctime), sy* (syslog).
_ANY_TS = re.compile(
    r"(?P<iso>(?P<isod>\d{4}[-/]\d\d[-/]\d\d)[T _](?P<isoc>\d\d:\d\d:\d\d)(?:[.,](?P<isof>\d{1,9}))?"
    r"(?:(?P<isoz>Z|[+-]\d\d:?\d\d| [+-](?:0\d|1[0-4]):?[0-5]\d(?![\d:]))|\s?(?P<isou>" + _ZONE_NAME + r")\b)?)"
    r"|(?P<clf>(?P<clfd>\d\d)/(?P<clfm>[A-Z][a-z]{2})/(?P<clfy>\d{4}):(?P<clfc>\d\d:\d\d:\d\d)"
    r"(?: (?P<clfz>[+-]\d{4}))?)"
    r"|(?P<ct>[A-Z][a-z]{2} (?P<ctm>[A-Z][a-z]{2}) +(?P<ctd>\d{1,2}) (?P<ctc>\d\d:\d\d:\d\d)(?:\.(?P<ctf>\d+))?"
    r" (?P<cty>\d{4}))"
    r"|(?P<dmy>(?P<dmyd>\d{1,2})(?P<dmys>[ -])(?P<dmym>[A-Z][a-z]{2})(?P=dmys)(?P<dmyy>\d{4}) "
    r"(?P<dmyc>\d\d:\d\d:\d\d)(?:[.,](?P<dmyf>\d{1,9}))?(?: (?P<dmyz>" + _ZONE_NAME + r")\b)?)"
    # Redis, RFC 2822 ("Fri, 14 Mar 2025 10:22:33"); PHP's error_log and php-fpm ("[05-Dec-2026 10:48:02]"),
    # Tomcat's catalina.out and Java's dd-MMM-yyyy ("05-Dec-2026 10:48:02.123")
    r"|(?P<sy>(?P<sym>[A-Z][a-z]{2}) +(?P<syd>\d{1,2}) (?P<syc>\d\d:\d\d:\d\d)(?:\.(?P<syf>\d+))?)"
)


_CLF_SECONDS: dict[str, float | None] = {}  # an access-log stamp "10/Oct/2000:13:55:36 -0700" -> epoch seconds


def _ts_of_match(m: re.Match[str], no_year: _NoYear | None, ref_ts: float | None = None) -> float | None:
    """Epoch seconds of a `_ANY_TS` match (`no_year` None: one is made from `ref_ts` when the match needs it)."""
    g = m.group
    iso, isod, isoc, isof, isoz, isou = g("iso", "isod", "isoc", "isof", "isoz", "isou")
    if iso:
        base = iso_seconds(isod + " " + isoc)
        if base is None:
            return None
        zone = isoz or isou
        return base + (_frac(isof) if isof else 0.0) - (_zone_offset(zone) if zone else 0)
    clf = g("clf")
    if clf:
        v = _CLF_SECONDS.get(clf, -1.0)
        if v != -1.0:
            return v
        month = MONTHS.get(g("clfm"))
        if month is None:
            return None
        c = g("clfc")
        base = _civil(int(g("clfy")), month, int(g("clfd")), int(c[0:2]), int(c[3:5]), int(c[6:8]))
        v = None if base is None else base - _zone_offset(g("clfz"))
        if len(_CLF_SECONDS) > _CACHE_LIMIT:
            _CLF_SECONDS.clear()
        _CLF_SECONDS[clf] = v
        return v
    if g("ct"):
        month = MONTHS.get(g("ctm"))
        if month is None:
            return None
        c = g("ctc")
        base = _civil(int(g("cty")), month, int(g("ctd")), int(c[0:2]), int(c[3:5]), int(c[6:8]))
        return None if base is None else base + _frac(g("ctf"))
    if g("dmy"):
        month = MONTHS.get(g("dmym"))
        if month is None:
            return None
        c = g("dmyc")
        base = _civil(int(g("dmyy")), month, int(g("dmyd")), int(c[0:2]), int(c[3:5]), int(c[6:8]))
        return None if base is None else base + _frac(g("dmyf")) - _zone_offset(g("dmyz"))
    month = MONTHS.get(g("sym"))
    if month is None:
        return None
    if no_year is None:
        no_year = _NoYear(ref_ts)
    base = no_year(month, int(g("syd")), g("syc"))
    return None if base is None else base + _frac(g("syf"))


def parse_timestamp(value: Any, ref_ts: float | None = None) -> float | None:
    """Epoch seconds (UTC) of a timestamp written in any layout this module knows, or None.

    Numbers and digit strings are epoch seconds, or milliseconds / microseconds / nanoseconds when too large
    to be seconds. Strings may be ISO 8601 (`T` or space, fraction, `Z` or offset; naive = UTC), Apache
    access-log, ctime or syslog layouts (the last without a year: see the module docstring).

    Args:
        value: A JSON value or a string.
        ref_ts: Reference time for year-less layouts (default: now).
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        s = value.strip()
        if s[4:5] in ("-", "/") and s[:4].isdigit():
            # "2025-01-07T11:56:16.427Z": not a number (no float has 4 digits then "-" or "/"), so skip float()'s
            # exception, the dearest part of the common case.
            m = _ANY_TS.match(s)
            return _ts_of_match(m, None, ref_ts) if m else None
        try:
            value = float(s)
        except ValueError:
            m = _ANY_TS.match(s)
            return _ts_of_match(m, None, ref_ts) if m else None
    if isinstance(value, (int, float)):
        v = float(value)
        if v != v or v in (float("inf"), float("-inf")) or v <= 0:
            return None
        while v > 1e11:  # beyond year 5138 in seconds: ms, us or ns
            v /= 1000.0
        return v
    return None


# --- the formats ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogFormat:
    """A log layout: its name, a factory of per-source line parsers, and an example line."""

    name: str
    description: str
    make_parser: Callable[[float | None], LineParser]  # called with the source's reference time
    example: str
    structured: bool = True  # lines that do not parse are continuation lines of the entry before them
    generic: bool = False  # a catch-all layout: loses to a specific one that parses nearly as many lines


def _fixed(parse: LineParser) -> Callable[[float | None], LineParser]:
    """A parser factory for formats that need no per-source state."""
    return lambda ref_ts: parse


def _parse_bgl(line: str) -> Parsed | None:
    # Label Epoch Date Node Time NodeRepeat Type Component Level Content; str.split beats a regex here
    # (BGL is the volume format). Three BGL lines have Node "-" and no NodeRepeat.
    p = line.split(" ", 9)
    if len(p) < 9:
        return None
    t = p[4]
    if len(t) < 19 or t[4] != "-" or t[10] != "-" or t[13] != ".":
        return None
    if p[3] == "-" and p[5] != "-":
        p = line.split(" ", 8)
        p.insert(5, "-")
    try:
        ts = float(p[1] + t[19:]) if len(t) > 20 and t[19] == "." else float(p[1])
    except ValueError:
        return None
    return ts, LEVELS.get(p[8]), p[3], p[7], p[9] if len(p) > 9 else "", p[0]


_THUNDERBIRD = re.compile(r"(\S+) (\d{9,11}) \d{4}\.\d\d\.\d\d (\S+) [A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d (\S+) (.*)")
# "prog[pid]: msg", "prog: msg"; a name with spaces only before "[pid]" ("Google Chrome[35628]: ..."), and
# macOS's " (address)" after the pid ("com.apple.xpc.launchd[1] (com.apple.xpc.launchd.domain.user.501): ...").
_PROG = re.compile(r"(?:([^\s\[:][^\[:]{0,60}?)\[\d+\]|([^\s\[:]+))(?: \([^)]*\))?: ?(.*)", re.S)


def _split_prog(rest: str) -> tuple[str | None, str]:
    """(program, message) of a syslog line's part after the host."""
    m = _PROG.match(rest)
    if m is None:
        return None, rest
    return m.group(1) or m.group(2), m.group(3)


def _parse_thunderbird(line: str) -> Parsed | None:
    m = _THUNDERBIRD.match(line)
    if m is None:
        return None
    label, epoch, node, _origin, rest = m.groups()
    service, text = _split_prog(rest)
    return float(epoch), None, node, service, text, label


def _parse_hdfs(line: str) -> Parsed | None:
    # yymmdd hhmmss pid LEVEL component: message
    p = line.split(" ", 5)
    if len(p) < 5:
        return None
    d, c = p[0], p[1]
    if len(d) != 6 or len(c) != 6 or not d.isdigit() or not c.isdigit() or not p[2].isdigit():
        return None
    level = LEVELS.get(p[3])
    if level is None:
        return None
    key = "20" + d[0:2] + "-" + d[2:4] + "-" + d[4:6] + " " + c[0:2] + ":" + c[2:4] + ":" + c[4:6]
    return iso_seconds(key), level, None, p[4].rstrip(":"), p[5] if len(p) > 5 else "", None


# oslo.log (OpenStack), optionally prefixed by the log file's name as in Loghub's OpenStack set.
_OSLO = re.compile(r"(?:(?=\S+\.log)(\S++) )?(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.(\d+))? (\d+) " + _LVL + r" (\S+) ?(.*)")


# The request context "[req-… user project - - -]" / "[-]" / "[None req-… admin admin]" opens an oslo message; it
# is header (Loghub's ADDR field), not message: its ids would make every line a template of its own.
_OSLO_CONTEXT = re.compile(r"\[(?:None )?(?:req-[^\]]*|-)\] ?")


def _without_context(text: str) -> str:
    m = _OSLO_CONTEXT.match(text)
    return text[m.end():] if m else text


def _parse_openstack(line: str) -> Parsed | None:
    m = _OSLO.match(line)
    if m is None:
        return None
    _logfile, clock, frac, _pid, level, logger, text = m.groups()
    base = iso_seconds(clock)
    return (None if base is None else base + _frac(frac)), LEVELS[level], None, logger, _without_context(text), None


# The DevStack nova layout without timestamps (../shared/data/openstack_parisakalaki): `LEVEL logger msg`,
# sometimes indented or prefixed by a privsep pid. The indented lines are whole entries, not continuations.
_NOVA = re.compile(r"\s*(?:\d+ )?" + _LVL + r" ([A-Za-z_]\w*[._][\w.]*) ?(.*)")  # a module path: nova.x, os_vif


def _parse_openstack_nova(line: str) -> Parsed | None:
    m = _NOVA.match(line)
    if m is None:
        return None
    level, logger, text = m.groups()
    return None, LEVELS[level], None, logger, _without_context(text), None


# Beyond the usual keys: Serilog's compact JSON ("@t", "@m", "@mt", "@l"), Envoy's access log ("start_time"), nginx's
# JSON log_format ("time_iso8601", "time_local"), python-json-logger ("asctime"), log4j2's JsonLayout ("timeMillis").
_JSON_MESSAGE = ("message", "msg", "log", "text", "event", "@message", "@m", "@mt")
_JSON_TIME = ("timestamp", "time", "@timestamp", "ts", "date", "datetime", "t", "@t", "start_time", "time_iso8601",
              "time_local", "asctime", "timeMillis", "eventTime", "lastTimestamp")
# Past those: any top-level key named like a time ("createdAt", "created_at", "firstTimestamp", "logged_time", "date")
# whose value reads as one after 2001 (an "uptime" of 12345 s is no time of day): audit and event exports.
_TIME_SUFFIXES = ("time", "timestamp", "date", "_at", "at")
_EPOCH_2001 = 978307200.0


def _time_by_name(obj: dict[str, Any], ref_ts: float | None) -> float | None:
    for k, v in obj.items():
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            continue
        low = k.lower()
        if not low.endswith(_TIME_SUFFIXES) or (low.endswith("at") and not (k.endswith("At") or low.endswith("_at"))):
            continue
        ts = parse_timestamp(v, ref_ts)
        if ts is not None and ts >= _EPOCH_2001:
            return ts
    return None
# "type" last: a Kubernetes Event's "Warning" / "Normal" (a type that is no level word, "container", gives none).
_JSON_LEVEL = ("level", "severity", "lvl", "loglevel", "log_level", "levelname", "log.level", "@l", "type")
_JSON_ERROR = ("err", "error", "error.message", "exception", "error_message")
_JSON_HOST = ("host", "hostname", "host.name", "node.name")  # node.name: Elasticsearch's own server log
_JSON_SERVICE = ("service", "logger", "component", "logger_name", "app", "service.name", "name")


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        v = obj.get(k)
        if v is not None and v != "":
            return v
    return None


def _name_of(v: Any) -> str | None:
    """A host/service value as a string; ECS-style objects give their `name`."""
    if isinstance(v, dict):
        v = v.get("name") or v.get("hostname")
    return v if isinstance(v, str) else (None if v is None else str(v))


def _make_jsonl(ref_ts: float | None) -> LineParser:
    def parse(line: str) -> Parsed | None:
        obj = _structured.json_object(line)
        return None if obj is None else _object_entry(obj, line, ref_ts)

    return parse


def _make_logfmt(ref_ts: float | None) -> LineParser:
    def parse(line: str) -> Parsed | None:
        obj = _structured.logfmt_object(line)
        return None if obj is None else _object_entry(obj, line, ref_ts)

    return parse


_REQ_METHOD = ("method", "RequestMethod", "request_method", "http_method")
_REQ_PATH = ("path", "RequestPath", "request_path", "uri", "request_uri", "url")
_REQ_STATUS = ("status", "DownstreamStatus", "status_code", "OriginStatus")


def _request_text(obj: dict[str, Any]) -> str | None:
    """`GET /x 503`: the message of a structured access-log line that has none, from its method, path and status
    fields (else the whole line would be its template, one per request)."""
    method, path = _first(obj, _REQ_METHOD), _first(obj, _REQ_PATH)
    if not isinstance(method, str) or not isinstance(path, str) or not path.startswith("/"):
        return None
    status = _first(obj, _REQ_STATUS)
    return f"{method} {path}" + (f" {status}" if isinstance(status, (int, str)) and str(status).isdigit() else "")


def _object_entry(obj: dict[str, Any], line: str, ref_ts: float | None) -> Parsed:
    """One structured line's entry (JSON or logfmt): message (with its error), time, level, host, service, and the
    object itself for the readers' fields (status, route, latency, ...)."""
    # `_first`, with the usual key tried inline first (this runs once per structured line).
    get = obj.get
    msg = get("message")
    if msg is None or msg == "":
        msg = _first(obj, _JSON_MESSAGE)
    err = _first(obj, _JSON_ERROR)
    if isinstance(err, dict):
        err = err.get("message")  # a serialized error (pino, bunyan, winston: {"type", "message", "stack"})
    if msg is None and isinstance(err, str):
        msg, err = err, None
    if msg is None:
        msg = _request_text(obj)  # an access log's object with an empty message (Traefik): its request
    # Docker's json-file driver keeps the line end in "log".
    text = msg.rstrip("\r\n") if isinstance(msg, str) else (line.strip() if msg is None else json.dumps(msg))
    if isinstance(err, str) and err and err not in text:
        text = f"{text}: {err}"  # the error drives the template as much as the message
    # A 7th element, the object itself: the readers take its other fields (status, route, latency, ...).
    stamp, level, host, service = get("timestamp"), get("level"), get("host"), get("service")
    if stamp is None or stamp == "":
        stamp = _first(obj, _JSON_TIME)
    if level is None or level == "":
        level = _first(obj, _JSON_LEVEL)
    if host is None or host == "":
        host = _first(obj, _JSON_HOST)
    if service is None or service == "":
        service = _first(obj, _JSON_SERVICE)
    ts = parse_timestamp(stamp, ref_ts) if stamp is not None else _time_by_name(obj, ref_ts)
    return (ts, normalize_level(level), _name_of(host), _name_of(service), text, None,
            obj)  # type: ignore[return-value]


# Network gear through syslog (Cisco IOS / IOS-XE / IOS-XR, Arista EOS): "%LINK-3-UPDOWN: Interface Te1/1/4, changed
# state to down". The digit is the device's severity (syslog's 0-7); the device's own sequence number and clock may
# come first ("812341: Dec  6 02:14:33.121 UTC: %...", "*Mar  1 18:46:11: %..."), or the mnemonic itself stands
# where a program would ("Dec  6 02:14:33 10.1.1.1 %LINK-3-UPDOWN: ...").
_DEVICE_MNEMONIC = re.compile(r"%[A-Z][A-Z0-9_]{0,30}(?:-[A-Z][A-Z0-9_]{0,30})?-([0-7])-[A-Z0-9_]{1,40}")
_DEVICE_CLOCK = re.compile(r"(?:\d{1,12}: )?(?:[*.]?[A-Z][a-z]{2} +\d{1,2}(?: \d{4})? \d\d:\d\d:\d\d(?:\.\d{1,6})?"
                           r"(?: [A-Za-z]{2,5})?: )?(?=%)")


def _device_message(service: str | None, text: str) -> tuple[str, str | None, str] | None:
    """(level, program, message) of a network device's syslog message, or None when it is not one."""
    if service is not None and service[:1] == "%":
        m = _DEVICE_MNEMONIC.fullmatch(service)
        return None if m is None else (_SYSLOG_SEVERITY[int(m.group(1))], None, f"{service}: {text}")
    if "%" not in text[:64]:
        return None
    c = _DEVICE_CLOCK.match(text)
    if c is None:
        return None
    m = _DEVICE_MNEMONIC.match(text, c.end())
    if m is None:
        return None
    # a sequence number read as the program ("sw-core-1 812341: ...") names no program
    return _SYSLOG_SEVERITY[int(m.group(1))], (None if service is None or service.isdigit() else service), \
        text[c.end():]


def _inner_header(text: str, ref_ts: float | None) -> Parsed | None:
    """The entry a message holds when its writer put its own header inside another's: kubelet's klog line or
    containerd's / dockerd's logfmt line inside syslog or journald ("I1205 09:44:10.512331    1187 eviction_manager.go:349]
    ...", 'time="..." level=error msg="..."'). None when it holds none (the common case costs two character tests)."""
    c = text[:1]
    if c in "IWEF" and text[1:5].isdigit():
        m = _KLOG.match(text)
        if m is not None:
            return None, _KLOG_LEVELS[m.group(1)], None, None, m.group(7), None
    elif c in "tl" and text.startswith(("time=", "level=", "ts=")):
        obj = _structured.logfmt_object(text)
        if obj is not None and ("level" in obj or "msg" in obj):
            return _object_entry(obj, text, ref_ts)
    return None


# A daemon's own severity word opening its message ("sshd[123]: error: Received disconnect ...", postfix's "warning:
# ...", "fatal: ..."): where the syslog header carries no priority, it is the only level the line has. The word stays
# in the message (it is how the daemon wrote it).
_DAEMON_LEVEL = re.compile(r"(error|fatal|warning|warn|crit|critical|alert|emerg|panic|notice|info|debug)\d?: ", re.I)


def _wrapped(ts: float | None, level: str | None, host: str | None, service: str | None, text: str,
             ref_ts: float | None) -> Parsed:
    """A syslog entry whose message may be a network device's or hold its writer's own header: the inner level
    (the writer's own) wins over syslog's, which journald sets alike for every line a daemon writes."""
    dev = _device_message(service, text)
    if dev is not None:
        return ts, dev[0], host, dev[1], dev[2], None
    inner = _inner_header(text, ref_ts)
    if inner is None:
        if level is None and (m := _DAEMON_LEVEL.match(text)) is not None:
            level = LEVELS.get(m.group(1).lower())
        return ts, level, host, service, text, None
    return (ts, inner[1] or level, host, service, inner[4], None,  # type: ignore[return-value]
            *inner[6:])


_RFC5424 = re.compile(
    r"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[(?:[^\]\"]|\"(?:[^\"\\]|\\.)*\")*\])+)(?: (.*))?", re.S
)


def _make_syslog5424(ref_ts: float | None) -> LineParser:
    def parse(line: str) -> Parsed | None:
        m = _RFC5424.match(line)
        if m is None:
            return None
        pri, stamp, host, app, _proc, _msgid, _sd, msg = m.groups()
        ts = None if stamp == "-" else parse_timestamp(stamp, ref_ts)
        text = (msg or "").removeprefix("\ufeff")
        return _wrapped(ts, _SYSLOG_SEVERITY[int(pri) & 7], None if host == "-" else host,
                        None if app == "-" else app, text, ref_ts)

    return parse


_RFC3164 = re.compile(r"(?:<(\d{1,3})>)?([A-Z][a-z]{2}) +(\d{1,2}) (\d\d:\d\d:\d\d)(?:\.(\d+))? (\S+) ?(.*)", re.S)


def _make_syslog3164(ref_ts: float | None) -> LineParser:
    no_year = _NoYear(ref_ts)

    def parse(line: str) -> Parsed | None:
        m = _RFC3164.match(line)
        if m is None:
            return None
        pri, mon, day, clock, frac, host, rest = m.groups()
        month = MONTHS.get(mon)
        if month is None:
            return None
        base = no_year(month, int(day), clock)
        service, text = _split_prog(rest)
        level = _SYSLOG_SEVERITY[int(pri) & 7] if pri else None
        return _wrapped((None if base is None else base + _frac(frac)), level, host, service, text, ref_ts)

    return parse


# rsyslog's default on modern systems: ISO timestamp, host, program[pid]: message. The host is never a level word:
# "2025-03-14T10:08:30Z [ERROR] plugin/errors: ..." (CoreDNS, many Go and Rust services) is a level and a message.
_SYSLOG_ISO = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)? "
    r"(?![\[<(]?(?:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|SEVERE|CRITICAL|FATAL|trace|debug|info|notice|warn|warning|"
    r"error|severe|critical|fatal)(?:[\]>):]|\s))"
    r"(\S+) ([^\s\[:]+)(?:\[\d+\])?: ?(.*)", re.S
)


def _parse_syslog_iso(line: str) -> Parsed | None:
    m = _SYSLOG_ISO.match(line)
    if m is None:
        return None
    clock, frac, zone, host, prog, text = m.groups()
    base = iso_seconds(clock)
    ts = None if base is None else base + _frac(frac) - _zone_offset(zone)
    return _wrapped(ts, None, host, prog, text, None)


# ZooKeeper 3.5+ puts the server's id first ("2024-05-01 10:00:00,123 [myid:3] - WARN  [...] - ...").
_ZOOKEEPER = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) (?:\[myid:\d*\] )?- " + _LVL + r" +\[(.*?)\] - (.*)",
                        re.S)
_ZK_COMPONENT = re.compile(r"(?<![\w$.])([\w$.]++)@\d+$")  # from a name's start only: linear


def _parse_zookeeper(line: str) -> Parsed | None:
    m = _ZOOKEEPER.match(line)
    if m is None:
        return None
    clock, ms, level, where, text = m.groups()
    base = iso_seconds(clock)
    cm = _ZK_COMPONENT.search(where)
    return (None if base is None else base + int(ms) / 1000), LEVELS[level], None, (cm.group(1) if cm else where), \
        text, None


# log4j's "%d %p [%t] %c: %m" (Hadoop, many Java services).
_LOG4J = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)[,.](\d{3}) " + _LVL + r" +\[([^\]]*)\] ([^\s:]+): ?(.*)", re.S)


def _parse_log4j(line: str) -> Parsed | None:
    m = _LOG4J.match(line)
    if m is None:
        return None
    clock, ms, level, _thread, logger, text = m.groups()
    base = iso_seconds(clock)
    return (None if base is None else base + int(ms) / 1000), LEVELS[level], None, logger, text, None


# Windows CBS.log: "2016-09-28 04:30:30, Info                  CBS    message".
_WINDOWS = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d), (Info|Warning|Error|Debug|Trace|Fatal|Critical) +(\S+) +(.*)",
                      re.S)


def _parse_windows(line: str) -> Parsed | None:
    m = _WINDOWS.match(line)
    if m is None:
        return None
    clock, level, component, text = m.groups()
    return iso_seconds(clock), LEVELS[level], None, component, text, None


_SPARK = re.compile(r"(\d\d)/(\d\d)/(\d\d) (\d\d:\d\d:\d\d) " + _LVL + r" ([^\s:]+): ?(.*)", re.S)


def _parse_spark(line: str) -> Parsed | None:
    m = _SPARK.match(line)
    if m is None:
        return None
    yy, mo, dd, clock, level, logger, text = m.groups()
    return iso_seconds(f"20{yy}-{mo}-{dd} {clock}"), LEVELS[level], None, logger, text, None


_ANDROID = re.compile(r"(\d\d)-(\d\d) (\d\d:\d\d:\d\d)\.(\d{3}) +(\d+) +(\d+) ([VDIWEFA]) (.*?) ?: (.*)", re.S)


def _make_android(ref_ts: float | None) -> LineParser:
    no_year = _NoYear(ref_ts)

    def parse(line: str) -> Parsed | None:
        m = _ANDROID.match(line)
        if m is None:
            return None
        mo, dd, clock, ms, _pid, _tid, level, tag, text = m.groups()
        base = no_year(int(mo), int(dd), clock)
        return (None if base is None else base + int(ms) / 1000), _ANDROID_LEVELS[level], None, tag, text, None

    return parse


# Apache error log, 2.2 ("[Sun Dec 04 04:47:44 2005] [error] msg") and 2.4 ("[...] [core:error] [pid 1] msg").
_APACHE = re.compile(
    r"\[[A-Z][a-z]{2} ([A-Z][a-z]{2}) (\d\d) (\d\d:\d\d:\d\d)(?:\.(\d+))? (\d{4})\] \[(?:([\w.]+):)?(\w+)\] ?(.*)", re.S
)


def _parse_apache(line: str) -> Parsed | None:
    m = _APACHE.match(line)
    if m is None:
        return None
    mon, day, clock, frac, year, module, level, text = m.groups()
    month = MONTHS.get(mon)
    base = None if month is None else iso_seconds(f"{year}-{month:02d}-{day} {clock}")
    return (None if base is None else base + _frac(frac)), normalize_level(level), None, module, text, None


_HEALTHAPP = re.compile(r"(\d{4})(\d\d)(\d\d)-(\d{1,2}):(\d{1,2}):(\d{1,2}):(\d{1,3})\|([^|]*)\|(\d+)\|(.*)", re.S)


def _parse_healthapp(line: str) -> Parsed | None:
    m = _HEALTHAPP.match(line)
    if m is None:
        return None
    y, mo, d, h, mi, s, ms, component, _pid, text = m.groups()
    base = _civil(int(y), int(mo), int(d), int(h), int(mi), int(s))
    return (None if base is None else base + int(ms) / 1000), None, None, component, text, None


# Loghub HPC: LogId Node Component State Epoch Flag message.
_HPC = re.compile(r"(\d+) (\S+) (\S+) (\S+) (\d{9,11}) (-?\d+) ?(.*)", re.S)


def _parse_hpc(line: str) -> Parsed | None:
    m = _HPC.match(line)
    if m is None:
        return None
    _id, node, component, _state, epoch, _flag, text = m.groups()
    return float(epoch), None, node, component, text, None


_PROXIFIER = re.compile(r"\[(\d\d)\.(\d\d) (\d\d:\d\d:\d\d)\] (.+?) - ?(.*)", re.S)  # "svchost.exe *64"


def _make_proxifier(ref_ts: float | None) -> LineParser:
    no_year = _NoYear(ref_ts)

    def parse(line: str) -> Parsed | None:
        m = _PROXIFIER.match(line)
        if m is None:
            return None
        mo, dd, clock, program, text = m.groups()
        return no_year(int(mo), int(dd), clock), None, None, program, text, None

    return parse


# Any ISO 8601 timestamp first on the line, then an optional level word.
_ISO_START = re.compile(
    r"\[?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(?:[.,](\d{1,9}))?"
    r"(?:(Z|[+-]\d\d:?\d\d| [+-](?:0\d|1[0-4]):?[0-5]\d(?![\d:]))|\s?(" + _ZONE_NAME + r")\b)?\]?[\s|,:-]*(.*)",
    re.S,
)
_LEVEL_NEAR_START = re.compile(
    r"[\[<(]?(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|SEVERE|CRITICAL|FATAL|"
    r"trace|debug|info|notice|warn|warning|error|severe|critical|fatal)[\]>):]?(?=\s|$)"
)


# The words `_LEVEL_NEAR_START` looks for, lower-cased ("warning" holds "warn"): a head without any of them cannot
# match, and saying so with `in` costs far less than the regex's search through its alternatives.
_LEVEL_WORDS = ("info", "error", "warn", "debug", "trace", "notice", "severe", "critical", "fatal")


def _level_near_start(text: str) -> str | None:
    """A level word among the first few tokens of a message (`INFO`, `[error]`, `<warn>`), normalised."""
    head = text[:40].lower()
    for word in _LEVEL_WORDS:
        if word in head:
            break
    else:
        return None
    m = _LEVEL_NEAR_START.search(text, 0, 40)
    return LEVELS[m.group(1)] if m else None


def _split_level(text: str) -> tuple[str | None, str]:
    """(level, message): a level word that opens the text is header and is cut off; one further in stays."""
    m = _LEVEL_NEAR_START.match(text)
    if m:
        return LEVELS[m.group(1)], text[m.end():].lstrip()
    return _level_near_start(text), text


def _parse_iso(line: str) -> Parsed | None:
    m = _ISO_START.match(line)
    if m is None:
        return None
    clock, frac, zone, utc, text = m.groups()
    base = iso_seconds(clock)
    ts = None if base is None else base + _frac(frac) - _zone_offset(zone or utc)
    if " - " in text[:120] and (m := _PY_LOGGING.match(text)) is not None:
        return ts, LEVELS[m.group(2)], None, m.group(1), m.group(3), None
    level, text = _split_level(text)
    if level is not None and " --- " in text[:40] and (m := _SPRING.match(text)) is not None:
        return ts, level, None, m.group(1), m.group(2), None
    return ts, level, None, None, text, None


# Python's logging default "%(asctime)s - %(name)s - %(levelname)s - %(message)s" (after the time).
_PY_LOGGING = re.compile(r"([\w.$-]{1,100}) - " + _LVL + r" - (.*)", re.S)
# Spring Boot's "ERROR 1234 --- [main] c.e.PaymentService : message" (after the time and level); Spring Boot 3.2+
# puts the application's name in brackets before the thread's; Tomcat's loggers keep brackets and slashes
# ("o.a.c.c.C.[Tomcat].[localhost]", "o.a.c.c.C.[.[.[/].[dispatcherServlet]").
_SPRING = re.compile(r"\d{1,9} --- (?:\[[^\]]{0,80}\] ){1,2}([\w.$][\w.$\[\]/-]{0,159}?)\s*: (.*)", re.S)


_EPOCH_START = re.compile(r"\[?([1-9]\d{9}(?:\.\d{1,9})?|[1-9]\d{12}(?:\.\d+)?)\]?(?:[\s,|:;]+|$)(.*)", re.S)


def _parse_epoch(line: str) -> Parsed | None:
    m = _EPOCH_START.match(line)
    if m is None:
        return None
    stamp, text = m.groups()
    level, text = _split_level(text)
    return parse_timestamp(stamp), level, None, None, text, None


def _make_timestamped(ref_ts: float | None) -> LineParser:
    no_year = _NoYear(ref_ts)

    def parse(line: str) -> Parsed | None:
        m = _ANY_TS.search(line, 0, 80)
        if m is None:
            return None
        ts = _ts_of_match(m, no_year)
        if ts is None:
            return None
        start, end = m.span()
        # Drop the timestamp with the brackets around it; what was before it (a client IP) stays in the text.
        if start > 0 and line[start - 1] == "[" and line[end:end + 1] == "]":
            start, end = start - 1, end + 1
        text = (line[:start].rstrip() + " " + line[end:].lstrip(" |,-:")).strip()
        return ts, _level_near_start(text), None, None, text, None

    return parse


# Ruby's Logger (Rails, Sidekiq, Puma, Logstash): `E, [2024-05-01T10:00:00.123456 #4711] ERROR -- progname: msg`.
# The severity letter, the time, the process id, the severity word, an optional program name, then the message.
_RUBY_LOGGER = re.compile(r"[DIWEFAU], \[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)? ?#\d+\] +"
                          r"(DEBUG|INFO|WARN|ERROR|FATAL|ANY|UNKNOWN) -- ([^:]{0,100}?): ?(.*)", re.S)


def _parse_ruby_logger(line: str) -> Parsed | None:
    m = _RUBY_LOGGER.match(line)
    if m is None:
        return None
    clock, frac, zone, level, prog, text = m.groups()
    base = iso_seconds(clock)
    ts = None if base is None else base + _frac(frac) - _zone_offset(zone)
    return ts, LEVELS.get(level, "ERROR" if level == "UNKNOWN" else None), None, prog.strip() or None, text, None


# A container log with the container's name first: `docker compose logs` ("web-1  | ...", "web_1  | ...") and
# `kubectl logs --prefix` ("[pod/api-7d9f/api] ..."). Each container writes its own layout after the prefix.
_COMPOSE = re.compile(r"(?=[\w.-]{0,40}[A-Za-z])([A-Za-z0-9][\w.-]{0,62}?)\s{1,40}\| ?(.*)", re.S)
_KUBECTL_PREFIX = re.compile(r"\[pod/([\w.-]{1,253})/([\w.-]{1,63})\] (.*)", re.S)


def _make_inner(ref_ts: float | None) -> Callable[[str], Parsed]:
    """How the line a container wrote reads once its wrapper's prefix is cut off: a JSON object, klog, logfmt, an
    ISO or any other timestamp first, else a leading level word."""
    timestamped = _make_timestamped(ref_ts)
    klog = _make_klog(ref_ts)

    def parse(rest: str) -> Parsed:
        if rest.startswith("{"):
            obj = _structured.json_object(rest)
            if obj is not None:
                return _object_entry(obj, rest, ref_ts)
        if rest[:1] in "IWEF" and (got := klog(rest)) is not None:
            return got
        if (got := _inner_header(rest, ref_ts)) is not None:
            return got
        inner = _parse_iso(rest) or timestamped(rest)
        if inner is not None:
            return inner[0], inner[1], inner[2], inner[3], inner[4], None
        level, text = _split_level(rest)
        return None, level, None, None, text, None

    return parse


def _make_container_prefixed(ref_ts: float | None) -> LineParser:
    inner = _make_inner(ref_ts)

    def parse(line: str) -> Parsed | None:
        if line.startswith("[pod/"):
            m = _KUBECTL_PREFIX.match(line)
            if m is None:
                return None
            pod, container, rest = m.groups()
            host, service = pod, container
        else:
            m = _COMPOSE.match(line)
            if m is None:
                return None
            name, rest = m.groups()
            host, service = None, name
        got = inner(rest)
        return (got[0], got[1], got[2] or host, got[3] or service, got[4], None,  # type: ignore[return-value]
                *got[6:])

    return parse


# The container runtime's own file of what a container wrote (CRI: containerd, CRI-O; kubelet's /var/log/pods and
# /var/log/containers): "2024-05-01T10:00:00.123456789Z stderr F <the container's line>" (F a full line, P a part
# of one). The runtime's time is kept (the container's own may carry no zone); the rest reads as the container wrote it.
_CRI = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) (?:stdout|stderr) [FP](?: (.*))?$",
                  re.S)


def _make_cri(ref_ts: float | None) -> LineParser:
    inner = _make_inner(ref_ts)

    def parse(line: str) -> Parsed | None:
        m = _CRI.match(line)
        if m is None:
            return None
        clock, frac, zone, rest = m.groups()
        base = iso_seconds(clock)
        ts = None if base is None else base + _frac(frac) - _zone_offset(zone)
        got = inner(rest or "")
        return (ts if ts is not None else got[0], got[1], got[2], got[3], got[4], None,  # type: ignore[return-value]
                *got[6:])

    return parse


# Kubernetes components (klog): "E0314 10:22:35.123456       1 reflector.go:138] message": level letter, month and
# day, no year.
_KLOG = re.compile(r"([IWEF])(\d\d)(\d\d) (\d\d:\d\d:\d\d)\.(\d{6}) +\d+ ([\w./-]{1,120}:\d{1,6})\] (.*)", re.S)
_KLOG_LEVELS = {"I": "INFO", "W": "WARN", "E": "ERROR", "F": "FATAL"}


def _make_klog(ref_ts: float | None) -> LineParser:
    no_year = _NoYear(ref_ts)

    def parse(line: str) -> Parsed | None:
        m = _KLOG.match(line)
        if m is None:
            return None
        level, month, day, clock, frac, _where, text = m.groups()
        base = no_year(int(month), int(day), clock)
        return (None if base is None else base + _frac(frac)), _KLOG_LEVELS[level], None, None, text, None

    return parse


def _parse_plain(line: str) -> Parsed | None:
    return None, None, None, None, line, None


# Most specific first: detection keeps the first format among those that parse the most sample lines.
FORMATS: tuple[LogFormat, ...] = (
    LogFormat("journald", "journalctl -o json (systemd journal export)",
              lambda ref_ts: _structured.make_journald(ref_ts, parse_timestamp),
              '{"__REALTIME_TIMESTAMP": "1714557600000000", "PRIORITY": "3", "_HOSTNAME": "web1", '
              '"_SYSTEMD_UNIT": "nginx.service", "SYSLOG_IDENTIFIER": "nginx", "MESSAGE": "upstream timed out"}'),
    LogFormat("otlp", "OpenTelemetry log records (OTLP JSON, one record a line)",
              lambda ref_ts: _structured.make_otlp(ref_ts, parse_timestamp, normalize_level),
              '{"timeUnixNano": "1714557600000000000", "severityNumber": 17, "severityText": "ERROR", '
              '"body": {"stringValue": "payment failed"}, "traceId": "5b8efff798038103d269b633813fc60c", '
              '"resource": {"service.name": "checkout", "host.name": "node-3"}}'),
    LogFormat("jsonl", "one JSON object per line", _make_jsonl,
              '{"time": "2024-05-01T10:00:00Z", "level": "error", "msg": "disk full", "host": "db1"}'),
    LogFormat("logfmt", "logfmt key=value pairs (Go log/slog, logrus, Heroku)", _make_logfmt,
              'time=2024-05-01T10:00:00Z level=error msg="disk full" host=db1 path=/var/lib/pg'),
    LogFormat("bgl", "Loghub BlueGene/L", _fixed(_parse_bgl),
              "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS "
              "KERNEL INFO instruction cache parity error corrected"),
    LogFormat("thunderbird", "Loghub Thunderbird", _fixed(_parse_thunderbird),
              "- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond(pam_unix)[2915]: session closed for "
              "user root"),
    LogFormat("hdfs", "Loghub HDFS", _fixed(_parse_hdfs),
              "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 "
              "terminating"),
    LogFormat("openstack", "OpenStack oslo.log (Loghub, with the log file's name first)", _fixed(_parse_openstack),
              "nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server "
              '[req-38101a0b-2096-447d-96ea-a692162415ae - - -] 10.11.10.1 "GET /v2/servers/detail HTTP/1.1" '
              "status: 200"),
    LogFormat("syslog5424", "RFC 5424 syslog", _make_syslog5424,
              "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\"] "
              "An application event log entry"),
    LogFormat("cri", "container runtime (CRI) logs: containerd, CRI-O, Kubernetes /var/log/pods", _make_cri,
              '2024-05-01T10:00:00.123456789Z stderr F {"level":"error","msg":"payment failed"}'),
    LogFormat("syslog_iso", "syslog with an ISO timestamp (rsyslog)", _fixed(_parse_syslog_iso),
              "2017-06-20T05:43:10.123456+00:00 web1 sshd[811]: Accepted publickey for root"),
    LogFormat("zookeeper", "ZooKeeper log4j", _fixed(_parse_zookeeper),
              "2015-07-29 19:04:29,071 - WARN  [SendWorker:188978561024:QuorumCnxManager$SendWorker@688] - Send "
              "worker leaving thread"),
    LogFormat("log4j", "log4j with thread (Hadoop)", _fixed(_parse_log4j),
              "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created "
              "MRAppMaster"),
    LogFormat("windows_cbs", "Windows CBS.log", _fixed(_parse_windows),
              "2016-09-28 04:30:30, Info                  CBS    Loaded Servicing Stack v6.1.7601.23505"),
    LogFormat("spark", "Spark log4j (yy/MM/dd)", _fixed(_parse_spark),
              "17/06/09 20:10:40 INFO spark.SecurityManager: Changing view acls to: yarn,curi"),
    LogFormat("android", "Android logcat threadtime", _make_android,
              "03-17 16:13:38.811  1702  2395 D WindowManager: printFreezingDisplayLogsopening app wtoken"),
    LogFormat("apache", "Apache error log", _fixed(_parse_apache),
              "[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6"),
    LogFormat("healthapp", "Loghub HealthApp", _fixed(_parse_healthapp),
              "20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579"),
    LogFormat("hpc", "Loghub HPC", _fixed(_parse_hpc),
              "134681 node-246 unix.hw state_change.unavailable 1077804742 1 Component State Change: Component "
              "alt0 is in the unavailable state"),
    LogFormat("proxifier", "Proxifier", _make_proxifier,
              "[10.30 16:49:06] chrome.exe - proxy.cse.cuhk.edu.hk:5070 open through proxy"),
    LogFormat("ruby_logger", "Ruby Logger (Rails, Sidekiq, Puma)", _fixed(_parse_ruby_logger),
              "E, [2024-05-01T10:00:00.123456 #4711] ERROR -- : [req-1] ActiveRecord::StatementInvalid (PG::Error)"),
    LogFormat("klog", "Kubernetes components (klog: kubelet, kube-apiserver, controllers)", _make_klog,
              "E0314 10:22:35.123456       1 reflector.go:138] failed to list *v1.Pod: connection refused"),
    LogFormat("syslog3164", "RFC 3164 / BSD syslog", _make_syslog3164,
              "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0"),
    LogFormat("openstack_nova", "OpenStack nova without timestamps (DevStack)", _fixed(_parse_openstack_nova),
              "INFO nova.compute.claims [req-a4498d64-47bb-491f-adde-effccaba43f0] [instance: "
              "11760334-ac63-4cc8-9086-578422af8c99] Claim successful on node parisaserver"),
    LogFormat("container", "container logs with the container's name first (docker compose logs, kubectl logs "
              "--prefix)", _make_container_prefixed,
              "api-1  | 2025-03-14T10:22:35.118Z ERROR could not connect to server: Connection refused"),
    LogFormat("iso8601", "ISO 8601 timestamp first, optional level", _fixed(_parse_iso),
              "2017-11-12 14:26:49.982092 | [Zuul] Launched by managesf", generic=True),
    LogFormat("epoch", "epoch seconds or milliseconds first", _fixed(_parse_epoch),
              "1700000000.25 ERROR worker 3 died", generic=True),
    LogFormat("timestamped", "a timestamp near the start of the line", _make_timestamped,
              '10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326', generic=True),
)
PLAIN = LogFormat("plain", "no recognised header", _fixed(_parse_plain), "anything at all", structured=False)
_BY_NAME = {f.name: f for f in (*FORMATS, PLAIN)}

CONTINUATION_PREFIXES = ("Traceback", "at ", "Caused by", "...", "During handling", "The above exception")


def looks_like_continuation(line: str) -> bool:
    """Whether a line reads as the continuation of the entry before it (indented, a stack frame, ...)."""
    return line[:1] in (" ", "\t") or line.startswith(CONTINUATION_PREFIXES)


def get_format(name: str) -> LogFormat:
    """The format called `name`.

    Raises:
        KeyError: With the list of known names, when `name` is not one.
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"Unknown log format {name!r}; choose one of: {', '.join(sorted(_BY_NAME))}") from None


def detect_format(lines: Sequence[str], ref_ts: float | None = None) -> LogFormat:
    """Pick the format that parses most of a source's first lines.

    Blank lines and lines that look like continuations (indented, `Traceback`, `at ...`) are not counted, so a
    sample that is mostly one stack trace still finds the header of the entries around it. A format must parse
    at least half of the counted lines; otherwise the source is `plain`. A specific format that parses at least
    90 % as many lines as the best catch-all one (`iso8601`, `epoch`, `timestamped`) wins over it: a syslog
    file that opens with a journald banner line is still syslog.

    Args:
        lines: The first lines of a source (about `SAMPLE_LINES` non-blank ones), decoded, without line ends.
        ref_ts: The source's reference time, for year-less timestamps.
    """
    candidates = [ln for ln in lines if ln.strip() and not looks_like_continuation(ln)][:SAMPLE_LINES]
    if not candidates:
        # Only indented lines: still try the formats (the DevStack nova layout indents whole entries).
        candidates = [ln for ln in lines if ln.strip()][:SAMPLE_LINES]
    if not candidates:
        return PLAIN
    best, best_hits = PLAIN, 0  # among specific formats
    catch_all, catch_all_hits = PLAIN, 0
    for fmt in FORMATS:
        parse = fmt.make_parser(ref_ts)
        hits = sum(1 for ln in candidates if parse(ln) is not None)
        if fmt.generic and hits > catch_all_hits:
            catch_all, catch_all_hits = fmt, hits
        elif not fmt.generic and hits > best_hits:
            best, best_hits = fmt, hits
    if best_hits < 0.9 * catch_all_hits:
        best, best_hits = catch_all, catch_all_hits
    return best if best_hits * 2 >= len(candidates) else PLAIN
