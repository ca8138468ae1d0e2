"""What the incident engine returns (and takes beside the logs): plain dataclasses that round-trip through JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

ROLES = ("cause", "propagation", "symptom")
TRIAGE_VERSION = 1


def iso(ts: float | None) -> str | None:
    """ISO 8601 UTC of epoch seconds (None for None / NaN)."""
    if ts is None or ts != ts:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(slots=True)
class Step:
    """One step of an incident's chain: an event key whose rate changed, at its first line after the change."""

    key: str  # "K12": the event key (template + level + status class + exception + source) in this triage
    text: str  # the first line of the step as read (trimmed)
    template: str  # its template ("<*>" marks variable parts), with the key's status class / exception appended
    file: str
    line: int  # 1-based line of the step's first line after the change
    where: str  # file:line
    ts: float | None
    time: str | None  # ISO 8601 UTC
    host: str | None
    service: str | None
    role: str  # cause | propagation | symptom
    change: str  # new | burst | rate up | rate down | stopped | latency up
    count: int  # lines of this key from the onset to the incident's end
    level: str | None = None
    status: str | None = None  # "5xx", "4xx", or None
    exc: str | None = None  # exception class
    route: str | None = None  # "GET /api/orders/{id}" when the key's lines carry one route mostly


@dataclass(slots=True)
class Candidate:
    """A root-cause candidate with the reasons for its rank."""

    rank: int
    kind: str  # log (a failing event key) | change (a deploy, restart, ... just before) | metric
    text: str
    where: str | None  # file:line (None for a metric series without lines)
    file: str | None
    line: int | None
    ts: float | None
    time: str | None
    host: str | None
    service: str | None
    score: float
    reasons: list[str] = field(default_factory=list)
    key: str | None = None  # the chain step's key, for kind "log"
    linked: str | None = None  # kind "change": file:line of the failure it precedes on the same host/service


@dataclass(slots=True)
class ChangeEvent:
    """Something that changed the system just before the onset: deploy, config change, restart, ..."""

    kind: str  # deploy | config | restart | certificate | config-management | scheduled-job | scaling | failover |
    #            schema | network | metric
    text: str
    where: str | None
    file: str | None
    line: int | None
    ts: float | None
    time: str | None
    host: str | None
    service: str | None
    before_s: float  # seconds before the incident's onset (negative: just after it)
    background: bool = False  # logged by a routine host daemon (cups, udev, ...)


@dataclass(slots=True)
class FieldShift:
    """A field value over-represented in the spike (log rate analysis): which hosts/routes/users the errors share."""

    field: str
    value: str
    spike_share: float  # share of the spike's error lines with this value
    baseline_share: float  # share of the baseline's lines (same sources, before the onset) with it
    spike_count: int


@dataclass(slots=True)
class Impact:
    """User-facing impact: error and 5xx/4xx rates, latency, before vs during."""

    summary: str  # one line: "503s on GET /api/orders/{id}: 41 % of requests (0.2 % before); p95 latency 2.1 s"
    symptom: str  # what broke, in the log's own words
    errors: int = 0  # bad lines (error level, 5xx, exceptions) from onset to end
    errors_per_min_before: float = 0.0
    errors_per_min_during: float = 0.0
    requests: int = 0  # lines with an HTTP status during the incident
    status_5xx: int = 0
    status_4xx: int = 0
    share_5xx_before: float | None = None
    share_5xx_during: float | None = None
    latency_p95_ms_before: float | None = None
    latency_p95_ms_during: float | None = None
    explained_by: list[FieldShift] = field(default_factory=list)
    user_facing: bool | None = None  # False: no 5xx / 4xx / latency / front-door errors; `symptom` is then only
    #                                   where the failures were, not what users saw (None: a report from before)


