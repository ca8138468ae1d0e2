"""What the agent answers from: the incident engine's triage, normalised, plus the audited logs' vocabulary.

`facts_for(workspace)` calls the incident engine (`detectors.incidents.triage`) on the current audit and keeps its
result as plain data (`TriageView`): incidents with their chain of steps (cause → propagation → symptom), ranked
root-cause candidates, what changed just before the onset, activity judged unrelated, and the time-trust notes.
When the engine is not installed or fails, a view is built from the detectors' ranked anomalies instead (one
incident over the anomalies in time order, low confidence) so answers still stand on evidence, and says so.

`LogVocabulary` holds what the logs contain (hosts, services, files, time span, levels): the question parser
matches names against it, and a host, file or time that is not in it is answered with "not in these logs".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tools import Workspace
from tools.base import clip


def iso(ts: float | None) -> str | None:
    """ISO 8601 UTC (seconds) for an epoch time, None when unknown."""
    if ts is None or not math.isfinite(ts):
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def epoch(value: Any) -> float | None:
    """Epoch seconds from a datetime, an ISO string or a number (None when it is none of those)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
        return stamp.timestamp()
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    try:
        stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def clock(value: Any) -> str:
    """A time as people read it in an answer: `2026-11-23 03:10:04 UTC`, or "an unknown time"."""
    ts = epoch(value)
    if ts is None:
        return "an unknown time"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(slots=True)
class Step:
    """One line-backed fact: a chain step, a candidate, a change, an unrelated line."""

    text: str  # the line (or the engine's words for it), clipped
    where: str | None = None  # file:line
    time: str | None = None  # ISO 8601
    host: str | None = None
    service: str | None = None
    role: str | None = None  # cause | propagation | symptom (chain steps)
    key: str | None = None
    reason: str | None = None  # why (candidates, unrelated activity)
    count: int | None = None

    @property
    def ts(self) -> float | None:
        """Epoch seconds, when known."""
        return epoch(self.time)


@dataclass(slots=True)
class IncidentView:
    """One incident, as the answers use it."""

    id: str
    title: str
    onset: str | None
    confidence: str  # high | medium | low
    impact: str = ""
    chain: list[Step] = field(default_factory=list)
    candidates: list[Step] = field(default_factory=list)
    changed_before: list[Step] = field(default_factory=list)
    end: str | None = None  # ISO 8601 of the last line of the incident, when known
    confidence_reason: str | None = None
    user_facing: bool | None = None  # the engine saw requests fail or slow down (5xx, p95 up); None: not said


    @property
    def hosts(self) -> list[str]:
        """Hosts of the chain, in order of first appearance."""
        return list(dict.fromkeys(s.host for s in self.chain if s.host))

    def first(self, role: str) -> Step | None:
        """The first chain step with this role."""
        return next((s for s in self.chain if s.role == role), None)


@dataclass(slots=True)
class TriageView:
    """The incident engine's answer, normalised."""

    incidents: list[IncidentView] = field(default_factory=list)
    unrelated: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source: str = "engine"  # engine | anomalies (the fallback)


def _where(d: dict[str, Any]) -> str | None:
    if d.get("where"):
        return str(d["where"])
    file, line = d.get("file") or d.get("source"), d.get("line")
    if file and line is not None:
        return f"{file}:{int(line)}"
    return None


def _step(d: Any) -> Step:
    if not isinstance(d, dict):
        d = dict(getattr(d, "__dict__", {})) or {"text": str(d)}
    reasons = d.get("reasons")
    reason = d.get("reason") or ("; ".join(map(str, reasons)) if isinstance(reasons, list | tuple) else reasons)
    when = d.get("ts") if d.get("ts") is not None else d.get("time")
    return Step(
        text=clip(str(d.get("text") or d.get("summary") or d.get("title") or d.get("key") or ""), 240),
        where=_where(d),
        time=iso(epoch(when)) if when is not None else None,
        host=d.get("host") or None,
        service=d.get("service") or None,
        role=d.get("role") or None,
        key=str(d["key"]) if d.get("key") is not None else None,
        reason=str(reason) if reason else None,
        count=int(d["count"]) if isinstance(d.get("count"), int | float) else None,
    )


