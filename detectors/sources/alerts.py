"""Alerts as the start of an investigation: an Alertmanager webhook payload (version 4) or a plain
`{"startsAt": ..., "labels": {...}}` object, turned into a time range and the hosts / services to look at.

The range runs from `before` ahead of the earliest `startsAt` (trouble starts before an alert fires) to the
latest `endsAt` of a resolved alert, or `after` past the latest `startsAt` while it fires. Hosts come from the
labels `instance` (its port dropped), `host`, `hostname`, `node`, `nodename`, `pod`; services from `job`,
`service`, `app`, `container`, `namespace`. Remote sources get the range written into them
(`journal:...?since=&until=`, `loki://...?start=&end=`, `prom://...?start=&end=`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from detectors.sources.errors import SourceError

__all__ = ["Alert", "Investigation", "load_alert", "parse_alert", "scope_source"]

MAX_ALERT_BYTES = 4 << 20
_HOST_LABELS = ("instance", "host", "hostname", "node", "nodename", "pod", "host_name")
_SERVICE_LABELS = ("job", "service", "service_name", "app", "container", "namespace")
_ZERO_TIME = "0001-01-01"  # Alertmanager's endsAt of an alert still firing


@dataclass(slots=True)
class Alert:
    """One alert of the payload."""

    name: str
    status: str
    starts: float
    ends: float | None
    labels: dict[str, str]
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Investigation:
    """What an alert asks to look at."""

    alerts: list[Alert]
    start: float
    end: float
    hosts: list[str]
    services: list[str]
    title: str

    def to_dict(self) -> dict[str, Any]:
        def iso(t: float) -> str:
            return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

        return {"title": self.title, "start": iso(self.start), "end": iso(self.end), "hosts": self.hosts,
                "services": self.services,
                "alerts": [{"name": a.name, "status": a.status, "starts_at": iso(a.starts),
                            "ends_at": iso(a.ends) if a.ends else None, "labels": a.labels,
                            "summary": a.annotations.get("summary") or a.annotations.get("description")}
                           for a in self.alerts]}


def _time(value: Any, where: str) -> float | None:
    from detectors.formats import parse_timestamp

    if value in (None, "") or (isinstance(value, str) and value.startswith(_ZERO_TIME)):
        return None
    ts = parse_timestamp(value)
    if ts is None:
        raise SourceError(f"{where}: {str(value)[:40]!r} is not a time; write startsAt as ISO 8601, "
                          f"e.g. 2024-05-01T10:00:00Z")
    return ts


def _strings(obj: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in obj.items()} if isinstance(obj, dict) else {}


def _host(label: str, value: str) -> str:
    if label == "instance" and value.count(":") == 1:  # host:port (an IPv6 address keeps its colons)
        return value.split(":")[0]
    return value.strip("[]")


def parse_alert(payload: Any, where: str = "alert", before_s: float = 1800, after_s: float = 900) -> Investigation:
    """The investigation an alert payload asks for.

    Raises:
        SourceError: A payload with no alert, no startsAt, or no label that names a host or service.
    """
    if isinstance(payload, dict) and isinstance(payload.get("alerts"), list):
        raw = [a for a in payload["alerts"] if isinstance(a, dict)]
        common = _strings(payload.get("commonLabels"))
    elif isinstance(payload, dict) and "startsAt" in payload:
        raw, common = [payload], {}
    elif isinstance(payload, list):
        raw, common = [a for a in payload if isinstance(a, dict)], {}
    else:
        raise SourceError(f"{where}: not an alert; give an Alertmanager webhook payload (with \"alerts\") or "
                          f"{{\"startsAt\": ..., \"labels\": {{...}}}}")
    if not raw:
        raise SourceError(f"{where}: the payload holds no alert; give one with startsAt and labels")
    alerts = []
    for i, a in enumerate(raw):
        labels = {**common, **_strings(a.get("labels"))}
        starts = _time(a.get("startsAt"), f"{where}: alerts[{i}].startsAt")
        if starts is None:
            raise SourceError(f"{where}: alerts[{i}] has no startsAt; add the time the alert started (ISO 8601)")
        status = a.get("status") or (payload.get("status") if isinstance(payload, dict) else None) or "firing"
        alerts.append(Alert(labels.get("alertname", "alert"), str(status), starts,
                            _time(a.get("endsAt"), f"{where}: alerts[{i}].endsAt"), labels,
                            _strings(a.get("annotations"))))
    hosts = list(dict.fromkeys(_host(k, a.labels[k]) for a in alerts for k in _HOST_LABELS if a.labels.get(k)))
    services = list(dict.fromkeys(a.labels[k] for a in alerts for k in _SERVICE_LABELS if a.labels.get(k)))
    if not hosts and not services:
        names = ", ".join(sorted({k for a in alerts for k in a.labels})) or "none"
        raise SourceError(f"{where}: no label names a host or a service (labels: {names}); add instance, host, "
                          f"job or service to the alert's labels")
    first = min(a.starts for a in alerts)
    last_end = max((a.ends or a.starts + after_s) for a in alerts)
    names = list(dict.fromkeys(a.name for a in alerts))
    title = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return Investigation(alerts, first - before_s, max(last_end, first + 60), hosts, services, title)


def load_alert(path: str, **kw: Any) -> Investigation:
    """`parse_alert` of a JSON file ("-" for stdin).

    Raises:
        SourceError: Unreadable, too large, not JSON, or not a usable alert (one line, what to change).
    """
    import sys

    try:
        if path == "-":
            text = sys.stdin.read(MAX_ALERT_BYTES + 1)
        else:
            p = Path(path)
            if p.stat().st_size > MAX_ALERT_BYTES:
                raise SourceError(f"{path}: over {MAX_ALERT_BYTES >> 20} MB, too large for an alert payload")
            text = p.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file; give the alert's JSON file (or - for stdin)") from None
    except OSError as e:
        raise SourceError(f"{path}: cannot read it ({e.strerror or e}); check the file") from None
    if len(text) > MAX_ALERT_BYTES:
        raise SourceError(f"{path}: over {MAX_ALERT_BYTES >> 20} MB, too large for an alert payload")
    try:
        payload = json.loads(text)
    except ValueError as e:
        raise SourceError(f"{path}:{getattr(e, 'lineno', 1)}: not valid JSON ({str(e).split(':')[0]}); fix the "
                          f"payload") from None
    return parse_alert(payload, path, **kw)


def _with_options(source: str, opts: dict[str, str], known: set[str]) -> str:
    body, sep, tail = source.rpartition("?")
    current: dict[str, str] = {}
    if sep and "=" in tail and all(k in known for k, _ in parse_qsl(tail)):
        current = dict(parse_qsl(tail))
    else:
        body = source
    for k in ("since", "start", "end", "until"):
        current.pop(k, None)
    current.update(opts)
    return body + "?" + urlencode(current, safe=":")


def scope_source(source: str, inv: Investigation) -> str:
    """`source` narrowed to the investigation's time range where the source can be (remote ones); files as given."""
    if source.startswith("journal:"):
        def local(t: float) -> str:
            return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

        return _with_options(source, {"since": local(inv.start), "until": local(inv.end)},
                             {"since", "until", "unit", "boot", "priority"})
    if source.startswith(("loki://", "lokis://")):
        return _with_options(source, {"start": f"{inv.start:.3f}", "end": f"{inv.end:.3f}"},
                             {"since", "start", "end", "limit", "page", "tenant", "timeout"})
    if source.startswith(("prom://", "proms://")):
        return _with_options(source, {"start": f"{inv.start:.3f}", "end": f"{inv.end:.3f}"},
                             {"since", "start", "end", "step", "chunk", "timeout"})
    return source