@dataclass(slots=True)
class Incident:
    """Changes that began together, ordered from the earliest failing key to the user-facing symptom."""

    id: str  # "I1", ... by strength
    title: str  # in the log's own words: the failing message, where, and what it broke
    onset: datetime | None  # the first change of the chain (None when no source has timestamps)
    onset_ts: float | None
    end_ts: float | None
    impact: Impact
    confidence: str  # high | medium | low
    confidence_reason: str
    chain: list[Step] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    changed_before: list[ChangeEvent] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)  # hosts the chain crossed, in onset order
    services: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    strength: float = 0.0  # the ranking weight (sum of the chain's change strengths)
    detector: dict[str, Any] | None = None  # what the audit's detector said about the chain's lines

    @property
    def onset_time(self) -> str | None:
        return iso(self.onset_ts)

    @property
    def cause(self) -> Candidate | None:
        """The top-ranked candidate."""
        return self.candidates[0] if self.candidates else None


@dataclass(slots=True)
class Unrelated:
    """Activity seen and judged unrelated to the incidents, with the reason."""

    text: str
    where: str
    file: str
    line: int
    ts: float | None
    time: str | None
    host: str | None
    service: str | None
    count: int
    reason: str
    key: str | None = None
    incident: str | None = None  # the incident it was judged against


@dataclass(slots=True)
class Signal:
    """An anomaly another detector judged (CALM on a metric series, an audit detector's window): engine input."""

    name: str  # series or key name
    start: float  # epoch seconds
    end: float | None = None
    score: float = 0.0  # in the detector's own units; > 0
    origin: str = "calm"  # calm | metrics | classical | icad | logicl | ...
    where: str | None = None  # file:line when the detector has one
    summary: str = ""


@dataclass(slots=True)
class MetricSeries:
    """A metric series given with --metrics: the engine finds its change points itself."""

    name: str
    ts: np.ndarray  # epoch seconds, ascending
    values: np.ndarray
    source: str = ""  # file it came from
    lines: np.ndarray | None = None  # 1-based line of each point in `source`


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):  # a numpy scalar that reached a field (a score computed on arrays): plain Python,
        v = v.item()  # which msgpack (the agent's checkpoints) and every JSON writer take
    if isinstance(v, datetime):
        return v.isoformat().replace("+00:00", "Z")
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v


@dataclass(slots=True)
class Triage:
    """The engine's answer: incidents first, then what was seen and judged unrelated, then notes on time."""

    incidents: list[Incident] = field(default_factory=list)
    unrelated: list[Unrelated] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # time trust (years inferred, skew, no timestamps), inputs
    timed: bool = True  # False: no source had timestamps; order is by position and onsets are None
    start_ts: float | None = None
    end_ts: float | None = None
    resolution_s: float = 0.0  # width of the rate series' bins
    events: int = 0
    keys: int = 0
    sources: list[str] = field(default_factory=list)
    seconds: float = 0.0
    version: int = TRIAGE_VERSION

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (datetimes as ISO 8601 UTC strings, NaN as null)."""
        out = _jsonable(asdict(self))
        for inc, d in zip(self.incidents, out["incidents"], strict=True):
            d["onset_time"] = inc.onset_time
            d["end_time"] = iso(inc.end_ts)
        out["start_time"], out["end_time"] = iso(self.start_ts), iso(self.end_ts)
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Triage:
        """Rebuild from `to_dict` output (the report's `incidents` section)."""
        incidents = []
        for d in data.get("incidents", []):
            d = dict(d)
            d.pop("onset_time", None)
            d.pop("end_time", None)
            onset = d.get("onset")
            d["onset"] = datetime.fromisoformat(onset.replace("Z", "+00:00")) if isinstance(onset, str) else None
            imp = dict(d["impact"])
            imp["explained_by"] = [FieldShift(**f) for f in imp.get("explained_by", [])]
            d["impact"] = Impact(**imp)
            d["chain"] = [Step(**s) for s in d.get("chain", [])]
            d["candidates"] = [Candidate(**c) for c in d.get("candidates", [])]
            d["changed_before"] = [ChangeEvent(**c) for c in d.get("changed_before", [])]
            incidents.append(Incident(**d))
        rest = {k: v for k, v in data.items() if k not in ("incidents", "unrelated", "start_time", "end_time")}
        return cls(incidents=incidents, unrelated=[Unrelated(**u) for u in data.get("unrelated", [])], **rest)