def view_from_dict(data: dict[str, Any]) -> TriageView:
    """A `TriageView` from `Triage.to_dict()` output (tolerant of missing keys)."""
    incidents = []
    for i, inc in enumerate(data.get("incidents") or [], 1):
        chain = [_step(s) for s in inc.get("chain") or []]
        onset = inc.get("onset_time") or inc.get("onset") or inc.get("onset_ts")
        end = inc.get("end_time") or inc.get("end_ts") or inc.get("end")
        impact = inc.get("impact")
        user_facing = None
        if isinstance(impact, dict):
            before = impact.get("latency_p95_ms_before") or 0.0
            during = impact.get("latency_p95_ms_during") or 0.0
            user_facing = bool(impact.get("status_5xx") or (during and during > 2 * before > 0))
            impact = impact.get("summary") or impact.get("symptom") or ""
        incidents.append(IncidentView(
            id=str(inc.get("id") or f"I{i}"),
            title=clip(str(inc.get("title") or (chain[0].text if chain else "an incident")), 200),
            onset=iso(epoch(onset)) if onset is not None else (chain[0].time if chain else None),
            confidence=str(inc.get("confidence") or "low"),
            impact=str(impact or ""),
            chain=chain,
            candidates=[_step(c) for c in inc.get("candidates") or []],
            changed_before=[_step(c) for c in inc.get("changed_before") or []],
            end=iso(epoch(end)) if end is not None else None,
            confidence_reason=inc.get("confidence_reason") or None,
            user_facing=user_facing,
        ))
    notes = [str(n.get("text") if isinstance(n, dict) else n) for n in data.get("notes") or []]
    return TriageView(incidents, [_step(u) for u in data.get("unrelated") or []], notes, "engine")


def _engine_view(ws: Workspace) -> TriageView | None:
    """The engine's triage of the current audit, or None when the engine is not there or cannot run."""
    result = ws.result
    made = getattr(result.report, "incidents", None)
    if made is not None and hasattr(made, "to_dict"):
        made = made.to_dict()
    if isinstance(made, dict) and "incidents" in made:
        return view_from_dict(made)
    try:
        from detectors.incidents import triage_audit
    except ImportError:
        return None
    try:
        found = triage_audit(result)
    except Exception:  # noqa: BLE001  (the engine failing must not cost the answer: fall back to the anomalies)
        return None
    data = found.to_dict() if hasattr(found, "to_dict") else found
    return view_from_dict(data) if isinstance(data, dict) else None


def _anomaly_view(ws: Workspace) -> TriageView:
    """A stand-in when the incident engine is unavailable: the anomalies in time order as one low-confidence
    incident (first line as the cause candidate, last as the symptom)."""
    anomalies = sorted(ws.result.report.anomalies, key=lambda a: (a.ts is None, a.ts or 0.0, a.line))
    if not anomalies:
        return TriageView(source="anomalies")
    chain = []
    for n, a in enumerate(anomalies[:12]):
        role = "cause" if n == 0 else ("symptom" if n == min(len(anomalies), 12) - 1 else "propagation")
        chain.append(Step(clip(a.text or a.template or "", 240), a.where, a.time, a.host, None, role,
                          f"T{a.template_id}" if a.template_id is not None else None))
    incident = IncidentView(
        id="I1", title=chain[0].text, onset=chain[0].time, confidence="low", chain=chain,
        candidates=[Step(chain[0].text, chain[0].where, chain[0].time, chain[0].host, reason="the earliest anomaly")],
        end=chain[-1].time, confidence_reason="from the detectors' anomalies only (the incident engine is not available)",
    )
    return TriageView([incident], notes=["incidents were formed from the detectors' anomalies only"], source="anomalies")


def triage_view(ws: Workspace) -> TriageView:
    """The triage of the workspace's current audit (engine first, anomalies as the fallback), cached per audit."""
    result = ws.result
    cached = getattr(ws, "_triage_view", None)
    if cached is not None and cached[0] is result:
        return cached[1]
    view = _engine_view(ws) or _anomaly_view(ws)
    ws._triage_view = (result, view)  # type: ignore[attr-defined]
    return view


@dataclass(slots=True)
class LogVocabulary:
    """What the audited logs contain, to match a question's names against."""

    hosts: list[str]
    services: list[str]
    sources: list[str]
    first_ts: float | None
    last_ts: float | None
    events: int

    @property
    def files(self) -> list[str]:
        """The sources' file names."""
        return [s.rsplit("/", 1)[-1] for s in self.sources]

    def span(self) -> str:
        """"from T0 to T1" or "without timestamps"."""
        if self.first_ts is None or self.last_ts is None:
            return "without timestamps"
        return f"from {clock(self.first_ts)} to {clock(self.last_ts)}"

    def describe(self, limit: int = 8) -> str:
        """One sentence on what is in these logs (for "not in these logs" answers)."""
        def listed(names: list[str]) -> str:
            shown = ", ".join(names[:limit])
            return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")

        parts = [f"{self.events} events in {listed(self.files) or 'no files'}, {self.span()}"]
        if self.hosts:
            parts.append(f"hosts {listed(self.hosts)}")
        if self.services:
            parts.append(f"services {listed(self.services)}")
        return "; ".join(parts)


def vocabulary(ws: Workspace) -> LogVocabulary:
    """The names and time span of the current audit."""
    table = ws.result.events
    ts = table.ts
    finite = ts[np.isfinite(ts)] if len(ts) else ts
    return LogVocabulary(
        hosts=[h for h in table.hosts if h],
        services=[s for s in table.services if s],
        sources=list(table.sources),
        first_ts=float(finite.min()) if len(finite) else None,
        last_ts=float(finite.max()) if len(finite) else None,
        events=len(table),
    )
