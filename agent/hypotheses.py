"""Ranked hypotheses formed deterministically from the detectors' findings, each with its evidence.

The model explains hypotheses; it does not form them. Three shapes of candidate, ranked by the evidence behind
them (sum of score/threshold over their anomalies):
- **localized**: anomalies concentrated on one host (or service, or file) — a failure on that machine;
- **cascade**: two or more anomalies within minutes, in time order — one fault spreading, the earliest a root-cause
  candidate;
- **isolated**: each of the two strongest anomalies on its own — a rare event that may matter by itself.
Confidence (high / medium / low) comes from the evidence: how many anomalies, how far above threshold, whether
detectors agree. It drives the hedging of the model's wording.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from detectors.report import Anomaly, Report

CASCADE_SPAN_S = 15 * 60  # anomalies this close in time are read as one unfolding incident


def _weight(a: Anomaly) -> float:
    base = abs(a.threshold) if a.threshold else 1.0
    return max(a.score / base, 0.0) if base else a.score


def _confidence(members: Sequence[Anomaly]) -> tuple[str, str | None]:
    detectors = {a.detector for a in members}
    strong = sum(1 for a in members if a.severity in ("medium", "high"))
    if len(detectors) > 1:
        return "medium", "the detectors disagree"
    if len(members) >= 3 and strong >= 2:
        return "high", None
    if strong >= 1 and len(members) >= 2:
        return "medium", "evidence from few anomalies"
    if len(members) == 1 and members[0].severity == "high":
        return "medium", "a single anomaly"
    return "low", "thin evidence: " + ("one anomaly" if len(members) == 1 else "only weak anomalies")


def _evidence_ids(members: Sequence[Anomaly], per_anomaly: int = 2, limit: int = 10) -> list[str]:
    """The ids to cite for a hypothesis: its strongest anomalies first, each with its top evidence."""
    ids: list[str] = []
    for a in sorted(members, key=_weight, reverse=True):
        ids.append(a.id)
        ids += [e.id for e in a.evidence[:per_anomaly] if e.id]
    return ids[:limit]


def _span(members: Sequence[Anomaly]) -> str:
    times = sorted(a.time for a in members if a.time)
    if not times:
        return ""
    return f", {times[0]}" if len(times) == 1 or times[0] == times[-1] else f", {times[0]} to {times[-1]}"


def form_hypotheses(report: Report, *, limit: int = 3) -> list[dict[str, Any]]:
    """Up to `limit` ranked hypotheses over the report's anomalies (none when there are none).

    Each is a dict: id ("H1".. by rank), kind, title (deterministic), anomalies (ids), evidence (ids to cite),
    confidence, confidence_reason, support (the ranking weight), facts (one deterministic line per anomaly).
    """
    anomalies = list(report.anomalies)
    if not anomalies:
        return []
    candidates: list[dict[str, Any]] = []

    groups: dict[tuple[str, str], list[Anomaly]] = defaultdict(list)
    for a in anomalies:
        if a.host:
            groups[("host", a.host)].append(a)
        else:
            groups[("file", a.source)].append(a)
    for (what, name), members in groups.items():
        if len(members) >= 2 and (len(groups) > 1 or len(members) < len(anomalies) or what == "host"):
            candidates.append({
                "kind": "localized",
                "title": f"Failure localized on {what} {name}: {len(members)} anomalies{_span(members)}",
                "members": members,
            })

    timed = sorted((a for a in anomalies if a.ts is not None), key=lambda a: a.ts or 0.0)
    best: list[Anomaly] = []
    for i, first in enumerate(timed):
        run = [a for a in timed[i:] if (a.ts or 0.0) - (first.ts or 0.0) <= CASCADE_SPAN_S]
        if len(run) > len(best):
            best = run
    if len(best) >= 2:
        first = best[0]
        candidates.append({
            "kind": "cascade",
            "title": f"Cascade: {len(best)} anomalies within {CASCADE_SPAN_S // 60} minutes, starting with {first.id} "
                     f"at {first.where}{_span(best)}",
            "members": best,
        })

    for top in sorted(anomalies, key=_weight, reverse=True)[:2]:
        candidates.append({
            "kind": "isolated",
            "title": f"Isolated rare event {top.id} at {top.where}" + (f" on {top.host}" if top.host else "")
                     + f" (template T{top.template_id})",
            "members": [top],
        })

    seen: set[frozenset[str]] = set()
    ranked: list[dict[str, Any]] = []
    for c in sorted(candidates, key=lambda c: -sum(_weight(a) for a in c["members"])):
        key = frozenset(a.id for a in c["members"])
        if key in seen:
            continue
        seen.add(key)
        ranked.append(c)
    out = []
    for rank, c in enumerate(ranked[:limit], 1):
        members: list[Anomaly] = c["members"]
        confidence, reason = _confidence(members)
        out.append({
            "id": f"H{rank}",
            "kind": c["kind"],
            "title": c["title"],
            "anomalies": [a.id for a in members],
            "evidence": _evidence_ids(members),
            "confidence": confidence,
            "confidence_reason": reason,
            "support": round(sum(_weight(a) for a in members), 3),
            "facts": [
                f"{a.id}: {a.severity} at {a.where}{f' ({a.time})' if a.time else ''}, score {a.score:.3g} vs {a.threshold:.3g}"
                for a in members
            ],
        })
    return out
