"""The audit report: one versioned schema that the CLI renders (md / json / html), scripts and the TUI read.

Renderers live in `detectors.render`; this module is the data only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from detectors.base import Evidence

REPORT_VERSION = 1


@dataclass(slots=True)
class ContextLine:
    """A line shown around an anomaly."""

    line: int
    text: str
    focus: bool = False


@dataclass(slots=True)
class Anomaly:
    """One ranked finding: the line that drove a verdict, its window, score and the evidence why."""

    id: str  # "A1", "A2", ... by rank; explanations cite it
    rank: int
    detector: str
    where: str  # file:line of the focus line
    source: str
    line: int
    ts: float | None
    time: str | None  # ISO 8601 UTC
    template_id: int | None
    template: str | None
    text: str  # the focus line as read
    score: float
    threshold: float
    severity: str
    window: str  # the window's key (session, time span or line range)
    evidence: list[Evidence] = field(default_factory=list)
    context: list[ContextLine] = field(default_factory=list)
    level: str | None = None
    host: str | None = None


@dataclass(slots=True)
class Totals:
    """The counts a reader of the report checks first."""

    sources: int = 0
    lines: int = 0
    events: int = 0
    folded: int = 0
    skipped: int = 0
    templates: int = 0
    new_templates: int = 0  # templates this run added to the persisted state
    windows: int = 0
    anomalous_windows: int = 0
    anomalies_shown: int = 0
    seconds: float = 0.0


@dataclass(slots=True)
class WindowVerdict:
    """One scored window, session or diff block, as scripts read it (`--format jsonl` prints one per line).

    The report lists every flagged one (the anomalies above group them by problem); with `--all-windows` the
    unflagged ones too, so users can apply their own threshold to `score`.
    """

    key: str  # the session key, the line range or the time span of the window
    start: str | None  # file:line of its first line
    end: str | None  # file:line of its last line
    events: int  # log entries in it
    score: float
    threshold: float
    flagged: bool
    severity: str
    focus: str | None = None  # file:line of the line that drove the score
    template: str | None = None  # that line's template
    evidence: str | None = None  # the top evidence, one line
    anomaly: str | None = None  # id of the anomaly that shows this problem ("A3"), when one does


@dataclass(slots=True)
class SkipEntry:
    """A skipped input, as the report lists it."""

    source: str
    line: int | None
    reason: str
    message: str


@dataclass(slots=True)
class Report:
    """Everything `sleuth audit` found, in a form that round-trips through JSON."""

    created: str  # ISO 8601 UTC
    sources: list[str]
    detector: str
    windowing: str  # human description, e.g. "sliding windows of 20 lines, step 10"
    fit: str  # what the detector was fitted on, e.g. "the audited data itself (unsupervised)"
    threshold_rule: str  # how the label-free threshold was set
    totals: Totals
    anomalies: list[Anomaly] = field(default_factory=list)
    skipped: list[SkipEntry] = field(default_factory=list)
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    formats: dict[str, int] = field(default_factory=dict)
    explanation: dict[str, Any] | None = None  # filled by the agent: text, hypotheses, citations
    incidents: dict[str, Any] | None = None  # the incident engine's triage (detectors.incidents Triage.to_dict())
    windows: list[WindowVerdict] = field(default_factory=list)  # every flagged window (all with --all-windows)
    windows_listed: str = "flagged"  # "flagged" or "all": which windows `windows` holds
    version: int = REPORT_VERSION

    def worst_severity(self) -> str:
        """The highest severity among the anomalies ("none" when there are none)."""
        from detectors.base import SEVERITIES

        worst = 0
        for a in self.anomalies:
            worst = max(worst, SEVERITIES.index(a.severity) if a.severity in SEVERITIES else 0)
        return SEVERITIES[worst]

    def worst_incident(self) -> str:
        """The highest confidence among the incident engine's incidents, on the severity scale ("none" when there
        are none): an incident of high confidence weighs as a high-severity anomaly for --fail-on."""
        from detectors.base import SEVERITIES

        worst = 0
        for inc in (self.incidents or {}).get("incidents") or ():
            conf = inc.get("confidence") if isinstance(inc, dict) else None
            worst = max(worst, SEVERITIES.index(conf) if conf in SEVERITIES else 1)
        return SEVERITIES[worst]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        """The report as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """Rebuild a report from `to_dict` output.

        Raises:
            ValueError: If the report's version is newer than this sleuth understands.
        """
        version = int(data.get("version", 0))
        if version > REPORT_VERSION:
            raise ValueError(f"report version {version} is newer than this sleuth reads ({REPORT_VERSION}); upgrade sleuth")
        anomalies = [
            Anomaly(
                **{
                    **a,
                    "evidence": [Evidence(**e) for e in a.get("evidence", [])],
                    "context": [ContextLine(**c) for c in a.get("context", [])],
                }
            )
            for a in data.get("anomalies", [])
        ]
        return cls(
            created=data["created"],
            sources=list(data["sources"]),
            detector=data["detector"],
            windowing=data["windowing"],
            fit=data.get("fit", ""),
            threshold_rule=data.get("threshold_rule", ""),
            totals=Totals(**data["totals"]),
            anomalies=anomalies,
            skipped=[SkipEntry(**s) for s in data.get("skipped", [])],
            skipped_by_reason=dict(data.get("skipped_by_reason", {})),
            formats=dict(data.get("formats", {})),
            explanation=data.get("explanation"),
            incidents=data.get("incidents"),
            windows=[WindowVerdict(**w) for w in data.get("windows", [])],
            windows_listed=data.get("windows_listed", "flagged"),
            version=version,
        )

    @classmethod
    def from_json(cls, text: str) -> Report:
        """Rebuild a report from `to_json` output."""
        return cls.from_dict(json.loads(text))
