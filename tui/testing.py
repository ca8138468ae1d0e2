"""In-memory stand-ins for the triage app's slow dependencies, shipped with the package (style practice 4).

`truth_audit` scores a generated log from its truth labels instead of running a detector, so snapshot tests and
benchmarks see the same anomalies whatever the detectors do; `ScriptedAgent` (in `tui.agent_bridge`) replies from
a script.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from detectors.base import Evidence
from detectors.events import ReadStats
from detectors.eventtable import EventTable
from detectors.report import Anomaly, Report, Totals

__all__ = ["Truth", "TruthDetector", "truth_audit"]


class TruthIncident(Protocol):
    """One injected incident: its kind, a description and the lines it spans."""

    kind: str
    description: str
    start_line: int
    end_line: int


class Truth(Protocol):
    """The labels of a generated log (what `lab.synth.generate_logs` returns; the runtime does not import lab)."""

    @property
    def anomalous_lines(self) -> set[int]: ...

    @property
    def incidents(self) -> Sequence[TruthIncident]: ...

ANOMALOUS, NORMAL, THRESHOLD = 5.0, 1.0, 3.0  # line scores given to injected / normal lines, and the threshold


@dataclass
class TruthDetector:
    """What the app reads of a detector: its name and threshold."""

    name: str = "truth"
    threshold: float = THRESHOLD


def truth_audit(truth: Truth, *, delay: float = 0.0) -> Callable[..., Any]:
    """An `audit(paths, options, progress=...)` stand-in: injected lines score high, one anomaly per incident phase;
    the incident engine's triage of the same files leads the report, as in a real audit.

    Args:
        truth: What `lab.synth.generate_logs` returned for the log.
        delay: Seconds to sleep first, to exercise progress and responsiveness.
    """

    def run(paths: Sequence[str], options: Any = None, *, progress: Any = None, stdin: Any = None) -> Any:
        import time

        from detectors.pipeline import AuditResult
        from detectors.readers import read_events

        if delay:
            time.sleep(delay)
        stats = ReadStats()
        table = EventTable()
        for event in read_events(list(paths), stats=stats):
            table.append(event, 0)
        table.freeze()
        if progress:
            progress("read", 1.0, 1.0)
        injected = np.isin(table.line, sorted(truth.anomalous_lines))
        line_scores = np.where(injected, ANOMALOUS, NORMAL)
        anomalies: list[Anomaly] = []
        for k, inc in enumerate(truth.incidents, 1):
            events = np.flatnonzero(injected & (table.line >= inc.start_line) & (table.line <= inc.end_line))
            if not len(events):
                continue
            first = int(events[0])
            src = table.sources[int(table.source[first])]
            line = int(table.line[first])
            aid = f"A{len(anomalies) + 1}"
            evidence = [Evidence("line", f"injected {inc.kind} line", where=f"{src}:{int(table.line[e])}",
                                 id=f"{aid}.e{j}") for j, e in enumerate(events[:3], 1)]
            ts = float(table.ts[first])
            anomalies.append(Anomaly(
                id=aid, rank=len(anomalies) + 1, detector="truth", where=f"{src}:{line}", source=src, line=line,
                ts=ts, time=datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z"),
                template_id=None, template=inc.description, text="", score=ANOMALOUS + 0.1 * (10 - k),
                threshold=THRESHOLD, severity="medium", window=f"lines {inc.start_line}-{inc.end_line}",
                evidence=evidence, level=table.level_name(first), host=table.host_name(first),
            ))
        report = Report(created="2026-11-23T00:00:00Z", sources=list(table.sources), detector="truth",
                        windowing="none (truth labels)", fit="none", threshold_rule=f"threshold {THRESHOLD}",
                        totals=Totals(sources=len(table.sources), lines=stats.lines, events=stats.events,
                                      anomalies_shown=len(anomalies)),
                        anomalies=anomalies)
        if getattr(options, "incidents", True):
            from detectors.incidents import triage

            report.incidents = triage(list(paths)).to_dict()  # the real engine: the incident panel shows what it says
        return AuditResult(report, table, None, None, np.zeros(0), line_scores,  # type: ignore[arg-type]
                           TruthDetector(), stats)  # type: ignore[arg-type]

    return run
